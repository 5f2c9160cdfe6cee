// Apart from the module: an `Instant` can only be had from the clock.
use super::*;

fn v4(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn round_trips_v4_and_v6_with_flags() {
    let msg = PexMessage {
        added: vec![
            (v4("10.0.0.1:6881"), FLAG_SEED | FLAG_CONNECTABLE),
            (v4("[2001:db8::1]:51413"), FLAG_CONNECTABLE),
            (v4("127.0.0.1:7000"), 0),
        ],
        dropped: vec![v4("10.0.0.2:1"), v4("[::1]:2")],
    };
    let bytes = msg.encode();
    assert!(bytes.starts_with(b"d5:added12:\x0a\x00\x00\x01\x1a\xe1"));
    let back = PexMessage::decode(&bytes).unwrap();
    // IPv4 entries come first on the wire, then IPv6.
    assert_eq!(back.added[0], msg.added[0]);
    assert_eq!(back.added[1], msg.added[2]);
    assert_eq!(back.added[2], msg.added[1]);
    assert_eq!(back.dropped, msg.dropped);
}

#[test]
fn hostile_messages_are_capped_or_dropped() {
    assert_eq!(PexMessage::decode(b"not bencode"), None);
    assert_eq!(PexMessage::decode(b"i5e"), None);
    // 7 bytes is not a whole number of addresses: the list is dropped.
    let odd = b"d5:added7:\x01\x02\x03\x04\x05\x06\x077:dropped6:\x01\x02\x03\x04\x00\x05e";
    let m = PexMessage::decode(odd).unwrap();
    assert!(m.added.is_empty());
    assert_eq!(m.dropped, vec![v4("1.2.3.4:5")]);
    // A thousand addresses: 50 are taken; port 0 is skipped; flags of the wrong length ignored.
    let mut many = Vec::new();
    for i in 0..1000u32 {
        many.extend_from_slice(&(i + 1).to_be_bytes());
        many.extend_from_slice(&(if i == 0 { 0u16 } else { 80 }).to_be_bytes());
    }
    let mut payload = Vec::new();
    Encoder::new(&mut payload)
        .begin_dict()
        .str("added")
        .bytes(&many)
        .str("added.f")
        .bytes(&[1, 2, 3])
        .str("dropped")
        .bytes(&many)
        .end();
    let m = PexMessage::decode(&payload).unwrap();
    assert_eq!(
        m.added.len(),
        MAX_PER_MESSAGE - 1,
        "50 read, the port 0 one skipped"
    );
    assert!(m.added.iter().all(|&(a, f)| a.port() == 80 && f == 0));
    assert!(m.dropped.len() <= MAX_PER_MESSAGE);
    // Wrong types are ignored, not fatal.
    let m = PexMessage::decode(b"d5:addedi3e7:droppedli1eee").unwrap();
    assert_eq!(m, PexMessage::default());
}

#[test]
fn sends_the_current_set_first_then_only_changes_once_an_interval() {
    let t0 = Instant::now();
    let minute = Duration::from_secs(60);
    let mut s = PexState::new(t0, minute);
    let (a, b, c) = (v4("1.1.1.1:1"), v4("2.2.2.2:2"), v4("3.3.3.3:3"));
    assert_eq!(s.next_message(t0, &[(a, 0)]), None, "not yet due");
    let t1 = t0 + FIRST_DELAY;
    let first = s.next_message(t1, &[(a, 0), (b, FLAG_SEED)]).unwrap();
    assert_eq!(first.added, vec![(a, 0), (b, FLAG_SEED)]);
    assert!(first.dropped.is_empty());
    // Not again within the interval, whatever changed.
    assert_eq!(s.next_message(t1 + minute / 2, &[(c, 0)]), None);
    let second = s
        .next_message(t1 + minute, &[(b, FLAG_SEED), (c, 0)])
        .unwrap();
    assert_eq!(second.added, vec![(c, 0)]);
    assert_eq!(second.dropped, vec![a]);
    // Nothing changed: nothing sent.
    assert_eq!(s.next_message(t1 + 2 * minute, &[(b, 0), (c, 0)]), None);
}

#[test]
fn the_first_message_carries_at_most_fifty_and_the_rest_follow() {
    let t0 = Instant::now();
    let mut s = PexState::new(t0, Duration::from_secs(1));
    let peers: Vec<(SocketAddr, u8)> = (0..80u16)
        .map(|i| {
            (
                SocketAddr::new(Ipv4Addr::new(10, 0, 0, 1).into(), 1000 + i),
                0,
            )
        })
        .collect();
    let first = s.next_message(t0 + FIRST_DELAY, &peers).unwrap();
    assert_eq!(first.added.len(), 50);
    let second = s.next_message(t0 + FIRST_DELAY * 2, &peers).unwrap();
    assert_eq!(second.added.len(), 30);
}

#[test]
fn a_peer_sending_too_often_is_ignored() {
    let t0 = Instant::now();
    let mut s = PexState::new(t0, DEFAULT_INTERVAL);
    let msg = PexMessage {
        added: vec![(v4("5.5.5.5:5"), 0)],
        dropped: vec![],
    }
    .encode();
    assert_eq!(s.take(t0, &msg), Some(vec![v4("5.5.5.5:5")]));
    assert_eq!(s.take(t0 + Duration::from_secs(10), &msg), None);
    assert_eq!(
        s.take(t0 + MIN_RECEIVE_GAP, &msg),
        Some(vec![v4("5.5.5.5:5")])
    );
    // Junk does not count as a message taken.
    let t = t0 + 3 * MIN_RECEIVE_GAP;
    assert_eq!(s.take(t, b"junk"), None);
    assert!(s.take(t, &msg).is_some());
}
