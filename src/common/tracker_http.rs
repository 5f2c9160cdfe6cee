//! The tracker protocol over HTTP (BEP 3, BEP 23 compact peers, BEP 48 scrape):
//! `tracker_proto`'s model read from and written to query strings and bencoded
//! bodies, for both the tracker and the peer's announcer.
//!
//! The announce codecs are traits so that the model stays free of HTTP while
//! callers still write `Announce::from_request` and `reply.encode(..)`.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use super::bencode::{self, Encoder, Value};
use super::http::{Request, percent_encode};
use super::metainfo::InfoHash;
use super::tracker_proto::{
    Announce, AnnounceReply, Event, MAX_KEY, ScrapeReply, ScrapeRequest, ScrapeStats,
};

/// An announce as an HTTP query; errors are the `failure reason` to send back.
pub trait HttpAnnounce: Sized {
    /// Reads the announce parameters as real clients send them.
    fn from_request(r: &Request) -> Result<Self, String>;
    /// The query our client sends; it always asks for a compact reply.
    fn to_query(&self) -> String;
}

/// An announce reply as a bencoded body.
pub trait HttpAnnounceReply: Sized {
    fn encode(&self, compact: bool, no_peer_id: bool) -> Vec<u8>;
    /// Reads a tracker's reply, compact or not; `Err` carries its `failure reason`.
    fn decode(bytes: &[u8]) -> Result<Self, String>;
}

impl HttpAnnounce for Announce {
    fn from_request(r: &Request) -> Result<Announce, String> {
        let twenty = |name: &str| -> Result<[u8; 20], String> {
            let v = r.param(name).ok_or_else(|| format!("missing {name}"))?;
            v.try_into()
                .map_err(|_| format!("{name} must be 20 bytes, got {}", v.len()))
        };
        let num = |name: &str| -> Result<Option<u64>, String> {
            match r.param_str(name) {
                None | Some("") => Ok(None),
                Some(s) => s
                    .parse::<u64>()
                    .map(Some)
                    .map_err(|_| format!("{name} is not a number")),
            }
        };
        let port = num("port")?.ok_or("missing port")?;
        if port == 0 || port > 65535 {
            return Err("port out of range".into());
        }
        let event = match r.param_str("event") {
            // BEP 21 `paused` (libtorrent's upload-only state) is a regular announce here.
            None | Some("") | Some("empty") | Some("paused") => None,
            Some("started") => Some(Event::Started),
            Some("completed") => Some(Event::Completed),
            Some("stopped") => Some(Event::Stopped),
            Some(_) => return Err("unknown event: use started, completed or stopped".into()),
        };
        let key = match r.param("key") {
            None | Some([]) => None,
            Some(k) if k.len() > MAX_KEY => {
                return Err(format!("key is longer than {MAX_KEY} bytes"));
            }
            Some(k) => Some(k.to_vec()),
        };
        // A numwant nobody can use (negative, garbage) means "the usual", not an error.
        let numwant = r
            .param_str("numwant")
            .and_then(|s| s.parse::<u64>().ok())
            .map(|n| n.min(1000) as u32);
        Ok(Announce {
            info_hash: InfoHash(twenty("info_hash")?),
            peer_id: twenty("peer_id")?,
            port: port as u16,
            uploaded: num("uploaded")?.unwrap_or(0),
            downloaded: num("downloaded")?.unwrap_or(0),
            left: num("left")?.unwrap_or(0),
            event,
            numwant,
            compact: r.param_str("compact") != Some("0"),
            no_peer_id: r.param_str("no_peer_id") == Some("1"),
            // A hostname is not listed: the source address is.
            ip: r
                .param_str("ip")
                .and_then(|s| s.parse::<IpAddr>().ok())
                .map(|ip| ip.to_canonical()),
            ipv6: r.param_str("ipv6").and_then(|s| parse_ipv6(s, port as u16)),
            key,
        })
    }

    fn to_query(&self) -> String {
        let mut q = format!(
            "info_hash={}&peer_id={}&port={}&uploaded={}&downloaded={}&left={}&compact=1",
            percent_encode(&self.info_hash.0),
            percent_encode(&self.peer_id),
            self.port,
            self.uploaded,
            self.downloaded,
            self.left
        );
        if let Some(e) = self.event {
            q.push_str("&event=");
            q.push_str(e.as_str());
        }
        if let Some(n) = self.numwant {
            q.push_str(&format!("&numwant={n}"));
        }
        if let Some(k) = &self.key {
            q.push_str("&key=");
            q.push_str(&percent_encode(k));
        }
        if let Some(v6) = self.ipv6 {
            q.push_str("&ipv6=");
            q.push_str(&percent_encode(v6.to_string().as_bytes()));
        }
        q
    }
}

