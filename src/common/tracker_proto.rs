//! What peers and the tracker say to each other, whatever carries it: the
//! announce (BEP 3) and its reply, the scrape (BEP 48), and the JSON of search
//! and publish. The HTTP codec is `tracker_http`; a UDP one (BEP 15) fits the
//! same model: every field it carries is here.

use core::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

use super::metainfo::InfoHash;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Started,
    Completed,
    Stopped,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Started => "started",
            Event::Completed => "completed",
            Event::Stopped => "stopped",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announce {
    pub info_hash: InfoHash,
    pub peer_id: [u8; 20],
    pub port: u16,
    pub uploaded: u64,
    pub downloaded: u64,
    pub left: u64,
    pub event: Option<Event>,
    pub numwant: Option<u32>,
    /// The reply's peer list as 6-byte entries (BEP 23). Only HTTP has a choice:
    /// a UDP reply is always compact.
    pub compact: bool,
    /// Leave peer ids out of a non-compact reply.
    pub no_peer_id: bool,
    /// An address the client asks to be listed under (BEP 3 `ip`).
    pub ip: Option<IpAddr>,
    /// Its IPv6 address when it reaches us over IPv4 (BEP 7 `ipv6`), so that
    /// IPv6 peers can reach it too. Always an IPv6 address.
    pub ipv6: Option<SocketAddr>,
    /// A secret the client keeps for its session, to prove it is the same peer
    /// from a new address. Raw bytes: aria2c sends binary, others hex, BEP 15 a u32.
    pub key: Option<Vec<u8>>,
}

impl Announce {
    /// A `started` announce with nothing transferred yet, asking for a compact
    /// reply; the other fields are set with struct update syntax.
    pub fn started(info_hash: InfoHash, peer_id: [u8; 20], port: u16, left: u64) -> Announce {
        Announce {
            info_hash,
            peer_id,
            port,
            uploaded: 0,
            downloaded: 0,
            left,
            event: Some(Event::Started),
            numwant: None,
            compact: true,
            no_peer_id: true,
            ip: None,
            ipv6: None,
            key: None,
        }
    }
}

/// Longer keys are refused: every client sends 4 to 8 bytes.
pub const MAX_KEY: usize = 64;

/// The tracker's answer to an announce. `complete` and `incomplete` are BEP 15's
/// seeders and leechers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AnnounceReply {
    pub interval: u32,
    /// BEP 3's `min interval`: the shortest wait the tracker accepts between
    /// announces, which a download short of peers may use. None if not sent.
    pub min_interval: Option<u32>,
    pub complete: u32,
    pub incomplete: u32,
    /// With the peer's id where the transport carries one, else zeros. Both
    /// families: each transport writes the ones its layout can carry.
    pub peers: Vec<(SocketAddr, [u8; 20])>,
}

/// A scrape of some torrents; none named means every published torrent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScrapeRequest {
    pub info_hashes: Vec<InfoHash>,
}

/// One torrent's counts (BEP 15: seeders, completed, leechers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScrapeStats {
    pub complete: u32,
    pub downloaded: u32,
    pub incomplete: u32,
}

/// The counts of each torrent asked about, in info-hash order, each once.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScrapeReply {
    pub files: Vec<(InfoHash, ScrapeStats)>,
}

/// One search match, as the tracker answers it and `peer search --json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchMatch {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub torrent: String,
    pub key: String,
    pub size: u64,
    pub n_parts: u64,
    pub peers: Vec<String>,
    pub seeders: u32,
    pub leechers: u32,
    /// A magnet link (BEP 9) for the torrent, with this tracker in it.
    #[serde(default)]
    pub magnet: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchReply {
    pub query: String,
    pub results: Vec<SearchMatch>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishReply {
    pub key: String,
    pub name: String,
    pub torrent: String,
    /// False when the tracker already had this torrent.
    pub new: bool,
}
