//! The tracker's shell: its state behind one lock, the writer of its files,
//! and the transport-neutral operations (announce, scrape, search, publish,
//! fetch, page) that log what happened. The HTTP routes onto them are
//! `http_routes`; connections are `reactor`'s business. The UDP workers of
//! `udp_server` call `announce` and `scrape` the same way, through `Swarms`.
//!
//! Threads: `accept` (the epoll reactor, plus its handler pool), `expiry`
//! (once a second), and `udp-N` (one per UDP socket). Each announce or scrape,
//! whichever transport, takes `state` once.
//!
//! Locks, and the one order they are taken in: `writer` (one publish at a time
//! writes the files), then `state` (the swarms and the search index). `state`
//! is held for one in-memory call at a time, never during file I/O, an fsync
//! or a socket write; `writer` is held only while publishing, and is taken
//! before `state`, never while holding it. With one state lock, no two routes
//! can take locks in opposite orders. A panic in a handler costs its request
//! only: every lock goes through `lock`, which takes over a poisoned lock (the
//! data is still consistent: each update is one call on the state).

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use thiserror::Error;

use super::page::SortBy;
use super::reactor;
use super::registry::Change;
use super::search_index::unlistable_name;
use super::state::TrackerState;
use super::store::{Files, Prepared, Store};
use super::udp_endpoint::Swarms;
use super::udp_server;
use crate::common::metainfo::{InfoHash, Metainfo};
use crate::common::tracker_proto::{
    Announce, AnnounceReply, PublishReply, ScrapeReply, ScrapeRequest, SearchReply,
};
use crate::common::units;
use crate::sys::listen;

pub use super::reactor::DEFAULT_MAX_CONNS_PER_IP;

/// Peers looked at per hold of the state lock while expiring: about a millisecond.
const EXPIRY_SLICE: usize = 4096;

/// The one way locks are taken: a lock poisoned by a panic elsewhere is taken over, not fatal.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug, Error)]
pub enum TrackerError {
    #[error("cannot listen on {addr}: {source} (is another tracker_server running on that port?)")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error(
        "cannot listen for UDP announces on {addr}: {source} (choose another --udp-port, or --no-udp)"
    )]
    BindUdp { addr: SocketAddr, source: io::Error },
    #[error("cannot use data folder {dir}: {source}")]
    DataDir { dir: PathBuf, source: io::Error },
}

/// Why a publish was not listed.
#[derive(Debug, Error)]
pub enum PublishError {
    /// The torrent itself is at fault.
    #[error("{0}")]
    Refused(String),
    /// The tracker could not store it.
    #[error("{0}")]
    Failed(String),
}

pub struct TrackerConfig {
    pub ip: IpAddr,
    pub port: u16,
    pub data_dir: PathBuf,
    pub interval_secs: u32,
    /// Open connections one address may hold; more are refused with 503.
    pub max_conns_per_ip: usize,
    /// BEP 15 announces on this UDP port (0: the HTTP port's number); None: no UDP.
    pub udp_port: Option<u16>,
    /// Threads answering UDP, each on its own socket.
    pub udp_workers: usize,
    /// Datagrams a second one address may send over UDP; 0: no limit.
    pub udp_rate_limit: u32,
}

/// The sockets a tracker serves on.
pub struct Listeners {
    pub http: TcpListener,
    /// One per UDP worker, all on one address; empty without UDP.
    pub udp: Vec<UdpSocket>,
}

pub struct Tracker {
    writer: Mutex<Files>,
    state: Mutex<TrackerState>,
    epoch: Instant,
    max_conns_per_ip: usize,
    /// Datagrams a second one address may send over UDP; 0: no limit.
    udp_rate_limit: u32,
}

impl Tracker {
    pub fn open(
        data_dir: &std::path::Path,
        interval_secs: u32,
    ) -> Result<Arc<Tracker>, TrackerError> {
        Tracker::open_with(data_dir, interval_secs, DEFAULT_MAX_CONNS_PER_IP, 0)
    }

