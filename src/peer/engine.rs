//! A running peer: the set of torrents, and the threads that drive them.
//!
//! Threads the engine starts, and what each owns:
//! - `listen` (one): the listening socket and every inbound connection until
//!   its handshake is in (`inbound_handshakes`, epoll); it then answers the
//!   handshake and starts the connection's reader.
//! - `dial ADDR` (one per dial): the outgoing socket until the handshake is
//!   exchanged, then it becomes that connection's reader.
//! - per connection, a reader (`inbound`, or the dial thread) that owns the
//!   receiving side and the connection's pure `Session` (pipeline, piece
//!   buffers), and a writer (`send ADDR`, `connection`) that owns the
//!   sending side.
//! - `hash` and `write` (one each, `verifier`): check whole pieces, then
//!   write them to disk.
//! - `tick` (one): once a second, and at any core deadline before that:
//!   rates, choking, idle slots, grace timers, disk retries, ledger and resume
//!   saves, redials.
//! - `announce` (one per tracker URL, started with its first torrent,
//!   `announcer`): its torrents' announce schedules; a reply's addresses go to
//!   the torrent, and are dialled at once.
//! - `dht` (one, unless `--no-dht`; `DhtNode::run`): every 2 s, announces
//!   each torrent to the DHT when due and looks up peers for each unfinished
//!   one, which are dialled at once; it ends when `dht_stop` is dropped.
//!   `mainline`'s own actor thread owns the DHT's UDP socket.
//! - `dht-lookup` (one per lookup, `DhtNode::get_peers`): walks the DHT for
//!   one info-hash and hands the addresses over in batches to the caller
//!   (`dht`, `magnet-dht`), which waits at most its timeout; the thread ends
//!   with the walk, or at its next batch once nobody listens.
//!
//! Threads started beside the engine, for it:
//! - a magnet link's metadata (`startup::fetch_magnet`, on the thread that
//!   asked for the download): `metadata ADDR` (one per peer asked, at most 8
//!   at once, `magnet_fetch`) dials that peer and asks it for the info
//!   dictionary; `magnet-dht` (one per fetch, while the DHT runs) looks the
//!   info-hash up, again 15 s after each walk, and hands the addresses to the
//!   fetch.
//! - `share` (one, `share`): rescans `upload/` every 2 s; making a torrent
//!   reads and hashes on scoped threads of `torrent_maker`.
//! - the command's own thread (`commands`, `interactive`, `tui`) waits for
//!   signals, which an unnamed thread (`startup::signals`) forwards; the
//!   interactive interfaces start unnamed threads to search, open a download
//!   and say when it completes.
//!
//! Locks, in the one order they may be taken (one may be held while taking
//! a later one, never an earlier one):
//! 1. the engine's `torrents` table, held only to find or clone an `Arc`;
//! 2. the announcer's `tiers` (each torrent's own trackers), then its
//!    `workers` table, then a worker's table of torrents and schedules:
//!    moving a torrent on to its next tracker holds all three, and a worker
//!    holds its table while it hands a reply's addresses to the torrent;
//! 3. the ledger (`ConnectionContext::ledger`: the ticker holds it while it
//!    ticks every torrent, to read histories);
//! 4. a torrent's `core`, then its `links`;
//! 5. a torrent's `refused` (the piece the disk refused): never together with
//!    `core` or `links`, but under the ledger when the tick retries it.
//!
//! Taken last, with nothing taken under them: the announcer's `warned`
//! (under `workers`) and `down` (alone); `DhtNode::heard` (alone: the reader
//! that got a `port` message, and `save_nodes`); the engine's `dht_stop`
//! (alone, at shutdown); a UDP tracker client's retry state and a
//! `TokenBucket` (never across the datagram or the sleep); and the log's own
//! (`logging`: recent lines, the file, the screen sink and, at the prompt,
//! the printer's), since any thread may log under any of the above.
//!
//! No lock is held across a socket read or write, a disk write, or a thread
//! start, but for these: the tick's retried write of a `refused` piece
//! holds `refused` and the ledger; a tracker URL's `announce` thread starts
//! under `workers` (and `tiers`, when a torrent moves on); and a log line is
//! written to its file under whatever its caller holds.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use log::{debug, info, warn};

