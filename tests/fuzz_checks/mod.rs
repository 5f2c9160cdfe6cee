//! What each fuzz target asserts about one input. Shared by the `cargo fuzz`
//! targets in `fuzz/` (through `#[path]`) and by `tests/fuzz_corpus.rs`, which
//! replays the saved corpus on stable, so CI checks the same things without nightly.
//!
//! Each check takes arbitrary bytes, must never panic on its own, and panics
//! (an assertion) only when the code under test breaks a promise.

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use swarmshare::common::bencode::{self, Encoder, Value};
use swarmshare::common::http;
use swarmshare::common::metainfo::Metainfo;
use swarmshare::common::tracker_http::{HttpAnnounce, HttpAnnounceReply};
use swarmshare::common::tracker_proto::{
    Announce, AnnounceReply, PublishReply, ScrapeReply, ScrapeRequest,
};
use swarmshare::common::tracker_udp::{self, Family};
use swarmshare::common::wire::{self, HANDSHAKE_LEN, Handshake, Message};
use swarmshare::tracker::connection_ids::ConnectionIds;
use swarmshare::tracker::registry::Registry;
use swarmshare::tracker::search_index::Entry;
use swarmshare::tracker::server::Tracker;
use swarmshare::tracker::store::Store;
use swarmshare::tracker::udp_endpoint::{MAX_PEERS_V4, MAX_PEERS_V6, Swarms, UdpEndpoint};

type Check = fn(&[u8]);

/// The fuzz targets, each the name of a `fuzz/corpus/` folder.
pub const TARGETS: &[(&str, Check)] = &[
    ("bencode", bencode),
    ("metainfo", metainfo),
    ("wire_stream", wire_stream),
    ("http_announce", http_announce),
    ("tracker_publish", tracker_publish),
    ("udp_tracker", udp_tracker),
];

fn encode_value(v: &Value<'_>, e: &mut Encoder<'_>) {
    match v {
        Value::Int(n) => {
            e.int(*n);
        }
        Value::Bytes(b) => {
            e.bytes(b);
        }
        Value::List(items) => {
            e.begin_list();
            for i in items {
                encode_value(i, e);
            }
            e.end();
        }
        Value::Dict(d) => {
            e.begin_dict();
            for (k, v) in &d.entries {
                e.bytes(k);
                encode_value(v, e);
            }
            e.end();
        }
    }
}

/// Every dictionary's raw span is exactly its own encoding.
fn check_raw_spans(v: &Value<'_>) {
    match v {
        Value::List(items) => items.iter().for_each(check_raw_spans),
        Value::Dict(d) => {
            let mut out = Vec::new();
            encode_value(v, &mut Encoder::new(&mut out));
            assert_eq!(d.raw, &out[..], "a dictionary's raw span is not its bytes");
            d.entries.iter().for_each(|(_, v)| check_raw_spans(v));
        }
        _ => {}
    }
}

/// The decoder accepts only canonical bencode, so whatever it accepts
/// re-encodes (keys in file order) to the very same bytes.
pub fn bencode(data: &[u8]) {
    let whole = bencode::decode(data);
    match bencode::decode_prefix(data) {
        Ok((v, used)) => {
            assert!(used <= data.len());
            let mut out = Vec::new();
            encode_value(&v, &mut Encoder::new(&mut out));
            assert_eq!(out, &data[..used], "decoded value does not re-encode");
            check_raw_spans(&v);
            match &whole {
                Ok(w) => {
                    assert_eq!(used, data.len());
                    assert_eq!(w, &v);
                }
                Err(_) => assert!(used < data.len(), "decode refused what prefix took whole"),
            }
        }
        Err(_) => assert!(whole.is_err(), "decode took what prefix refused"),
    }
}

/// A parsed torrent is consistent, its files stay inside the download
/// folder, and its search line is a single line.
pub fn metainfo(data: &[u8]) {
    let Ok(m) = Metainfo::from_bytes(data) else {
        return;
    };
    assert_eq!(
        m.total_length.div_ceil(m.piece_length),
        m.num_pieces() as u64
    );
    assert_eq!(
        m.total_length,
        m.files.iter().map(|f| f.length).sum::<u64>()
    );
    let mut sum = 0;
    for i in 0..m.num_pieces() as u32 {
        let len = m.piece_len(i);
        assert!(len > 0 && len <= m.piece_length);
        sum += len;
    }
    assert_eq!(sum, m.total_length);
    let base = std::path::Path::new("/base");
    for p in m.file_paths(base) {
        assert!(p.starts_with(base.join(&m.name)), "{p:?} escapes");
        for c in p.strip_prefix(base).expect("under base").components() {
            assert!(
                matches!(c, std::path::Component::Normal(_)),
                "{p:?} has a {c:?} component"
            );
        }
    }
    let all_names = std::iter::once(&m.name).chain(m.files.iter().flat_map(|f| &f.path));
    for n in all_names {
        assert!(!n.bytes().any(|b| b.is_ascii_control()), "control in {n:?}");
    }
    let line = Entry::new(&m, format!("{}.torrent", m.name)).line();
    assert_eq!(line.lines().count(), 1, "search line {line:?}");
    let _ = m.assignment_form();
    // BEP 52: padding is in the stream, not in the size; every v2 piece's
    // data fits the piece, and a check of any bytes never panics.
    assert!(m.size() <= m.total_length);
    for i in 0..m.num_pieces() as u32 {
        if let Some(p) = m.piece_hashes.merkle(i) {
            assert!(p.data_len as u64 <= m.piece_len(i) && p.width.is_power_of_two());
            assert!(m.piece_hashes.v2_file_of(i).is_some());
        }
    }
    let _ = m.check_piece(0, &[]);
    let _ = m.check_piece(0, &vec![0; m.piece_len(0).min(1 << 20) as usize]);
    if let Some(v2) = m.info_hash_v2 {
        assert!(m.swarm_hashes().contains(&m.info_hash));
        assert_eq!(m.key().len(), if m.has_v1() { 40 } else { 64 }, "{v2:?}");
    }
}