    fn open_with(
        data_dir: &std::path::Path,
        interval_secs: u32,
        max_conns_per_ip: usize,
        udp_rate_limit: u32,
    ) -> Result<Arc<Tracker>, TrackerError> {
        let (store, files) = Store::open(data_dir).map_err(|source| TrackerError::DataDir {
            dir: data_dir.to_owned(),
            source,
        })?;
        Ok(Arc::new(Tracker {
            writer: Mutex::new(files),
            state: Mutex::new(TrackerState::new(store, interval_secs)),
            epoch: Instant::now(),
            max_conns_per_ip,
            udp_rate_limit,
        }))
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Takes the writer's lock and keeps it, so that a shutdown never cuts a publish in half.
    pub fn quiesce(&self) -> MutexGuard<'_, Files> {
        lock(&self.writer)
    }

    /// Opens the data folder and binds the listening sockets. Bound to `::`,
    /// both transports take IPv4 and IPv6 clients.
    pub fn bind(config: &TrackerConfig) -> Result<(Arc<Tracker>, Listeners), TrackerError> {
        let tracker = Tracker::open_with(
            &config.data_dir,
            config.interval_secs,
            config.max_conns_per_ip,
            config.udp_rate_limit,
        )?;
        // With port 0 the kernel picks a free TCP port, whose number may be
        // taken for UDP: then another pick, a few times.
        let mut tries = if config.port == 0 && config.udp_port == Some(0) {
            20
        } else {
            1
        };
        let (http, udp) = loop {
            tries -= 1;
            let addr = SocketAddr::new(config.ip, config.port);
            let http =
                listen::tcp_listener(addr).map_err(|source| TrackerError::Bind { addr, source })?;
            let Some(udp_port) = config.udp_port else {
                break (http, Vec::new());
            };
            // Port 0 means "the same number as HTTP", which a client can then guess.
            let port = match udp_port {
                0 => http.local_addr().map_or(0, |a| a.port()),
                p => p,
            };
            let addr = SocketAddr::new(config.ip, port);
            match udp_server::bind(addr, config.udp_workers) {
                Ok(udp) => break (http, udp),
                Err(e) if e.kind() == io::ErrorKind::AddrInUse && tries > 0 => continue,
                Err(source) => return Err(TrackerError::BindUdp { addr, source }),
            }
        };
        Ok((tracker, Listeners { http, udp }))
    }

