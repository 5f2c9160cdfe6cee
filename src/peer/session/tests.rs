use std::sync::Arc;

use super::*;
use crate::peer::peer_stats::PeerStats;
use crate::peer::torrent_core::{NewPeer, TorrentCore};

const PIECE: u32 = 64 * 1024;
const PIECES: usize = 10;

/// The real torrent core behind a session, at a fixed time: what the shell
/// does with a lock, done directly.
struct At<'a>(&'a mut TorrentCore, u64);

impl Swarm for At<'_> {
    fn pick(&mut self, key: PeerKey, allowed: Option<&[u32]>) -> Option<u32> {
        self.0.pick(key, allowed)
    }
    fn release(&mut self, key: PeerKey, pieces: &[u32]) {
        self.0.release(key, pieces)
    }
    fn peer_choke(&mut self, key: PeerKey, choking: bool, released: &[u32]) {
        self.0.on_peer_choke(key, choking, released)
    }
    fn interest(&mut self, key: PeerKey, interested: bool) {
        self.0.on_interest(self.1, key, interested)
    }
    fn have(&mut self, key: PeerKey, piece: u32) -> bool {
        self.0.on_have(key, piece)
    }
    fn bitfield(&mut self, key: PeerKey, has: Bitfield) -> bool {
        self.0.on_bitfield(key, has)
    }
    fn listen_port(&mut self, key: PeerKey, port: u16) {
        self.0.on_listen_port(key, port)
    }
    fn pex_peers(&mut self, key: PeerKey) -> Vec<(core::net::SocketAddr, u8)> {
        self.0.pex_peers(key)
    }
    fn pex_learnt(&mut self, addrs: &[core::net::SocketAddr]) {
        self.0
            .add_addrs(addrs, crate::peer::torrent_core::Origin::Pex);
    }
    fn repair_hashes(
        &mut self,
        key: PeerKey,
        request: &crate::common::wire::HashRequest,
        hashes: &[u8],
    ) -> Option<(u32, PieceBuffer, Vec<u32>)> {
        self.0.repair_hashes(key, request, hashes)
    }
}

fn geometry() -> Geometry {
    Geometry {
        name: "t".into(),
        piece_length: PIECE as u64,
        total_length: PIECE as u64 * PIECES as u64,
        num_pieces: PIECES,
    }
}

/// A downloader with nothing, a peer that has everything, and a session for it.
fn setup(fast: bool) -> (TorrentCore, Session, Instant) {
    let mut core = TorrentCore::new(geometry(), Bitfield::new(PIECES), 4, 0, false, 1);
    let key = core
        .register(
            NewPeer {
                peer_id: [1; 20],
                addr: core::net::SocketAddr::from(([127, 0, 0, 1], 9)),
                outbound: true,
                fast,
                stats: Arc::new(PeerStats::default()),
                history: 0,
            },
            &[0; 20],
            50,
        )
        .unwrap();
    let now = Instant::now();
    let options = SessionOptions {
        fast,
        extended: true,
        listen_port: 6881,
        metadata: None,
        pex_interval: None,
        dht_port: None,
    };
    (core, Session::new(key, geometry(), options, now), now)
}

/// The peer says it has everything and unchokes us.
fn unchoked(core: &mut TorrentCore, s: &mut Session, now: Instant) {
    s.on_message(now, Message::HaveAll, &mut At(core, 0))
        .unwrap();
    s.on_message(now, Message::Unchoke, &mut At(core, 0))
        .unwrap();
    s.fill_pipeline(now, &mut At(core, 0));
}

fn requests(s: &mut Session) -> Vec<BlockRef> {
    s.out
        .drain(..)
        .filter_map(|m| match m {
            Outgoing::Request(b) => Some(b),
            _ => None,
        })
        .collect()
}

fn cancels(s: &mut Session) -> Vec<BlockRef> {
    s.out
        .drain(..)
        .filter_map(|m| match m {
            Outgoing::Cancel(b) => Some(b),
            _ => None,
        })
        .collect()
}

