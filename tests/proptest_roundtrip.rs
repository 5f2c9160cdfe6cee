//! Encode then decode gives back what was encoded: bencode values, every wire
//! message and the handshake, announce queries and announce replies.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use proptest::prelude::*;
use swarmshare::common::bencode::{self, Encoder, Value};
use swarmshare::common::http::parse_request;
use swarmshare::common::metainfo::InfoHash;
use swarmshare::common::tracker_http::{HttpAnnounce, HttpAnnounceReply};
use swarmshare::common::tracker_proto::{Announce, AnnounceReply, Event};
use swarmshare::common::wire::{self, BlockRef, Handshake, HashRequest, Message};

/// An owned bencode value; dictionaries sorted, as BEP 3 writes them.
#[derive(Debug, Clone, PartialEq)]
enum V {
    Int(i64),
    Bytes(Vec<u8>),
    List(Vec<V>),
    Dict(BTreeMap<Vec<u8>, V>),
}

fn value() -> impl Strategy<Value = V> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(V::Int),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(V::Bytes),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(V::List),
            proptest::collection::btree_map(
                proptest::collection::vec(any::<u8>(), 0..12),
                inner,
                0..6
            )
            .prop_map(V::Dict),
        ]
    })
}

fn encode(v: &V, e: &mut Encoder<'_>) {
    match v {
        V::Int(n) => {
            e.int(*n);
        }
        V::Bytes(b) => {
            e.bytes(b);
        }
        V::List(l) => {
            e.begin_list();
            l.iter().for_each(|x| encode(x, e));
            e.end();
        }
        V::Dict(d) => {
            e.begin_dict();
            for (k, x) in d {
                e.bytes(k);
                encode(x, e);
            }
            e.end();
        }
    }
}

fn owned(v: &Value<'_>) -> V {
    match v {
        Value::Int(n) => V::Int(*n),
        Value::Bytes(b) => V::Bytes(b.to_vec()),
        Value::List(l) => V::List(l.iter().map(owned).collect()),
        Value::Dict(d) => V::Dict(
            d.entries
                .iter()
                .map(|(k, x)| (k.to_vec(), owned(x)))
                .collect(),
        ),
    }
}

fn block() -> impl Strategy<Value = BlockRef> {
    (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(index, begin, length)| BlockRef {
        index,
        begin,
        length,
    })
}

/// Ids the codec gives a meaning to; any other id decodes as `Other`.
const KNOWN_IDS: &[u8] = &[
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 14, 15, 16, 17, 20, 21, 22, 23,
];

fn hash_request() -> impl Strategy<Value = HashRequest> {
    (any::<[u8; 32]>(), any::<[u32; 4]>()).prop_map(
        |(root, [base, index, length, proof_layers])| HashRequest {
            root,
            base,
            index,
            length,
            proof_layers,
        },
    )
}

