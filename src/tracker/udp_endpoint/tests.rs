use std::cell::RefCell;

use super::*;
use crate::common::metainfo::InfoHash;
use crate::common::tracker_proto::ScrapeStats;
use crate::tracker::registry::Registry;

/// The real registry, as the tracker's state would hold it.
struct Fake(RefCell<Registry>);

impl Swarms for Fake {
    fn announce(&self, a: &Announce, source: IpAddr) -> Result<AnnounceReply, String> {
        self.0.borrow_mut().announce(a, source, 0).map(|(r, _)| r)
    }
    fn scrape(&self, req: &ScrapeRequest) -> ScrapeReply {
        let r = self.0.borrow();
        let mut files: Vec<_> = req
            .info_hashes
            .iter()
            .map(|h| {
                let c = r.counts(h);
                (
                    *h,
                    ScrapeStats {
                        complete: c.complete,
                        downloaded: c.downloaded,
                        incomplete: c.incomplete,
                    },
                )
            })
            .collect();
        files.sort_by_key(|f| f.0);
        files.dedup_by_key(|f| f.0);
        ScrapeReply { files }
    }
}

fn fake() -> Fake {
    Fake(RefCell::new(Registry::new(60)))
}

fn ann(id: u8, port: u16, left: u64) -> Announce {
    Announce {
        key: Some(vec![1, 2, 3, 4]),
        ..Announce::started(InfoHash([1; 20]), [id; 20], port, left)
    }
}

struct Client {
    from: SocketAddr,
    out: Vec<u8>,
}

impl Client {
    fn new(from: &str) -> Client {
        Client {
            from: from.parse().unwrap(),
            out: Vec::new(),
        }
    }

    fn send(&mut self, e: &mut UdpEndpoint, s: &Fake, bytes: &[u8]) -> Option<&[u8]> {
        e.answer(bytes, self.from, 1_000, s, &mut self.out)
            .then_some(&self.out[..])
    }

    fn connect(&mut self, e: &mut UdpEndpoint, s: &Fake) -> u64 {
        let reply = self.send(e, s, &tracker_udp::encode_connect(7)).unwrap();
        tracker_udp::decode_connect_reply(reply, 7).unwrap()
    }
}

fn endpoint() -> UdpEndpoint {
    UdpEndpoint::new(ConnectionIds::new(), 0)
}

#[test]
fn connect_then_announce_lists_peers_in_the_sockets_layout() {
    let (mut e, s) = (endpoint(), fake());
    let mut v4 = Client::new("10.0.0.1:5000");
    let mut v6 = Client::new("[2001:db8::1]:5000");
    let mut seed = Client::new("10.0.0.2:5000");
    let id = seed.connect(&mut e, &s);
    let mut first = ann(9, 6881, 0);
    first.ip = Some("6.6.6.6".parse().unwrap());
    seed.send(&mut e, &s, &tracker_udp::encode_announce(id, 1, &first))
        .unwrap();
    let id6 = v6.connect(&mut e, &s);
    v6.send(
        &mut e,
        &s,
        &tracker_udp::encode_announce(id6, 1, &ann(6, 6886, 0)),
    )
    .unwrap();
    let id4 = v4.connect(&mut e, &s);
    let reply = v4
        .send(
            &mut e,
            &s,
            &tracker_udp::encode_announce(id4, 2, &ann(4, 6884, 10)),
        )
        .unwrap();
    let reply = tracker_udp::decode_announce_reply(reply, 2, Family::V4).unwrap();
    assert_eq!((reply.complete, reply.incomplete), (2, 1));
    let addrs: Vec<SocketAddr> = reply.peers.iter().map(|p| p.0).collect();
    assert_eq!(
        addrs,
        ["10.0.0.2:6881".parse().unwrap()],
        "IPv4 layout: the IPv6 seeder left out; listed at its source, not the ip field"
    );
    let reply = v6
        .send(
            &mut e,
            &s,
            &tracker_udp::encode_announce(id6, 3, &ann(6, 6886, 0)),
        )
        .unwrap();
    assert_eq!(reply.len(), 20, "the header alone");
    let reply = tracker_udp::decode_announce_reply(reply, 3, Family::V6).unwrap();
    assert!(
        reply.peers.is_empty(),
        "a seeder is given leechers only: none over IPv6"
    );
}

