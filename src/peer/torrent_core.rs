//! The protocol logic of one torrent, with no I/O: which peers are connected
//! and what each has, who is choked, which piece goes to whom, bans after bad
//! pieces, super-seeding, where each verified piece came from, and which
//! addresses to dial.
//!
//! Like quinn-proto's `Connection`, it takes events and the current time, and
//! says what to do: messages to send and connections to close are queued as
//! [`Action`]s for the shell (`torrent.rs`) to carry out, and timers are
//! deadlines it reports through [`TorrentCore::next_deadline`]. It owns no
//! socket, file, thread, lock or clock, so it is tested in microseconds.
//! The only shared state it reads is each connection's [`PeerStats`]
//! counters, which the socket threads bump per block without a lock.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use core::net::SocketAddr;

use log::{debug, info, warn};

use super::block_repair::Repairs;
use super::choker::{Candidate, Choker, RECHOKE_MS};
use super::ledger::peer_id_text;
use super::outgoing::Outgoing;
use super::peer_stats::PeerStats;
use super::piece_picker::{PeerKey, PiecePicker};
use super::super_seed::{REVEAL_AHEAD, SuperSeeder};
use crate::common::bitfield::Bitfield;
use crate::common::metainfo::Metainfo;

/// Bad pieces a peer may send before it is banned for the session.
pub const MAX_STRIKES: u32 = 3;
/// Ticks (seconds) a super-seeding seeder waits before showing a lone leecher everything.
const LONE_TICKS: u32 = 2;
/// Outbound connections per torrent; inbound ones are limited by `max_peers` only.
pub const MAX_DIALLED: usize = 40;
/// Addresses learnt over ut_pex a torrent keeps: a peer flooding us with
/// made-up addresses cannot grow memory or the dial list past this.
pub const MAX_PEX_ADDRS: usize = 300;

/// What the core asks its shell to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Send(PeerKey, Outgoing),
    /// Close this peer's connection (a duplicate, an eviction, a ban).
    Disconnect(PeerKey),
    /// Another peer delivered this piece first (endgame): the connection
    /// drops its copy and cancels the blocks it still waits for.
    Cancelled(PeerKey, u32),
    /// Every piece is verified.
    Completed,
}

/// The size of a torrent's pieces, which is all the core needs of its metainfo.
#[derive(Debug, Clone)]
pub struct Geometry {
    pub name: String,
    pub piece_length: u64,
    pub total_length: u64,
    pub num_pieces: usize,
}

impl Geometry {
    pub fn of(meta: &Metainfo) -> Geometry {
        Geometry {
            name: meta.name.clone(),
            piece_length: meta.piece_length,
            total_length: meta.total_length,
            num_pieces: meta.num_pieces(),
        }
    }

    pub fn piece_len(&self, index: u32) -> u64 {
        let start = index as u64 * self.piece_length;
        self.piece_length
            .min(self.total_length.saturating_sub(start))
    }
}

/// A peer that has just completed its handshake.
pub struct NewPeer {
    pub peer_id: [u8; 20],
    pub addr: SocketAddr,
    pub outbound: bool,
    /// Both sides speak BEP 6 (we always do).
    pub fast: bool,
    pub stats: Arc<PeerStats>,
    /// Bytes we downloaded from it before, from the ledger.
    pub history: u64,
}

pub struct PeerEntry {
    pub peer_id: [u8; 20],
    pub addr: SocketAddr,
    pub outbound: bool,
    pub fast: bool,
    pub stats: Arc<PeerStats>,
    pub has: Bitfield,
    pub am_choking: bool,
    pub am_interested: bool,
    pub peer_choking: bool,
    pub peer_interested: bool,
    pub waiting_since_ms: u64,
    /// When we last unchoked it, and how often it then sat on the slot unused.
    pub unchoked_at_ms: u64,
    pub wasted: u32,
    wasted_at_ms: u64,
    pub history: u64,
    pub rate_from: u64,
    pub rate_to: u64,
    pub pieces_from: u32,
    /// Where the peer accepts connections, from its BEP 10 handshake: for a peer
    /// that dialled us, `addr` is only its ephemeral port.
    pub listen_addr: Option<SocketAddr>,
    pub origin: Origin,
    /// Byte counts at the last rate sample.
    seen_down: u64,
    seen_up: u64,
    /// Closed to make room for a newcomer; gone once its thread notices.
    evicted: bool,
    /// Byte counts already written into the ledger.
    booked_down: u64,
    booked_up: u64,
}

