//! The tracker protocol over UDP (BEP 15): `tracker_proto`'s model as the
//! connect, announce, scrape and error datagrams, both ways, and the client's
//! retry policy (the 15·2ⁿ s schedule and connection-id reuse for a minute).
//!
//! Datagrams come from anyone who can guess our port, so every decoder checks
//! the length, the action and the transaction id before it reads a field, and
//! answers an error for anything else; nothing here panics on input. Pure: the
//! socket is `sys::udp_tracker_client`, and time is milliseconds passed in.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use thiserror::Error;

use super::address::{self, Host};
use super::metainfo::InfoHash;
use super::tracker_http::read_compact_peers;
use super::tracker_proto::{
    Announce, AnnounceReply, Event, ScrapeReply, ScrapeRequest, ScrapeStats,
};

/// The magic a connect request starts with.
pub const PROTOCOL_ID: u64 = 0x0417_2710_1980;
/// BEP 15 says about 74 info-hashes fit a scrape; more are refused, not split.
pub const MAX_SCRAPE_HASHES: usize = 74;
/// A connection id may be used until a minute after it came.
pub const CONNECTION_ID_LIFETIME_MS: u64 = 60_000;
/// `n` in 15·2ⁿ stops growing here (3840 s with the standard base).
pub const MAX_RETRY_EXPONENT: u32 = 8;
/// The standard base of the retry schedule.
pub const DEFAULT_RETRY_BASE_MS: u64 = 15_000;
/// An error message is cut here: it only goes to a log line.
const MAX_MESSAGE: usize = 256;

const CONNECT: u32 = 0;
const ANNOUNCE: u32 = 1;
const SCRAPE: u32 = 2;
const ERROR: u32 = 3;

const CONNECT_LEN: usize = 16;
const ANNOUNCE_REQUEST_LEN: usize = 98;
const ANNOUNCE_REPLY_HEADER: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UdpTrackerError {
    #[error("{what} is {len} bytes, shorter than the {min} it needs")]
    TooShort {
        what: &'static str,
        len: usize,
        min: usize,
    },
    #[error("the reply is for transaction {got:#010x}, not ours ({expected:#010x})")]
    WrongTransaction { expected: u32, got: u32 },
    #[error("expected action {expected}, got {got}")]
    WrongAction { expected: u32, got: u32 },
    #[error("not a BEP 15 connect request (wrong protocol id)")]
    NotBep15,
    #[error("the tracker refused: {0}")]
    Refused(String),
    #[error("a scrape names {0} torrents; at most {MAX_SCRAPE_HASHES} fit")]
    TooManyHashes(usize),
    #[error("{0}")]
    BadUrl(String),
}

type Result<T> = core::result::Result<T, UdpTrackerError>;

/// `udp://HOST:PORT[/anything]`: the path means nothing to BEP 15.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpTrackerUrl {
    pub host: Host,
    pub port: u16,
}

impl UdpTrackerUrl {
    pub fn parse(url: &str) -> Result<UdpTrackerUrl> {
        let bad = |why: &str| UdpTrackerError::BadUrl(format!("{url:?} {why}"));
        let rest = url
            .get(..6)
            .filter(|s| s.eq_ignore_ascii_case("udp://"))
            .map(|_| &url[6..])
            .ok_or_else(|| bad("is not a udp:// URL"))?;
        let authority = rest.split(['/', '?']).next().unwrap_or(rest);
        let authority = authority.rsplit('@').next().unwrap_or(authority);
        let (host, port) = address::parse_host_port(authority)
            .map_err(|e| bad(&format!("has no usable HOST:PORT ({e})")))?;
        Ok(UdpTrackerUrl { host, port })
    }
}

/// A request as a tracker reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Connect {
        transaction_id: u32,
    },
    Announce {
        connection_id: u64,
        transaction_id: u32,
        announce: Announce,
    },
    Scrape {
        connection_id: u64,
        transaction_id: u32,
        scrape: ScrapeRequest,
    },
}

/// How the peers of an announce reply are laid out: by the address family
/// of the socket it came over (BEP 15, IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

