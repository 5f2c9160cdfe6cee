//! Magnet links (BEP 9): `magnet:?xt=urn:btih:KEY&dn=NAME&tr=URL&x.pe=HOST:PORT`,
//! and BEP 52's `xt=urn:btmh:1220HASH` for a v2 torrent's SHA-256 info-hash.
//! A magnet names a torrent by its info-hash alone; the info dictionary is
//! then fetched from peers (`peer::extensions::ut_metadata`). Pure: parsing
//! and writing, no lookups. `x.pe` hosts are checked here and resolved by
//! whoever dials them.

use std::fmt::Write as _;

use super::address::{self, Host};
use super::http;
use super::merkle::Hash32;
use super::metainfo::{InfoHash, Metainfo, hex};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Magnet {
    /// What peers know the torrent by: the `btih` key, or without one the
    /// `btmh` key cut to 20 bytes.
    pub info_hash: InfoHash,
    /// `btmh`: the whole v2 info-hash (SHA-256), for v2 and hybrid torrents.
    pub info_hash_v2: Option<Hash32>,
    /// `dn`: a display name until the metadata gives the real one.
    pub name: Option<String>,
    /// `tr`, in the order given: trackers that know the swarm.
    pub trackers: Vec<String>,
    /// `x.pe`: peers to ask directly.
    pub peers: Vec<(Host, u16)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MagnetError {
    #[error("does not start with magnet:?")]
    NotMagnet,
    #[error("no xt=urn:btih: or xt=urn:btmh: info-hash")]
    NoInfoHash,
    #[error("v2 info-hash {0:?} is not 1220 and 64 hex digits (a SHA-256 multihash)")]
    BadV2InfoHash(String),
    #[error("info-hash {0:?} is neither 40 hex digits nor 32 base32 letters")]
    BadInfoHash(String),
    #[error("two different info-hashes in one link")]
    TwoInfoHashes,
    #[error("bad percent-escape in {0:?}")]
    BadEscape(String),
    #[error("x.pe {0:?} is not HOST:PORT: {1}")]
    BadPeer(String, String),
}

/// Most `x.pe` peers taken from one link: a link is typed or pasted by a
/// person, and a long list is not a swarm.
const MAX_PEERS: usize = 64;
/// Most `tr` trackers taken from one link.
const MAX_TRACKERS: usize = 32;

impl Magnet {
    pub fn parse(link: &str) -> Result<Magnet, MagnetError> {
        let link = link.trim();
        let query = link
            .get(..8)
            .filter(|p| p.eq_ignore_ascii_case("magnet:?"))
            .map(|_| &link[8..])
            .ok_or(MagnetError::NotMagnet)?;
        let mut info_hash = None;
        let mut v2: Option<Hash32> = None;
        let mut m = Magnet {
            info_hash_v2: None,
            info_hash: InfoHash([0; 20]),
            name: None,
            trackers: Vec::new(),
            peers: Vec::new(),
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
            // Some links number repeated keys: tr.1, tr.2, xt.1.
            let key = key.split_once('.').filter(|(k, n)| {
                (*k == "tr" || *k == "xt") && n.bytes().all(|b| b.is_ascii_digit())
            });
            let key = key.map_or(pair.split_once('=').map_or(pair, |(k, _)| k), |(k, _)| k);
            match key {
                "xt" => {
                    let value = percent_decode(raw)?;
                    let lower = value.to_ascii_lowercase();
                    if let Some(h) = lower.strip_prefix("urn:btih:") {
                        let h = parse_btih(h).ok_or_else(|| MagnetError::BadInfoHash(h.into()))?;
                        if info_hash.is_some_and(|old| old != h) {
                            return Err(MagnetError::TwoInfoHashes);
                        }
                        info_hash = Some(h);
                    } else if let Some(h) = lower.strip_prefix("urn:btmh:") {
                        let h =
                            parse_btmh(h).ok_or_else(|| MagnetError::BadV2InfoHash(h.into()))?;
                        if v2.is_some_and(|old| old != h) {
                            return Err(MagnetError::TwoInfoHashes);
                        }
                        v2 = Some(h);
                    }
                }
                "dn" => m.name = Some(percent_decode(raw)?),
                "tr" if m.trackers.len() < MAX_TRACKERS => {
                    let url = percent_decode(raw)?;
                    if !url.is_empty() && !m.trackers.contains(&url) {
                        m.trackers.push(url);
                    }
                }
                "x.pe" if m.peers.len() < MAX_PEERS => {
                    let s = percent_decode(raw)?;
                    let peer = address::parse_host_port(&s)
                        .map_err(|e| MagnetError::BadPeer(s.clone(), e.to_string()))?;
                    if !m.peers.contains(&peer) {
                        m.peers.push(peer);
                    }
                }
                _ => {}
            }
        }
        m.info_hash = match (info_hash, &v2) {
            (Some(h), _) => h,
            (None, Some(v2)) => InfoHash::of_v2(v2),
            (None, None) => return Err(MagnetError::NoInfoHash),
        };
        m.info_hash_v2 = v2;
        Ok(m)
    }

    /// The link for a torrent we have: its key, name and tracker(s).
    pub fn of(meta: &Metainfo) -> Magnet {
        Magnet {
            info_hash: meta.info_hash,
            info_hash_v2: meta.info_hash_v2,
            name: Some(meta.name.clone()),
            trackers: meta.announce.iter().cloned().collect(),
            peers: Vec::new(),
        }
    }

    pub fn to_uri(&self) -> String {
        let enc = |s: &str| http::percent_encode(s.as_bytes());
        // A v2-only torrent has no v1 key: its `btih` would name nothing.
        let mut s = match &self.info_hash_v2 {
            Some(v2) if InfoHash::of_v2(v2) == self.info_hash => {
                format!("magnet:?xt=urn:btmh:1220{}", hex(v2))
            }
            Some(v2) => format!(
                "magnet:?xt=urn:btih:{}&xt=urn:btmh:1220{}",
                self.info_hash.hex(),
                hex(v2)
            ),
            None => format!("magnet:?xt=urn:btih:{}", self.info_hash.hex()),
        };
        if let Some(n) = &self.name {
            let _ = write!(s, "&dn={}", enc(n));
        }
        for t in &self.trackers {
            let _ = write!(s, "&tr={}", enc(t));
        }
        for (h, p) in &self.peers {
            let _ = write!(s, "&x.pe={}", enc(&h.with_port(*p)));
        }
        s
    }

    /// What to call the download before its metadata arrives.
    pub fn display_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.info_hash.hex())
    }
}

