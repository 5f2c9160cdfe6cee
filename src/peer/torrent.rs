//! One torrent inside a running peer: its files, the pure picker and choker,
//! and every connected peer. Connection threads call in here with events;
//! all mutation happens under one lock, taken per message or per piece,
//! never per block of data.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use log::{debug, info, warn};

use super::choker::{Candidate, Choker, RECHOKE_MS};
use super::ledger::peer_id_text;
use super::piece_picker::{PeerKey, PiecePicker};
use super::resume;
use super::storage::Storage;
use super::super_seed::{REVEAL_AHEAD, SuperSeeder};
use crate::common::bitfield::Bitfield;
use crate::common::metainfo::Metainfo;
use crate::common::wire::BlockRef;

/// Bad pieces a peer may send before it is banned for the session.
const MAX_STRIKES: u32 = 3;
/// Ticks (seconds) a super-seeding seeder waits before showing a lone leecher everything.
const LONE_TICKS: u32 = 2;

/// What a connection's writer thread is asked to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    Choke,
    Unchoke,
    Interested,
    NotInterested,
    Have(u32),
    Bitfield(Vec<u8>),
    Request(BlockRef),
    Cancel(BlockRef),
    /// Serve a block the peer requested: the writer reads it from disk itself.
    Block(BlockRef),
    /// BEP 6: a request we will not serve.
    Reject(BlockRef),
    /// BEP 6 `have all` / `have none`, in place of a bitfield.
    HaveAll,
    HaveNone,
    /// A non-fast peer asked for more than we queue: choke it, which tells it
    /// its requests are gone, and unchoke it again unless the choker says otherwise.
    Throttle,
    /// A BEP 10 extended message (id 0: the extension handshake).
    Extended(u8, Vec<u8>),
}

/// Counters and signals a connection's two threads share without the torrent lock.
pub struct PeerShared {
    pub downloaded: AtomicU64,
    pub uploaded: AtomicU64,
    /// Requests queued for the writer, bounded against request floods.
    pub queued: AtomicUsize,
    pub am_choking: AtomicBool,
    /// When the peer last asked for a block while unchoked (torrent ms, 0 never):
    /// a slot whose holder never asks is taken back.
    pub last_request_ms: AtomicU64,
    /// Pieces another peer delivered first (endgame): the reader drops and cancels them.
    pub cancelled: Mutex<Vec<u32>>,
    pub has_cancelled: AtomicBool,
    /// Both sides speak BEP 6: requests we will not serve are rejected, never dropped.
    pub fast: bool,
    /// A non-fast peer asked for more than we queue: a choke is on its way to say so.
    pub throttled: AtomicBool,
    pub stream: TcpStream,
}

impl PeerShared {
    pub fn new(stream: TcpStream, fast: bool) -> Self {
        PeerShared {
            downloaded: AtomicU64::new(0),
            uploaded: AtomicU64::new(0),
            queued: AtomicUsize::new(0),
            am_choking: AtomicBool::new(true),
            last_request_ms: AtomicU64::new(0),
            cancelled: Mutex::new(Vec::new()),
            has_cancelled: AtomicBool::new(false),
            fast,
            throttled: AtomicBool::new(false),
            stream,
        }
    }