use super::announcer::Announcer;
use super::connection::Connection;
use super::connection_context::ConnectionContext;
use super::dht::{DhtConfig, DhtNode};
use super::error::PeerError;
use super::handshake::{self, PeerHello};
use super::home::Home;
use super::inbound_handshakes;
use super::index_client::IndexClient;
use super::ledger::Ledger;
use super::own_address::{global_ipv6, listen_on};
use super::resume;
use super::storage::Storage;
use super::torrent::{EngineTerms, Torrent};
use super::torrent_core::{LedgerDelta, Origin};
use super::torrent_maker::TorrentFormat;
use crate::common::bitfield::Bitfield;
use crate::common::metainfo::{InfoHash, Metainfo};
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
    pub tracker: IndexClient,
    pub home: PathBuf,
    /// The address the listener binds: every interface, or the one `--bind` names.
    pub bind: IpAddr,
    pub listen_port: u16,
    pub upload_rate: Option<u64>,
    pub download_rate: Option<u64>,
    pub upload_slots: usize,
    /// Connected peers per torrent; the engine holds at most
    /// CONNECTIONS_PER_MAX_PEERS times as many over all torrents.
    pub max_peers: usize,
    /// Peers to dial for every torrent, seeding or not (for clients that never dial out).
    pub connect: Vec<SocketAddr>,
    /// Peer exchange (BEP 11); false with `--no-pex`.
    pub pex: bool,
    /// How to join the Mainline DHT; `None` is `--no-dht`.
    pub dht: Option<DhtConfig>,
    /// What the torrents this peer makes for `upload/` speak (`--torrent-format`).
    pub torrent_format: TorrentFormat,
}

pub struct Engine {
    pub peer_id: [u8; 20],
    pub home: Home,
    pub tracker: IndexClient,
    pub announcer: Announcer,
    pub listen_port: u16,
    /// Where the listener is bound, as the `peer listening on` line shows it.
    pub listen_addr: SocketAddr,
    /// The format of the torrents the sharer makes.
    pub torrent_format: TorrentFormat,
    /// What every connection shares: identity, limits, verifier, ledger, shutdown.
    ctx: Arc<ConnectionContext>,
    upload_slots: usize,
    super_seed: bool,
    max_connections: usize,
    /// Live connections and dials, each holding threads and descriptors.
    connections: AtomicUsize,
    connect: Vec<SocketAddr>,
    torrents: RwLock<HashMap<InfoHash, Arc<Torrent>>>,
    /// Wakes the ticker for a torrent deadline sooner than its next tick.
    wake_ticker: (
        crossbeam_channel::Sender<()>,
        crossbeam_channel::Receiver<()>,
    ),
    /// Set when addresses arrived outside the announcer (a magnet's peers):
    /// the ticker dials them when it wakes, not a tick later.
    redial_soon: AtomicBool,
    dht: Option<Arc<DhtNode>>,
    /// Dropped at shutdown, which ends the DHT loop at its next tick.
    dht_stop: Mutex<Option<crossbeam_channel::Sender<()>>>,
}

