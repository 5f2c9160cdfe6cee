use std::sync::atomic::Ordering;

use super::*;
use crate::peer::choker::{GRACE_MS, IDLE_SLOT_MS};

const PIECE: u64 = 64 * 1024;

fn geometry(pieces: usize) -> Geometry {
    Geometry {
        name: "test.bin".into(),
        piece_length: PIECE,
        total_length: PIECE * pieces as u64 - 100,
        num_pieces: pieces,
    }
}

fn core_with(have: Bitfield, slots: usize) -> TorrentCore {
    let n = have.len();
    TorrentCore::new(geometry(n), have, slots, 0, false, 7)
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 1], port))
}

fn join(core: &mut TorrentCore, id: u8, fast: bool) -> PeerKey {
    join_with_history(core, id, fast, 0)
}

/// A peer we downloaded `history` bytes from before: with any history at
/// stake, the choker ranks by preference and puts nobody on trial.
fn join_with_history(core: &mut TorrentCore, id: u8, fast: bool, history: u64) -> PeerKey {
    core.register(
        NewPeer {
            peer_id: [id; 20],
            addr: addr(6000 + id as u16),
            outbound: false,
            fast,
            stats: Arc::new(PeerStats::default()),
            history,
        },
        &[0; 20],
        50,
    )
    .expect("joins")
}

fn sent(core: &mut TorrentCore) -> Vec<Action> {
    core.take_actions().collect()
}