    pub fn disconnect(&self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

pub struct PeerEntry {
    pub peer_id: [u8; 20],
    pub addr: SocketAddr,
    pub outbound: bool,
    pub tx: Sender<Outgoing>,
    pub shared: Arc<PeerShared>,
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
        let down = self.shared.downloaded.load(Ordering::Relaxed);
        let up = self.shared.uploaded.load(Ordering::Relaxed);
        let (dd, du) = (down - self.booked_down, up - self.booked_up);
        self.booked_down = down;
        self.booked_up = up;
        (dd > 0 || du > 0).then(|| (self.peer_id, self.addr.to_string(), dd, du))
    }
}

/// A peer address learnt from the tracker, with reconnection backoff.
#[derive(Debug, Clone, Default)]
pub struct AddrState {
    pub failures: u32,
    pub next_try_ms: u64,
    pub connecting: bool,
    /// The peer there sent bad pieces: never dialled again this session.
    pub banned: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Source {
    pub peer_id: String,
    pub bytes: u64,
    /// When this source's first piece was verified, in Unix milliseconds.
    pub first_piece_unix_ms: u64,
}

pub struct TorrentState {
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
    last_rechoke_ms: u64,
    recall_pending: bool,
    /// Set for a seed whose upload is scarce (it has a rate limit): see `super_seed`.
    super_seed: Option<SuperSeeder>,
    lone_peer: Option<PeerKey>,
    lone_ticks: u32,
    /// When the first verified piece arrived, in Unix milliseconds.
    pub first_piece_unix_ms: Option<u64>,
    /// Address and id of peers that left lately: a piece of theirs may still be
    /// on the verifier, and is credited to them, not to "?".
    departed: BTreeMap<PeerKey, (String, String)>,
}

/// Super-seeding: shows a peer what it may take next, one piece while choked,
/// REVEAL_AHEAD once it can download.
fn reveal(ss: &mut Option<SuperSeeder>, picker: &PiecePicker, key: PeerKey, p: &PeerEntry) {
    if let Some(ss) = ss {
        let ahead = if p.am_choking { 1 } else { REVEAL_AHEAD };
        for i in ss.top_up(key, &p.has, ahead, &|i| picker.availability(i)) {
            let _ = p.tx.send(Outgoing::Have(i));
        }
    }
}

/// Ledger deltas gathered by a tick: (peer id, address, downloaded, uploaded).
pub type LedgerDelta = ([u8; 20], String, u64, u64);

pub struct Torrent {
    pub meta: Metainfo,
    pub storage: Storage,
    pub state: Mutex<TorrentState>,
    /// None when seeding a file from `upload/`, which needs no resume state.
    resume_path: Option<PathBuf>,
    next_key: AtomicU64,
    epoch: Instant,
    done_tx: Sender<()>,
    pub done_rx: Receiver<()>,
    pub started: Instant,
    /// For timers that call back into this torrent.
    me: std::sync::Weak<Torrent>,
    complete: AtomicBool,
}

impl Torrent {
    pub fn new(
        meta: Metainfo,
        storage: Storage,
        have: Bitfield,
        resume_path: Option<PathBuf>,
        slots: usize,
        resumed: usize,
        super_seed: bool,
    ) -> Arc<Torrent> {
        Arc::new_cyclic(|me| {
            let seed = fastrand::u64(..);
            let have_all = have.is_complete();
            let n_pieces = have.len();
            let (done_tx, done_rx) = crossbeam_channel::bounded(1);
            if have.is_complete() {
                let _ = done_tx.try_send(());
            }
            Torrent {
                state: Mutex::new(TorrentState {
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
                    last_rechoke_ms: 0,
                    recall_pending: false,
                    super_seed: (super_seed && have_all)
                        .then(|| SuperSeeder::new(n_pieces, seed ^ 0x55)),
                    lone_peer: None,
                    lone_ticks: 0,
                    first_piece_unix_ms: None,
                    departed: BTreeMap::new(),
                }),
                me: me.clone(),
                complete: AtomicBool::new(have_all),
                meta,
                storage,
                resume_path,
                next_key: AtomicU64::new(1),
                epoch: Instant::now(),
                done_tx,
                done_rx,
                started: Instant::now(),
            }
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, TorrentState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    pub fn is_complete(&self) -> bool {
        self.complete.load(Ordering::Relaxed)
    }

    /// Whether piece `index` is verified; free of the lock once the torrent is complete.
    pub fn has_piece(&self, index: u32) -> bool {
        self.is_complete() || self.lock().picker.have().get(index as usize)
    }

    pub fn left(&self) -> u64 {
        let st = self.lock();
        let have = st.picker.have();
        (0..have.len())
            .filter(|&i| !have.get(i))
            .map(|i| self.meta.piece_len(i as u32))
            .sum()
    }

    /// The peer to close when the torrent is full: one that has exchanged no
    /// data and is not about to (it does not serve us, and we do not serve it or
    /// it sat on the slot we gave it); uninterested ones first, then slot
    /// wasters, then the longest connected.
    fn least_useful(st: &TorrentState) -> Option<PeerKey> {
        st.peers
            .iter()
            .filter(|(_, p)| {
                !p.evicted
                    && p.peer_choking
                    && (p.am_choking || p.wasted > 0)
                    && p.shared.downloaded.load(Ordering::Relaxed) == 0
                    && p.shared.uploaded.load(Ordering::Relaxed) == 0
            })
            .min_by_key(|&(&k, p)| (p.peer_interested, std::cmp::Reverse(p.wasted), k))
            .map(|(&k, _)| k)
    }

    fn live_peers(st: &TorrentState) -> usize {
        st.peers.values().filter(|p| !p.evicted).count()
    }

    /// Whether a peer that just handshook may join: not banned, and there is
    /// room or a useless peer to make room with.
    pub fn may_join(&self, peer_id: &[u8; 20], max_peers: usize) -> bool {
        let st = self.lock();
        !st.banned.contains(peer_id)
            && (Self::live_peers(&st) < max_peers || Self::least_useful(&st).is_some())
    }

    /// Adds a connected peer. Of two connections to the same peer, both sides keep
    /// the one opened by the peer with the greater id, so they never drop both:
    /// libtorrent decides the same way, and disagreeing with it loses both.
    /// With `max_peers` connected, the least useful one makes room, or the newcomer is refused.
    pub fn register(
        &self,
        entry: PeerEntry,
        my_id: &[u8; 20],
        max_peers: usize,
    ) -> Result<PeerKey, &'static str> {
        let mut st = self.lock();
        if st.banned.contains(&entry.peer_id) {
            if entry.outbound
                && let Some(a) = st.addrs.get_mut(&entry.addr)
            {
                a.banned = true;
            }
            return Err("banned for sending bad pieces");
        }
        if let Some((&old_key, old)) = st.peers.iter().find(|(_, p)| p.peer_id == entry.peer_id) {
            let initiator = if entry.outbound {
                my_id
            } else {
                &entry.peer_id
            };
            if initiator != my_id.max(&entry.peer_id) {
                return Err("already connected to this peer");
            }
            old.shared.disconnect();
            debug!(
                "replacing duplicate connection {} to {}",
                old_key, entry.addr
            );
        } else if Self::live_peers(&st) >= max_peers {
            let Some(victim) = Self::least_useful(&st) else {
                return Err("too many peers");
            };
            if let Some(v) = st.peers.get_mut(&victim) {
                v.evicted = true;
                v.shared.disconnect();
                debug!("closed idle {} to make room for {}", v.addr, entry.addr);
            }
        }
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        let st = &mut *st;
        let have = st.picker.have();
        // A fast peer expects exactly one of bitfield, have all, have none first.
        let fast = entry.shared.fast;
        if st.super_seed.is_some() {
            // Super-seeding: no bitfield, just a piece to take.
            if fast {
                let _ = entry.tx.send(Outgoing::HaveNone);
            }
            reveal(&mut st.super_seed, &st.picker, key, &entry);
        } else if fast && have.is_complete() {
            let _ = entry.tx.send(Outgoing::HaveAll);
        } else if have.count() > 0 {
            let _ = entry.tx.send(Outgoing::Bitfield(have.as_bytes().to_vec()));
        } else if fast {
            let _ = entry.tx.send(Outgoing::HaveNone);
        }
        info!(
            "peer {} joined {} ({})",
            entry.addr,
            self.meta.name,
            if entry.outbound {
                "we dialled"
            } else {
                "it dialled"
            }
        );
        st.peers.insert(key, entry);
        Ok(key)
    }

    /// Removes a peer whose connection ended, giving its pieces back to the picker.
    pub fn unregister(&self, key: PeerKey, pieces: &[u32]) -> Option<LedgerDelta> {
        let mut st = self.lock();
        let mut p = st.peers.remove(&key)?;
        st.picker.remove_peer(&p.has);
        if let Some(ss) = &mut st.super_seed {
            ss.forget(key);
        }
        for &i in pieces {
            st.picker.release(i, key);
        }
        if !p.am_choking {
            let now = self.now_ms();
            self.rechoke_on_event(&mut st, now);
        }
        info!("peer {} left {}", p.addr, self.meta.name);
        st.departed
            .insert(key, (p.source_addr(), peer_id_text(&p.peer_id)));
        while st.departed.len() > 64 {
            st.departed.pop_first();
        }
        p.unbooked()
    }

    fn update_interest(picker: &PiecePicker, p: &mut PeerEntry) {
        let want = !picker.have().is_complete() && picker.wants_from(&p.has);
        if want != p.am_interested {
            p.am_interested = want;
            let _ = p.tx.send(if want {
                Outgoing::Interested
            } else {
                Outgoing::NotInterested
            });
        }
    }

    /// The peer's full bitfield (or have-all / have-none). False means it was malformed.
    pub fn on_bitfield(&self, key: PeerKey, has: Bitfield) -> bool {
        let mut st = self.lock();
        let st = &mut *st;
        let Some(p) = st.peers.get_mut(&key) else {
            return false;
        };
        if has.len() != self.meta.num_pieces() {
            return false;
        }
        st.picker.remove_peer(&p.has);
        st.picker.add_peer(&has);
        p.has = has;
        Self::update_interest(&st.picker, p);
        reveal(&mut st.super_seed, &st.picker, key, p);
        true
    }

    pub fn on_have(&self, key: PeerKey, piece: u32) -> bool {
        let mut st = self.lock();
        let st = &mut *st;
        let Some(p) = st.peers.get_mut(&key) else {
            return false;
        };
        if piece as usize >= p.has.len() {
            return false;
        }
        if p.has.set(piece as usize) {
            st.picker.add_have(piece as usize);
            if !p.am_interested && !st.picker.have().get(piece as usize) {
                Self::update_interest(&st.picker, p);
            }
            reveal(&mut st.super_seed, &st.picker, key, p);
        }
        true
    }

    /// The peer told us its listen port (BEP 10 `p`).
    pub fn on_listen_port(&self, key: PeerKey, port: u16) {
        if let Some(p) = self.lock().peers.get_mut(&key) {
            p.listen_addr = Some(SocketAddr::new(p.addr.ip(), port));
        }
    }

    pub fn on_peer_choke(&self, key: PeerKey, choking: bool, released: &[u32]) {
        let mut st = self.lock();
        if let Some(p) = st.peers.get_mut(&key) {
            p.peer_choking = choking;
        }
        for &i in released {
            st.picker.release(i, key);
        }
    }

    pub fn on_interest(&self, key: PeerKey, interested: bool) {
        let now = self.now_ms();
        let mut st = self.lock();
        let Some(p) = st.peers.get_mut(&key) else {
            return;
        };
        if p.peer_interested == interested {
            return;
        }
        p.peer_interested = interested;
        p.waiting_since_ms = now;
        self.rechoke_on_event(&mut st, now);
    }

    fn candidates(st: &TorrentState) -> Vec<Candidate> {
        st.peers
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
                last_request_ms: p.shared.last_request_ms.load(Ordering::Relaxed),
                wasted: p.wasted,
            })
            .collect()
    }