/// BEP 7's `ipv6`: a bare address (the announce's port) or `[address]:port`.
/// Only a global-looking IPv6 address is taken: an IPv4 one belongs in `ip`.
fn parse_ipv6(s: &str, port: u16) -> Option<SocketAddr> {
    let a = match s.parse::<SocketAddrV6>() {
        Ok(a) => a,
        Err(_) => SocketAddrV6::new(s.parse::<Ipv6Addr>().ok()?, port, 0, 0),
    };
    let ip = a.ip();
    if a.port() == 0 || ip.is_unspecified() || ip.to_ipv4_mapped().is_some() {
        return None;
    }
    Some(SocketAddr::V6(SocketAddrV6::new(*ip, a.port(), 0, 0)))
}

/// Compact peers (BEP 23 and BEP 7): 6-byte IPv4 entries and 18-byte IPv6 ones.
pub fn compact_peers(peers: &[(SocketAddr, [u8; 20])]) -> (Vec<u8>, Vec<u8>) {
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for (a, _) in peers {
        match a {
            SocketAddr::V4(a) => {
                v4.extend_from_slice(&a.ip().octets());
                v4.extend_from_slice(&a.port().to_be_bytes());
            }
            SocketAddr::V6(a) => {
                v6.extend_from_slice(&a.ip().octets());
                v6.extend_from_slice(&a.port().to_be_bytes());
            }
        }
    }
    (v4, v6)
}

/// Reads compact peers of either family; a trailing partial entry is ignored.
pub fn read_compact_peers(bytes: &[u8], v6: bool, out: &mut Vec<(SocketAddr, [u8; 20])>) {
    let size = if v6 { 18 } else { 6 };
    for c in bytes.chunks_exact(size) {
        let port = u16::from_be_bytes([c[size - 2], c[size - 1]]);
        let ip = if v6 {
            let mut o = [0u8; 16];
            o.copy_from_slice(&c[..16]);
            IpAddr::V6(Ipv6Addr::from(o))
        } else {
            IpAddr::V4(Ipv4Addr::new(c[0], c[1], c[2], c[3]))
        };
        out.push((SocketAddr::new(ip, port), [0; 20]));
    }
}

impl HttpAnnounceReply for AnnounceReply {
    fn encode(&self, compact: bool, no_peer_id: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.peers.len() * 6);
        let mut e = Encoder::new(&mut out);
        e.begin_dict().str("complete").int(self.complete as i64);
        e.str("incomplete").int(self.incomplete as i64);
        e.str("interval").int(self.interval as i64);
        if let Some(m) = self.min_interval {
            e.str("min interval").int(m as i64);
        }
        e.str("peers");
        if compact {
            let (v4, v6) = compact_peers(&self.peers);
            e.bytes(&v4);
            // Keys in order: `peers6` sorts after `peers`. Left out when empty,
            // as clients without IPv6 have no use for it.
            if !v6.is_empty() {
                e.str("peers6").bytes(&v6);
            }
        } else {
            e.begin_list();
            for (a, id) in &self.peers {
                e.begin_dict().str("ip").str(&a.ip().to_string());
                if !no_peer_id {
                    e.str("peer id").bytes(id);
                }
                e.str("port").int(a.port() as i64).end();
            }
            e.end();
        }
        e.end();
        out
    }

    fn decode(bytes: &[u8]) -> Result<AnnounceReply, String> {
        let v = bencode::decode(bytes).map_err(|e| format!("tracker sent invalid bencode: {e}"))?;
        let d = v.as_dict().ok_or("tracker reply is not a dictionary")?;
        if let Some(reason) = d.get("failure reason") {
            return Err(format!(
                "tracker refused: {}",
                reason.as_str().unwrap_or("(unreadable reason)")
            ));
        }
        let int = |k: &str| {
            d.get(k)
                .and_then(Value::as_int)
                .unwrap_or(0)
                .clamp(0, u32::MAX as i64) as u32
        };
        let mut peers = Vec::new();
        match d.get("peers") {
            Some(Value::Bytes(b)) => read_compact_peers(b, false, &mut peers),
            Some(Value::List(l)) => {
                for p in l {
                    let Some(p) = p.as_dict() else { continue };
                    let ip = p
                        .get("ip")
                        .and_then(Value::as_str)
                        .and_then(|s| s.parse::<IpAddr>().ok());
                    let port = p
                        .get("port")
                        .and_then(Value::as_int)
                        .filter(|&n| (1..=65535).contains(&n));
                    if let (Some(ip), Some(port)) = (ip, port) {
                        let id = p
                            .get("peer id")
                            .and_then(Value::as_bytes)
                            .and_then(|b| b.try_into().ok())
                            .unwrap_or([0; 20]);
                        peers.push((SocketAddr::new(ip, port as u16), id));
                    }
                }
            }
            _ => {}
        }
        if let Some(Value::Bytes(b)) = d.get("peers6") {
            read_compact_peers(b, true, &mut peers);
        }
        Ok(AnnounceReply {
            interval: int("interval").max(1),
            min_interval: d.get("min interval").map(|_| int("min interval")),
            complete: int("complete"),
            incomplete: int("incomplete"),
            peers,
        })
    }
}