#[test]
fn a_wrong_connection_id_gets_a_short_error() {
    let (mut e, s) = (endpoint(), fake());
    let mut c = Client::new("10.0.0.1:5000");
    let id = c.connect(&mut e, &s);
    let req = tracker_udp::encode_announce(id ^ 1, 9, &ann(1, 6881, 5));
    let reply = c.send(&mut e, &s, &req).unwrap().to_vec();
    assert!(reply.len() <= req.len(), "no amplification");
    assert_eq!(
        tracker_udp::decode_announce_reply(&reply, 9, Family::V4),
        Err(UdpTrackerError::Refused("connection id expired".into()))
    );
    // Another address cannot use this client's id.
    let mut other = Client::new("10.0.0.9:5000");
    let reply = other.send(
        &mut e,
        &s,
        &tracker_udp::encode_announce(id, 9, &ann(2, 6882, 5)),
    );
    assert!(tracker_udp::decode_announce_reply(reply.unwrap(), 9, Family::V4).is_err());
    assert_eq!(s.0.borrow().peer_count(), 0, "nothing was recorded");
}

#[test]
fn junk_is_dropped_or_answered_with_an_error_never_more_than_it_sent() {
    let (mut e, s) = (endpoint(), fake());
    let mut c = Client::new("10.0.0.1:5000");
    let id = c.connect(&mut e, &s);
    // Too short for a transaction id, and a connect without the magic: silence.
    assert!(c.send(&mut e, &s, &[0; 15]).is_none());
    let mut no_magic = tracker_udp::encode_connect(1);
    no_magic[0] ^= 0xff;
    assert!(c.send(&mut e, &s, &no_magic).is_none());
    let announce = tracker_udp::encode_announce(id, 4, &ann(1, 6881, 5));
    let mut unknown = announce.clone();
    unknown[11] = 9;
    let mut too_many = tracker_udp::encode_scrape(id, 4, &[InfoHash([1; 20])]).unwrap();
    too_many.extend_from_slice(&[7; 20 * 80]);
    let mut port0 = announce.clone();
    port0[96..98].copy_from_slice(&[0, 0]);
    for (what, bytes) in [
        ("torn announce", &announce[..60]),
        ("unknown action", &unknown[..]),
        ("81 hashes", &too_many[..]),
        ("port 0", &port0[..]),
    ] {
        let reply = c
            .send(&mut e, &s, bytes)
            .unwrap_or_else(|| panic!("{what}"));
        assert_eq!(
            &reply[..8],
            &[0, 0, 0, 3, 0, 0, 0, 4],
            "{what}: an error for its transaction"
        );
        assert!(
            reply.len() <= bytes.len(),
            "{what}: {} > {}",
            reply.len(),
            bytes.len()
        );
    }
    // Bytes past the 98 of an announce (BEP 41 options) are not an error.
    let mut long = announce.clone();
    long.extend_from_slice(&[2, 5, b'/', b'a', b'n', b'n', b'o']);
    let reply = c.send(&mut e, &s, &long).unwrap();
    assert!(tracker_udp::decode_announce_reply(reply, 4, Family::V4).is_ok());
}

#[test]
fn scrape_counts_come_in_the_order_asked() {
    let (mut e, s) = (endpoint(), fake());
    let mut c = Client::new("10.0.0.1:5000");
    let id = c.connect(&mut e, &s);
    c.send(
        &mut e,
        &s,
        &tracker_udp::encode_announce(id, 1, &ann(1, 6881, 0)),
    )
    .unwrap();
    let asked = [InfoHash([9; 20]), InfoHash([1; 20])];
    let reply = c
        .send(
            &mut e,
            &s,
            &tracker_udp::encode_scrape(id, 2, &asked).unwrap(),
        )
        .unwrap();
    assert_eq!(reply.len(), 8 + 24);
    assert_eq!(&reply[8..20], &[0; 12], "the unknown torrent first");
    assert_eq!(&reply[20..24], &1u32.to_be_bytes(), "then one seeder");
}

#[test]
fn a_flooding_address_is_cut_off_and_others_still_answered() {
    let (mut e, s) = (UdpEndpoint::new(ConnectionIds::new(), 50), fake());
    let mut flooder = Client::new("10.6.6.6:5000");
    let answered = (0..1000)
        .filter(|_| {
            flooder
                .send(&mut e, &s, &tracker_udp::encode_connect(1))
                .is_some()
        })
        .count();
    assert_eq!(answered, 100, "a burst of twice the rate");
    let mut honest = Client::new("10.0.0.1:5000");
    let id = honest.connect(&mut e, &s);
    assert!(
        honest
            .send(
                &mut e,
                &s,
                &tracker_udp::encode_announce(id, 1, &ann(1, 6881, 0))
            )
            .is_some()
    );
}
