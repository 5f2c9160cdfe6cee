//! One torrent inside a running peer: the shell around its pure
//! [`TorrentCore`]. It owns what the core may not: the files, the resume
//! state, the clock, and a handle on each connection (its writer's queue and
//! its socket). Every event goes through [`Torrent::update`], which takes the
//! lock, feeds the core, and carries out the core's actions before letting go,
//! so messages to one peer leave in the order the core decided them.
//!
//! Locks: `core`, then `links`, never the other way; `refused` is never
//! held together with another lock.
//! Connection threads take `core` per message or per piece, never per block.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, Sender};
use log::warn;

use super::block_repair::Repair;
use super::outgoing::Outgoing;
use super::piece_buffer::PieceBuffer;
use super::piece_picker::PeerKey;
use super::resume;
use super::session::Swarm;
use super::storage::Storage;
use super::torrent_core::{Action, Geometry, LedgerDelta, NewPeer, Origin, TorrentCore};
use crate::common::bitfield::Bitfield;
use crate::common::merkle::{self, Hash32};
use crate::common::metainfo::{BLOCK_SIZE, Metainfo};
use crate::common::wire::HashRequest;

/// How often the piece that paused a download is offered to the disk again.
pub const DISK_RETRY: Duration = Duration::from_secs(5);

/// The torrent's handle on one connection.
pub struct PeerLink {
    /// The writer thread's queue.
    pub tx: Sender<Outgoing>,
    /// Pieces another peer delivered first, for the reader to drop.
    pub cancel_tx: Sender<u32>,
    /// A clone of the socket, to close it from outside its threads.
    pub stream: TcpStream,
}