    fn rechoke_on_event(&self, st: &mut TorrentState, now: u64) {
        let seeding = st.picker.have().is_complete();
        let cands = Self::candidates(st);
        let (set, recall) = st.choker.on_interest_change(now, seeding, &cands);
        self.apply_unchoke_set(st, &set);
        if let Some(at) = recall
            && !st.recall_pending
            && let Some(me) = self.me.upgrade()
        {
            st.recall_pending = true;
            let wait = std::time::Duration::from_millis(at.saturating_sub(now));
            let _ = std::thread::Builder::new()
                .name("grace".into())
                .spawn(move || {
                    std::thread::sleep(wait);
                    let now = me.now_ms();
                    let mut st = me.lock();
                    st.recall_pending = false;
                    me.rechoke_on_event(&mut st, now);
                });
        }
    }

    fn apply_unchoke_set(&self, st: &mut TorrentState, set: &[PeerKey]) {
        let now = self.now_ms();
        for (key, p) in st.peers.iter_mut() {
            let unchoke = set.contains(key);
            if unchoke != p.am_choking {
                continue;
            }
            p.am_choking = !unchoke;
            if unchoke {
                // Never 0, which means "never unchoked" to the choker.
                p.unchoked_at_ms = now.max(1);
            }
            p.shared.am_choking.store(!unchoke, Ordering::Relaxed);
            let _ = p.tx.send(if unchoke {
                Outgoing::Unchoke
            } else {
                Outgoing::Choke
            });
            if unchoke {
                reveal(&mut st.super_seed, &st.picker, *key, p);
            } else if let Some(ss) = &mut st.super_seed {
                ss.shrink(*key, 1);
            }
            info!(
                "{} {} on {}",
                if unchoke { "unchoked" } else { "choked" },
                p.addr,
                self.meta.name
            );
        }
    }