/// Big-endian reads at an offset the caller has checked against the length.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn u16(&self, at: usize) -> u16 {
        u16::from_be_bytes([self.0[at], self.0[at + 1]])
    }
    fn u32(&self, at: usize) -> u32 {
        let mut b = [0; 4];
        b.copy_from_slice(&self.0[at..at + 4]);
        u32::from_be_bytes(b)
    }
    fn u64(&self, at: usize) -> u64 {
        let mut b = [0; 8];
        b.copy_from_slice(&self.0[at..at + 8]);
        u64::from_be_bytes(b)
    }
    fn twenty(&self, at: usize) -> [u8; 20] {
        let mut b = [0; 20];
        b.copy_from_slice(&self.0[at..at + 20]);
        b
    }
}

fn need(what: &'static str, bytes: &[u8], min: usize) -> Result<()> {
    if bytes.len() < min {
        return Err(UdpTrackerError::TooShort {
            what,
            len: bytes.len(),
            min,
        });
    }
    Ok(())
}

fn event_code(e: Option<Event>) -> u32 {
    match e {
        None => 0,
        Some(Event::Completed) => 1,
        Some(Event::Started) => 2,
        Some(Event::Stopped) => 3,
    }
}

fn event_of(code: u32) -> Option<Event> {
    // An unknown event is a regular announce, as HTTP's `paused` is.
    match code {
        1 => Some(Event::Completed),
        2 => Some(Event::Started),
        3 => Some(Event::Stopped),
        _ => None,
    }
}

/// A connect request.
pub fn encode_connect(transaction_id: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(CONNECT_LEN);
    out.extend_from_slice(&PROTOCOL_ID.to_be_bytes());
    out.extend_from_slice(&CONNECT.to_be_bytes());
    out.extend_from_slice(&transaction_id.to_be_bytes());
    out
}

/// An announce request. BEP 15's `key` is 32 bits: the first four bytes of ours.
pub fn encode_announce(connection_id: u64, transaction_id: u32, a: &Announce) -> Vec<u8> {
    let mut out = Vec::with_capacity(ANNOUNCE_REQUEST_LEN);
    out.extend_from_slice(&connection_id.to_be_bytes());
    out.extend_from_slice(&ANNOUNCE.to_be_bytes());
    out.extend_from_slice(&transaction_id.to_be_bytes());
    out.extend_from_slice(&a.info_hash.0);
    out.extend_from_slice(&a.peer_id);
    out.extend_from_slice(&a.downloaded.to_be_bytes());
    out.extend_from_slice(&a.left.to_be_bytes());
    out.extend_from_slice(&a.uploaded.to_be_bytes());
    out.extend_from_slice(&event_code(a.event).to_be_bytes());
    // The IP field is IPv4 only (BEP 15); over IPv6 it must be zero.
    let ip = match a.ip {
        Some(IpAddr::V4(v4)) => u32::from(v4),
        _ => 0,
    };
    out.extend_from_slice(&ip.to_be_bytes());
    let mut key = [0u8; 4];
    if let Some(k) = &a.key {
        let n = k.len().min(4);
        key[..n].copy_from_slice(&k[..n]);
    }
    out.extend_from_slice(&key);
    // -1 is "the tracker's default".
    let numwant = a.numwant.map_or(-1i32, |n| n.min(i32::MAX as u32) as i32);
    out.extend_from_slice(&numwant.to_be_bytes());
    out.extend_from_slice(&a.port.to_be_bytes());
    out
}

/// A scrape request for up to `MAX_SCRAPE_HASHES` torrents (a full scrape cannot be asked).
pub fn encode_scrape(
    connection_id: u64,
    transaction_id: u32,
    hashes: &[InfoHash],
) -> Result<Vec<u8>> {
    if hashes.len() > MAX_SCRAPE_HASHES {
        return Err(UdpTrackerError::TooManyHashes(hashes.len()));
    }
    let mut out = Vec::with_capacity(16 + 20 * hashes.len());
    out.extend_from_slice(&connection_id.to_be_bytes());
    out.extend_from_slice(&SCRAPE.to_be_bytes());
    out.extend_from_slice(&transaction_id.to_be_bytes());
    for h in hashes {
        out.extend_from_slice(&h.0);
    }
    Ok(out)
}