fn message(data: &'static [u8]) -> impl Strategy<Value = Message<'static>> {
    prop_oneof![
        Just(Message::KeepAlive),
        Just(Message::Choke),
        Just(Message::Unchoke),
        Just(Message::Interested),
        Just(Message::NotInterested),
        any::<u32>().prop_map(Message::Have),
        (0..=data.len()).prop_map(move |n| Message::Bitfield(&data[..n])),
        block().prop_map(Message::Request),
        (any::<u32>(), any::<u32>(), 0..=data.len()).prop_map(move |(index, begin, n)| {
            Message::Piece {
                index,
                begin,
                data: &data[..n],
            }
        }),
        block().prop_map(Message::Cancel),
        any::<u16>().prop_map(Message::Port),
        any::<u32>().prop_map(Message::Suggest),
        Just(Message::HaveAll),
        Just(Message::HaveNone),
        block().prop_map(Message::Reject),
        any::<u32>().prop_map(Message::AllowedFast),
        hash_request().prop_map(Message::HashRequest),
        (hash_request(), 0..=data.len() / 32).prop_map(move |(request, n)| Message::Hashes {
            request,
            hashes: &data[..n * 32]
        }),
        hash_request().prop_map(Message::HashReject),
        (any::<u8>(), 0..=data.len()).prop_map(move |(id, n)| Message::Extended {
            id,
            payload: &data[..n]
        }),
        any::<u8>()
            .prop_filter("a known id", |id| !KNOWN_IDS.contains(id))
            .prop_map(Message::Other),
    ]
}

static DATA: [u8; 300] = {
    let mut d = [0u8; 300];
    let mut i = 0;
    while i < 300 {
        d[i] = (i * 7 + 3) as u8;
        i += 1;
    }
    d
};

fn event() -> impl Strategy<Value = Option<Event>> {
    prop_oneof![
        Just(None),
        Just(Some(Event::Started)),
        Just(Some(Event::Completed)),
        Just(Some(Event::Stopped)),
    ]
}

prop_compose! {
    /// An announce as our client sends it: `to_query` always asks for compact
    /// replies and names no `ip`, so those fields take their defaults.
    fn announce()(
        info_hash in any::<[u8; 20]>(),
        peer_id in any::<[u8; 20]>(),
        port in 1u16..,
        uploaded in any::<u64>(),
        downloaded in any::<u64>(),
        left in any::<u64>(),
        event in event(),
        numwant in proptest::option::of(0u32..=1000),
        key in proptest::option::of(proptest::collection::vec(any::<u8>(), 1..=64)),
    ) -> Announce {
        Announce {
            info_hash: InfoHash(info_hash),
            peer_id,
            port,
            uploaded,
            downloaded,
            left,
            event,
            numwant,
            compact: true,
            no_peer_id: false,
            ip: None,
            ipv6: None,
            key,
        }
    }
}

prop_compose! {
    fn reply(min_port: u16)(
        interval in 1u32..,
        complete in any::<u32>(),
        incomplete in any::<u32>(),
        peers in proptest::collection::vec(
            (any::<[u8; 4]>(), min_port.., any::<[u8; 20]>()),
            0..30,
        ),
        peers6 in proptest::collection::vec(
            (any::<[u8; 16]>(), min_port.., any::<[u8; 20]>()),
            0..10,
        ),
    ) -> AnnounceReply {
        AnnounceReply {
            interval,
            min_interval: None,
            complete,
            incomplete,
            // IPv4 first: the compact form carries them in `peers`, then IPv6 in `peers6`.
            peers: peers
                .into_iter()
                .map(|(ip, port, id)| (SocketAddr::from((Ipv4Addr::from(ip), port)), id))
                .chain(
                    peers6
                        .into_iter()
                        .map(|(ip, port, id)| (SocketAddr::from((Ipv6Addr::from(ip), port)), id)),
                )
                .collect(),
        }
    }
}

proptest! {
    #[test]
    fn bencode_round_trips(v in value()) {
        let mut out = Vec::new();
        encode(&v, &mut Encoder::new(&mut out));
        let decoded = bencode::decode(&out).expect("our encoding decodes");
        prop_assert_eq!(owned(&decoded), v);
        if let Value::Dict(d) = &decoded {
            prop_assert_eq!(d.raw, &out[..]);
        }
    }

    #[test]
    fn wire_messages_round_trip(m in message(&DATA)) {
        let mut out = Vec::new();
        wire::encode(&m, &mut out);
        prop_assert_eq!(wire::frame_len(&out, u32::MAX), Ok(Some(out.len())));
        prop_assert_eq!(wire::decode(&out[4..]), Ok(m));
    }

    #[test]
    fn handshake_round_trips(reserved in any::<[u8; 8]>(), info_hash in any::<[u8; 20]>(), peer_id in any::<[u8; 20]>()) {
        let h = Handshake { reserved, info_hash, peer_id };
        prop_assert_eq!(Handshake::decode(&h.encode()), Ok(h));
    }

    #[test]
    fn announce_query_round_trips(a in announce()) {
        let raw = format!("GET /announce?{} HTTP/1.1\r\nHost: t\r\n\r\n", a.to_query());
        let (req, used) = parse_request(raw.as_bytes()).expect("parses").expect("whole");
        prop_assert_eq!(used, raw.len());
        prop_assert_eq!(Announce::from_request(&req), Ok(a));
    }

    /// The dictionary form keeps ids; the compact form keeps addresses only.
    #[test]
    fn announce_reply_round_trips(r in reply(1)) {
        prop_assert_eq!(AnnounceReply::decode(&r.encode(false, false)), Ok(r.clone()));
        let compact = AnnounceReply { peers: r.peers.iter().map(|(a, _)| (*a, [0; 20])).collect(), ..r.clone() };
        prop_assert_eq!(AnnounceReply::decode(&r.encode(true, false)), Ok(compact.clone()));
        prop_assert_eq!(AnnounceReply::decode(&r.encode(false, true)), Ok(compact));
    }

    #[test]
    fn compact_reply_keeps_port_zero_peers(r in reply(0)) {
        let back = AnnounceReply::decode(&r.encode(true, false)).expect("decodes");
        prop_assert_eq!(back.peers.len(), r.peers.len());
    }
}