#[test]
fn a_dht_port_is_sent_when_both_run_a_node_and_the_peers_is_kept_once() {
    let (mut core, mut s, now) = setup(true);
    s.dht_port = Some(7000);
    s.start();
    assert!(matches!(
        s.out.as_slice(),
        [Outgoing::Extended(0, _), Outgoing::Port(7000)]
    ));
    s.on_message(now, Message::Port(0), &mut At(&mut core, 0))
        .unwrap();
    assert_eq!(s.take_peer_dht_port(), None);
    s.on_message(now, Message::Port(6881), &mut At(&mut core, 0))
        .unwrap();
    assert_eq!(s.take_peer_dht_port(), Some(6881));
    assert_eq!(s.take_peer_dht_port(), None);
}

#[test]
fn the_extension_handshake_goes_first_to_peers_that_speak_it() {
    let (_, mut s, _) = setup(true);
    s.start();
    assert!(matches!(s.out.as_slice(), [Outgoing::Extended(0, _)]));
}

#[test]
fn nothing_is_asked_while_choked_and_the_pipeline_fills_once_unchoked() {
    let (mut core, mut s, now) = setup(true);
    s.on_message(now, Message::HaveAll, &mut At(&mut core, 0))
        .unwrap();
    s.fill_pipeline(now, &mut At(&mut core, 0));
    assert!(requests(&mut s).is_empty(), "choked: nothing asked");
    s.on_message(now, Message::Unchoke, &mut At(&mut core, 0))
        .unwrap();
    s.fill_pipeline(now, &mut At(&mut core, 0));
    let asked = requests(&mut s);
    assert_eq!(asked.len(), START_PIPELINE);
    assert_eq!(s.outstanding(), START_PIPELINE);
    // Whole pieces in order, block by block.
    assert_eq!(asked[0].begin, 0);
    assert_eq!(asked[1].begin, BLOCK_SIZE as u32);
    assert!(asked.iter().all(|b| b.length == BLOCK_SIZE as u32));
    assert_eq!(
        s.pieces_in_flight().len(),
        START_PIPELINE * BLOCK_SIZE as usize / PIECE as usize
    );
    // Full: asking again adds nothing.
    s.fill_pipeline(now, &mut At(&mut core, 0));
    assert!(requests(&mut s).is_empty());
}

#[test]
fn the_pipeline_holds_half_a_second_of_what_the_peer_delivers() {
    let ms = Duration::from_millis;
    // 2 MB/s over loopback: half a second's worth of 16 KiB blocks.
    assert_eq!(pipeline_depth(Some(2e6), Some(ms(1))), 61);
    // The same rate 600 ms away: two round trips' worth, or the pipe would run dry.
    assert_eq!(pipeline_depth(Some(2e6), Some(ms(600))), 146);
    assert_eq!(pipeline_depth(None, None), START_PIPELINE);
    assert_eq!(pipeline_depth(Some(1.0), None), MIN_PIPELINE);
    assert_eq!(pipeline_depth(Some(1e10), Some(ms(1))), MAX_PIPELINE);
    // Measured: a peer that delivers slowly gets a shallow pipeline.
    let (mut core, mut s, now) = setup(true);
    unchoked(&mut core, &mut s, now);
    let asked = requests(&mut s);
    let block = vec![0u8; BLOCK_SIZE as usize];
    let first = asked[0];
    s.on_piece(now + ms(1000), first.index, first.begin, &block)
        .unwrap();
    assert_eq!(s.depth(), MIN_PIPELINE, "16 KiB in a second");
}