    /// Serves until the process ends; the calling thread becomes the epoll thread.
    pub fn serve(self: &Arc<Self>, listeners: Listeners) -> io::Result<()> {
        let t = Arc::clone(self);
        std::thread::Builder::new()
            .name("expiry".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                    // In slices, the lock dropped between them, so that a
                    // million peers expiring at once never stall an announce.
                    let now = t.now_ms();
                    let mut gone = Vec::new();
                    while !lock(&t.state).expire_slice(now, EXPIRY_SLICE, &mut gone) {}
                    if gone.len() > 1000 {
                        info!("expired {} peers: silent for two intervals", gone.len());
                        drop(gone);
                        give_back_freed_memory();
                        continue;
                    }
                    for (hash, addr) in gone {
                        info!(
                            "expired {addr} from {}: silent for two intervals",
                            t.torrent_label(&hash)
                        );
                    }
                }
            })?;
        udp_server::spawn(Arc::clone(self), listeners.udp, self.udp_rate_limit)?;
        let t = Arc::clone(self);
        reactor::run(
            Arc::new(move |req, ip| t.route(req, ip)),
            listeners.http,
            self.max_conns_per_ip,
        );
        Ok(())
    }

    /// Records an announce from `source` and logs what it changed; `Err` is the `failure reason`.
    pub fn announce(&self, a: &Announce, source: IpAddr) -> Result<AnnounceReply, String> {
        let result = lock(&self.state).announce(a, source, self.now_ms());
        // Formatted only when logged: a busy UDP tracker runs with info off.
        let who = SocketAddr::new(a.ip.unwrap_or(source), a.port);
        let (reply, change) = result.inspect_err(|reason| {
            warn!(
                "refused an announce from {who} for {}: {reason}",
                a.info_hash
            )
        })?;
        let what = || self.torrent_label(&a.info_hash);
        match change {
            Change::Joined if a.left == 0 => info!("{who} joined {} as a seeder", what()),
            Change::Joined => info!(
                "{who} joined {} ({} remaining)",
                what(),
                units::human_size(a.left)
            ),
            Change::Completed => info!("{who} completed {}", what()),
            Change::Left => info!("{who} left {}", what()),
            Change::Updated => debug!("{who} announced {}", what()),
        }
        Ok(reply)
    }

    /// A torrent as log lines name it: its file name where it is published,
    /// with the start of its info-hash; the info-hash alone otherwise.
    pub fn torrent_label(&self, key: &InfoHash) -> String {
        match lock(&self.state).name_of(key) {
            Some(name) => format!("{name} ({})", &key.hex()[..8]),
            None => key.hex(),
        }
    }

    pub fn scrape(&self, req: &ScrapeRequest) -> ScrapeReply {
        lock(&self.state).scrape(req)
    }

    pub fn search(&self, q: &str, announce: Option<&str>) -> SearchReply {
        lock(&self.state).search(q, announce)
    }

    pub fn page(&self, q: &str, sort: SortBy, announce: Option<&str>) -> String {
        lock(&self.state).page(q, sort, announce)
    }

    /// The torrent is checked with no lock held, and written under `writer`
    /// only, so searches and announces go on while it is synced to disk.
    pub fn publish(&self, torrent: &[u8]) -> Result<PublishReply, PublishError> {
        let m = Metainfo::from_bytes(torrent).map_err(|e| {
            warn!("refused a publish: {e}");
            PublishError::Refused(e.to_string())
        })?;
        if let Some(why) = unlistable_name(&m) {
            warn!("refused a publish: {why}");
            return Err(PublishError::Refused(format!("refused: {why}")));
        }
        let writer = lock(&self.writer);
        let prepared = lock(&self.state).prepare_publish(&m);
        let (entry, new) = match prepared {
            Prepared::Listed(e) => (e, false),
            Prepared::New(mut e) => {
                e.published_unix = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .ok()
                    .map(|d| d.as_secs());
                if let Err(reason) = writer.write(&e, torrent) {
                    warn!("publish of {} failed: {reason}", m.name);
                    return Err(PublishError::Failed(reason));
                }
                lock(&self.state).publish(e.clone());
                info!("published {} as {} ({})", e.file_name, e.torrent, e.key);
                (e, true)
            }
        };
        drop(writer);
        Ok(PublishReply {
            key: entry.key.hex(),
            name: entry.file_name,
            torrent: entry.torrent,
            new,
        })
    }

    /// A published torrent's file name and bytes, read with no lock held.
    pub fn torrent_file(&self, key: &InfoHash) -> Option<(String, Vec<u8>)> {
        let (name, path) = {
            let state = lock(&self.state);
            (state.name_of(key)?, state.torrent_path(key)?)
        };
        std::fs::read(path).ok().map(|b| (name, b))
    }
}

/// The UDP endpoint's view of the tracker: the same operations HTTP's routes use.
impl Swarms for Tracker {
    fn announce(&self, a: &Announce, source: IpAddr) -> Result<AnnounceReply, String> {
        Tracker::announce(self, a, source)
    }
    fn scrape(&self, req: &ScrapeRequest) -> ScrapeReply {
        Tracker::scrape(self, req)
    }
}

/// Hands the pages of freed memory back to the system, so that the tracker's
/// RSS falls when a big swarm expires (glibc keeps them otherwise).
fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_poisoned_by_a_panic_is_taken_over() {
        let m = Arc::new(Mutex::new(1));
        let m2 = Arc::clone(&m);
        let _ = std::thread::spawn(move || {
            let _g = lock(&m2);
            panic!("a handler panics while holding the lock");
        })
        .join();
        assert!(m.is_poisoned());
        *lock(&m) += 1;
        assert_eq!(*lock(&m), 2);
    }
}