impl Engine {
    pub fn start(config: PeerConfig) -> Result<Arc<Engine>, PeerError> {
        let home = Home::open(&config.home)?;
        let peer_id = home.peer_id()?;
        let listener =
            listen_on(config.bind, config.listen_port).map_err(|source| PeerError::Listen {
                port: config.listen_port,
                source,
            })?;
        let listen_addr = listener
            .local_addr()
            .map_err(PeerError::io("cannot read listen address"))?;
        let listen_port = listen_addr.port();
        let ledger = Ledger::load(&home.ledger_path());
        // The DHT is an extra: a peer that cannot join it still shares.
        let dht = config.dht.as_ref().and_then(|c| {
            DhtNode::start(c, listen_port, home.dht_nodes_path())
                .map_err(|e| log::warn!("DHT off: {e}"))
                .ok()
                .map(Arc::new)
        });
        let (dht_stop, dht_stopped) = crossbeam_channel::bounded::<()>(1);
        let mut ctx = ConnectionContext::new(
            peer_id,
            listen_port,
            config.max_peers.max(1),
            config.upload_rate.map(TokenBucket::new),
            config.download_rate.map(TokenBucket::new),
            ledger,
            config.pex.then(pex_interval),
        );
        ctx.dht = dht.clone();
        let engine = Arc::new(Engine {
            peer_id,
            announcer: Announcer::new(
                peer_id,
                listen_port,
                config.tracker.announce_url(),
                global_ipv6(listen_addr),
            ),
            tracker: config.tracker,
            listen_port,
            listen_addr,
            torrent_format: config.torrent_format,
            // A seed super-seeds when its upload is limited: that is when it is scarce.
            super_seed: config.upload_rate.is_some(),
            ctx: Arc::new(ctx),
            upload_slots: config.upload_slots,
            max_connections: config.max_peers.max(1) * CONNECTIONS_PER_MAX_PEERS,
            connections: AtomicUsize::new(0),
            connect: config.connect,
            torrents: RwLock::new(HashMap::new()),
            wake_ticker: crossbeam_channel::bounded(1),
            redial_soon: AtomicBool::new(false),
            dht: dht.clone(),
            dht_stop: Mutex::new(Some(dht_stop)),
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
        if let Some(node) = dht {
            // Weak: the loop must not keep a shut-down engine alive.
            let (w1, w2) = (Arc::downgrade(&engine), Arc::downgrade(&engine));
            spawn(
                "dht",
                Box::new(move || {
                    node.run(
                        listen_port,
                        move || w1.upgrade().map(|e| e.torrents()).unwrap_or_default(),
                        move |t| {
                            if let Some(e) = w2.upgrade() {
                                e.redial(t);
                            }
                        },
                        dht_stopped,
                    )
                }),
            )?;
        }
        let e = Arc::downgrade(&engine);
        engine.announcer.on_peers(move |t| {
            if let Some(e) = e.upgrade() {
                e.redial(t);
            }
        });
        Ok(engine)
    }

    fn terms(&self) -> EngineTerms {
        EngineTerms {
            slots: self.upload_slots,
            super_seed: self.super_seed,
            wake: self.wake_ticker.0.clone(),
        }
    }

    /// Peers the DHT knows for `info_hash`, waiting at most `timeout` (for a magnet
    /// link's metadata, before any torrent exists); empty when the DHT is off.
    pub fn dht_peers(&self, info_hash: &InfoHash, timeout: Duration) -> Vec<SocketAddr> {
        match &self.dht {
            Some(d) => d.get_peers(info_hash, timeout),
            None => Vec::new(),
        }
    }

    /// Dials the known addresses of every torrent now rather than at the next
    /// tick: for addresses added outside the announcer.
    pub fn redial_now(&self) {
        self.redial_soon.store(true, Ordering::Release);
        let _ = self.wake_ticker.0.try_send(());
    }

    /// Our DHT node, when it runs: for a lookup that must outlive its caller's wait.
    pub fn dht_node(&self) -> Option<Arc<DhtNode>> {
        self.dht.clone()
    }

    /// The DHT's UDP port, when it runs.
    pub fn dht_port(&self) -> Option<u16> {
        self.dht.as_ref().map(|d| d.local_port)
    }

    pub fn is_shutting_down(&self) -> bool {
        self.ctx.is_shutting_down()
    }

    /// The torrent known by `key`, including by a hybrid's v2 hash.
    pub fn torrent(&self, key: &InfoHash) -> Option<Arc<Torrent>> {
        let torrents = self.torrents.read().expect("torrents");
        torrents
            .get(key)
            .or_else(|| {
                torrents
                    .values()
                    .find(|t| t.meta.info_hash_v2.is_some() && t.meta.swarm_hashes().contains(key))
            })
            .cloned()
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
        torrent.add_addrs(&self.connect, Origin::Connect);
        let t = self
            .torrents
            .write()
            .expect("torrents")
            .entry(key)
            .or_insert(torrent)
            .clone();
        self.announcer.add(t.clone(), downloading);
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
        let location = self.home.download_path(&meta.name);
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
        self.announcer.stopped(&t);
        t.disconnect_all();
        t.save_resume(true);
    }

    /// Leaves gracefully: tells the tracker, saves resume state and the ledger, closes connections.
    pub fn shutdown(&self) {
        self.ctx.shut_down();
        self.announcer.shutdown();
        for t in self.torrents() {
            self.announcer.stopped(&t);
            t.disconnect_all();
            t.save_resume(true);
        }
        self.flush_ledger();
        // Not joined: a lookup in flight may take its full timeout, and the
        // process is leaving anyway; the routing table is saved now.
        self.dht_stop.lock().expect("dht_stop").take();
        if let Some(d) = &self.dht {
            d.save_nodes();
        }
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
            self.dht.is_some(),
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
                let ok = match handshake::dial(
                    addr,
                    torrent.meta.info_hash.0,
                    ctx.peer_id,
                    ctx.dht.is_some(),
                ) {
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
            if self.redial_soon.swap(false, Ordering::AcqRel) {
                for t in &self.torrents() {
                    self.redial(t);
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
}

/// Whether any of a torrent's files is already on disk with its full length.
fn data_present(downloads: &Path, meta: &Metainfo) -> bool {
    meta.file_paths(downloads)
        .iter()
        .zip(&meta.files)
        .filter(|(_, f)| !f.pad && f.length > 0)
        .any(|(p, f)| std::fs::metadata(p).is_ok_and(|m| m.len() == f.length))
}

/// One of the engine's bounded connection slots, held by a connection's thread.
struct ConnectionSlot(Arc<Engine>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The ut_pex interval: a minute (BEP 11), or `SWARMSHARE_PEX_INTERVAL_MS`
/// so tests need not wait for it.
fn pex_interval() -> Duration {
    std::env::var("SWARMSHARE_PEX_INTERVAL_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(
            super::extensions::ut_pex::DEFAULT_INTERVAL,
            Duration::from_millis,
        )
}