impl PeerLink {
    fn disconnect(&self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

/// A piece the disk refused, kept to offer it again.
struct Refused {
    key: PeerKey,
    index: u32,
    buf: PieceBuffer,
    next_try: Instant,
}

pub struct Torrent {
    pub meta: Metainfo,
    pub storage: Storage,
    core: Mutex<TorrentCore>,
    links: Mutex<HashMap<PeerKey, PeerLink>>,
    refused: Mutex<Option<Refused>>,
    /// None when seeding a file from `upload/`, which needs no resume state.
    resume_path: Option<PathBuf>,
    epoch: Instant,
    done_tx: Sender<()>,
    pub done_rx: Receiver<()>,
    pub started: Instant,
    complete: AtomicBool,
    /// Wakes the engine's ticker for a core deadline sooner than its next tick.
    wake: Sender<()>,
    /// Set while a v2 piece waits for block hashes, so that connections look
    /// for a hash request to send without taking the lock otherwise.
    repairing: AtomicBool,
}

/// What the engine decides for each of its torrents.
#[derive(Clone)]
pub struct EngineTerms {
    /// Regular upload slots.
    pub slots: usize,
    /// Super-seed once complete.
    pub super_seed: bool,
    /// Wakes the engine's ticker for a deadline sooner than its next tick.
    pub wake: Sender<()>,
}

impl Torrent {
    pub fn new(
        meta: Metainfo,
        storage: Storage,
        have: Bitfield,
        resume_path: Option<PathBuf>,
        resumed: usize,
        terms: EngineTerms,
    ) -> Arc<Torrent> {
        let EngineTerms {
            slots,
            super_seed,
            wake,
        } = terms;
        let have_all = have.is_complete();
        let (done_tx, done_rx) = crossbeam_channel::bounded(1);
        if have_all {
            let _ = done_tx.try_send(());
        }
        let geometry = Geometry::of(&meta);
        let core = TorrentCore::new(
            geometry,
            have,
            slots,
            resumed,
            super_seed,
            fastrand::u64(..),
        );
        Arc::new(Torrent {
            core: Mutex::new(core),
            links: Mutex::new(HashMap::new()),
            refused: Mutex::new(None),
            complete: AtomicBool::new(have_all),
            meta,
            storage,
            resume_path,
            epoch: Instant::now(),
            done_tx,
            done_rx,
            started: Instant::now(),
            wake,
            repairing: AtomicBool::new(false),
        })
    }

    /// The core, to read. Changes go through `update`, which carries out what
    /// the core asks for; a change made here must ask for nothing.
    pub fn lock(&self) -> MutexGuard<'_, TorrentCore> {
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn links(&self) -> MutexGuard<'_, HashMap<PeerKey, PeerLink>> {
        self.links.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Feeds the core one event, with the time, and carries out its actions.
    pub fn update<R>(&self, f: impl FnOnce(&mut TorrentCore, u64) -> R) -> R {
        let now = self.now_ms();
        let mut core = self.lock();
        let deadline = core.next_deadline();
        let r = f(&mut core, now);
        self.carry_out(&mut core);
        if core.next_deadline().is_some() && core.next_deadline() != deadline {
            let _ = self.wake.try_send(());
        }
        r
    }

    fn carry_out(&self, core: &mut TorrentCore) {
        let mut actions = core.take_actions().peekable();
        if actions.peek().is_none() {
            return;
        }
        let links = self.links();
        for action in actions {
            match action {
                Action::Send(key, m) => {
                    if let Some(l) = links.get(&key) {
                        let _ = l.tx.send(m);
                    }
                }
                Action::Disconnect(key) => {
                    if let Some(l) = links.get(&key) {
                        l.disconnect();
                    }
                }
                Action::Cancelled(key, index) => {
                    if let Some(l) = links.get(&key) {
                        let _ = l.cancel_tx.send(index);
                    }
                }
                Action::Completed => {
                    self.complete.store(true, Ordering::Relaxed);
                    let _ = self.done_tx.try_send(());
                }
            }
        }
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
        self.lock().left()
    }

    /// Bytes (uploaded, downloaded) in this run, for announces.
    pub fn transfer_totals(&self) -> (u64, u64) {
        let core = self.lock();
        (core.uploaded, core.downloaded)
    }

    /// Never dials `addr`: its peer lied about the metadata.
    pub fn ban_addr(&self, addr: SocketAddr) {
        self.lock().ban_addr(addr);
    }

    /// Adds addresses learnt from `origin`; true when the download is lonely (see `TorrentCore::add_addrs`).
    pub fn add_addrs(&self, addrs: &[SocketAddr], origin: Origin) -> bool {
        self.lock().add_addrs(addrs, origin)
    }

    pub fn may_join(&self, peer_id: &[u8; 20], max_peers: usize) -> bool {
        self.lock().may_join(peer_id, max_peers)
    }

    /// Adds a connected peer (see `TorrentCore::register`).
    pub fn register(
        &self,
        link: PeerLink,
        new: NewPeer,
        my_id: &[u8; 20],
        max_peers: usize,
    ) -> Result<PeerKey, &'static str> {
        let mut core = self.lock();
        // The link goes in first: the core greets the newcomer at once.
        let key = core.register(new, my_id, max_peers);
        if let Ok(key) = key {
            self.links().insert(key, link);
        }
        self.carry_out(&mut core);
        key
    }

    /// Removes a peer whose connection ended, giving its pieces back to the picker.
    pub fn unregister(&self, key: PeerKey, pieces: &[u32]) -> Option<LedgerDelta> {
        self.links().remove(&key);
        self.update(|core, now| core.unregister(now, key, pieces))
    }

    pub fn piece_verified(&self, key: PeerKey, index: u32) {
        self.update(|core, _| core.piece_verified(key, index, unix_ms()));
    }

    pub fn piece_failed(&self, key: PeerKey, index: u32) {
        self.update(|core, _| core.piece_failed(key, index));
    }

    /// A piece failed its hash. A v2 piece of two blocks or more keeps its
    /// buffer for a block repair (`block_repair`), and None comes back; any
    /// other piece is failed as in v1, and its buffer comes back.
    pub fn piece_failed_keeping(
        &self,
        key: PeerKey,
        index: u32,
        buf: PieceBuffer,
    ) -> Option<PieceBuffer> {
        let Some((expect, request, got, bad_padding)) = self.repair_plan(index, &buf) else {
            self.piece_failed(key, index);
            return Some(buf);
        };
        self.update(|core, now| {
            core.repair_started(Repair {
                index,
                buf,
                got,
                bad_padding,
                expect,
                request,
                sender: key,
                since_ms: now,
                asked: None,
            })
        });
        self.repairing.store(true, Ordering::Release);
        None
    }

    /// What repairing piece `index` takes: its hash, the request for its block
    /// hashes, the hashes of the blocks that came, and its padding blocks that
    /// hold something else than zeros. None when it cannot be repaired by blocks.
    fn repair_plan(
        &self,
        index: u32,
        buf: &[u8],
    ) -> Option<(Hash32, HashRequest, Vec<Hash32>, Vec<u32>)> {
        if self.meta.has_v1() {
            // A hybrid's peers are dialled under its v1 key, and hash
            // messages belong to the v2 swarm (libtorrent drops a connection
            // that sends them under the v1 key): its v1 half decides, as in v1.
            return None;
        }
        let piece = self.meta.piece_hashes.merkle(index)?;
        let file = self.meta.piece_hashes.v2_file_of(index)?;
        if piece.width < 2 {
            // One block: the piece hash is the block hash, nothing to narrow down.
            return None;
        }
        let data = buf.get(..piece.data_len as usize)?;
        let block = BLOCK_SIZE as usize;
        let bad_padding = (piece.data_len as usize / block..buf.len().div_ceil(block))
            .filter(|&b| {
                let lo = (b * block).max(piece.data_len as usize);
                let hi = ((b + 1) * block).min(buf.len());
                buf[lo..hi].iter().any(|&x| x != 0)
            })
            .map(|b| b as u32)
            .collect();
        let request = HashRequest {
            root: file.root,
            base: 0,
            index: (index - file.first_piece) * piece.width,
            length: piece.width,
            proof_layers: 0,
        };
        Some((piece.hash, request, merkle::leaves(data), bad_padding))
    }

    /// The disk refused piece `index`: the download pauses (see
    /// `TorrentCore::disk_refused`), and the refusal that paused it keeps its
    /// piece to offer the disk again every DISK_RETRY. The buffer comes back
    /// when it is not kept.
    pub fn disk_refused(
        &self,
        key: PeerKey,
        index: u32,
        reason: String,
        buf: PieceBuffer,
    ) -> Option<PieceBuffer> {
        if !self.update(|core, _| core.disk_refused(key, index, reason)) {
            return Some(buf);
        }
        let mut refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        *refused = Some(Refused {
            key,
            index,
            buf,
            next_try: Instant::now() + DISK_RETRY,
        });
        None
    }

    /// Offers the refused piece to the disk again if its time has come: the
    /// write itself is the test that there is room again (free space says
    /// nothing of a quota, a size limit or a read-only mount), and it costs no
    /// traffic. Once written, the download goes on by itself. It stops when a
    /// person pauses or resumes the torrent instead: their call.
    fn retry_refused(&self) {
        let paused_by_disk = self.lock().pause_reason.is_some();
        let mut refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        let Some(r) = &mut *refused else { return };
        if !paused_by_disk {
            *refused = None;
            return;
        }
        if Instant::now() < r.next_try {
            return;
        }
        let at = r.index as u64 * self.meta.piece_length;
        if self.storage.write_at(at, &r.buf).is_err() {
            r.next_try = Instant::now() + DISK_RETRY;
            return;
        }
        let (key, index) = (r.key, r.index);
        *refused = None;
        drop(refused);
        self.update(|core, _| core.disk_recovered(key, index, unix_ms()));
    }

    /// Once a second: rates, ledger deltas, the periodic rechoke, and the disk retry.
    pub fn tick(&self, history: &dyn Fn(&[u8; 20]) -> u64) -> Vec<LedgerDelta> {
        let deltas = self.update(|core, now| core.tick(now, history));
        self.retry_refused();
        deltas
    }

    /// When the core next wants `on_deadline`, as a time.
    pub fn next_deadline(&self) -> Option<Instant> {
        let at = self.lock().next_deadline()?;
        Some(self.epoch + Duration::from_millis(at))
    }

    pub fn on_deadline(&self) {
        self.update(|core, now| core.on_deadline(now));
    }

    /// Bytes exchanged since the last tick, for a ledger that must be current now.
    pub fn ledger_deltas(&self) -> Vec<LedgerDelta> {
        self.lock().ledger_deltas()
    }

    /// Writes the resume state if pieces were verified since the last save.
    pub fn save_resume(&self, clean: bool) {
        let Some(path) = &self.resume_path else {
            return;
        };
        let have = {
            let mut core = self.lock();
            if !core.resume_dirty && !clean {
                return;
            }
            core.resume_dirty = false;
            core.picker.have().clone()
        };
        // No sync: a clean state is trusted only while the files' sizes and times
        // match what it records, and a killed run is checked again in full.
        let stamps = self.storage.stamps();
        if let Err(e) = resume::save(path, &self.meta.info_hash.hex(), &have, clean, stamps) {
            warn!("cannot save resume state {}: {e}", path.display());
        }
    }

    pub fn disconnect_all(&self) {
        for l in self.links().values() {
            l.disconnect();
        }
    }

    /// Pauses or resumes the download: a paused one requests nothing and
    /// dials nobody, but keeps serving the pieces it has.
    pub fn set_paused(&self, paused: bool) {
        self.lock().paused = paused;
    }
}

/// The torrent as a connection's session sees it: one lock per call.
pub struct SharedSwarm<'a>(pub &'a Torrent);