/// A refusal's body; clients show its reason.
pub fn failure(reason: &str) -> Vec<u8> {
    let mut out = Vec::new();
    Encoder::new(&mut out)
        .begin_dict()
        .str("failure reason")
        .str(reason)
        .end();
    out
}

/// The info-hashes a `/scrape` names; the error is the `failure reason`.
pub fn scrape_from_request(r: &Request) -> Result<ScrapeRequest, String> {
    let mut info_hashes = Vec::new();
    for h in r.params("info_hash") {
        match <[u8; 20]>::try_from(h) {
            Ok(h) => info_hashes.push(InfoHash(h)),
            Err(_) => return Err("info_hash must be 20 bytes".into()),
        }
    }
    Ok(ScrapeRequest { info_hashes })
}

/// BEP 48's `files` dictionary; the reply's order (sorted, each once) is the bencode key order.
pub fn encode_scrape(reply: &ScrapeReply) -> Vec<u8> {
    let mut out = Vec::new();
    let mut e = Encoder::new(&mut out);
    e.begin_dict().str("files").begin_dict();
    for (h, c) in &reply.files {
        e.bytes(&h.0).begin_dict();
        e.str("complete")
            .int(c.complete as i64)
            .str("downloaded")
            .int(c.downloaded as i64);
        e.str("incomplete").int(c.incomplete as i64).end();
    }
    e.end().end();
    out
}

/// Reads a scrape reply; entries that are not 20-byte hashes with counts are skipped.
pub fn decode_scrape(bytes: &[u8]) -> Result<ScrapeReply, String> {
    let v = bencode::decode(bytes).map_err(|e| format!("tracker sent invalid bencode: {e}"))?;
    let d = v.as_dict().ok_or("scrape reply is not a dictionary")?;
    if let Some(reason) = d.get("failure reason") {
        return Err(format!(
            "tracker refused: {}",
            reason.as_str().unwrap_or("(unreadable reason)")
        ));
    }
    let files = d
        .get("files")
        .and_then(Value::as_dict)
        .ok_or("scrape reply has no files")?;
    let mut out = Vec::new();
    for (k, v) in &files.entries {
        let (Ok(h), Some(c)) = (<[u8; 20]>::try_from(*k), v.as_dict()) else {
            continue;
        };
        let int = |k: &str| {
            c.get(k)
                .and_then(Value::as_int)
                .unwrap_or(0)
                .clamp(0, u32::MAX as i64) as u32
        };
        out.push((
            InfoHash(h),
            ScrapeStats {
                complete: int("complete"),
                downloaded: int("downloaded"),
                incomplete: int("incomplete"),
            },
        ));
    }
    Ok(ScrapeReply { files: out })
}

/// Where an `http://` announce URL points: the host and port to connect to,
/// and the request target to which an announce's query is appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnnounceUrl {
    pub host: String,
    pub port: u16,
    pub target: String,
}