    /// Picks the next piece for a peer that has unchoked us.
    pub fn pick(&self, key: PeerKey) -> Option<u32> {
        let mut st = self.lock();
        let st = &mut *st;
        if st.paused {
            return None;
        }
        let p = st.peers.get(&key)?;
        st.picker.pick(key, &p.has)
    }

    /// Picks a piece a peer that chokes us lets us fetch anyway (BEP 6 allowed fast).
    pub fn pick_allowed(&self, key: PeerKey, allowed: &[u32]) -> Option<u32> {
        let mut st = self.lock();
        let st = &mut *st;
        if st.paused {
            return None;
        }
        let p = st.peers.get(&key)?;
        let mut only = Bitfield::new(p.has.len());
        for &i in allowed {
            if p.has.get(i as usize) {
                only.set(i as usize);
            }
        }
        st.picker.pick(key, &only)
    }

    pub fn release(&self, key: PeerKey, pieces: &[u32]) {
        let mut st = self.lock();
        for &i in pieces {
            st.picker.release(i, key);
        }
    }

    /// A piece arrived whole, matched its hash and was written: record it and tell everyone.
    pub fn piece_verified(&self, key: PeerKey, index: u32) {
        let mut st = self.lock();
        let st = &mut *st;
        if st.picker.have().get(index as usize) {
            return;
        }
        let cancel = st.picker.piece_verified(index, key);
        st.fetched_pieces += 1;
        st.resume_dirty = true;
        let now_unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        st.first_piece_unix_ms.get_or_insert(now_unix_ms);
        let (addr, peer_id) = match st.peers.get_mut(&key) {
            Some(p) => {
                p.pieces_from += 1;
                (p.source_addr(), peer_id_text(&p.peer_id))
            }
            None => st
                .departed
                .get(&key)
                .cloned()
                .unwrap_or_else(|| ("?".into(), String::new())),
        };
        let src = st.sources.entry(addr).or_insert_with(|| Source {
            first_piece_unix_ms: now_unix_ms,
            ..Default::default()
        });
        src.bytes += self.meta.piece_len(index);
        src.peer_id = peer_id;
        for other in cancel {
            if let Some(p) = st.peers.get(&other) {
                p.shared.cancelled.lock().expect("cancel list").push(index);
                p.shared.has_cancelled.store(true, Ordering::Release);
            }
        }
        for p in st.peers.values_mut() {
            let _ = p.tx.send(Outgoing::Have(index));
            Self::update_interest(&st.picker, p);
        }
        let have = st.picker.have();
        info!(
            "piece {index} of {} verified ({}/{})",
            self.meta.name,
            have.count(),
            have.len()
        );
        if have.is_complete() {
            self.complete.store(true, Ordering::Relaxed);
            info!("completed {} ({} pieces)", self.meta.name, have.len());
            let _ = self.done_tx.try_send(());
        }
    }