impl PeerEntry {
    /// The address to credit for what this peer sent: where it listens, if known.
    pub fn source_addr(&self) -> String {
        self.listen_addr.unwrap_or(self.addr).to_string()
    }

    /// Bytes exchanged since the ledger last heard of this peer.
    fn unbooked(&mut self) -> Option<LedgerDelta> {
        let down = self.stats.downloaded();
        let up = self.stats.uploaded();
        let (dd, du) = (down - self.booked_down, up - self.booked_up);
        self.booked_down = down;
        self.booked_up = up;
        (dd > 0 || du > 0).then(|| (self.peer_id, self.addr.to_string(), dd, du))
    }
}

/// Where we first heard of a peer, for `download --json` and the view's sources.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Origin {
    #[default]
    Tracker,
    Dht,
    Pex,
    /// A magnet link's `x.pe`.
    Magnet,
    /// `--connect` on the command line.
    Connect,
    /// It dialled us.
    Incoming,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Tracker => "tracker",
            Origin::Dht => "dht",
            Origin::Pex => "pex",
            Origin::Magnet => "magnet",
            Origin::Connect => "connect",
            Origin::Incoming => "incoming",
        }
    }
}

/// A peer address we may dial, with reconnection backoff.
#[derive(Debug, Clone, Default)]
pub struct AddrState {
    pub origin: Origin,
    pub failures: u32,
    pub next_try_ms: u64,
    pub connecting: bool,
    /// The peer there sent bad pieces: never dialled again this session.
    pub banned: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Source {
    pub peer_id: String,
    pub origin: Origin,
    pub bytes: u64,
    /// When this source's first piece was verified, in Unix milliseconds.
    pub first_piece_unix_ms: u64,
}

/// Ledger deltas gathered by a tick: (peer id, address, downloaded, uploaded).
pub type LedgerDelta = ([u8; 20], String, u64, u64);

pub struct TorrentCore {
    pub geometry: Geometry,
    pub picker: PiecePicker,
    pub choker: Choker,
    pub peers: HashMap<PeerKey, PeerEntry>,
    /// Bytes received per remote address, for the download summary.
    pub sources: BTreeMap<String, Source>,
    pub resumed_pieces: usize,
    pub fetched_pieces: usize,
    pub resume_dirty: bool,
    pub paused: bool,
    /// Why the download paused by itself (the disk refused a piece), for `status`
    /// and for `download`, which stops on it; None when a person paused it.
    pub pause_reason: Option<String>,
    pub uploaded: u64,
    pub downloaded: u64,
    pub addrs: HashMap<SocketAddr, AddrState>,
    strikes: HashMap<[u8; 20], u32>,
    banned: HashSet<[u8; 20]>,
    next_key: PeerKey,
    last_rechoke_ms: u64,
    /// When the choker wants to look again at a slot it held back (its grace).
    recall_at_ms: Option<u64>,
    /// Set for a seed whose upload is scarce (it has a rate limit): see `super_seed`.
    super_seed: Option<SuperSeeder>,
    lone_peer: Option<PeerKey>,
    lone_ticks: u32,
    /// When the first verified piece arrived, in Unix milliseconds.
    pub first_piece_unix_ms: Option<u64>,
    /// Address and id of peers that left lately: a piece of theirs may still be
    /// on the verifier, and is credited to them, not to "?".
    departed: BTreeMap<PeerKey, (String, String, Origin)>,
    actions: Vec<Action>,
    /// v2 pieces that failed their hash, waiting for block hashes (see `block_repair`).
    pub repairs: Repairs,
}

/// Super-seeding: shows a peer what it may take next, one piece while choked,
/// REVEAL_AHEAD once it can download.
fn reveal(
    ss: &mut Option<SuperSeeder>,
    picker: &PiecePicker,
    key: PeerKey,
    p: &PeerEntry,
    actions: &mut Vec<Action>,
) {
    if let Some(ss) = ss {
        let ahead = if p.am_choking { 1 } else { REVEAL_AHEAD };
        for i in ss.top_up(key, &p.has, ahead, &|i| picker.availability(i)) {
            actions.push(Action::Send(key, Outgoing::Have(i)));
        }
    }
}

impl TorrentCore {
    /// `seed` makes the picker's and choker's randomness repeatable in tests.
    pub fn new(
        geometry: Geometry,
        have: Bitfield,
        slots: usize,
        resumed: usize,
        super_seed: bool,
        seed: u64,
    ) -> TorrentCore {
        let have_all = have.is_complete();
        let n_pieces = have.len();
        TorrentCore {
            geometry,
            picker: PiecePicker::new(have, seed),
            choker: Choker::new(slots, seed ^ 0x5eed),
            peers: HashMap::new(),
            sources: BTreeMap::new(),
            resumed_pieces: resumed,
            fetched_pieces: 0,
            resume_dirty: false,
            paused: false,
            pause_reason: None,
            uploaded: 0,
            downloaded: 0,
            addrs: HashMap::new(),
            strikes: HashMap::new(),
            banned: HashSet::new(),
            next_key: 1,
            last_rechoke_ms: 0,
            recall_at_ms: None,
            super_seed: (super_seed && have_all).then(|| SuperSeeder::new(n_pieces, seed ^ 0x55)),
            lone_peer: None,
            lone_ticks: 0,
            first_piece_unix_ms: None,
            departed: BTreeMap::new(),
            actions: Vec::new(),
            repairs: Repairs::default(),
        }
    }