/// Reads a request as a tracker would.
pub fn decode_request(bytes: &[u8]) -> Result<Request> {
    need("a request", bytes, CONNECT_LEN)?;
    let r = Reader(bytes);
    let (first, action, transaction_id) = (r.u64(0), r.u32(8), r.u32(12));
    match action {
        CONNECT if first == PROTOCOL_ID => Ok(Request::Connect { transaction_id }),
        CONNECT => Err(UdpTrackerError::NotBep15),
        ANNOUNCE => {
            need("an announce request", bytes, ANNOUNCE_REQUEST_LEN)?;
            let ip = r.u32(84);
            let numwant = r.u32(92) as i32;
            Ok(Request::Announce {
                connection_id: first,
                transaction_id,
                announce: Announce {
                    info_hash: InfoHash(r.twenty(16)),
                    peer_id: r.twenty(36),
                    downloaded: r.u64(56),
                    left: r.u64(64),
                    uploaded: r.u64(72),
                    event: event_of(r.u32(80)),
                    ip: (ip != 0).then(|| IpAddr::V4(Ipv4Addr::from(ip))),
                    ipv6: None,
                    key: Some(bytes[88..92].to_vec()),
                    numwant: (numwant >= 0).then_some(numwant as u32),
                    port: r.u16(96),
                    compact: true,
                    no_peer_id: true,
                },
            })
        }
        SCRAPE => {
            let n = (bytes.len() - 16) / 20;
            if n > MAX_SCRAPE_HASHES {
                return Err(UdpTrackerError::TooManyHashes(n));
            }
            Ok(Request::Scrape {
                connection_id: first,
                transaction_id,
                scrape: ScrapeRequest {
                    info_hashes: (0..n).map(|i| InfoHash(r.twenty(16 + 20 * i))).collect(),
                },
            })
        }
        got => Err(UdpTrackerError::WrongAction {
            expected: CONNECT,
            got,
        }),
    }
}

// The tracker's replies are written into a buffer it reuses (`out` is
// cleared first): a busy tracker sends one per datagram it receives.

/// A connect reply.
pub fn write_connect_reply(out: &mut Vec<u8>, transaction_id: u32, connection_id: u64) {
    header(out, CONNECT, transaction_id);
    out.extend_from_slice(&connection_id.to_be_bytes());
}

/// An announce reply in the layout of `family`, the socket's: 6-byte IPv4 or
/// 18-byte IPv6 entries. Peers of the other family cannot be written, and are left out.
pub fn write_announce_reply(
    out: &mut Vec<u8>,
    transaction_id: u32,
    reply: &AnnounceReply,
    family: Family,
) {
    header(out, ANNOUNCE, transaction_id);
    out.extend_from_slice(&reply.interval.to_be_bytes());
    out.extend_from_slice(&reply.incomplete.to_be_bytes());
    out.extend_from_slice(&reply.complete.to_be_bytes());
    for (a, _) in &reply.peers {
        match (a, family) {
            (SocketAddr::V4(a), Family::V4) => out.extend_from_slice(&a.ip().octets()),
            (SocketAddr::V6(a), Family::V6) => out.extend_from_slice(&a.ip().octets()),
            _ => continue,
        }
        out.extend_from_slice(&a.port().to_be_bytes());
    }
}

/// A scrape reply: the counts in the order the request named the torrents.
pub fn write_scrape_reply(out: &mut Vec<u8>, transaction_id: u32, counts: &[ScrapeStats]) {
    header(out, SCRAPE, transaction_id);
    for c in counts {
        out.extend_from_slice(&c.complete.to_be_bytes());
        out.extend_from_slice(&c.downloaded.to_be_bytes());
        out.extend_from_slice(&c.incomplete.to_be_bytes());
    }
}

/// An error reply carrying a message.
pub fn write_error(out: &mut Vec<u8>, transaction_id: u32, message: &str) {
    header(out, ERROR, transaction_id);
    out.extend_from_slice(message.as_bytes());
}

/// A connect reply, in a new buffer.
pub fn encode_connect_reply(transaction_id: u32, connection_id: u64) -> Vec<u8> {
    let mut out = Vec::new();
    write_connect_reply(&mut out, transaction_id, connection_id);
    out
}