    /// The disk refused to store piece `index`. The piece goes back unmarked, and
    /// the download pauses, so nothing is fetched again only to be refused again;
    /// the pieces still in flight finish or fail quietly. Said once per pause:
    /// true for the refusal that paused it.
    pub fn disk_refused(&self, key: PeerKey, index: u32, reason: String) -> bool {
        let mut st = self.lock();
        st.picker.release(index, key);
        if st.paused && st.pause_reason.is_some() {
            debug!("{reason}");
            return false;
        }
        st.paused = true;
        warn!("{reason}; {} is paused", self.meta.name);
        st.pause_reason = Some(reason);
        true
    }

    /// A piece failed its hash. Returns true when the sender is now banned.
    pub fn piece_failed(&self, key: PeerKey, index: u32) -> bool {
        let mut st = self.lock();
        st.picker.release(index, key);
        let Some(p) = st.peers.get(&key) else {
            return false;
        };
        let (id, addr) = (p.peer_id, p.addr);
        let strikes = st.strikes.entry(id).or_insert(0);
        *strikes += 1;
        warn!(
            "piece {index} of {} from {addr} failed its hash check (strike {strikes})",
            self.meta.name
        );
        if *strikes >= MAX_STRIKES {
            st.banned.insert(id);
            let listen = st.peers.get(&key).and_then(|p| p.listen_addr);
            for a in [Some(addr), listen].into_iter().flatten() {
                st.addrs.entry(a).or_default().banned = true;
            }
            warn!("banned {addr} for this session: {MAX_STRIKES} bad pieces");
            return true;
        }
        false
    }