    /// What the shell must do now, in order.
    pub fn take_actions(&mut self) -> std::vec::Drain<'_, Action> {
        self.actions.drain(..)
    }

    /// When `on_deadline` wants to be called, in torrent milliseconds.
    pub fn next_deadline(&self) -> Option<u64> {
        self.recall_at_ms
    }

    /// A deadline reported by `next_deadline` has passed.
    pub fn on_deadline(&mut self, now: u64) {
        if self.recall_at_ms.is_some_and(|at| at <= now) {
            self.recall_at_ms = None;
            self.rechoke_on_event(now);
        }
    }

    pub fn is_complete(&self) -> bool {
        self.picker.have().is_complete()
    }

    /// Bytes still to download.
    pub fn left(&self) -> u64 {
        let have = self.picker.have();
        (0..have.len())
            .filter(|&i| !have.get(i))
            .map(|i| self.geometry.piece_len(i as u32))
            .sum()
    }

    /// The peer to close when the torrent is full: one that has exchanged no
    /// data and is not about to (it does not serve us, and we do not serve it or
    /// it sat on the slot we gave it); uninterested ones first, then slot
    /// wasters, then the longest connected.
    fn least_useful(&self) -> Option<PeerKey> {
        self.peers
            .iter()
            .filter(|(_, p)| {
                !p.evicted
                    && p.peer_choking
                    && (p.am_choking || p.wasted > 0)
                    && p.stats.downloaded() == 0
                    && p.stats.uploaded() == 0
            })
            .min_by_key(|&(&k, p)| (p.peer_interested, std::cmp::Reverse(p.wasted), k))
            .map(|(&k, _)| k)
    }

    fn live_peers(&self) -> usize {
        self.peers.values().filter(|p| !p.evicted).count()
    }

    /// Whether a peer that just handshook may join: not banned, and there is
    /// room or a useless peer to make room with.
    pub fn may_join(&self, peer_id: &[u8; 20], max_peers: usize) -> bool {
        !self.banned.contains(peer_id)
            && (self.live_peers() < max_peers || self.least_useful().is_some())
    }