#[test]
fn a_whole_piece_leaves_the_session_with_its_bytes() {
    let (mut core, mut s, now) = setup(true);
    unchoked(&mut core, &mut s, now);
    let asked = requests(&mut s);
    let piece = asked[0].index;
    let mut whole = None;
    for b in asked.iter().filter(|b| b.index == piece) {
        let data = vec![(b.begin / BLOCK_SIZE as u32) as u8; b.length as usize];
        whole = s.on_piece(now, b.index, b.begin, &data).unwrap();
    }
    let (index, buf) = whole.expect("the piece is whole");
    assert_eq!(index, piece);
    assert_eq!(buf.len(), PIECE as usize);
    assert_eq!(buf[0], 0);
    assert_eq!(buf[PIECE as usize - 1], 3);
    assert!(!s.pieces_in_flight().contains(&piece));
}

#[test]
fn a_flood_of_blocks_nobody_asked_for_ends_the_connection() {
    let (_, mut s, now) = setup(true);
    let block = vec![0u8; BLOCK_SIZE as usize];
    for _ in 0..MAX_UNASKED {
        assert!(matches!(s.on_piece(now, 9, 0, &block), Ok(None)));
    }
    assert!(matches!(
        s.on_piece(now, 9, 0, &block),
        Err(SessionError::Protocol(_))
    ));
}

#[test]
fn blocks_in_flight_at_a_choke_may_still_arrive_honestly() {
    let (mut core, mut s, now) = setup(true);
    unchoked(&mut core, &mut s, now);
    let asked = requests(&mut s);
    s.on_message(now, Message::Choke, &mut At(&mut core, 0))
        .unwrap();
    assert!(s.pieces_in_flight().is_empty());
    assert!(
        asked
            .iter()
            .all(|b| !core.picker.is_in_flight(b.index as usize))
    );
    // Every block asked before the choke is forgiven, and more are counted.
    let block = vec![0u8; BLOCK_SIZE as usize];
    for b in &asked {
        assert!(matches!(
            s.on_piece(now, b.index, b.begin, &block),
            Ok(None)
        ));
    }
    for _ in 0..MAX_UNASKED {
        s.on_piece(now, 0, 0, &block).unwrap();
    }
    assert!(s.on_piece(now, 0, 0, &block).is_err());
}

#[test]
fn a_reject_gives_the_piece_back_cancels_the_rest_and_pauses_asking() {
    let (mut core, mut s, now) = setup(true);
    unchoked(&mut core, &mut s, now);
    let asked = requests(&mut s);
    let rejected = asked[0];
    s.on_message(now, Message::Reject(rejected), &mut At(&mut core, 0))
        .unwrap();
    let cancelled = cancels(&mut s);
    assert_eq!(cancelled.len(), (PIECE / BLOCK_SIZE as u32) as usize);
    assert!(cancelled.iter().all(|b| b.index == rejected.index));
    assert!(!core.picker.is_in_flight(rejected.index as usize));
    // A short pause before asking again, and a timer short enough to notice its end.
    assert_eq!(s.wake_in(now), PAUSE_TICK);
    s.fill_pipeline(now, &mut At(&mut core, 0));
    assert!(requests(&mut s).is_empty());
    let later = now + REJECT_PAUSE;
    assert_eq!(s.wake_in(later), READ_TICK);
    s.fill_pipeline(later, &mut At(&mut core, 0));
    assert_eq!(requests(&mut s).len(), PIECE as usize / BLOCK_SIZE as usize);
}

#[test]
fn requests_that_time_out_are_given_up_and_the_third_time_ends_it() {
    let (mut core, mut s, now) = setup(true);
    unchoked(&mut core, &mut s, now);
    requests(&mut s);
    let mut t = now + REQUEST_TIMEOUT;
    s.on_timer(t - Duration::from_millis(1), &mut At(&mut core, 0))
        .unwrap();
    assert!(s.out.is_empty(), "not yet");
    s.on_timer(t, &mut At(&mut core, 0)).unwrap();
    assert_eq!(cancels(&mut s).len(), START_PIPELINE);
    assert_eq!(s.outstanding(), 0);
    assert!((0..PIECES).all(|i| !core.picker.is_in_flight(i)));
    // Then nothing is asked of it for a while, and it gets two more chances.
    for _ in 0..2 {
        t += REQUEST_TIMEOUT;
        s.on_timer(t, &mut At(&mut core, 0)).unwrap();
        assert_eq!(requests(&mut s).len(), START_PIPELINE);
        t += REQUEST_TIMEOUT;
        let r = s.on_timer(t, &mut At(&mut core, 0));
        if r.is_err() {
            assert_eq!(
                r,
                Err(SessionError::Timeout("requests timed out repeatedly"))
            );
            return;
        }
    }
    panic!("three timeouts in a row did not end the connection");
}