/// Frames of at most this many bytes; small, so the fuzzer reaches the limit.
const MAX_FRAME: u32 = 1 << 16;

/// What a reader makes of a byte stream: each frame's bytes with what it decodes
/// to, then either the framing error that ends the stream or the bytes left over.
#[derive(Debug, PartialEq)]
struct Reading {
    frames: Vec<(Vec<u8>, String)>,
    end: Result<usize, wire::WireError>,
}

/// Reads `stream` as it arrives in chunks whose sizes cycle through `cuts`,
/// the way a connection keeps partial frames across reads.
fn read_in_chunks(stream: &[u8], cuts: &[u8]) -> Reading {
    let mut buf = Vec::new();
    let mut frames = Vec::new();
    let mut fed = 0;
    let mut sizes = cuts.iter().map(|&c| c as usize + 1).cycle();
    while fed < stream.len() {
        let n = sizes.next().unwrap_or(stream.len()).min(stream.len() - fed);
        buf.extend_from_slice(&stream[fed..fed + n]);
        fed += n;
        loop {
            match wire::frame_len(&buf, MAX_FRAME) {
                Err(e) => {
                    return Reading {
                        frames,
                        end: Err(e),
                    };
                }
                Ok(Some(len)) if buf.len() >= len => {
                    let frame: Vec<u8> = buf.drain(..len).collect();
                    let decoded = format!("{:?}", wire::decode(&frame[4..]));
                    frames.push((frame, decoded));
                }
                Ok(_) => break,
            }
        }
    }
    Reading {
        frames,
        end: Ok(buf.len()),
    }
}

/// The input is `n`, then `n` chunk sizes, then the stream: the framing gives the
/// same messages however the stream is cut, and every message re-encodes.
pub fn wire_stream(data: &[u8]) {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let (cuts, stream) = rest.split_at((n as usize % 32).min(rest.len()));
    let whole = read_in_chunks(stream, &[]);
    let cut = read_in_chunks(stream, cuts);
    assert_eq!(whole, cut, "cutting the stream changed what was read");
    let one_by_one = read_in_chunks(stream, &[0]);
    assert_eq!(
        whole, one_by_one,
        "byte-by-byte reading changed what was read"
    );
    for (frame, _) in &whole.frames {
        let Ok(m) = wire::decode(&frame[4..]) else {
            continue;
        };
        let mut out = Vec::new();
        wire::encode(&m, &mut out);
        if matches!(m, Message::Other(_)) {
            // Unknown ids keep only their id.
            assert_eq!(wire::decode(&out[4..]).as_ref(), Ok(&m));
        } else {
            assert_eq!(&out, frame, "{m:?} does not re-encode to its frame");
        }
    }
    if let Some(h) = stream.get(..HANDSHAKE_LEN) {
        let h: &[u8; HANDSHAKE_LEN] = h.try_into().expect("68 bytes");
        if let Ok(hs) = Handshake::decode(h) {
            assert_eq!(&hs.encode(), h);
        }
    }
}

/// The tracker's request loop without its socket: requests are parsed one
/// after another from the buffer, and each announce goes through the registry.
pub fn http_announce(data: &[u8]) {
    let mut registry = Registry::new(60);
    let mut buf = data;
    let mut now_ms = 0;
    while let Ok(Some((req, used))) = http::parse_request(buf) {
        assert!(
            used > 0 && used <= buf.len(),
            "used {used} of {}",
            buf.len()
        );
        buf = &buf[used..];
        if req.path != "/announce" {
            continue;
        }
        let Ok(a) = Announce::from_request(&req) else {
            continue;
        };
        assert!(a.port > 0);
        now_ms += 1000;
        let Ok((reply, _)) = registry.announce(&a, Ipv4Addr::new(10, 0, 0, 1).into(), now_ms)
        else {
            continue;
        };
        assert!(
            reply.peers.len() <= a.numwant.map_or(usize::MAX, |n| n as usize),
            "more peers than numwant"
        );
        let bytes = reply.encode(a.compact, a.no_peer_id);
        let back = AnnounceReply::decode(&bytes).expect("our own reply decodes");
        let addrs = |r: &AnnounceReply| r.peers.iter().map(|p| p.0).collect::<Vec<_>>();
        assert_eq!(addrs(&back), addrs(&reply));
        assert_eq!(
            (back.complete, back.incomplete),
            (reply.complete, reply.incomplete)
        );
    }
}