    /// Adds a connected peer. Of two connections to the same peer, both sides keep
    /// the one opened by the peer with the greater id, so they never drop both:
    /// libtorrent decides the same way, and disagreeing with it loses both.
    /// With `max_peers` connected, the least useful one makes room, or the newcomer is refused.
    pub fn register(
        &mut self,
        new: NewPeer,
        my_id: &[u8; 20],
        max_peers: usize,
    ) -> Result<PeerKey, &'static str> {
        if self.banned.contains(&new.peer_id) {
            if new.outbound
                && let Some(a) = self.addrs.get_mut(&new.addr)
            {
                a.banned = true;
            }
            return Err("banned for sending bad pieces");
        }
        if let Some((&old_key, _)) = self.peers.iter().find(|(_, p)| p.peer_id == new.peer_id) {
            let initiator = if new.outbound { my_id } else { &new.peer_id };
            if initiator != my_id.max(&new.peer_id) {
                return Err("already connected to this peer");
            }
            self.actions.push(Action::Disconnect(old_key));
            debug!("replacing duplicate connection {old_key} to {}", new.addr);
        } else if self.live_peers() >= max_peers {
            let Some(victim) = self.least_useful() else {
                return Err("too many peers");
            };
            if let Some(v) = self.peers.get_mut(&victim) {
                v.evicted = true;
                debug!("closed idle {} to make room for {}", v.addr, new.addr);
            }
            self.actions.push(Action::Disconnect(victim));
        }
        let key = self.next_key;
        self.next_key += 1;
        let origin = match self.addrs.get(&new.addr) {
            _ if !new.outbound => Origin::Incoming,
            Some(a) => a.origin,
            None => Origin::Connect,
        };
        let entry = PeerEntry {
            origin,
            peer_id: new.peer_id,
            addr: new.addr,
            outbound: new.outbound,
            fast: new.fast,
            stats: new.stats,
            has: Bitfield::new(self.geometry.num_pieces),
            am_choking: true,
            am_interested: false,
            peer_choking: true,
            peer_interested: false,
            waiting_since_ms: 0,
            unchoked_at_ms: 0,
            wasted: 0,
            wasted_at_ms: 0,
            history: new.history,
            rate_from: 0,
            rate_to: 0,
            pieces_from: 0,
            listen_addr: None,
            seen_down: 0,
            seen_up: 0,
            evicted: false,
            booked_down: 0,
            booked_up: 0,
        };
        let have = self.picker.have();
        // A fast peer expects exactly one of bitfield, have all, have none first.
        let first = if self.super_seed.is_some() {
            // Super-seeding: no bitfield, just a piece to take.
            entry.fast.then_some(Outgoing::HaveNone)
        } else if entry.fast && have.is_complete() {
            Some(Outgoing::HaveAll)
        } else if have.count() > 0 {
            Some(Outgoing::Bitfield(have.as_bytes().to_vec()))
        } else {
            entry.fast.then_some(Outgoing::HaveNone)
        };
        if let Some(m) = first {
            self.actions.push(Action::Send(key, m));
        }
        reveal(
            &mut self.super_seed,
            &self.picker,
            key,
            &entry,
            &mut self.actions,
        );
        info!(
            "peer {} joined {} ({})",
            entry.addr,
            self.geometry.name,
            if entry.outbound {
                "we dialled"
            } else {
                "it dialled"
            }
        );
        self.peers.insert(key, entry);
        Ok(key)
    }

    /// Removes a peer whose connection ended, giving its pieces back to the picker.
    pub fn unregister(&mut self, now: u64, key: PeerKey, pieces: &[u32]) -> Option<LedgerDelta> {
        let mut p = self.peers.remove(&key)?;
        self.picker.remove_peer(&p.has);
        if let Some(ss) = &mut self.super_seed {
            ss.forget(key);
        }
        for &i in pieces {
            self.picker.release(i, key);
        }
        if !p.am_choking {
            self.rechoke_on_event(now);
        }
        info!("peer {} left {}", p.addr, self.geometry.name);
        self.departed
            .insert(key, (p.source_addr(), peer_id_text(&p.peer_id), p.origin));
        while self.departed.len() > 64 {
            self.departed.pop_first();
        }
        p.unbooked()
    }

    fn update_interest(
        picker: &PiecePicker,
        key: PeerKey,
        p: &mut PeerEntry,
        actions: &mut Vec<Action>,
    ) {
        let want = !picker.have().is_complete() && picker.wants_from(&p.has);
        if want != p.am_interested {
            p.am_interested = want;
            actions.push(Action::Send(
                key,
                if want {
                    Outgoing::Interested
                } else {
                    Outgoing::NotInterested
                },
            ));
        }
    }

    /// The peer's full bitfield (or have-all / have-none). False means it was malformed.
    pub fn on_bitfield(&mut self, key: PeerKey, has: Bitfield) -> bool {
        let Some(p) = self.peers.get_mut(&key) else {
            return false;
        };
        if has.len() != self.geometry.num_pieces {
            return false;
        }
        self.picker.remove_peer(&p.has);
        self.picker.add_peer(&has);
        p.has = has;
        Self::update_interest(&self.picker, key, p, &mut self.actions);
        reveal(
            &mut self.super_seed,
            &self.picker,
            key,
            p,
            &mut self.actions,
        );
        true
    }

    /// A `have`. False means the piece does not exist.
    pub fn on_have(&mut self, key: PeerKey, piece: u32) -> bool {
        let Some(p) = self.peers.get_mut(&key) else {
            return false;
        };
        if piece as usize >= p.has.len() {
            return false;
        }
        if p.has.set(piece as usize) {
            self.picker.add_have(piece as usize);
            if !p.am_interested && !self.picker.have().get(piece as usize) {
                Self::update_interest(&self.picker, key, p, &mut self.actions);
            }
            reveal(
                &mut self.super_seed,
                &self.picker,
                key,
                p,
                &mut self.actions,
            );
        }
        true
    }

    /// The peer told us its listen port (BEP 10 `p`).
    pub fn on_listen_port(&mut self, key: PeerKey, port: u16) {
        if let Some(p) = self.peers.get_mut(&key) {
            p.listen_addr = Some(SocketAddr::new(p.addr.ip(), port));
        }
    }

    /// The peer choked or unchoked us; a choke gives back the pieces we were fetching from it.
    pub fn on_peer_choke(&mut self, key: PeerKey, choking: bool, released: &[u32]) {
        if let Some(p) = self.peers.get_mut(&key) {
            p.peer_choking = choking;
        }
        for &i in released {
            self.picker.release(i, key);
        }
    }

    pub fn on_interest(&mut self, now: u64, key: PeerKey, interested: bool) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        if p.peer_interested == interested {
            return;
        }
        p.peer_interested = interested;
        p.waiting_since_ms = now;
        self.rechoke_on_event(now);
    }

    fn candidates(&self) -> Vec<Candidate> {
        self.peers
            .iter()
            .map(|(&key, p)| Candidate {
                key,
                interested: p.peer_interested,
                rate_from: p.rate_from,
                history: p.history,
                waiting_since_ms: p.waiting_since_ms,
                newcomer: p.has.count() == 0,
                unchoked: !p.am_choking,
                unchoked_at_ms: p.unchoked_at_ms,
                last_request_ms: p.stats.last_request_ms(),
                wasted: p.wasted,
            })
            .collect()
    }

    fn rechoke_on_event(&mut self, now: u64) {
        let seeding = self.is_complete();
        let cands = self.candidates();
        let (set, recall) = self.choker.on_interest_change(now, seeding, &cands);
        self.apply_unchoke_set(now, &set);
        if let Some(at) = recall
            && self.recall_at_ms.is_none()
        {
            self.recall_at_ms = Some(at);
        }
    }

    fn apply_unchoke_set(&mut self, now: u64, set: &[PeerKey]) {
        for (&key, p) in self.peers.iter_mut() {
            let unchoke = set.contains(&key);
            if unchoke != p.am_choking {
                continue;
            }
            p.am_choking = !unchoke;
            if unchoke {
                // Never 0, which means "never unchoked" to the choker.
                p.unchoked_at_ms = now.max(1);
            }
            p.stats.am_choking.store(!unchoke, Ordering::Relaxed);
            self.actions.push(Action::Send(
                key,
                if unchoke {
                    Outgoing::Unchoke
                } else {
                    Outgoing::Choke
                },
            ));
            if unchoke {
                reveal(
                    &mut self.super_seed,
                    &self.picker,
                    key,
                    p,
                    &mut self.actions,
                );
            } else if let Some(ss) = &mut self.super_seed {
                ss.shrink(key, 1);
            }
            info!(
                "{} {} on {}",
                if unchoke { "unchoked" } else { "choked" },
                p.addr,
                self.geometry.name
            );
        }
    }

    /// Picks the next piece for a peer: any it has while it unchokes us, or
    /// only those in `allowed` (BEP 6 allowed fast) while it chokes us.
    pub fn pick(&mut self, key: PeerKey, allowed: Option<&[u32]>) -> Option<u32> {
        if self.paused {
            return None;
        }
        let p = self.peers.get(&key)?;
        match allowed {
            None => self.picker.pick(key, &p.has),
            Some(allowed) => {
                let mut only = Bitfield::new(p.has.len());
                for &i in allowed {
                    if p.has.get(i as usize) {
                        only.set(i as usize);
                    }
                }
                self.picker.pick(key, &only)
            }
        }
    }

    pub fn release(&mut self, key: PeerKey, pieces: &[u32]) {
        for &i in pieces {
            self.picker.release(i, key);
        }
    }

    /// A piece arrived whole, matched its hash and was written: record it and tell everyone.
    pub fn piece_verified(&mut self, key: PeerKey, index: u32, now_unix_ms: u64) {
        if self.picker.have().get(index as usize) {
            return;
        }
        let cancel = self.picker.piece_verified(index, key);
        self.fetched_pieces += 1;
        self.resume_dirty = true;
        self.first_piece_unix_ms.get_or_insert(now_unix_ms);
        let (addr, peer_id, origin) = match self.peers.get_mut(&key) {
            Some(p) => {
                p.pieces_from += 1;
                (p.source_addr(), peer_id_text(&p.peer_id), p.origin)
            }
            None => self
                .departed
                .get(&key)
                .cloned()
                .unwrap_or_else(|| ("?".into(), String::new(), Origin::default())),
        };
        let src = self.sources.entry(addr).or_insert_with(|| Source {
            first_piece_unix_ms: now_unix_ms,
            ..Default::default()
        });
        src.bytes += self.geometry.piece_len(index);
        src.peer_id = peer_id;
        src.origin = origin;
        for other in cancel {
            if self.peers.contains_key(&other) {
                self.actions.push(Action::Cancelled(other, index));
            }
        }
        for (&k, p) in self.peers.iter_mut() {
            self.actions.push(Action::Send(k, Outgoing::Have(index)));
            Self::update_interest(&self.picker, k, p, &mut self.actions);
        }
        let have = self.picker.have();
        debug!(
            "piece {index} of {} verified ({}/{})",
            self.geometry.name,
            have.count(),
            have.len()
        );
        if have.is_complete() {
            info!("completed {} ({} pieces)", self.geometry.name, have.len());
            self.actions.push(Action::Completed);
        }
    }

    /// The disk refused to store piece `index`. The piece goes back unmarked, and
    /// the download pauses, so nothing is fetched again only to be refused again;
    /// the pieces still in flight finish or fail quietly. Said once per pause:
    /// true for the refusal that paused it.
    pub fn disk_refused(&mut self, key: PeerKey, index: u32, reason: String) -> bool {
        self.picker.release(index, key);
        if self.paused && self.pause_reason.is_some() {
            debug!("{reason}");
            return false;
        }
        self.paused = true;
        warn!("{reason}; {} is paused", self.geometry.name);
        self.pause_reason = Some(reason);
        true
    }

    /// The disk took the piece that paused the download: it is verified, and
    /// the download goes on unless a person paused it meanwhile.
    pub fn disk_recovered(&mut self, key: PeerKey, index: u32, now_unix_ms: u64) {
        self.piece_verified(key, index, now_unix_ms);
        if self.pause_reason.take().is_some() {
            self.paused = false;
            info!(
                "the disk takes {} again: downloading resumes",
                self.geometry.name
            );
        }
    }

    /// A piece failed its hash. The third strike bans the sender: it is
    /// disconnected and its addresses are never dialled again.
    pub fn piece_failed(&mut self, key: PeerKey, index: u32) {
        self.picker.release(index, key);
        let Some(p) = self.peers.get(&key) else {
            return;
        };
        let (id, addr) = (p.peer_id, p.addr);
        let strikes = self.strikes.entry(id).or_insert(0);
        *strikes += 1;
        warn!(
            "piece {index} of {} from {addr} failed its hash check (strike {strikes})",
            self.geometry.name
        );
        if *strikes >= MAX_STRIKES {
            self.ban(key, &format!("{MAX_STRIKES} bad pieces"));
        }
    }

    /// Disconnects a peer and never lets it back (by id or address) this session.
    fn ban(&mut self, key: PeerKey, why: &str) {
        let Some(p) = self.peers.get(&key) else {
            return;
        };
        let (id, addr, listen) = (p.peer_id, p.addr, p.listen_addr);
        self.banned.insert(id);
        for a in [Some(addr), listen].into_iter().flatten() {
            self.addrs.entry(a).or_default().banned = true;
        }
        warn!("banned {addr} for this session: {why}");
        self.actions.push(Action::Disconnect(key));
    }

    /// Once a second: rates, ledger deltas, and the periodic rechoke.
    pub fn tick(&mut self, now: u64, history: &dyn Fn(&[u8; 20]) -> u64) -> Vec<LedgerDelta> {
        self.give_up_repairs(now);
        let mut deltas = Vec::new();
        for p in self.peers.values_mut() {
            let down = p.stats.downloaded();
            let up = p.stats.uploaded();
            let (dd, du) = (down - p.seen_down, up - p.seen_up);
            // A smoothed rate: half the last second, half the history.
            p.rate_from = (p.rate_from + dd) / 2;
            p.rate_to = (p.rate_to + du) / 2;
            p.seen_down = down;
            p.seen_up = up;
            self.downloaded += dd;
            self.uploaded += du;
            let booked = p.unbooked();
            p.history = history(&p.peer_id) + booked.as_ref().map_or(0, |d| d.2);
            deltas.extend(booked);
        }
        self.open_up_lone_leecher();
        self.revoke_idle_slots(now);
        if now.saturating_sub(self.last_rechoke_ms) >= RECHOKE_MS || self.last_rechoke_ms == 0 {
            self.last_rechoke_ms = now.max(1);
            let seeding = self.is_complete();
            let cands = self.candidates();
            let set = self.choker.rechoke(now, seeding, &cands);
            self.apply_unchoke_set(now, &set);
        }
        deltas
    }

    /// Chokes peers that sit on a slot without asking for anything, and gives
    /// their slots to the next in line now rather than at the next rechoke.
    fn revoke_idle_slots(&mut self, now: u64) {
        for p in self.peers.values_mut() {
            if p.wasted > 0 && p.stats.last_request_ms() > p.wasted_at_ms {
                p.wasted = 0;
            }
        }
        let cands = self.candidates();
        let idle = Choker::idle_holders(now, &cands);
        if idle.is_empty() {
            // Trials that began to ask may now use more than the slots: the
            // event rule trims them, in rank order, within a tick.
            self.rechoke_on_event(now);
            return;
        }
        for k in &idle {
            self.choker.revoke(*k);
            if let Some(p) = self.peers.get_mut(k) {
                p.wasted += 1;
                p.wasted_at_ms = now;
                debug!("{} did not use its upload slot", p.addr);
            }
        }
        let keep: Vec<PeerKey> = cands
            .iter()
            .filter(|c| c.unchoked && !idle.contains(&c.key))
            .map(|c| c.key)
            .collect();
        self.apply_unchoke_set(now, &keep);
        self.rechoke_on_event(now);
    }

    /// Super-seeding only pays when leechers can share with each other: a peer
    /// that has been the only interested one for LONE_TICKS ticks is shown everything.
    fn open_up_lone_leecher(&mut self) {
        let Some(ss) = &mut self.super_seed else {
            return;
        };
        let mut interested = self.peers.iter().filter(|(_, p)| p.peer_interested);
        let lone = match (interested.next(), interested.next()) {
            (Some((&k, _)), None) if !ss.is_open(k) => Some(k),
            _ => None,
        };
        self.lone_ticks = if lone.is_some() && lone == self.lone_peer {
            self.lone_ticks + 1
        } else {
            0
        };
        self.lone_peer = lone;
        if let Some(k) = lone
            && self.lone_ticks >= LONE_TICKS
            && let Some(p) = self.peers.get(&k)
        {
            for i in ss.open_up(k, &p.has) {
                self.actions.push(Action::Send(k, Outgoing::Have(i)));
            }
        }
    }

    /// Bytes exchanged since the last tick, for a ledger that must be current now.
    pub fn ledger_deltas(&mut self) -> Vec<LedgerDelta> {
        self.peers
            .values_mut()
            .filter_map(PeerEntry::unbooked)
            .collect()
    }

    /// Adds addresses learnt from `origin`; an address keeps the origin it was
    /// first learnt from. True when the download is lonely: it is incomplete and
    /// knows no address and no peer.
    pub fn add_addrs(&mut self, addrs: &[SocketAddr], origin: Origin) -> bool {
        let mut pex = if origin == Origin::Pex {
            self.addrs
                .values()
                .filter(|a| a.origin == Origin::Pex)
                .count()
        } else {
            0
        };
        for a in addrs {
            if origin == Origin::Pex {
                if self.addrs.contains_key(a) {
                    continue;
                }
                if pex >= MAX_PEX_ADDRS {
                    debug!("pex: keeping no more than {MAX_PEX_ADDRS} addresses");
                    break;
                }
                pex += 1;
            }
            self.addrs.entry(*a).or_insert_with(|| AddrState {
                origin,
                ..Default::default()
            });
        }
        !self.is_complete() && self.addrs.is_empty() && self.peers.is_empty()
    }

    /// An address whose peer lied (its metadata did not match): never dialled.
    pub fn ban_addr(&mut self, addr: SocketAddr) {
        self.addrs.entry(addr).or_default().banned = true;
    }

    /// What ut_pex tells peer `key` of: the other peers, each at an address
    /// it accepts connections on (the one we dialled, or the listen port a
    /// peer that dialled us named; never its ephemeral port), with BEP 11
    /// flags: seed, and connectable for those we reached ourselves.
    pub fn pex_peers(&self, key: PeerKey) -> Vec<(SocketAddr, u8)> {
        use super::extensions::ut_pex::{FLAG_CONNECTABLE, FLAG_SEED};
        let Some(to) = self.peers.get(&key) else {
            return Vec::new();
        };
        let own = [Some(to.addr), to.listen_addr];
        let mut out: Vec<(SocketAddr, u8)> = self
            .peers
            .iter()
            .filter(|(k, p)| **k != key && !p.evicted)
            .filter_map(|(_, p)| {
                let addr = if p.outbound {
                    Some(p.addr)
                } else {
                    p.listen_addr
                }?;
                if own.contains(&Some(addr)) {
                    return None;
                }
                let seed = if p.has.is_complete() { FLAG_SEED } else { 0 };
                let reached = if p.outbound { FLAG_CONNECTABLE } else { 0 };
                Some((addr, seed | reached))
            })
            .collect();
        out.sort();
        out.dedup_by_key(|(a, _)| *a);
        out
    }

    /// Known addresses whose backoff has passed, marked as being dialled: all
    /// of them while downloading, only `always` ones (`--connect`) while seeding.
    pub fn due_dials(
        &mut self,
        now: u64,
        max_peers: usize,
        always: &[SocketAddr],
    ) -> Vec<SocketAddr> {
        let seeding = self.is_complete();
        if self.paused {
            return Vec::new();
        }
        let connected: Vec<SocketAddr> = self
            .peers
            .values()
            .flat_map(|p| [Some(p.addr), p.listen_addr])
            .flatten()
            .collect();
        let dialled = self.peers.values().filter(|p| p.outbound).count();
        let room = max_peers.saturating_sub(self.peers.len());
        let mut due = Vec::new();
        for (addr, a) in self.addrs.iter_mut() {
            if dialled + due.len() >= MAX_DIALLED || due.len() >= room {
                break;
            }
            if a.connecting
                || a.banned
                || a.next_try_ms > now
                || connected.contains(addr)
                || (seeding && !always.contains(addr))
            {
                continue;
            }
            a.connecting = true;
            due.push(*addr);
        }
        due
    }

    /// A dial (and the connection it made, if any) ended. `ok` is false when
    /// it failed or the peer broke the protocol: exponential backoff for those,
    /// a quick retry for live ones. `None` gives the address back untried
    /// (there was no connection slot).
    pub fn dial_ended(&mut self, now: u64, addr: SocketAddr, ok: Option<bool>) {
        let Some(a) = self.addrs.get_mut(&addr) else {
            return;
        };
        a.connecting = false;
        let Some(ok) = ok else { return };
        a.failures = if ok { 0 } else { a.failures + 1 };
        a.next_try_ms = now
            + if ok {
                2_000
            } else {
                (1_000u64 << a.failures.min(6)).min(60_000)
            };
    }
}

mod repair;

#[cfg(test)]
mod tests;