impl HttpAnnounceUrl {
    pub fn parse(url: &str) -> Result<HttpAnnounceUrl, String> {
        let rest = url
            .get(..7)
            .filter(|s| s.eq_ignore_ascii_case("http://"))
            .map(|_| &url[7..])
            .ok_or_else(|| format!("{url:?} is not an http:// URL"))?;
        let (authority, target) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_owned()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_owned()),
        };
        let authority = authority.rsplit('@').next().unwrap_or(authority);
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !p.contains(']') => (
                h,
                p.parse::<u16>()
                    .map_err(|_| format!("{url:?} has a bad port"))?,
            ),
            _ => (authority, 80),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || port == 0 {
            return Err(format!("{url:?} names no host and port"));
        }
        Ok(HttpAnnounceUrl {
            host: host.to_owned(),
            port,
            target,
        })
    }

    /// The request target of an announce: the URL's own query, if any, comes first.
    pub fn announce_target(&self, a: &Announce) -> String {
        let sep = if self.target.contains('?') { '&' } else { '?' };
        format!("{}{sep}{}", self.target, a.to_query())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::http::parse_request;

    fn announce() -> Announce {
        Announce {
            info_hash: InfoHash([0xfe; 20]),
            peer_id: *b"-SW0100-abcdefghijkl",
            port: 6881,
            uploaded: 1,
            downloaded: 2,
            left: 3,
            event: Some(Event::Started),
            numwant: Some(50),
            compact: true,
            no_peer_id: false,
            ip: None,
            ipv6: None,
            key: Some(vec![0x07, 0xd2, 0xe9, b'S']),
        }
    }

    fn request(target: &str) -> Request {
        let raw = format!("GET {target} HTTP/1.1\r\n\r\n");
        parse_request(raw.as_bytes()).unwrap().unwrap().0
    }

    #[test]
    fn announce_query_round_trips() {
        let a = announce();
        let req = request(&format!("/announce?{}", a.to_query()));
        assert_eq!(Announce::from_request(&req).unwrap(), a);
        let with_v6 = Announce {
            ipv6: Some("[2001:db8::9]:6881".parse().unwrap()),
            ..a
        };
        let req = request(&format!("/announce?{}", with_v6.to_query()));
        assert_eq!(Announce::from_request(&req).unwrap(), with_v6);
    }

    #[test]
    fn announce_errors_are_reasons() {
        let req = request("/announce?info_hash=abc&port=1");
        assert!(
            Announce::from_request(&req)
                .unwrap_err()
                .contains("info_hash")
        );
    }

    #[test]
    fn reply_round_trips_compact_and_dict() {
        let r = AnnounceReply {
            interval: 60,
            min_interval: Some(5),
            complete: 1,
            incomplete: 2,
            peers: vec![
                (SocketAddr::from((Ipv4Addr::LOCALHOST, 6881)), [7; 20]),
                (SocketAddr::from((Ipv6Addr::LOCALHOST, 6882)), [8; 20]),
            ],
        };
        let compact = AnnounceReply::decode(&r.encode(true, false)).unwrap();
        let addrs: Vec<_> = compact.peers.iter().map(|p| p.0).collect();
        assert_eq!(
            addrs,
            [r.peers[0].0, r.peers[1].0],
            "peers, then peers6 (BEP 7)"
        );
        assert!(
            !String::from_utf8_lossy(
                &AnnounceReply {
                    peers: r.peers[..1].to_vec(),
                    ..r.clone()
                }
                .encode(true, false)
            )
            .contains("6:peers6"),
            "no peers6 key without IPv6 peers"
        );
        assert_eq!(AnnounceReply::decode(&r.encode(false, false)).unwrap(), r);
        assert!(
            AnnounceReply::decode(&failure("nope"))
                .unwrap_err()
                .contains("nope")
        );
    }

    #[test]
    fn scrape_round_trips_and_refuses_short_hashes() {
        let reply = ScrapeReply {
            files: vec![
                (
                    InfoHash([1; 20]),
                    ScrapeStats {
                        complete: 1,
                        downloaded: 2,
                        incomplete: 3,
                    },
                ),
                (InfoHash([2; 20]), ScrapeStats::default()),
            ],
        };
        assert_eq!(decode_scrape(&encode_scrape(&reply)).unwrap(), reply);
        let two = request(&format!(
            "/scrape?info_hash={}&info_hash={}",
            "%01".repeat(20),
            "%02".repeat(20)
        ));
        assert_eq!(
            scrape_from_request(&two).unwrap().info_hashes,
            vec![InfoHash([1; 20]), InfoHash([2; 20])]
        );
        assert_eq!(
            scrape_from_request(&request("/scrape")).unwrap(),
            ScrapeRequest::default()
        );
        assert!(scrape_from_request(&request("/scrape?info_hash=abc")).is_err());
    }

    #[test]
    fn announce_urls_keep_their_own_query() {
        let u = HttpAnnounceUrl::parse("http://127.0.0.1:6969/announce").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("127.0.0.1", 6969));
        let a = announce();
        assert_eq!(u.announce_target(&a), format!("/announce?{}", a.to_query()));
        let q = HttpAnnounceUrl::parse("HTTP://tracker.example/a?port=0").unwrap();
        assert_eq!((q.host.as_str(), q.port), ("tracker.example", 80));
        assert!(q.announce_target(&a).starts_with("/a?port=0&info_hash="));
        let v6 = HttpAnnounceUrl::parse("http://[::1]:7000?x=1").unwrap();
        assert_eq!(
            (v6.host.as_str(), v6.port, v6.target.as_str()),
            ("::1", 7000, "/?x=1")
        );
        for bad in ["udp://t:1", "http://", "http://h:0/a", "http://h:x/a"] {
            assert!(HttpAnnounceUrl::parse(bad).is_err(), "{bad}");
        }
    }

    fn parse(query: &str) -> Result<Announce, String> {
        Announce::from_request(&request(&format!("/announce?{query}")))
    }

    #[test]
    fn announces_as_stock_clients_send_them() {
        // Captured from aria2c 1.36 (binary key), libtorrent 2.0 and Transmission 3.00.
        let aria2 = parse(
            "info_hash=%85%85%85R%F1%C5x%C7%13%A2%F4c%AF%1E%C6A%CD%C5H%3F&peer_id=A2-1-36-0-%1C%1C%07%D2%E9S%8D%A9%20%E1\
             &uploaded=0&downloaded=0&left=100000&compact=1&key=%07%D2%E9S%8D%A9%20%E1&numwant=50&no_peer_id=1\
             &port=6904&event=started&supportcrypto=1",
        )
        .unwrap();
        assert_eq!(
            (
                aria2.port,
                aria2.left,
                aria2.numwant,
                aria2.compact,
                aria2.no_peer_id
            ),
            (6904, 100_000, Some(50), true, true)
        );
        assert_eq!(
            aria2.key.as_deref(),
            Some(&[7, 0xd2, 0xe9, b'S', 0x8d, 0xa9, 0x20, 0xe1][..])
        );
        let lt = parse(
            "info_hash=%85%85%85R%f1%c5x%c7%13%a2%f4c%af%1e%c6A%cd%c5H%3f&peer_id=-LT2080-xkuaz8U5dTHb\
             &port=44447&uploaded=0&downloaded=0&left=100000&corrupt=0&key=FBE3B926&event=stopped\
             &numwant=0&compact=1&no_peer_id=1&supportcrypto=1&redundant=0",
        )
        .unwrap();
        assert_eq!((lt.event, lt.numwant), (Some(Event::Stopped), Some(0)));
        assert_eq!(aria2.info_hash, lt.info_hash);
        let tr = parse(
            "info_hash=%85%85%85R%f1%c5x%c7%13%a2%f4c%af%1e%c6A%cd%c5H%3f&peer_id=-TR3000-7tsmwhh09nr5\
             &port=52099&uploaded=0&downloaded=0&left=100000&numwant=80&key=581b4822&compact=1\
             &supportcrypto=1&event=started",
        )
        .unwrap();
        assert_eq!(tr.key.as_deref(), Some(&b"581b4822"[..]));
        // compact=0, an ip to be listed under, BEP 21 paused, and a numwant nobody can use.
        let old = parse(&format!(
            "info_hash={}&peer_id=-XX0000-000000000000&port=1&left=0&compact=0&ip=10.1.2.3&event=paused&numwant=-1",
            "%01".repeat(20)
        ))
        .unwrap();
        assert_eq!(
            (old.compact, old.ip, old.event, old.numwant, old.key),
            (false, Some(IpAddr::from([10, 1, 2, 3])), None, None, None)
        );
        // BEP 7: ipv6= bare (the announce's port) or [address]:port; an IPv4 one is not taken.
        let ipv6 = |v: &str| {
            parse(&format!(
                "info_hash={}&peer_id=-XX0000-000000000000&port=6881&ipv6={v}",
                "%01".repeat(20)
            ))
            .unwrap()
            .ipv6
        };
        assert_eq!(
            ipv6("2001%3Adb8%3A%3A1"),
            Some("[2001:db8::1]:6881".parse().unwrap())
        );
        assert_eq!(
            ipv6("%5B2001%3Adb8%3A%3A1%5D%3A7000"),
            Some("[2001:db8::1]:7000".parse().unwrap())
        );
        assert_eq!(ipv6("10.0.0.1"), None);
        assert_eq!(ipv6("%3A%3Affff%3A10.0.0.1"), None);
        let host = parse(&format!(
            "info_hash={}&peer_id=-XX0000-000000000000&port=1&ip=example.org",
            "%01".repeat(20)
        ))
        .unwrap();
        assert_eq!(host.ip, None);
        assert!(
            parse("info_hash=x&port=1")
                .unwrap_err()
                .contains("info_hash")
        );
        let no_port = format!(
            "info_hash={}&peer_id=-XX0000-000000000000",
            "%01".repeat(20)
        );
        assert!(parse(&no_port).unwrap_err().contains("port"));
        assert!(
            parse(&format!("{no_port}&port=1&event=bogus"))
                .unwrap_err()
                .contains("event")
        );
    }
}