/// An announce reply, in a new buffer.
pub fn encode_announce_reply(
    transaction_id: u32,
    reply: &AnnounceReply,
    family: Family,
) -> Vec<u8> {
    let mut out = Vec::new();
    write_announce_reply(&mut out, transaction_id, reply, family);
    out
}

/// A scrape reply, in a new buffer.
pub fn encode_scrape_reply(transaction_id: u32, counts: &[ScrapeStats]) -> Vec<u8> {
    let mut out = Vec::new();
    write_scrape_reply(&mut out, transaction_id, counts);
    out
}

/// An error reply, in a new buffer.
pub fn encode_error(transaction_id: u32, message: &str) -> Vec<u8> {
    let mut out = Vec::new();
    write_error(&mut out, transaction_id, message);
    out
}

fn header(out: &mut Vec<u8>, action: u32, transaction_id: u32) {
    out.clear();
    out.extend_from_slice(&action.to_be_bytes());
    out.extend_from_slice(&transaction_id.to_be_bytes());
}

/// Checks a reply's action and transaction id; an error packet for our
/// transaction becomes `Refused` with its message.
fn check_reply(bytes: &[u8], expected_action: u32, transaction_id: u32) -> Result<Reader<'_>> {
    need("a reply", bytes, 8)?;
    let r = Reader(bytes);
    let (action, got) = (r.u32(0), r.u32(4));
    if got != transaction_id {
        return Err(UdpTrackerError::WrongTransaction {
            expected: transaction_id,
            got,
        });
    }
    if action == ERROR {
        let text = &bytes[8..bytes.len().min(8 + MAX_MESSAGE)];
        let text = String::from_utf8_lossy(text);
        let clean: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        return Err(UdpTrackerError::Refused(clean.trim().to_owned()));
    }
    if action != expected_action {
        return Err(UdpTrackerError::WrongAction {
            expected: expected_action,
            got: action,
        });
    }
    Ok(r)
}

/// The connection id from a connect reply to our transaction.
pub fn decode_connect_reply(bytes: &[u8], transaction_id: u32) -> Result<u64> {
    let r = check_reply(bytes, CONNECT, transaction_id)?;
    need("a connect reply", bytes, CONNECT_LEN)?;
    Ok(r.u64(8))
}

/// An announce reply to our transaction, in the layout of the socket's family.
/// A torn last entry is ignored.
pub fn decode_announce_reply(
    bytes: &[u8],
    transaction_id: u32,
    family: Family,
) -> Result<AnnounceReply> {
    let r = check_reply(bytes, ANNOUNCE, transaction_id)?;
    need("an announce reply", bytes, ANNOUNCE_REPLY_HEADER)?;
    let mut peers = Vec::new();
    read_compact_peers(
        &bytes[ANNOUNCE_REPLY_HEADER..],
        family == Family::V6,
        &mut peers,
    );
    peers.retain(|(a, _)| a.port() != 0 && !a.ip().is_unspecified());
    Ok(AnnounceReply {
        interval: r.u32(8),
        min_interval: None,
        incomplete: r.u32(12),
        complete: r.u32(16),
        peers,
    })
}

/// A scrape reply to our transaction, for the torrents we asked about in that
/// order. Fewer counts than torrents leaves the rest out.
pub fn decode_scrape_reply(
    bytes: &[u8],
    transaction_id: u32,
    asked: &[InfoHash],
) -> Result<ScrapeReply> {
    let r = check_reply(bytes, SCRAPE, transaction_id)?;
    let n = ((bytes.len() - 8) / 12).min(asked.len());
    let mut files: Vec<(InfoHash, ScrapeStats)> = (0..n)
        .map(|i| {
            let at = 8 + 12 * i;
            (
                asked[i],
                ScrapeStats {
                    complete: r.u32(at),
                    downloaded: r.u32(at + 4),
                    incomplete: r.u32(at + 8),
                },
            )
        })
        .collect();
    files.sort_by_key(|(h, _)| h.0);
    files.dedup_by_key(|(h, _)| h.0);
    Ok(ScrapeReply { files })
}

