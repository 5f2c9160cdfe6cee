//! A running peer: the listener, the once-a-second ticker (rates, choking,
//! resume saves, redials), the announcer, and the set of torrents.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use log::{debug, info, warn};

use super::announcer::Announcer;
use super::connection::{Connection, HANDSHAKE_TIMEOUT, read_handshake, write_handshake};
use super::error::PeerError;
use super::handshakes;
use super::home::Home;
use super::index_client::IndexClient;
use super::ledger::Ledger;
use super::resume;
use super::storage::Storage;
use super::torrent::{LedgerDelta, Torrent};
use super::verifier::Verifier;
use crate::common::bitfield::Bitfield;
use crate::common::metainfo::{InfoHash, Metainfo};
use crate::common::rate::TokenBucket;
use crate::common::wire::{Handshake, supports_extensions, supports_fast};

/// Outbound connections per torrent; inbound ones are not limited here.
const MAX_DIALLED: usize = 40;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
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

pub struct Engine {
    pub peer_id: [u8; 20],
    pub home: Home,
    pub tracker: IndexClient,
    pub announcer: Announcer,
    pub listen_port: u16,
    pub upload_limit: Option<TokenBucket>,
    pub download_limit: Option<TokenBucket>,
    upload_slots: usize,
    pub max_peers: usize,
    max_connections: usize,
    /// Live connections and dials, each holding threads and descriptors.
    connections: AtomicUsize,
    connect: Vec<SocketAddr>,
    torrents: RwLock<HashMap<InfoHash, Arc<Torrent>>>,
    ledger: Mutex<Ledger>,
    shutdown: AtomicBool,
    pub verifier: Verifier,
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
        let engine = Arc::new(Engine {
            peer_id,
            announcer: Announcer::new(peer_id, listen_port, config.tracker.announce_url()),
            tracker: config.tracker,
            listen_port,
            upload_limit: config.upload_rate.map(TokenBucket::new),
            download_limit: config.download_rate.map(TokenBucket::new),
            upload_slots: config.upload_slots,
            max_peers: config.max_peers.max(1),
            max_connections: config.max_peers.max(1) * CONNECTIONS_PER_MAX_PEERS,
            connections: AtomicUsize::new(0),
            connect: config.connect,
            torrents: RwLock::new(HashMap::new()),
            ledger: Mutex::new(ledger),
            shutdown: AtomicBool::new(false),
            verifier: Verifier::start(),
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
        let e = Arc::downgrade(&engine);
        engine.announcer.on_peers(move |t| {
            if let Some(e) = e.upgrade() {
                e.redial(t);
            }
        });
        Ok(engine)
    }

    /// A seed super-seeds when its upload is limited: that is when it is scarce.
    fn super_seed(&self) -> bool {
        self.upload_limit.is_some()
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed)
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

    pub fn ledger_history(&self, peer_id: &[u8; 20]) -> u64 {
        self.ledger.lock().expect("ledger").history(peer_id)
    }

    /// The ledger as it stands in memory, most preferred first.
    pub fn ledger_rows(&self) -> Vec<(String, super::ledger::LedgerEntry)> {
        let deltas: Vec<LedgerDelta> = self
            .torrents()
            .iter()
            .flat_map(|t| t.ledger_deltas())
            .collect();
        for d in &deltas {
            self.record_ledger(d);
        }
        self.ledger.lock().expect("ledger").by_preference()
    }

    pub fn record_ledger(&self, (id, addr, down, up): &LedgerDelta) {
        if *down > 0 || *up > 0 {
            self.ledger
                .lock()
                .expect("ledger")
                .record(id, addr, *down, *up);
        }
    }

    fn insert(&self, torrent: Arc<Torrent>, downloading: bool) -> Arc<Torrent> {
        let key = torrent.meta.info_hash;
        {
            let mut st = torrent.lock();
            for a in &self.connect {
                st.addrs.entry(*a).or_default();
            }
        }
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
        let t = Torrent::new(
            meta,
            storage,
            Bitfield::full(n),
            None,
            self.upload_slots,
            n,
            self.super_seed(),
        );
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
            self.upload_slots,
            resumed,
            self.super_seed(),
        );
        Ok(self.insert(t, resumed < n))
    }

    /// Pauses or resumes a download: a paused one requests nothing and dials nobody,
    /// but keeps serving the pieces it has.
    pub fn set_paused(&self, key: &InfoHash, paused: bool) -> bool {
        let Some(t) = self.torrent(key) else {
            return false;
        };
        t.lock().paused = paused;
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
        self.shutdown.store(true, Ordering::Relaxed);
        self.announcer.shutdown();
        for t in self.torrents() {
            self.announcer.stopped(&t);
            t.disconnect_all();
            t.save_resume(true);
        }
        self.flush_ledger();
    }

    fn flush_ledger(&self) {
        self.ledger_rows();
        self.ledger.lock().expect("ledger").save_if_dirty();
    }