/// The tracker's publish handler, on a fresh data folder: an accepted torrent
/// is stored once, answers the same when published again, survives a restart,
/// and adds exactly one well-formed line to `search_content.txt`.
pub fn tracker_publish(data: &[u8]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let publish = |tracker: &Tracker| {
        let req = http::Request {
            method: "POST".into(),
            path: "/publish".into(),
            query: Vec::new(),
            keep_alive: false,
            host: None,
            body: data.to_vec(),
        };
        let resp = tracker.route(&req, Ipv4Addr::LOCALHOST.into());
        (resp.status == 200)
            .then(|| serde_json::from_slice::<PublishReply>(&resp.body).expect("publish reply"))
    };
    let tracker = Tracker::open(dir.path(), 60).expect("open tracker");
    let Some(first) = publish(&tracker) else {
        drop(tracker);
        let reopened = Store::open(dir.path()).expect("reopen store").0;
        assert!(reopened.index().is_empty(), "a refused publish was stored");
        return;
    };
    assert!(first.new);
    let again = publish(&tracker).expect("a second publish of the same bytes");
    assert!(!again.new);
    assert_eq!((&again.key, &again.torrent), (&first.key, &first.torrent));
    drop(tracker);
    let reopened = Store::open(dir.path()).expect("reopen store").0;
    assert_eq!(
        reopened.index().len(),
        1,
        "a restart lost or added torrents"
    );
    let lines = std::fs::read_to_string(dir.path().join("search_content.txt")).expect("lines");
    assert_eq!(lines.lines().count(), 1, "search_content.txt: {lines:?}");
    assert!(lines.ends_with('\n'));
    assert!(lines.contains(&format!(" tor : {}\n", first.torrent)));
}

struct RegistrySwarms(RefCell<Registry>);

impl Swarms for RegistrySwarms {
    fn announce(&self, a: &Announce, source: IpAddr) -> Result<AnnounceReply, String> {
        self.0.borrow_mut().announce(a, source, 0).map(|(r, _)| r)
    }
    fn scrape(&self, _: &ScrapeRequest) -> ScrapeReply {
        ScrapeReply::default()
    }
}

/// The tracker's UDP endpoint on a stream of datagrams, each framed as
/// `[flags, length, bytes...]`: flag bit 0 picks an IPv6 source, bit 1 puts
/// that source's real connection id (from a connect) in the first 8 bytes so
/// announces and scrapes get past the id check. Without a valid id, no answer
/// is ever longer than the datagram: a forged source gains nothing.
pub fn udp_tracker(data: &[u8]) {
    let swarms = RegistrySwarms(RefCell::new(Registry::new(60)));
    let mut endpoint = UdpEndpoint::new(ConnectionIds::new(), 0);
    let sources: [SocketAddr; 2] = [
        "10.0.0.1:6881".parse().unwrap(),
        "[2001:db8::1]:6881".parse().unwrap(),
    ];
    let mut out = Vec::new();
    let mut rest = data;
    while let [flags, len, tail @ ..] = rest {
        let len = (*len as usize).min(tail.len());
        let mut datagram = tail[..len].to_vec();
        rest = &tail[len..];
        let from = sources[(*flags & 1) as usize];
        let with_id = flags & 2 != 0 && datagram.len() >= 16;
        if with_id {
            assert!(endpoint.answer(&tracker_udp::encode_connect(1), from, 0, &swarms, &mut out));
            let id = tracker_udp::decode_connect_reply(&out, 1).expect("our connect reply");
            datagram[..8].copy_from_slice(&id.to_be_bytes());
        }
        if !endpoint.answer(&datagram, from, 0, &swarms, &mut out) {
            continue;
        }
        assert!(
            out.len() >= 8,
            "every answer has an action and a transaction id"
        );
        if !with_id {
            assert!(
                out.len() <= datagram.len(),
                "{} bytes answer {}",
                out.len(),
                datagram.len()
            );
            continue;
        }
        let family = if from.is_ipv4() {
            Family::V4
        } else {
            Family::V6
        };
        let tid = u32::from_be_bytes([datagram[12], datagram[13], datagram[14], datagram[15]]);
        if let Ok(reply) = tracker_udp::decode_announce_reply(&out, tid, family) {
            let cap = if from.is_ipv4() {
                MAX_PEERS_V4
            } else {
                MAX_PEERS_V6
            };
            assert!(
                reply.peers.len() <= cap as usize,
                "{} peers",
                reply.peers.len()
            );
            assert!(
                out.len() <= 1472,
                "a reply of {} bytes does not fit a frame",
                out.len()
            );
        }
    }
}
