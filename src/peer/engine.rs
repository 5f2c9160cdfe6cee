//! A running peer: the set of torrents, and the threads that drive them.
//!
//! Threads, and what each owns:
//! - `listen` (one): the listening socket and every inbound connection until
//!   its handshake is in (`inbound_handshakes`, epoll); it then answers the
//!   handshake and starts the connection's threads.
//! - `dial ADDR` (one per dial): the outgoing socket until the handshake is
//!   exchanged, then it becomes that connection's reader.
//! - per connection, a reader (`inbound`, or the dial thread) that owns the
//!   receiving side and the connection's pure `Session` (pipeline, piece
//!   buffers), and a writer (`send ADDR`) that owns the sending side.
//! - `hash` and `write` (one each, `verifier`): check whole pieces, then
//!   write them to disk.
//! - `tick` (one): once a second, and at any core deadline before that:
//!   rates, choking, idle slots, grace timers, disk retries, ledger and resume
//!   saves, redials.
//! - `announce` (one): the tracker announces.
//! - outside the engine: the sharer (`share`) rescans `upload/`, and the
//!   command's own thread (`commands`, `interactive`) waits for signals.
//!
//! Locks, in the one order they may be taken: `torrents` (the table, held
//! only to clone an `Arc`), then `schedules`, then a torrent's `core`, then
//! its `links`, then its `refused`. The ledger (`ConnectionContext::ledger`)
//! comes before any `core`: the ticker reads histories while it ticks. No lock is held across a socket read or
//! write, a disk write, or a thread start.