    /// Once a second: rates, ledger deltas, and the periodic rechoke.
    pub fn tick(&self, history: &dyn Fn(&[u8; 20]) -> u64) -> Vec<LedgerDelta> {
        let now = self.now_ms();
        let mut st = self.lock();
        let st = &mut *st;
        let mut deltas = Vec::new();
        for p in st.peers.values_mut() {
            let down = p.shared.downloaded.load(Ordering::Relaxed);
            let up = p.shared.uploaded.load(Ordering::Relaxed);
            let (dd, du) = (down - p.seen_down, up - p.seen_up);
            // A smoothed rate: half the last second, half the history.
            p.rate_from = (p.rate_from + dd) / 2;
            p.rate_to = (p.rate_to + du) / 2;
            p.seen_down = down;
            p.seen_up = up;
            st.downloaded += dd;
            st.uploaded += du;
            let booked = p.unbooked();
            p.history = history(&p.peer_id) + booked.as_ref().map_or(0, |d| d.2);
            deltas.extend(booked);
        }
        self.open_up_lone_leecher(st);
        self.revoke_idle_slots(st, now);
        if now.saturating_sub(st.last_rechoke_ms) >= RECHOKE_MS || st.last_rechoke_ms == 0 {
            st.last_rechoke_ms = now.max(1);
            let seeding = st.picker.have().is_complete();
            let cands = Self::candidates(st);
            let set = st.choker.rechoke(now, seeding, &cands);
            self.apply_unchoke_set(st, &set);
        }
        deltas
    }