#[test]
fn a_silent_peer_is_dropped() {
    let (mut core, mut s, now) = setup(true);
    s.on_timer(now + IDLE_LIMIT, &mut At(&mut core, 0)).unwrap();
    assert_eq!(
        s.on_timer(
            now + IDLE_LIMIT + Duration::from_millis(1),
            &mut At(&mut core, 0)
        ),
        Err(SessionError::Timeout("peer silent"))
    );
}

#[test]
fn an_endgame_cancel_drops_the_piece_and_cancels_its_blocks() {
    let (mut core, mut s, now) = setup(true);
    unchoked(&mut core, &mut s, now);
    let asked = requests(&mut s);
    let piece = asked[0].index;
    s.cancel_pieces(&[piece]);
    assert_eq!(cancels(&mut s).len(), PIECE as usize / BLOCK_SIZE as usize);
    assert!(!s.pieces_in_flight().contains(&piece));
}

#[test]
fn allowed_fast_pieces_are_fetched_while_choked() {
    let (mut core, mut s, now) = setup(true);
    s.on_message(now, Message::HaveAll, &mut At(&mut core, 0))
        .unwrap();
    s.on_message(now, Message::AllowedFast(6), &mut At(&mut core, 0))
        .unwrap();
    s.on_message(now, Message::AllowedFast(99), &mut At(&mut core, 0))
        .unwrap();
    s.fill_pipeline(now, &mut At(&mut core, 0));
    let asked = requests(&mut s);
    assert_eq!(asked.len(), PIECE as usize / BLOCK_SIZE as usize);
    assert!(asked.iter().all(|b| b.index == 6));
}

#[test]
fn requests_are_served_rejected_throttled_or_dropped_as_bep_3_and_6_say() {
    let (_, mut s, now) = setup(true);
    let b = BlockRef {
        index: 1,
        begin: 0,
        length: BLOCK_SIZE as u32,
    };
    let have = |_| true;
    assert_eq!(s.on_request(now, b, have, true, 0), RequestAnswer::Serve);
    assert_eq!(
        s.on_request(now, b, have, false, 0),
        RequestAnswer::Reject { wait: false },
        "choked"
    );
    assert_eq!(
        s.on_request(now, b, |_| false, true, 0),
        RequestAnswer::Reject { wait: false },
        "a piece we lack"
    );
    assert_eq!(
        s.on_request(now, b, have, true, MAX_QUEUED),
        RequestAnswer::Reject { wait: false },
        "over the queue"
    );
    assert_eq!(
        s.on_request(now, b, have, true, MAX_ANSWERS),
        RequestAnswer::Reject { wait: true },
        "answers pile up unread"
    );
    let past_end = BlockRef {
        begin: PIECE - 1,
        ..b
    };
    assert_eq!(
        s.on_request(now, past_end, have, true, 0),
        RequestAnswer::Reject { wait: false }
    );
    let (_, mut plain, now) = setup(false);
    assert_eq!(
        plain.on_request(now, b, have, true, MAX_QUEUED),
        RequestAnswer::Throttle
    );
    assert_eq!(
        plain.on_request(now, b, have, false, 0),
        RequestAnswer::Ignore
    );
    let too_big = BlockRef {
        length: MAX_BLOCK + 1,
        ..b
    };
    assert_eq!(
        plain.on_request(now, too_big, have, true, 0),
        RequestAnswer::Ignore
    );
}