/// One tracker's BEP 15 state on the client: how many requests in a row went
/// unanswered, when the next may go, and the connection id while it is fresh.
///
/// The n-th retransmission waits 15·2ⁿ s (n up to 8) after the one before.
/// The shell never blocks that long: it waits at most `wait_ms(cap)` for an
/// answer, gives up, and `may_send` keeps the tracker quiet for the rest of
/// the timeout, so the schedule holds across announces without a thread
/// sleeping through it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpRetry {
    base_ms: u64,
    timeouts: u32,
    quiet_until_ms: u64,
    connection: Option<(u64, u64)>,
}

impl UdpRetry {
    /// `base_ms` is 15 s in the standard; tests shorten it.
    pub fn new(base_ms: u64) -> UdpRetry {
        UdpRetry {
            base_ms: base_ms.max(1),
            timeouts: 0,
            quiet_until_ms: 0,
            connection: None,
        }
    }

    /// 15·2ⁿ s for the standard base: how long request n waits for its answer.
    pub fn timeout_ms(&self, n: u32) -> u64 {
        self.base_ms.saturating_mul(1 << n.min(MAX_RETRY_EXPONENT))
    }

    /// Requests in a row that went unanswered.
    pub fn timeouts(&self) -> u32 {
        self.timeouts
    }

    /// Ok if a request may go now, else how many ms until one may.
    pub fn may_send(&self, now_ms: u64) -> core::result::Result<(), u64> {
        if now_ms >= self.quiet_until_ms {
            Ok(())
        } else {
            Err(self.quiet_until_ms - now_ms)
        }
    }

    /// How long to wait for the answer to the next request: its place in the
    /// schedule, but never more than `cap_ms`.
    pub fn wait_ms(&self, cap_ms: u64) -> u64 {
        self.timeout_ms(self.timeouts).min(cap_ms)
    }

    /// The connection id, if one came less than a minute ago.
    pub fn connection_id(&self, now_ms: u64) -> Option<u64> {
        self.connection
            .filter(|&(_, at)| now_ms.saturating_sub(at) < CONNECTION_ID_LIFETIME_MS)
            .map(|(id, _)| id)
    }

    /// A connect was answered with this id.
    pub fn connected(&mut self, connection_id: u64, now_ms: u64) {
        self.connection = Some((connection_id, now_ms));
        self.answered();
    }

    /// The tracker answered: the schedule starts over.
    pub fn answered(&mut self) {
        self.timeouts = 0;
        self.quiet_until_ms = 0;
    }

    /// The request sent at `sent_at_ms` went unanswered: the next waits for
    /// the rest of its timeout, and the one after that twice as long.
    pub fn timed_out(&mut self, sent_at_ms: u64) {
        self.quiet_until_ms = sent_at_ms.saturating_add(self.timeout_ms(self.timeouts));
        self.timeouts = (self.timeouts + 1).min(MAX_RETRY_EXPONENT);
    }