/// `%XX` escapes, and `+` for a space as forms write it.
fn percent_decode(s: &str) -> Result<String, MagnetError> {
    http::percent_decode(s.as_bytes())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| MagnetError::BadEscape(s.into()))
}

/// A multihash of SHA-256 (code 0x12, 0x20 bytes), in hex.
fn parse_btmh(s: &str) -> Option<Hash32> {
    let digits = s.strip_prefix("1220").filter(|d| d.len() == 64)?;
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(digits.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn parse_btih(s: &str) -> Option<InfoHash> {
    match s.len() {
        40 => InfoHash::from_hex(s),
        32 => base32(s).map(InfoHash),
        _ => None,
    }
}

/// RFC 4648 base32 without padding, as old magnet links carry the info-hash.
fn base32(s: &str) -> Option<[u8; 20]> {
    let mut out = [0u8; 20];
    let (mut acc, mut bits, mut n) = (0u64, 0, 0);
    for c in s.bytes() {
        let v = match c.to_ascii_uppercase() {
            c @ b'A'..=b'Z' => c - b'A',
            c @ b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        acc = (acc << 5) | v as u64;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out[n] = (acc >> bits) as u8;
            n += 1;
        }
    }
    (n == 20).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";

    #[test]
    fn reads_hex_and_base32_keys_names_trackers_and_peers() {
        let m = Magnet::parse(&format!(
            "magnet:?xt=urn:btih:{}&dn=My+Movie%20(2024).mkv&tr=http%3A%2F%2F127.0.0.1%3A6969%2Fannounce\
             &tr=udp://t.example:80&x.pe=127.0.0.1:6881&x.pe=%5B%3A%3A1%5D:7000",
            HEX.to_uppercase()
        ))
        .unwrap();
        assert_eq!(m.info_hash.hex(), HEX);
        assert_eq!(m.name.as_deref(), Some("My Movie (2024).mkv"));
        assert_eq!(
            m.trackers,
            ["http://127.0.0.1:6969/announce", "udp://t.example:80"]
        );
        assert_eq!(m.peers.len(), 2);
        assert_eq!(m.peers[1].1, 7000);
        // The same key in base32.
        let b32 = Magnet::parse("magnet:?xt=urn:btih:YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK").unwrap();
        assert_eq!(b32.info_hash.hex(), HEX);
    }

    #[test]
    fn writes_a_link_that_reads_back() {
        let m = Magnet {
            info_hash: InfoHash::from_hex(HEX).unwrap(),
            info_hash_v2: None,
            name: Some("a b&c.txt".into()),
            trackers: vec!["http://127.0.0.1:1/announce?x=1&y=2".into()],
            peers: vec![(Host::Ip("::1".parse().unwrap()), 9)],
        };
        assert_eq!(Magnet::parse(&m.to_uri()).unwrap(), m);
        assert!(
            m.to_uri()
                .starts_with(&format!("magnet:?xt=urn:btih:{HEX}&dn=a%20b%26c.txt"))
        );
    }

    #[test]
    fn numbered_keys_count_and_unknown_keys_are_ignored() {
        let m = Magnet::parse(&format!(
            "magnet:?xt.1=urn:btih:{HEX}&tr.1=http://a/announce&tr.2=http://b/announce&xl=5&ws=http://w"
        ))
        .unwrap();
        assert_eq!(m.trackers.len(), 2);
    }

    #[test]
    fn malformed_links_are_refused_with_a_reason() {
        let bad = [
            ("http://x", MagnetError::NotMagnet),
            ("magnet:?dn=x", MagnetError::NoInfoHash),
            (
                "magnet:?xt=urn:btih:123",
                MagnetError::BadInfoHash("123".into()),
            ),
            (
                "magnet:?xt=urn:btih:zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
                MagnetError::BadInfoHash("zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz".into()),
            ),
            (
                "magnet:?xt=urn:btmh:1220aaaa",
                MagnetError::BadV2InfoHash("1220aaaa".into()),
            ),
        ];
        for (link, want) in bad {
            assert_eq!(Magnet::parse(link), Err(want), "{link}");
        }
        let escape = format!("magnet:?xt=urn:btih:{HEX}&dn=%zz");
        assert!(matches!(
            Magnet::parse(&escape),
            Err(MagnetError::BadEscape(_))
        ));
        let peer = format!("magnet:?xt=urn:btih:{HEX}&x.pe=1.2.3:80");
        assert!(matches!(
            Magnet::parse(&peer),
            Err(MagnetError::BadPeer(..))
        ));
        let two = format!("magnet:?xt=urn:btih:{HEX}&xt=urn:btih:{}", "0".repeat(40));
        assert_eq!(Magnet::parse(&two), Err(MagnetError::TwoInfoHashes));
    }

    #[test]
    fn long_lists_are_capped() {
        let mut link = format!("magnet:?xt=urn:btih:{HEX}");
        for i in 0..1000 {
            let _ = write!(link, "&x.pe=127.0.0.1:{}&tr=http://t{i}/a", 1000 + i);
        }
        let m = Magnet::parse(&link).unwrap();
        assert_eq!((m.peers.len(), m.trackers.len()), (MAX_PEERS, MAX_TRACKERS));
    }

    /// BEP 52: a v2-only link names the swarm by its SHA-256 cut to 20
    /// bytes; a hybrid's carries both keys; both read back as written.
    #[test]
    fn v2_and_hybrid_links() {
        let v2 = "ab".repeat(32);
        let only = Magnet::parse(&format!("magnet:?xt=urn:btmh:1220{v2}&dn=x")).unwrap();
        assert_eq!(only.info_hash.hex(), v2[..40]);
        assert_eq!(only.info_hash_v2.map(|h| hex(&h)), Some(v2.clone()));
        assert!(
            only.to_uri()
                .starts_with(&format!("magnet:?xt=urn:btmh:1220{v2}&dn=x"))
        );
        assert_eq!(Magnet::parse(&only.to_uri()).unwrap(), only);
        let both =
            Magnet::parse(&format!("magnet:?xt=urn:btih:{HEX}&xt=urn:btmh:1220{v2}")).unwrap();
        assert_eq!(both.info_hash.hex(), HEX);
        assert_eq!(Magnet::parse(&both.to_uri()).unwrap(), both);
        assert!(
            Magnet::parse(&format!("magnet:?xt=urn:btmh:1114{v2}")).is_err(),
            "not SHA-256"
        );
    }
}