#[test]
fn a_have_or_bitfield_that_does_not_fit_is_a_protocol_error() {
    let (mut core, mut s, now) = setup(true);
    assert!(matches!(
        s.on_message(now, Message::Have(PIECES as u32), &mut At(&mut core, 0)),
        Err(SessionError::Protocol(_))
    ));
    // 10 pieces take two bytes, and the six spare bits must be clear.
    assert!(
        s.on_message(now, Message::Bitfield(&[0xff]), &mut At(&mut core, 0))
            .is_err()
    );
    assert!(
        s.on_message(now, Message::Bitfield(&[0xff, 0xff]), &mut At(&mut core, 0))
            .is_err()
    );
    s.on_message(now, Message::Bitfield(&[0xff, 0xc0]), &mut At(&mut core, 0))
        .unwrap();
    assert_eq!(core.picker.availability(9), 1);
}

#[test]
fn the_extension_handshake_gives_the_peers_listen_port() {
    let (mut core, mut s, now) = setup(true);
    s.on_message(
        now,
        Message::Extended {
            id: 0,
            payload: b"d1:md11:ut_metadatai3ee1:pi7000ee",
        },
        &mut At(&mut core, 0),
    )
    .unwrap();
    let p = core.peers.values().next().unwrap();
    assert_eq!(p.listen_addr.map(|a| a.port()), Some(7000));
}

#[test]
fn pex_goes_to_a_peer_that_speaks_it_and_what_it_sends_is_kept_as_pex() {
    use crate::common::extension_handshake::ExtensionHandshake;
    use crate::peer::extensions::ut_pex::{FLAG_CONNECTABLE, PexMessage};
    use crate::peer::torrent_core::Origin;
    let (mut core, _, now) = setup(true);
    let key = core.peers.keys().copied().next().unwrap();
    let other = core::net::SocketAddr::from(([127, 0, 0, 1], 7777));
    core.register(
        NewPeer {
            peer_id: [2; 20],
            addr: other,
            outbound: true,
            fast: true,
            stats: Arc::new(PeerStats::default()),
            history: 0,
        },
        &[0; 20],
        50,
    )
    .unwrap();
    let options = SessionOptions {
        fast: true,
        extended: true,
        listen_port: 6881,
        metadata: None,
        pex_interval: Some(Duration::from_secs(60)),
        dht_port: None,
    };
    let mut s = Session::new(key, geometry(), options, now);
    s.start();
    s.out.clear();
    let later = now + Duration::from_secs(3);
    s.pex_tick(later, &mut At(&mut core, 0));
    assert!(s.out.is_empty(), "the peer has not said it speaks ut_pex");
    let theirs = ExtensionHandshake {
        m: std::collections::BTreeMap::from([("ut_pex".into(), 5)]),
        ..Default::default()
    };
    let hs = theirs.encode();
    s.on_message(
        later,
        Message::Extended {
            id: 0,
            payload: &hs,
        },
        &mut At(&mut core, 0),
    )
    .unwrap();
    s.pex_tick(later, &mut At(&mut core, 0));
    let Some(Outgoing::Extended(5, bytes)) = s.out.pop() else {
        panic!("no ut_pex message: {:?}", s.out);
    };
    let msg = PexMessage::decode(&bytes).unwrap();
    assert_eq!(msg.added, vec![(other, FLAG_CONNECTABLE)]);
    // Nothing more within the minute.
    s.pex_tick(later + Duration::from_secs(30), &mut At(&mut core, 0));
    assert!(s.out.is_empty());
    // What the peer tells us (under our id, 2) becomes a pex address.
    let learnt = core::net::SocketAddr::from(([10, 9, 8, 7], 6000));
    let theirs = PexMessage {
        added: vec![(learnt, 0)],
        dropped: vec![],
    }
    .encode();
    s.on_message(
        later,
        Message::Extended {
            id: 2,
            payload: &theirs,
        },
        &mut At(&mut core, 0),
    )
    .unwrap();
    assert_eq!(core.addrs[&learnt].origin, Origin::Pex);
}