    /// The tracker refused a request: its connection id may be what it
    /// disliked, so the next request connects again.
    pub fn refused(&mut self) {
        self.connection = None;
        self.answered();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn announce() -> Announce {
        Announce {
            info_hash: InfoHash([0xab; 20]),
            peer_id: *b"-SW0100-abcdefghijkl",
            port: 6881,
            uploaded: 1 << 40,
            downloaded: 7,
            left: 123_456,
            event: Some(Event::Started),
            numwant: Some(80),
            compact: true,
            no_peer_id: true,
            ip: None,
            ipv6: None,
            key: Some(vec![1, 2, 3, 4]),
        }
    }

    #[test]
    fn connect_round_trips_and_checks_its_transaction() {
        let req = encode_connect(0xdead_beef);
        assert_eq!(req.len(), 16);
        assert_eq!(&req[..8], &[0, 0, 0x04, 0x17, 0x27, 0x10, 0x19, 0x80]);
        assert_eq!(
            decode_request(&req),
            Ok(Request::Connect {
                transaction_id: 0xdead_beef
            })
        );
        let reply = encode_connect_reply(0xdead_beef, 42);
        assert_eq!(decode_connect_reply(&reply, 0xdead_beef), Ok(42));
        assert_eq!(
            decode_connect_reply(&reply, 7),
            Err(UdpTrackerError::WrongTransaction {
                expected: 7,
                got: 0xdead_beef
            })
        );
    }

    #[test]
    fn announce_round_trips_with_the_layout_of_bep_15() {
        let a = announce();
        let req = encode_announce(99, 5, &a);
        assert_eq!(req.len(), 98);
        // event started is 2, at offset 80; the port is last.
        assert_eq!(&req[80..84], &[0, 0, 0, 2]);
        assert_eq!(&req[96..98], &6881u16.to_be_bytes());
        assert_eq!(
            decode_request(&req),
            Ok(Request::Announce {
                connection_id: 99,
                transaction_id: 5,
                announce: a.clone(),
            })
        );
        // No numwant is -1, "the tracker's default"; each event has its code.
        let plain = Announce {
            numwant: None,
            key: None,
            event: None,
            ..a.clone()
        };
        let req = encode_announce(1, 2, &plain);
        assert_eq!(&req[92..96], &[0xff; 4]);
        for (event, code) in [
            (None, 0u8),
            (Some(Event::Completed), 1),
            (Some(Event::Started), 2),
            (Some(Event::Stopped), 3),
        ] {
            let req = encode_announce(1, 2, &Announce { event, ..a.clone() });
            assert_eq!(req[83], code);
            let Ok(Request::Announce { announce, .. }) = decode_request(&req) else {
                panic!("an announce");
            };
            assert_eq!(announce.event, event);
        }
    }

    #[test]
    fn announce_replies_carry_counts_and_compact_peers_of_the_sockets_family() {
        let v4 = |a: [u8; 4], p| (SocketAddr::from((a, p)), [0; 20]);
        let v6 = (
            SocketAddr::from((core::net::Ipv6Addr::LOCALHOST, 7000)),
            [0; 20],
        );
        let reply = AnnounceReply {
            interval: 1800,
            min_interval: None,
            complete: 3,
            incomplete: 4,
            peers: vec![v4([127, 0, 0, 1], 6881), v6, v4([10, 1, 2, 3], 51413)],
        };
        let only = |keep: fn(&SocketAddr) -> bool| AnnounceReply {
            peers: reply
                .peers
                .iter()
                .copied()
                .filter(|(a, _)| keep(a))
                .collect(),
            ..reply.clone()
        };
        let bytes = encode_announce_reply(77, &reply, Family::V4);
        assert_eq!(
            bytes.len(),
            20 + 12,
            "IPv4: 6-byte entries, the IPv6 peer left out"
        );
        assert_eq!(
            decode_announce_reply(&bytes, 77, Family::V4),
            Ok(only(SocketAddr::is_ipv4))
        );
        let bytes6 = encode_announce_reply(77, &reply, Family::V6);
        assert_eq!(bytes6.len(), 20 + 18, "IPv6: 18-byte entries");
        assert_eq!(
            decode_announce_reply(&bytes6, 77, Family::V6),
            Ok(only(SocketAddr::is_ipv6))
        );
        // A torn last entry is dropped, the rest kept.
        let mut torn = bytes.clone();
        torn.extend_from_slice(&[1, 2, 3]);
        assert_eq!(
            decode_announce_reply(&torn, 77, Family::V4),
            Ok(only(SocketAddr::is_ipv4))
        );
    }

    #[test]
    fn scrape_round_trips_in_the_order_asked() {
        let hashes = [InfoHash([9; 20]), InfoHash([1; 20])];
        let req = encode_scrape(5, 6, &hashes).unwrap();
        assert_eq!(req.len(), 16 + 40);
        assert_eq!(
            decode_request(&req),
            Ok(Request::Scrape {
                connection_id: 5,
                transaction_id: 6,
                scrape: ScrapeRequest {
                    info_hashes: hashes.to_vec()
                },
            })
        );
        let counts = [
            ScrapeStats {
                complete: 1,
                downloaded: 2,
                incomplete: 3,
            },
            ScrapeStats {
                complete: 4,
                downloaded: 5,
                incomplete: 6,
            },
        ];
        let reply = decode_scrape_reply(&encode_scrape_reply(6, &counts), 6, &hashes).unwrap();
        assert_eq!(
            reply.files,
            [(hashes[1], counts[1]), (hashes[0], counts[0])],
            "sorted by info-hash, each with its own counts"
        );
        // Fewer counts than asked: those that came.
        let short = decode_scrape_reply(&encode_scrape_reply(6, &counts[..1]), 6, &hashes);
        assert_eq!(short.unwrap().files, [(hashes[0], counts[0])]);
        let many = vec![InfoHash([0; 20]); MAX_SCRAPE_HASHES + 1];
        assert_eq!(
            encode_scrape(1, 1, &many),
            Err(UdpTrackerError::TooManyHashes(MAX_SCRAPE_HASHES + 1))
        );
    }

    #[test]
    fn an_error_packet_for_our_transaction_is_a_refusal_with_its_message() {
        let e = encode_error(3, "unregistered torrent");
        assert_eq!(
            decode_announce_reply(&e, 3, Family::V4),
            Err(UdpTrackerError::Refused("unregistered torrent".into()))
        );
        assert_eq!(
            decode_connect_reply(&e, 3),
            Err(UdpTrackerError::Refused("unregistered torrent".into()))
        );
        // Not ours: not believed.
        assert!(matches!(
            decode_connect_reply(&e, 4),
            Err(UdpTrackerError::WrongTransaction { .. })
        ));
        // Control characters and length are tamed for the log.
        let mut long = Vec::new();
        header(&mut long, ERROR, 3);
        long.extend_from_slice(b"bad\x1b[31m\n");
        long.extend_from_slice(&[b'x'; 5000]);
        let Err(UdpTrackerError::Refused(m)) = decode_connect_reply(&long, 3) else {
            panic!("a refusal");
        };
        assert!(
            m.len() <= MAX_MESSAGE && !m.chars().any(char::is_control),
            "{m:?}"
        );
    }

    #[test]
    fn hostile_packets_are_errors_never_panics() {
        let tid: u32 = 0x0102_0304;
        let ours = tid.to_be_bytes();
        let mut connect_wrong_action = Vec::new();
        header(&mut connect_wrong_action, ANNOUNCE, tid);
        connect_wrong_action.extend_from_slice(&[0; 8]);
        let table: Vec<(&str, Vec<u8>)> = vec![
            ("empty", vec![]),
            ("one byte", vec![0]),
            ("seven bytes", vec![0; 7]),
            ("header only, connect", [&[0, 0, 0, 0][..], &ours].concat()),
            (
                "short connect",
                [&[0, 0, 0, 0][..], &ours, &[1, 2, 3]].concat(),
            ),
            ("header only, announce", [&[0, 0, 0, 1][..], &ours].concat()),
            (
                "19-byte announce",
                [&[0, 0, 0, 1][..], &ours, &[0; 11]].concat(),
            ),
            (
                "unknown action",
                [&[0, 0, 0, 9][..], &ours, &[0; 40]].concat(),
            ),
            ("wrong action", connect_wrong_action),
            ("other transaction", encode_connect_reply(tid ^ 1, 5)),
            ("all ones", vec![0xff; 100]),
            ("garbage", (0..=255u8).collect()),
        ];
        for (name, bytes) in &table {
            // Every prefix too: nothing reads past the end.
            for i in 0..=bytes.len() {
                let b = &bytes[..i];
                let _ = decode_scrape_reply(b, tid, &[InfoHash([0; 20])]);
                let _ = decode_request(b);
            }
            assert!(
                decode_connect_reply(bytes, tid).is_err(),
                "{name}: taken as a connect reply"
            );
            assert!(
                decode_announce_reply(bytes, tid, Family::V4).is_err(),
                "{name}: taken as an announce reply"
            );
        }
        // Requests: short, wrong magic, unknown action, too many hashes.
        assert!(matches!(
            decode_request(&[0; 15]),
            Err(UdpTrackerError::TooShort { .. })
        ));
        let mut not_magic = encode_connect(1);
        not_magic[0] = 1;
        assert_eq!(decode_request(&not_magic), Err(UdpTrackerError::NotBep15));
        assert!(matches!(
            decode_request(&encode_announce(1, 1, &announce())[..97]),
            Err(UdpTrackerError::TooShort { .. })
        ));
        let mut flood = encode_scrape(1, 1, &[InfoHash([0; 20]); MAX_SCRAPE_HASHES]).unwrap();
        flood.extend_from_slice(&[0; 20]);
        assert!(matches!(
            decode_request(&flood),
            Err(UdpTrackerError::TooManyHashes(_))
        ));
    }

    #[test]
    fn urls_name_a_host_and_port() {
        let u = UdpTrackerUrl::parse("udp://127.0.0.1:6969/announce").unwrap();
        assert_eq!((u.host, u.port), (Host::Ip([127, 0, 0, 1].into()), 6969));
        let u = UdpTrackerUrl::parse("UDP://tracker.example.org:1337").unwrap();
        assert_eq!(u.host, Host::Name("tracker.example.org".into()));
        let u = UdpTrackerUrl::parse("udp://[::1]:80/announce?x=1").unwrap();
        assert_eq!(u.host, Host::Ip("::1".parse().unwrap()));
        for bad in [
            "udp://tracker.example.org/announce",
            "udp://:80",
            "udp://host:0",
            "udp://host:99999",
            "http://host:80",
            "udp:/",
            "",
            "udp://1.2.3:80",
        ] {
            assert!(UdpTrackerUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_retry_schedule_is_15_times_2_to_the_n_up_to_n_8() {
        let r = UdpRetry::new(DEFAULT_RETRY_BASE_MS);
        let secs: Vec<u64> = (0..=10).map(|n| r.timeout_ms(n) / 1000).collect();
        assert_eq!(
            secs,
            [15, 30, 60, 120, 240, 480, 960, 1920, 3840, 3840, 3840]
        );
    }

    #[test]
    fn a_dead_tracker_is_asked_at_0_15_45_105_s_without_blocking_that_long() {
        // The shell waits at most 5 s for each answer.
        let cap = 5_000;
        let mut r = UdpRetry::new(DEFAULT_RETRY_BASE_MS);
        let mut sent = Vec::new();
        let mut now = 0;
        while now < 300_000 {
            match r.may_send(now) {
                Ok(()) => {
                    sent.push(now / 1000);
                    assert!(r.wait_ms(cap) <= cap);
                    now += r.wait_ms(cap);
                    r.timed_out(sent.last().unwrap() * 1000);
                }
                Err(wait) => {
                    assert!(wait > 0);
                    now += 1000;
                }
            }
        }
        assert_eq!(sent, [0, 15, 45, 105, 225]);
        assert_eq!(r.timeouts(), 5);
        // An answer starts the schedule over.
        r.answered();
        assert_eq!(r.may_send(now), Ok(()));
        assert_eq!(r.wait_ms(u64::MAX), 15_000);
        // n stops at 8.
        for _ in 0..20 {
            r.timed_out(0);
        }
        assert_eq!(r.timeouts(), MAX_RETRY_EXPONENT);
        assert_eq!(r.wait_ms(u64::MAX), 3_840_000);
    }

    #[test]
    fn a_connection_id_is_reused_for_a_minute() {
        let mut r = UdpRetry::new(1000);
        assert_eq!(r.connection_id(0), None);
        r.connected(7, 10_000);
        assert_eq!(r.connection_id(10_000), Some(7));
        assert_eq!(r.connection_id(69_999), Some(7));
        assert_eq!(r.connection_id(70_000), None);
        // A refusal forgets it: the tracker may have disliked it.
        r.connected(8, 80_000);
        r.refused();
        assert_eq!(r.connection_id(80_001), None);
    }

    #[test]
    fn a_timeout_keeps_the_tracker_quiet_for_the_rest_of_it() {
        let mut r = UdpRetry::new(1000);
        r.timed_out(500);
        assert_eq!(r.may_send(1_000), Err(500));
        assert_eq!(r.may_send(1_500), Ok(()));
        assert_eq!(r.wait_ms(u64::MAX), 2_000);
        r.timed_out(1_500);
        assert_eq!(r.may_send(3_000), Err(500));
    }
}