    fn accept_loop(self: Arc<Self>, listener: TcpListener) {
        let result = handshakes::run(
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
        if hs.peer_id == self.peer_id || !torrent.may_join(&hs.peer_id, self.max_peers) {
            return;
        }
        let Some(slot) = self.take_connection() else {
            debug!("refusing {addr}: {} connections open", self.max_connections);
            return;
        };
        if stream
            .set_write_timeout(Some(INBOUND_HANDSHAKE_TIMEOUT))
            .is_err()
            || write_handshake(&mut stream, hs.info_hash, self.peer_id).is_err()
            || stream.set_write_timeout(None).is_err()
        {
            return;
        }
        let e = self.clone();
        let spawned = std::thread::Builder::new()
            .name("inbound".into())
            .spawn(move || {
                let _slot = slot;
                Connection {
                    engine: e,
                    torrent,
                    stream,
                    peer_id: hs.peer_id,
                    addr,
                    outbound: false,
                    extensions: supports_extensions(&hs.reserved),
                    fast: supports_fast(&hs.reserved),
                }
                .run();
            });
        if spawned.is_err() {
            warn!("cannot start a thread for {addr}");
        }
    }

    fn dial(self: &Arc<Self>, torrent: Arc<Torrent>, addr: SocketAddr) {
        let e = self.clone();
        let Some(slot) = self.take_connection() else {
            if let Some(a) = torrent.lock().addrs.get_mut(&addr) {
                a.connecting = false;
            }
            return;
        };
        let spawned = std::thread::Builder::new()
            .name(format!("dial {addr}"))
            .spawn(move || {
                let _slot = slot;
                let result = (|| -> std::io::Result<(TcpStream, [u8; 20], [u8; 8])> {
                    let mut s = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
                    s.set_write_timeout(Some(HANDSHAKE_TIMEOUT))?;
                    write_handshake(&mut s, torrent.meta.info_hash.0, e.peer_id)?;
                    let hs = read_handshake(&mut s)?;
                    if hs.info_hash != torrent.meta.info_hash.0 || hs.peer_id == e.peer_id {
                        return Err(std::io::Error::other("wrong torrent, or ourselves"));
                    }
                    s.set_write_timeout(None)?;
                    Ok((s, hs.peer_id, hs.reserved))
                })();
                let ok = match result {
                    Ok((stream, peer_id, reserved)) => Connection {
                        engine: e.clone(),
                        torrent: torrent.clone(),
                        stream,
                        peer_id,
                        addr,
                        outbound: true,
                        extensions: supports_extensions(&reserved),
                        fast: supports_fast(&reserved),
                    }
                    .run(),
                    Err(err) => {
                        debug!("cannot connect to {addr}: {err}");
                        false
                    }
                };
                let now = torrent.now_ms();
                let mut st = torrent.lock();
                if let Some(a) = st.addrs.get_mut(&addr) {
                    a.connecting = false;
                    a.failures = if ok { 0 } else { a.failures + 1 };
                    // Exponential backoff for dead addresses; a quick retry for live ones.
                    a.next_try_ms = now
                        + if ok {
                            2_000
                        } else {
                            (1_000u64 << a.failures.min(6)).min(60_000)
                        };
                }
            });
        if spawned.is_err() {
            warn!("cannot start a thread to dial {addr}");
        }
    }

    fn ticker_loop(self: Arc<Self>) {
        let mut last_ledger_save = Instant::now();
        while !self.is_shutting_down() {
            std::thread::sleep(Duration::from_secs(1));
            let torrents = self.torrents();
            let mut deltas = Vec::new();
            {
                let ledger = self.ledger.lock().expect("ledger");
                for t in &torrents {
                    deltas.extend(t.tick(&|id| ledger.history(id)));
                }
            }
            if !deltas.is_empty() {
                let mut ledger = self.ledger.lock().expect("ledger");
                for (id, addr, d, u) in deltas {
                    ledger.record(&id, &addr, d, u);
                }
            }
            if last_ledger_save.elapsed() >= Duration::from_secs(5) {
                self.ledger.lock().expect("ledger").save_if_dirty();
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
        let now = t.now_ms();
        let due: Vec<SocketAddr> = {
            let mut st = t.lock();
            let seeding = st.picker.have().is_complete();
            if st.paused {
                return;
            }
            let connected: Vec<SocketAddr> = st
                .peers
                .values()
                .flat_map(|p| [Some(p.addr), p.listen_addr])
                .flatten()
                .collect();
            let dialled = st.peers.values().filter(|p| p.outbound).count();
            let room = self.max_peers.saturating_sub(st.peers.len());
            let mut due = Vec::new();
            for (addr, a) in st.addrs.iter_mut() {
                if dialled + due.len() >= MAX_DIALLED || due.len() >= room {
                    break;
                }
                if a.connecting
                    || a.banned
                    || a.next_try_ms > now
                    || connected.contains(addr)
                    || (seeding && !self.connect.contains(addr))
                {
                    continue;
                }
                a.connecting = true;
                due.push(*addr);
            }
            due
        };
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
        .any(|(p, f)| std::fs::metadata(p).is_ok_and(|m| m.len() == f.length && f.length > 0))
}

/// One of the engine's bounded connection slots, held by a connection's thread.
struct ConnectionSlot(Arc<Engine>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::AcqRel);
    }
}
