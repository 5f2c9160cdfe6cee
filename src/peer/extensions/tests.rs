// Apart from the module: an `Instant` can only be had from the clock.
use super::*;

fn handshake_of(out: Outgoing) -> ExtensionHandshake {
    let Outgoing::Extended(0, bytes) = out else {
        panic!("not an extension handshake: {out:?}");
    };
    ExtensionHandshake::decode(&bytes).unwrap()
}

#[test]
fn our_handshake_offers_metadata_only_when_we_have_it() {
    let without = handshake_of(PeerExtensions::new(None, None).our_handshake(7000));
    assert!(without.m.is_empty());
    assert_eq!(without.listen_port, Some(7000));
    assert_eq!(without.metadata_size, None);
    let with =
        handshake_of(PeerExtensions::new(Some(vec![0; 40_000].into()), None).our_handshake(1));
    assert_eq!(with.m.get("ut_metadata"), Some(&1));
    assert_eq!(with.metadata_size, Some(40_000));
}

#[test]
fn keeps_the_peers_ids_and_dispatches_ours_by_name() {
    let mut ext = PeerExtensions::new(Some(vec![7; 100].into()), None);
    let now = Instant::now();
    let theirs = ExtensionHandshake {
        m: BTreeMap::from([("ut_metadata".into(), 9), ("ut_pex".into(), 4)]),
        listen_port: Some(51413),
        ..Default::default()
    };
    assert_eq!(
        ext.on_message(now, 0, &theirs.encode()),
        Some(ExtensionEvent::ListenPort(51413))
    );
    assert_eq!(ext.peer_id_for("ut_pex"), Some(4));
    // A request comes under our id (1); the answer goes under theirs (9).
    let reply = ext.on_message(now, 1, b"d8:msg_typei0e5:piecei0ee");
    let Some(ExtensionEvent::Reply(Outgoing::Extended(9, bytes))) = reply else {
        panic!("no metadata answer: {reply:?}");
    };
    assert!(bytes.ends_with(&[7; 100]));
    // Ids we never gave out are ignored, not fatal.
    assert_eq!(ext.on_message(now, 42, b"de"), None);
    // A second handshake withdraws an extension with id 0.
    let withdraw = ExtensionHandshake {
        m: BTreeMap::from([("ut_metadata".into(), 0)]),
        ..Default::default()
    };
    assert_eq!(ext.on_message(now, 0, &withdraw.encode()), None);
    assert_eq!(ext.peer_id_for("ut_metadata"), None);
    assert_eq!(ext.on_message(now, 1, b"d8:msg_typei0e5:piecei0ee"), None);
}