impl Swarm for SharedSwarm<'_> {
    fn pick(&mut self, key: PeerKey, allowed: Option<&[u32]>) -> Option<u32> {
        self.0.update(|core, _| core.pick(key, allowed))
    }

    fn release(&mut self, key: PeerKey, pieces: &[u32]) {
        self.0.update(|core, _| core.release(key, pieces));
    }

    fn peer_choke(&mut self, key: PeerKey, choking: bool, released: &[u32]) {
        self.0
            .update(|core, _| core.on_peer_choke(key, choking, released));
    }

    fn interest(&mut self, key: PeerKey, interested: bool) {
        self.0
            .update(|core, now| core.on_interest(now, key, interested));
    }

    fn have(&mut self, key: PeerKey, piece: u32) -> bool {
        self.0.update(|core, _| core.on_have(key, piece))
    }

    fn bitfield(&mut self, key: PeerKey, has: Bitfield) -> bool {
        self.0.update(|core, _| core.on_bitfield(key, has))
    }

    fn listen_port(&mut self, key: PeerKey, port: u16) {
        self.0.update(|core, _| core.on_listen_port(key, port));
    }

    fn pex_peers(&mut self, key: PeerKey) -> Vec<(SocketAddr, u8)> {
        self.0.lock().pex_peers(key)
    }

    fn pex_learnt(&mut self, addrs: &[SocketAddr]) {
        self.0.add_addrs(addrs, Origin::Pex);
    }

    fn repair_request(&mut self, key: PeerKey) -> Option<HashRequest> {
        if !self.0.repairing.load(Ordering::Acquire) {
            return None;
        }
        self.0.update(|core, now| {
            if core.repairs.is_empty() {
                self.0.repairing.store(false, Ordering::Release);
            }
            core.repair_request(key, now)
        })
    }

    fn repair_hashes(
        &mut self,
        key: PeerKey,
        request: &HashRequest,
        hashes: &[u8],
    ) -> Option<(u32, PieceBuffer, Vec<u32>)> {
        self.0
            .update(|core, _| core.repair_hashes(key, request, hashes))
    }

    fn repair_rejected(&mut self, key: PeerKey, request: &HashRequest) {
        self.0.update(|core, _| core.repair_rejected(key, request));
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}