/// BEP 52: every hash request is answered, with hashes or a reject; those
/// that need a piece read from disk are rationed per peer and minute.
#[test]
fn hash_requests_are_answered_and_disk_reads_for_them_rationed() {
    let (mut core, mut s, now) = setup(true);
    s.out.clear();
    let blocks = crate::common::wire::HashRequest {
        root: [1; 32],
        base: 0,
        index: 0,
        length: 2,
        proof_layers: 0,
    };
    let layer = crate::common::wire::HashRequest { base: 9, ..blocks };
    for _ in 0..MAX_HASH_READS + 5 {
        s.on_message(now, Message::HashRequest(blocks), &mut At(&mut core, 0))
            .unwrap();
        s.on_message(now, Message::HashRequest(layer), &mut At(&mut core, 0))
            .unwrap();
    }
    let count = |s: &Session, want: fn(&Outgoing) -> bool| s.out.iter().filter(|m| want(m)).count();
    let answered = count(&s, |m| matches!(m, Outgoing::HashAnswer(_)));
    let rejected = count(&s, |m| matches!(m, Outgoing::HashReject(_)));
    assert_eq!(rejected, 5, "past the ration, block hashes are refused");
    assert_eq!(answered, 2 * (MAX_HASH_READS as usize + 5) - 5);
    s.out.clear();
    let later = now + Duration::from_secs(61);
    s.on_message(later, Message::HashRequest(blocks), &mut At(&mut core, 0))
        .unwrap();
    assert!(
        matches!(s.out[..], [Outgoing::HashAnswer(_)]),
        "a new minute"
    );
}

/// A v2 piece under repair comes to the session that got its block hashes:
/// only the bad block is asked for, and the piece leaves whole and true.
#[test]
fn a_repaired_piece_asks_for_its_bad_block_alone() {
    use crate::common::merkle;
    use crate::peer::block_repair::Repair;
    let (mut core, mut s, now) = setup(true);
    s.on_message(now, Message::HaveAll, &mut At(&mut core, 0))
        .unwrap();
    s.on_message(now, Message::Unchoke, &mut At(&mut core, 0))
        .unwrap();
    let truth: Vec<u8> = (0..PIECE).map(|i| (i % 251) as u8).collect();
    let mut sent = truth.clone();
    sent[BLOCK_SIZE as usize + 7] ^= 1;
    let want = merkle::leaves(&truth);
    let mut buf = PieceBuffer::default();
    buf.resize(PIECE as usize);
    buf.copy_from_slice(&sent);
    let request = crate::common::wire::HashRequest {
        root: [5; 32],
        base: 0,
        index: 12,
        length: 4,
        proof_layers: 0,
    };
    core.repair_started(Repair {
        index: 3,
        buf,
        got: merkle::leaves(&sent),
        bad_padding: Vec::new(),
        expect: merkle::root(&want, 4, 0),
        request,
        sender: 999,
        since_ms: 0,
        asked: None,
    });
    s.on_message(
        now,
        Message::Hashes {
            request,
            hashes: &want.concat(),
        },
        &mut At(&mut core, 0),
    )
    .unwrap();
    s.fill_pipeline(now, &mut At(&mut core, 0));
    let asked: Vec<BlockRef> = requests(&mut s)
        .into_iter()
        .filter(|b| b.index == 3)
        .collect();
    assert_eq!(
        asked,
        [BlockRef {
            index: 3,
            begin: BLOCK_SIZE as u32,
            length: BLOCK_SIZE as u32
        }]
    );
    let b = BLOCK_SIZE as usize;
    let (index, whole) = s
        .on_piece(now, 3, b as u32, &truth[b..2 * b])
        .unwrap()
        .expect("whole once the bad block is replaced");
    assert_eq!(index, 3);
    assert!(whole[..] == truth[..]);
}