    /// Chokes peers that sit on a slot without asking for anything, and gives
    /// their slots to the next in line now rather than at the next rechoke.
    fn revoke_idle_slots(&self, st: &mut TorrentState, now: u64) {
        for p in st.peers.values_mut() {
            if p.wasted > 0 && p.shared.last_request_ms.load(Ordering::Relaxed) > p.wasted_at_ms {
                p.wasted = 0;
            }
        }
        let cands = Self::candidates(st);
        let idle = Choker::idle_holders(now, &cands);
        if idle.is_empty() {
            // Trials that began to ask may now use more than the slots: the
            // event rule trims them, in rank order, within a tick.
            self.rechoke_on_event(st, now);
            return;
        }
        for k in &idle {
            st.choker.revoke(*k);
            if let Some(p) = st.peers.get_mut(k) {
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
        self.apply_unchoke_set(st, &keep);
        self.rechoke_on_event(st, now);
    }

    /// Super-seeding only pays when leechers can share with each other: a peer
    /// that has been the only interested one for LONE_TICKS ticks is shown everything.
    fn open_up_lone_leecher(&self, st: &mut TorrentState) {
        let Some(ss) = &mut st.super_seed else { return };
        let mut interested = st.peers.iter().filter(|(_, p)| p.peer_interested);
        let lone = match (interested.next(), interested.next()) {
            (Some((&k, _)), None) if !ss.is_open(k) => Some(k),
            _ => None,
        };
        st.lone_ticks = if lone.is_some() && lone == st.lone_peer {
            st.lone_ticks + 1
        } else {
            0
        };
        st.lone_peer = lone;
        if let Some(k) = lone
            && st.lone_ticks >= LONE_TICKS
            && let Some(p) = st.peers.get(&k)
        {
            for i in ss.open_up(k, &p.has) {
                let _ = p.tx.send(Outgoing::Have(i));
            }
        }
    }

    /// Bytes exchanged since the last tick, for a ledger that must be current now.
    pub fn ledger_deltas(&self) -> Vec<LedgerDelta> {
        self.lock()
            .peers
            .values_mut()
            .filter_map(PeerEntry::unbooked)
            .collect()
    }

    /// Writes the resume state if pieces were verified since the last save.
    pub fn save_resume(&self, clean: bool) {
        let Some(path) = &self.resume_path else {
            return;
        };
        let have = {
            let mut st = self.lock();
            if !st.resume_dirty && !clean {
                return;
            }
            st.resume_dirty = false;
            st.picker.have().clone()
        };
        // No sync: a clean state is trusted only while the files' sizes and times
        // match what it records, and a killed run is checked again in full.
        let stamps = self.storage.stamps();
        if let Err(e) = resume::save(path, &self.meta.info_hash.hex(), &have, clean, stamps) {
            warn!("cannot save resume state {}: {e}", path.display());
        }
    }

    pub fn new_peer_entry(
        peer_id: [u8; 20],
        addr: SocketAddr,
        outbound: bool,
        tx: Sender<Outgoing>,
        shared: Arc<PeerShared>,
        n: usize,
        history: u64,
    ) -> PeerEntry {
        PeerEntry {
            peer_id,
            addr,
            outbound,
            tx,
            shared,
            has: Bitfield::new(n),
            am_choking: true,
            am_interested: false,
            peer_choking: true,
            peer_interested: false,
            waiting_since_ms: 0,
            unchoked_at_ms: 0,
            wasted: 0,
            wasted_at_ms: 0,
            history,
            rate_from: 0,
            rate_to: 0,
            pieces_from: 0,
            listen_addr: None,
            seen_down: 0,
            seen_up: 0,
            evicted: false,
            booked_down: 0,
            booked_up: 0,
        }
    }

    pub fn disconnect_all(&self) {
        for p in self.lock().peers.values() {
            p.shared.disconnect();
        }
    }

    /// Bytes (uploaded, downloaded) in this run, as trackers are told.
    pub fn transfer_totals(&self) -> (u64, u64) {
        let st = self.lock();
        (st.uploaded, st.downloaded)
    }

    /// Learns addresses (from a tracker); true when the download is "lonely":
    /// incomplete, with no address to try and no peer connected.
    pub fn add_addrs(&self, addrs: &[SocketAddr]) -> bool {
        let mut st = self.lock();
        for a in addrs {
            st.addrs.entry(*a).or_default();
        }
        !st.picker.have().is_complete() && st.addrs.is_empty() && st.peers.is_empty()
    }
}