use std::collections::HashMap;
use std::net::{SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use log::{debug, info, warn};

use super::connection::Connection;
use super::connection_context::ConnectionContext;
use super::error::PeerError;
use super::handshake::{self, PeerHello};
use super::home::Home;
use super::inbound_handshakes;
use super::ledger::Ledger;
use super::resume;
use super::storage::Storage;
use super::torrent::{EngineTerms, Torrent};
use super::torrent_core::LedgerDelta;
use super::tracker_client::TrackerClient;
use crate::common::bitfield::Bitfield;
use crate::common::metainfo::{InfoHash, Metainfo};
use crate::common::tracker_proto::{Announce, Event};
use crate::common::wire::Handshake;
use crate::sys::token_bucket::TokenBucket;

/// How often the ticker runs when no core deadline comes sooner.
const TICK: Duration = Duration::from_secs(1);
/// An inbound connection must deliver its handshake this soon: an honest one
/// takes a round trip, and each one waiting holds a descriptor.
const INBOUND_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Inbound connections waiting for their handshake; past this the oldest is closed.
const MAX_PENDING_HANDSHAKES: usize = 64;
/// Connections over all torrents, as a multiple of `--max-peers`.
const CONNECTIONS_PER_MAX_PEERS: usize = 4;

#[derive(Clone)]
pub struct PeerConfig {
    pub tracker: TrackerClient,
    pub home: PathBuf,
    pub listen_port: u16,
    pub upload_rate: Option<u64>,
    pub download_rate: Option<u64>,
    pub upload_slots: usize,
    /// Connected peers per torrent; the engine holds at most
    /// CONNECTIONS_PER_MAX_PEERS times as many over all torrents.
    pub max_peers: usize,
    /// Peers to dial for every torrent, seeding or not (for clients that never dial out).
    pub connect: Vec<SocketAddr>,
}

#[derive(Default)]
struct AnnounceSchedule {
    next_at: Option<Instant>,
    started_sent: bool,
    completed_sent: bool,
    /// Began incomplete in this run, so its completion is news for the tracker.
    downloading: bool,
    /// Announces in a row that left a download with no peer to talk to.
    lonely: u32,
    failures: u32,
}

pub struct Engine {
    pub peer_id: [u8; 20],
    pub home: Home,
    pub tracker: TrackerClient,
    pub listen_port: u16,
    /// What every connection shares: identity, limits, verifier, ledger, shutdown.
    ctx: Arc<ConnectionContext>,
    upload_slots: usize,
    super_seed: bool,
    max_connections: usize,
    /// Live connections and dials, each holding threads and descriptors.
    connections: AtomicUsize,
    connect: Vec<SocketAddr>,
    torrents: RwLock<HashMap<InfoHash, Arc<Torrent>>>,
    schedules: Mutex<HashMap<InfoHash, AnnounceSchedule>>,
    wake_announcer: (
        crossbeam_channel::Sender<()>,
        crossbeam_channel::Receiver<()>,
    ),
    /// Wakes the ticker for a torrent deadline sooner than its next tick.
    wake_ticker: (
        crossbeam_channel::Sender<()>,
        crossbeam_channel::Receiver<()>,
    ),
}

impl Engine {
    pub fn start(config: PeerConfig) -> Result<Arc<Engine>, PeerError> {
        let home = Home::open(&config.home)?;
        let peer_id = home.peer_id()?;
        let listener = TcpListener::bind(("0.0.0.0", config.listen_port)).map_err(|source| {
            PeerError::Listen {
                port: config.listen_port,
                source,
            }
        })?;
        let listen_port = listener
            .local_addr()
            .map_err(PeerError::io("cannot read listen address"))?
            .port();
        let ledger = Ledger::load(&home.ledger_path());
        let ctx = ConnectionContext::new(
            peer_id,
            listen_port,
            config.max_peers.max(1),
            config.upload_rate.map(TokenBucket::new),
            config.download_rate.map(TokenBucket::new),
            ledger,
        );
        let engine = Arc::new(Engine {
            peer_id,
            tracker: config.tracker,
            listen_port,
            // A seed super-seeds when its upload is limited: that is when it is scarce.
            super_seed: config.upload_rate.is_some(),
            ctx: Arc::new(ctx),
            upload_slots: config.upload_slots,
            max_connections: config.max_peers.max(1) * CONNECTIONS_PER_MAX_PEERS,
            connections: AtomicUsize::new(0),
            connect: config.connect,
            torrents: RwLock::new(HashMap::new()),
            schedules: Mutex::new(HashMap::new()),
            wake_announcer: crossbeam_channel::bounded(1),
            wake_ticker: crossbeam_channel::bounded(1),
            home,
        });
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(f)
                .map_err(PeerError::io("cannot start a thread"))
        };
        let e = engine.clone();
        spawn("listen", Box::new(move || e.accept_loop(listener)))?;
        let e = engine.clone();
        spawn("tick", Box::new(move || e.ticker_loop()))?;
        let e = engine.clone();
        spawn("announce", Box::new(move || e.announcer_loop()))?;
        Ok(engine)
    }

    fn terms(&self) -> EngineTerms {
        EngineTerms {
            slots: self.upload_slots,
            super_seed: self.super_seed,
            wake: self.wake_ticker.0.clone(),
        }
    }

    pub fn is_shutting_down(&self) -> bool {
        self.ctx.is_shutting_down()
    }

    pub fn torrent(&self, key: &InfoHash) -> Option<Arc<Torrent>> {
        self.torrents.read().expect("torrents").get(key).cloned()
    }

    pub fn torrents(&self) -> Vec<Arc<Torrent>> {
        let mut v: Vec<Arc<Torrent>> = self
            .torrents
            .read()
            .expect("torrents")
            .values()
            .cloned()
            .collect();
        v.sort_by(|a, b| a.meta.name.cmp(&b.meta.name));
        v
    }

    /// The ledger as it stands in memory, most preferred first.
    pub fn ledger_rows(&self) -> Vec<(String, super::ledger::LedgerEntry)> {
        let deltas: Vec<LedgerDelta> = self
            .torrents()
            .iter()
            .flat_map(|t| t.ledger_deltas())
            .collect();
        for d in &deltas {
            self.ctx.record_ledger(d);
        }
        self.ctx.ledger().by_preference()
    }

    fn insert(&self, torrent: Arc<Torrent>, downloading: bool) -> Arc<Torrent> {
        let key = torrent.meta.info_hash;
        torrent.add_addrs(&self.connect);
        self.schedules.lock().expect("schedules").insert(
            key,
            AnnounceSchedule {
                downloading,
                ..Default::default()
            },
        );
        let t = self
            .torrents
            .write()
            .expect("torrents")
            .entry(key)
            .or_insert(torrent)
            .clone();
        let _ = self.wake_announcer.0.try_send(());
        t
    }

    /// Shares complete files that are already on disk (from `upload/`).
    pub fn add_seed(
        &self,
        meta: Metainfo,
        paths: &[PathBuf],
        location: PathBuf,
    ) -> Result<Arc<Torrent>, PeerError> {
        if let Some(t) = self.torrent(&meta.info_hash) {
            return Ok(t);
        }
        let storage = Storage::open_for_seeding(paths, &meta, location.clone()).map_err(
            PeerError::io(format!("cannot share {}", location.display())),
        )?;
        let n = meta.num_pieces();
        let t = Torrent::new(meta, storage, Bitfield::full(n), None, n, self.terms());
        Ok(self.insert(t, false))
    }

    /// Opens a download under `downloads/`, keeping every verified piece from an earlier run.
    pub fn add_download(&self, meta: Metainfo) -> Result<Arc<Torrent>, PeerError> {
        if let Some(t) = self.torrent(&meta.info_hash) {
            return Ok(t);
        }
        let location = self.home.downloads.join(&meta.name);
        let existed = data_present(&self.home.downloads, &meta);
        let storage = Storage::open_for_download(&self.home.downloads, &meta).map_err(
            PeerError::io(format!("cannot create {}", location.display())),
        )?;
        let n = meta.num_pieces();
        let key = meta.info_hash.hex();
        let resume_path = self.home.resume_path(&meta.info_hash);
        let saved = resume::load(&resume_path, &key, n);
        let have = match saved {
            Some(r) if r.clean && existed && r.stamps == storage.stamps() => r.have,
            // Killed last time, or files touched since: check everything that is on disk.
            _ if existed => {
                info!("checking {} pieces of {} already on disk", n, meta.name);
                let mut have = Bitfield::new(n);
                let mut buf = Vec::new();
                for i in 0..n as u32 {
                    if storage
                        .verify_piece(&meta, i, &mut buf)
                        .map_err(PeerError::io(format!("cannot read {}", location.display())))?
                    {
                        have.set(i as usize);
                    }
                }
                have
            }
            _ => Bitfield::new(n),
        };
        let resumed = have.count();
        resume::save(&resume_path, &key, &have, false, storage.stamps()).map_err(PeerError::io(
            format!("cannot write {}", resume_path.display()),
        ))?;
        let t = Torrent::new(
            meta,
            storage,
            have,
            Some(resume_path),
            resumed,
            self.terms(),
        );
        Ok(self.insert(t, resumed < n))
    }

    /// Pauses or resumes a download: a paused one requests nothing and dials nobody,
    /// but keeps serving the pieces it has.
    pub fn set_paused(&self, key: &InfoHash, paused: bool) -> bool {
        let Some(t) = self.torrent(key) else {
            return false;
        };
        t.set_paused(paused);
        true
    }

    /// Stops sharing a torrent, telling the tracker.
    pub fn remove_torrent(&self, key: &InfoHash) {
        let Some(t) = self.torrents.write().expect("torrents").remove(key) else {
            return;
        };
        self.schedules.lock().expect("schedules").remove(key);
        let _ = self.announce(&t, Some(Event::Stopped));
        t.disconnect_all();
        t.save_resume(true);
    }

    pub fn announce(
        &self,
        t: &Torrent,
        event: Option<Event>,
    ) -> Result<crate::common::tracker_proto::AnnounceReply, PeerError> {
        let (uploaded, downloaded) = t.transfer_totals();
        let a = Announce {
            info_hash: t.meta.info_hash,
            peer_id: self.peer_id,
            port: self.listen_port,
            uploaded,
            downloaded,
            left: t.left(),
            event,
            numwant: Some(80),
            compact: true,
            no_peer_id: true,
            ip: None,
            key: None,
        };
        self.tracker.announce(&a)
    }

    /// Tells the tracker a download finished, unless the announcer already has.
    pub fn announce_completed(&self, t: &Torrent) -> Result<(), PeerError> {
        {
            let mut sch = self.schedules.lock().expect("schedules");
            match sch.get_mut(&t.meta.info_hash) {
                Some(s) if !s.completed_sent => s.completed_sent = true,
                _ => return Ok(()),
            }
        }
        self.announce(t, Some(Event::Completed)).map(|_| ())
    }

    /// Leaves gracefully: tells the tracker, saves resume state and the ledger, closes connections.
    pub fn shutdown(&self) {
        self.ctx.shut_down();
        for t in self.torrents() {
            if let Err(e) = self.announce(&t, Some(Event::Stopped)) {
                debug!("stopped announce for {} failed: {e}", t.meta.name);
            }
            t.disconnect_all();
            t.save_resume(true);
        }
        self.flush_ledger();
    }

    fn flush_ledger(&self) {
        self.ledger_rows();
        self.ctx.ledger().save_if_dirty();
    }

    fn accept_loop(self: Arc<Self>, listener: TcpListener) {
        let result = inbound_handshakes::run(
            listener,
            MAX_PENDING_HANDSHAKES,
            INBOUND_HANDSHAKE_TIMEOUT,
            |stream, addr, hs| self.on_inbound(stream, addr, hs),
        );
        if let Err(e) = result {
            warn!("no longer accepting peers: {e}");
        }
    }

    /// Takes a connection slot if one is free; it is given back when the guard drops.
    fn take_connection(self: &Arc<Self>) -> Option<ConnectionSlot> {
        let taken = self
            .connections
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_connections).then_some(n + 1)
            });
        taken.is_ok().then(|| ConnectionSlot(self.clone()))
    }

    /// A complete inbound handshake: answered and run on its own threads if
    /// there is room, else closed without an answer.
    fn on_inbound(self: &Arc<Self>, mut stream: TcpStream, addr: SocketAddr, hs: Handshake) {
        let Some(torrent) = self.torrent(&InfoHash(hs.info_hash)) else {
            debug!("{addr} asked for a torrent we do not have");
            return;
        };
        if hs.peer_id == self.peer_id || !torrent.may_join(&hs.peer_id, self.ctx.max_peers) {
            return;
        }
        let Some(slot) = self.take_connection() else {
            debug!("refusing {addr}: {} connections open", self.max_connections);
            return;
        };
        if handshake::answer(
            &mut stream,
            hs.info_hash,
            self.peer_id,
            INBOUND_HANDSHAKE_TIMEOUT,
        )
        .is_err()
        {
            return;
        }
        let ctx = self.ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("inbound".into())
            .spawn(move || {
                let _slot = slot;
                Connection {
                    ctx,
                    torrent,
                    stream,
                    addr,
                    outbound: false,
                    hello: PeerHello::of(&hs),
                }
                .run();
            });
        if spawned.is_err() {
            warn!("cannot start a thread for {addr}");
        }
    }

    fn dial(self: &Arc<Self>, torrent: Arc<Torrent>, addr: SocketAddr) {
        let Some(slot) = self.take_connection() else {
            torrent.update(|core, now| core.dial_ended(now, addr, None));
            return;
        };
        let ctx = self.ctx.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("dial {addr}"))
            .spawn(move || {
                let _slot = slot;
                let ok = match handshake::dial(addr, torrent.meta.info_hash.0, ctx.peer_id) {
                    Ok((stream, hello)) => Connection {
                        ctx,
                        torrent: torrent.clone(),
                        stream,
                        addr,
                        outbound: true,
                        hello,
                    }
                    .run(),
                    Err(err) => {
                        debug!("cannot connect to {addr}: {err}");
                        false
                    }
                };
                torrent.update(|core, now| core.dial_ended(now, addr, Some(ok)));
            });
        if spawned.is_err() {
            warn!("cannot start a thread to dial {addr}");
        }
    }

    /// Once a second, or sooner for a torrent's deadline (a choker's grace):
    /// rates, choking, disk retries, ledger and resume saves, redials.
    fn ticker_loop(self: Arc<Self>) {
        let mut last_ledger_save = Instant::now();
        let mut next_tick = Instant::now() + TICK;
        while !self.is_shutting_down() {
            let torrents = self.torrents();
            let soonest = torrents
                .iter()
                .filter_map(|t| t.next_deadline())
                .fold(next_tick, Instant::min);
            let _ = self
                .wake_ticker
                .1
                .recv_timeout(soonest.saturating_duration_since(Instant::now()));
            let now = Instant::now();
            for t in &torrents {
                if t.next_deadline().is_some_and(|d| d <= now) {
                    t.on_deadline();
                }
            }
            if now < next_tick {
                continue;
            }
            next_tick = now + TICK;
            let torrents = self.torrents();
            let mut deltas = Vec::new();
            {
                let ledger = self.ctx.ledger();
                for t in &torrents {
                    deltas.extend(t.tick(&|id| ledger.history(id)));
                }
            }
            for d in &deltas {
                self.ctx.record_ledger(d);
            }
            if last_ledger_save.elapsed() >= Duration::from_secs(5) {
                self.ctx.ledger().save_if_dirty();
                last_ledger_save = Instant::now();
            }
            for t in &torrents {
                t.save_resume(false);
                self.redial(t);
            }
        }
    }

    /// Dials known addresses whose backoff has passed: all of them while downloading,
    /// only `--connect` ones while seeding.
    fn redial(self: &Arc<Self>, t: &Arc<Torrent>) {
        let due = t.update(|core, now| core.due_dials(now, self.ctx.max_peers, &self.connect));
        for addr in due {
            self.dial(t.clone(), addr);
        }
    }

    /// Our own address in a tracker's list. Only loopback and unspecified are
    /// recognised: other local addresses would need an interface list, and a
    /// connection to ourselves is refused at the handshake (same peer id) anyway.
    fn is_self(&self, a: &SocketAddrV4) -> bool {
        a.port() == self.listen_port && (a.ip().is_loopback() || a.ip().is_unspecified())
    }

    fn announcer_loop(self: Arc<Self>) {
        while !self.is_shutting_down() {
            for t in self.torrents() {
                let key = t.meta.info_hash;
                let complete = t.is_complete();
                let event = {
                    let mut sch = self.schedules.lock().expect("schedules");
                    let Some(s) = sch.get_mut(&key) else { continue };
                    if !s.started_sent {
                        Some(Some(Event::Started))
                    } else if complete && s.downloading && !s.completed_sent {
                        // Claimed now, so a completion is announced once by whoever sees it first.
                        s.completed_sent = true;
                        Some(Some(Event::Completed))
                    } else if s.next_at.is_none_or(|n| Instant::now() >= n) {
                        Some(None)
                    } else {
                        None
                    }
                };
                let Some(event) = event else { continue };
                let result = self.announce(&t, event);
                let mut sch = self.schedules.lock().expect("schedules");
                let Some(s) = sch.get_mut(&key) else { continue };
                match result {
                    Ok(reply) => {
                        s.failures = 0;
                        s.started_sent = true;
                        if event == Some(Event::Completed) {
                            s.completed_sent = true;
                        }
                        s.next_at = Some(
                            Instant::now()
                                + Duration::from_secs(reply.interval.clamp(1, 3600) as u64),
                        );
                        let addrs: Vec<SocketAddr> = reply
                            .peers
                            .into_iter()
                            .filter(|(addr, _)| !self.is_self(addr))
                            .map(|(addr, _)| SocketAddr::V4(addr))
                            .collect();
                        let lonely = t.add_addrs(&addrs);
                        // A download that knows no peer asks again soon, backing off,
                        // rather than waiting a whole interval (often a seeder is just
                        // about to announce).
                        if lonely {
                            s.lonely += 1;
                            let soon = Duration::from_secs(1 << s.lonely.min(6));
                            s.next_at = s.next_at.map(|n| n.min(Instant::now() + soon));
                        } else {
                            s.lonely = 0;
                        }
                        // Dial new peers now, not at the next tick: it is time to first byte.
                        drop(sch);
                        self.redial(&t);
                    }
                    Err(e) => {
                        s.failures += 1;
                        if event == Some(Event::Completed) {
                            s.completed_sent = false;
                        }
                        let wait = (5u64 << s.failures.min(4)).min(60);
                        if s.failures == 1 {
                            warn!("announce of {} failed: {e}; retrying", t.meta.name);
                        }
                        s.next_at = Some(Instant::now() + Duration::from_secs(wait));
                        if !s.started_sent {
                            // Count it as sent: the next success is an ordinary announce with our state.
                            s.started_sent = s.failures > 3;
                        }
                    }
                }
            }
            // Sleep until the next round, or until a new torrent wants its first announce.
            let _ = self
                .wake_announcer
                .1
                .recv_timeout(Duration::from_millis(250));
        }
    }
}

/// Whether any of a torrent's files is already on disk with its full length.
fn data_present(downloads: &Path, meta: &Metainfo) -> bool {
    meta.file_paths(downloads)
        .iter()
        .zip(&meta.files)
        .any(|(p, f)| std::fs::metadata(p).is_ok_and(|m| m.len() == f.length && f.length > 0))
}

/// One of the engine's bounded connection slots, held by a connection's thread.
struct ConnectionSlot(Arc<Engine>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::AcqRel);
    }
}