fn sent_to(actions: &[Action], key: PeerKey) -> Vec<Outgoing> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(k, m) if *k == key => Some(m.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_newcomer_is_greeted_with_what_we_have() {
    let mut partial = Bitfield::new(10);
    partial.set(3);
    let mut core = core_with(partial.clone(), 4);
    let k = join(&mut core, 1, true);
    assert_eq!(
        sent(&mut core),
        vec![Action::Send(
            k,
            Outgoing::Bitfield(partial.as_bytes().to_vec())
        )]
    );
    let mut seed = core_with(Bitfield::full(10), 4);
    let k = join(&mut seed, 1, true);
    assert_eq!(sent(&mut seed), vec![Action::Send(k, Outgoing::HaveAll)]);
    let mut empty = core_with(Bitfield::new(10), 4);
    let k = join(&mut empty, 1, true);
    assert_eq!(sent(&mut empty), vec![Action::Send(k, Outgoing::HaveNone)]);
    // A BEP 3 peer is told nothing when we have nothing.
    join(&mut empty, 2, false);
    assert_eq!(sent(&mut empty), vec![]);
}

#[test]
fn bitfield_and_have_make_us_interested_and_bad_ones_are_refused() {
    let mut core = core_with(Bitfield::new(10), 4);
    let k = join(&mut core, 1, true);
    sent(&mut core);
    assert!(core.on_bitfield(k, Bitfield::new(10)));
    assert_eq!(sent(&mut core), vec![]);
    assert!(core.on_have(k, 4));
    assert_eq!(sent(&mut core), vec![Action::Send(k, Outgoing::Interested)]);
    assert_eq!(core.picker.availability(4), 1);
    // A repeated have changes nothing.
    assert!(core.on_have(k, 4));
    assert_eq!(core.picker.availability(4), 1);
    assert!(!core.on_have(k, 10), "piece 10 of 10 does not exist");
    assert!(!core.on_bitfield(k, Bitfield::new(11)), "wrong length");
    // A peer that loses what we want (have none) makes us lose interest.
    assert!(core.on_bitfield(k, Bitfield::new(10)));
    assert_eq!(
        sent(&mut core),
        vec![Action::Send(k, Outgoing::NotInterested)]
    );
    assert_eq!(core.picker.availability(4), 0);
}

#[test]
fn interested_peers_are_unchoked_up_to_the_slots_after_the_grace() {
    let mut core = core_with(Bitfield::full(10), 2);
    let a = join_with_history(&mut core, 1, true, 1);
    let b = join_with_history(&mut core, 2, true, 1);
    let c = join_with_history(&mut core, 3, true, 1);
    sent(&mut core);
    core.on_interest(1_000, a, true);
    let first = sent(&mut core);
    assert_eq!(sent_to(&first, a), vec![Outgoing::Unchoke]);
    assert!(!core.peers[&a].stats.am_choking.load(Ordering::Relaxed));
    // The last free slot is held for the grace, so that peers asking at about
    // the same moment are ranked rather than raced; a deadline says when.
    core.on_interest(1_010, b, true);
    core.on_interest(1_020, c, true);
    assert_eq!(sent(&mut core), vec![]);
    let at = core.next_deadline().expect("a grace deadline");
    assert!(at <= 1_010 + GRACE_MS, "deadline {at}");
    core.on_deadline(at - 1);
    assert_eq!(sent(&mut core), vec![], "not before its time");
    core.on_deadline(at);
    let later = sent(&mut core);
    let unchoked: Vec<PeerKey> = [b, c]
        .into_iter()
        .filter(|&k| sent_to(&later, k) == vec![Outgoing::Unchoke])
        .collect();
    assert_eq!(unchoked.len(), 1, "one slot left: {later:?}");
    assert_eq!(core.next_deadline(), None);
}

#[test]
fn a_slot_nobody_uses_is_taken_back_at_the_next_tick() {
    let mut core = core_with(Bitfield::full(10), 1);
    let a = join_with_history(&mut core, 1, true, 1);
    sent(&mut core);
    core.on_interest(1_000, a, true);
    let at = core.next_deadline().expect("the last slot waits its grace");
    core.on_deadline(at);
    assert_eq!(sent_to(&sent(&mut core), a), vec![Outgoing::Unchoke]);
    let history = |_: &[u8; 20]| 1;
    core.tick(at + IDLE_SLOT_MS + 1, &history);
    let actions = sent(&mut core);
    assert!(
        sent_to(&actions, a).contains(&Outgoing::Choke),
        "an unused slot is revoked: {actions:?}"
    );
    assert_eq!(core.peers[&a].wasted, 1);
}

#[test]
fn three_bad_pieces_ban_the_sender_for_the_session() {
    let mut core = core_with(Bitfield::new(10), 4);
    let k = join(&mut core, 9, true);
    core.on_listen_port(k, 7777);
    sent(&mut core);
    for strike in 1..=MAX_STRIKES {
        core.piece_failed(k, strike);
        let banned = sent(&mut core).contains(&Action::Disconnect(k));
        assert_eq!(banned, strike == MAX_STRIKES, "strike {strike}");
    }
    assert!(!core.may_join(&[9; 20], 50));
    let listen = SocketAddr::new(addr(0).ip(), 7777);
    assert!(core.addrs[&listen].banned && core.addrs[&addr(6009)].banned);
    core.unregister(0, k, &[]);
    assert!(
        core.due_dials(0, 50, &[]).is_empty(),
        "banned addresses are never dialled"
    );
    let again = NewPeer {
        peer_id: [9; 20],
        addr: addr(1234),
        outbound: true,
        fast: true,
        stats: Arc::new(PeerStats::default()),
        history: 0,
    };
    assert!(core.register(again, &[0; 20], 50).is_err());
}

#[test]
fn in_endgame_the_first_delivery_cancels_the_others() {
    let mut core = core_with(Bitfield::new(1), 4);
    let a = join(&mut core, 1, true);
    let b = join(&mut core, 2, true);
    core.on_bitfield(a, Bitfield::full(1));
    core.on_bitfield(b, Bitfield::full(1));
    sent(&mut core);
    assert_eq!(core.pick(a, None), Some(0));
    assert_eq!(
        core.pick(b, None),
        Some(0),
        "endgame: the piece goes out twice"
    );
    core.piece_verified(a, 0, 123);
    let actions = sent(&mut core);
    assert!(actions.contains(&Action::Cancelled(b, 0)), "{actions:?}");
    assert!(!actions.contains(&Action::Cancelled(a, 0)));
    for k in [a, b] {
        let to = sent_to(&actions, k);
        assert!(to.contains(&Outgoing::Have(0)) && to.contains(&Outgoing::NotInterested));
    }
    assert_eq!(actions.last(), Some(&Action::Completed));
    assert_eq!(core.sources[&addr(6001).to_string()].bytes, PIECE - 100);
    assert_eq!(core.first_piece_unix_ms, Some(123));
}

#[test]
fn a_paused_download_picks_nothing_and_dials_nobody() {
    let mut core = core_with(Bitfield::new(4), 4);
    let k = join(&mut core, 1, true);
    core.on_bitfield(k, Bitfield::full(4));
    core.add_addrs(&[addr(1)], Origin::Tracker);
    core.paused = true;
    assert_eq!(core.pick(k, None), None);
    assert!(core.due_dials(0, 50, &[]).is_empty());
    core.paused = false;
    assert!(core.pick(k, None).is_some());
    assert_eq!(core.due_dials(0, 50, &[]), vec![addr(1)]);
}

#[test]
fn allowed_fast_picks_only_allowed_pieces() {
    let mut core = core_with(Bitfield::new(10), 4);
    let k = join(&mut core, 1, true);
    core.on_bitfield(k, Bitfield::full(10));
    assert_eq!(core.pick(k, Some(&[7])), Some(7));
    assert_eq!(core.pick(k, Some(&[7])), None, "7 is in flight already");
}

#[test]
fn dead_addresses_back_off_and_live_ones_come_back_soon() {
    let mut core = core_with(Bitfield::new(4), 4);
    assert!(core.add_addrs(&[], Origin::Tracker), "knows nobody: lonely");
    assert!(!core.add_addrs(&[addr(1)], Origin::Tracker));
    assert_eq!(core.due_dials(0, 50, &[]), vec![addr(1)]);
    assert!(core.due_dials(0, 50, &[]).is_empty(), "being dialled");
    core.dial_ended(0, addr(1), Some(false));
    assert!(core.due_dials(1_999, 50, &[]).is_empty());
    assert_eq!(core.due_dials(2_000, 50, &[]), vec![addr(1)]);
    core.dial_ended(2_000, addr(1), Some(false));
    assert!(core.due_dials(5_999, 50, &[]).is_empty(), "twice the wait");
    assert_eq!(core.due_dials(6_000, 50, &[]), vec![addr(1)]);
    // No slot to dial from: the address goes back untried.
    core.dial_ended(6_000, addr(1), None);
    assert_eq!(core.due_dials(6_000, 50, &[]), vec![addr(1)]);
}

#[test]
fn a_peer_keeps_the_origin_its_address_was_first_learnt_from() {
    let mut core = core_with(Bitfield::new(4), 4);
    core.add_addrs(&[addr(1)], Origin::Pex);
    core.add_addrs(&[addr(1), addr(2)], Origin::Dht);
    let dialled = |core: &mut TorrentCore, port: u16, id: u8| {
        let new = NewPeer {
            peer_id: [id; 20],
            addr: addr(port),
            outbound: true,
            fast: true,
            stats: Arc::new(PeerStats::default()),
            history: 0,
        };
        core.register(new, &[0; 20], 50).expect("joins")
    };
    let from_pex = dialled(&mut core, 1, 1);
    let from_dht = dialled(&mut core, 2, 2);
    let by_hand = dialled(&mut core, 3, 3);
    let incoming = join(&mut core, 4, true);
    let origin = |k| core.peers[&k].origin;
    assert_eq!(origin(from_pex), Origin::Pex);
    assert_eq!(origin(from_dht), Origin::Dht);
    assert_eq!(origin(by_hand), Origin::Connect);
    assert_eq!(origin(incoming), Origin::Incoming);
    core.on_bitfield(from_pex, Bitfield::full(4));
    core.piece_verified(from_pex, 0, 1);
    assert_eq!(core.sources[&addr(1).to_string()].origin, Origin::Pex);
}

#[test]
fn a_seed_dials_only_the_addresses_it_must() {
    let mut core = core_with(Bitfield::full(4), 4);
    core.add_addrs(&[addr(1), addr(2)], Origin::Tracker);
    assert_eq!(core.due_dials(0, 50, &[addr(2)]), vec![addr(2)]);
}

#[test]
fn a_full_torrent_closes_its_least_useful_peer_for_a_newcomer() {
    let mut core = core_with(Bitfield::new(10), 4);
    let idle = join(&mut core, 1, true);
    let busy = join(&mut core, 2, true);
    core.peers[&busy]
        .stats
        .downloaded
        .store(1, Ordering::Relaxed);
    sent(&mut core);
    let newcomer = NewPeer {
        peer_id: [3; 20],
        addr: addr(3),
        outbound: false,
        fast: true,
        stats: Arc::new(PeerStats::default()),
        history: 0,
    };
    assert!(core.may_join(&[3; 20], 2));
    core.register(newcomer, &[0; 20], 2).expect("room is made");
    assert!(sent(&mut core).contains(&Action::Disconnect(idle)));
}

#[test]
fn of_two_connections_to_one_peer_the_greater_ids_dial_wins() {
    let mut core = core_with(Bitfield::new(10), 4);
    let me = [5u8; 20];
    let dup = |outbound| NewPeer {
        peer_id: [9; 20],
        addr: addr(9),
        outbound,
        fast: true,
        stats: Arc::new(PeerStats::default()),
        history: 0,
    };
    let first = core.register(dup(true), &me, 50).unwrap();
    // The peer (id 9 > 5) dialled us too: its connection replaces ours.
    core.register(dup(false), &me, 50).unwrap();
    assert!(sent(&mut core).contains(&Action::Disconnect(first)));
    // Our own dial to it again is the one to drop.
    assert!(core.register(dup(true), &me, 50).is_err());
}

#[test]
fn pex_tells_a_peer_of_the_others_at_their_listen_ports_never_of_itself() {
    use crate::peer::extensions::ut_pex::FLAG_SEED;
    let mut core = core_with(Bitfield::new(4), 4);
    let a = join(&mut core, 1, true);
    let b = join(&mut core, 2, true);
    let c = join(&mut core, 3, true);
    // They dialled us: without a BEP 10 listen port, their ephemeral ports are not told.
    assert!(core.pex_peers(a).is_empty());
    core.on_listen_port(b, 7002);
    core.on_listen_port(c, 7003);
    core.on_bitfield(c, Bitfield::full(4));
    let to_a = core.pex_peers(a);
    let listen = |p: u16| SocketAddr::from(([10, 0, 0, 1], p));
    assert_eq!(to_a, vec![(listen(7002), 0), (listen(7003), FLAG_SEED)]);
    assert_eq!(core.pex_peers(b), vec![(listen(7003), FLAG_SEED)]);
    assert!(core.pex_peers(999).is_empty(), "unknown peer");
}

#[test]
fn a_pex_flood_is_capped_and_does_not_take_other_origins() {
    let mut core = core_with(Bitfield::new(4), 4);
    core.add_addrs(&[addr(1)], Origin::Tracker);
    let flood: Vec<SocketAddr> = (0..2_000u32)
        .map(|i| SocketAddr::from((i.to_be_bytes(), 80)))
        .chain([addr(1)])
        .collect();
    for chunk in flood.chunks(50) {
        core.add_addrs(chunk, Origin::Pex);
    }
    let pex = core
        .addrs
        .values()
        .filter(|a| a.origin == Origin::Pex)
        .count();
    assert_eq!(pex, MAX_PEX_ADDRS);
    assert_eq!(core.addrs[&addr(1)].origin, Origin::Tracker);
}
