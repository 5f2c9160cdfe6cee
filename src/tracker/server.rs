//! The tracker's HTTP routes onto the pure registry and index, and the locks
//! that guard them. Connections are `reactor`'s business.
//!
//! Locks, and the one order they are taken in: `files` (one publish at a time
//! writes), then `store` (the search index), then `registry` (the swarms).
//! A handler takes any subset in that order, never the other way, and holds
//! `files` only while publishing. No lock is held during a socket write. A
//! panic in a handler costs its request only: every lock goes through `lock`,
//! which takes over a poisoned lock (the data is still consistent: no handler
//! leaves half an update behind when it panics, each update is one call on
//! the registry or the index).

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use thiserror::Error;

use super::page;
use super::reactor;
use super::registry::{Change, Registry};
use super::search_index::unlistable_name;
use super::store::{Files, Prepared, Store};
use crate::common::bencode::Encoder;
use crate::common::http::Request;
use crate::common::metainfo::{InfoHash, Metainfo};
use crate::common::tracker_proto::{Announce, PublishReply, SearchMatch, SearchReply, failure};

pub use super::reactor::DEFAULT_MAX_CONNS_PER_IP;

/// The one way locks are taken: a lock poisoned by a panic elsewhere is taken over, not fatal.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug, Error)]
pub enum TrackerError {
    #[error("cannot listen on {addr}: {source} (is another tracker_server running on that port?)")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("cannot use data folder {dir}: {source}")]
    DataDir { dir: PathBuf, source: io::Error },
}

pub struct TrackerConfig {
    pub ip: IpAddr,
    pub port: u16,
    pub data_dir: PathBuf,
    pub interval_secs: u32,
    /// Open connections one address may hold; more are refused with 503.
    pub max_conns_per_ip: usize,
}

pub struct Tracker {
    files: Mutex<Files>,
    store: Mutex<Store>,
    registry: Mutex<Registry>,
    epoch: Instant,
    max_conns_per_ip: usize,
}

pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Response {
    fn ok(content_type: &'static str, body: Vec<u8>) -> Self {
        Response {
            status: 200,
            content_type,
            body,
        }
    }
    fn text(status: u16, msg: &str) -> Self {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: format!("{msg}\n").into_bytes(),
        }
    }
    /// A refusal as BEP 3 clients read it: libtorrent and Transmission show the
    /// `failure reason` only from a 200 reply, and just "400 Bad Request" otherwise.
    fn bencode_failure(reason: &str) -> Self {
        Response {
            status: 200,
            content_type: "text/plain",
            body: failure(reason),
        }
    }
}

impl Tracker {
    pub fn open(
        data_dir: &std::path::Path,
        interval_secs: u32,
    ) -> Result<Arc<Tracker>, TrackerError> {
        Tracker::open_with(data_dir, interval_secs, DEFAULT_MAX_CONNS_PER_IP)
    }

    fn open_with(
        data_dir: &std::path::Path,
        interval_secs: u32,
        max_conns_per_ip: usize,
    ) -> Result<Arc<Tracker>, TrackerError> {
        let (store, files) = Store::open(data_dir).map_err(|source| TrackerError::DataDir {
            dir: data_dir.to_owned(),
            source,
        })?;
        let mut registry = Registry::new(interval_secs);
        for e in store.index().entries() {
            registry.pin(e.key);
        }
        Ok(Arc::new(Tracker {
            files: Mutex::new(files),
            store: Mutex::new(store),
            registry: Mutex::new(registry),
            epoch: Instant::now(),
            max_conns_per_ip,
        }))
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Takes the writer's lock and keeps it, so that a shutdown never cuts a publish in half.
    pub fn quiesce(&self) -> MutexGuard<'_, Files> {
        lock(&self.files)
    }

    /// Opens the data folder and binds the listening socket.
    pub fn bind(config: &TrackerConfig) -> Result<(Arc<Tracker>, TcpListener), TrackerError> {
        let tracker = Tracker::open_with(
            &config.data_dir,
            config.interval_secs,
            config.max_conns_per_ip,
        )?;
        let addr = SocketAddr::new(config.ip, config.port);
        let listener =
            TcpListener::bind(addr).map_err(|source| TrackerError::Bind { addr, source })?;
        Ok((tracker, listener))
    }

    /// Serves until the process ends; the calling thread becomes the epoll thread.
    pub fn serve(self: &Arc<Self>, listener: TcpListener) {
        let t = Arc::clone(self);
        std::thread::Builder::new()
            .name("expiry".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                    let gone = lock(&t.registry).expire(t.now_ms());
                    for (hash, addr) in gone {
                        info!("expired {addr} from {hash}: silent for two intervals");
                    }
                }
            })
            .expect("spawn expiry thread");
        reactor::run(self, listener, self.max_conns_per_ip);
    }

    pub fn route(&self, req: &Request, peer_ip: Ipv4Addr) -> Response {
        let path = req.path.as_str();
        match (req.method.as_str(), path) {
            ("GET", "/announce") => self.announce(req, peer_ip),
            ("GET", "/scrape") => self.scrape(req),
            ("GET", "/search") => self.search(req),
            ("POST", "/publish") => self.publish(req),
            ("GET", "/") => self.page(req),
            ("GET", p) if p.starts_with("/torrent") => {
                let key = p
                    .strip_prefix("/torrent/")
                    .or_else(|| req.param_str("key"))
                    .unwrap_or("");
                self.fetch(key.trim_end_matches(".torrent"))
            }
            (_, "/announce" | "/scrape" | "/search" | "/publish" | "/") => {
                Response::text(405, "method not allowed")
            }
            _ => Response::text(
                404,
                "not found: try /, /search?q=WORDS, /announce, /scrape, /torrent/KEY, POST /publish",
            ),
        }
    }

    fn announce(&self, req: &Request, peer_ip: Ipv4Addr) -> Response {
        let a = match Announce::from_request(req) {
            Ok(a) => a,
            Err(reason) => return Response::bencode_failure(&reason),
        };
        let result = lock(&self.registry).announce(&a, peer_ip, self.now_ms());
        let who = format!("{}:{}", a.ip.unwrap_or(peer_ip), a.port);
        let (reply, change) = match result {
            Ok(r) => r,
            Err(reason) => {
                warn!(
                    "refused an announce from {who} for {}: {reason}",
                    a.info_hash
                );
                return Response::bencode_failure(&reason);
            }
        };
        match change {
            Change::Joined => info!("{who} joined {} (left {})", a.info_hash, a.left),
            Change::Completed => info!("{who} completed {}", a.info_hash),
            Change::Left => info!("{who} left {}", a.info_hash),
            Change::Updated => debug!("{who} announced {}", a.info_hash),
        }
        Response::ok("text/plain", reply.encode(a.compact, a.no_peer_id))
    }

    fn scrape(&self, req: &Request) -> Response {
        let mut hashes = Vec::new();
        for h in req.params("info_hash") {
            match <[u8; 20]>::try_from(h) {
                Ok(h) => hashes.push(InfoHash(h)),
                Err(_) => return Response::bencode_failure("info_hash must be 20 bytes"),
            }
        }
        if hashes.is_empty() {
            hashes = lock(&self.store)
                .index()
                .entries()
                .iter()
                .map(|e| e.key)
                .collect();
        }
        let registry = lock(&self.registry);
        let mut out = Vec::new();
        let mut e = Encoder::new(&mut out);
        e.begin_dict().str("files").begin_dict();
        hashes.sort();
        hashes.dedup();
        for h in hashes {
            let c = registry.counts(&h);
            e.bytes(&h.0).begin_dict();
            e.str("complete")
                .int(c.complete as i64)
                .str("downloaded")
                .int(c.downloaded as i64);
            e.str("incomplete").int(c.incomplete as i64).end();
        }
        e.end().end();
        Response::ok("text/plain", out)
    }

    fn search(&self, req: &Request) -> Response {
        let Some(q) = req.param("q") else {
            return Response::text(400, "missing q: search?q=WORDS");
        };
        let Ok(q) = std::str::from_utf8(q) else {
            return Response::text(400, "q is not UTF-8");
        };
        let store = lock(&self.store);
        let registry = lock(&self.registry);
        let results = store
            .index()
            .search(q)
            .into_iter()
            .map(|e| {
                let c = registry.counts(&e.key);
                SearchMatch {
                    name: e.name.clone(),
                    kind: e.kind.clone(),
                    torrent: e.torrent.clone(),
                    key: e.key.hex(),
                    size: e.size,
                    n_parts: e.n_parts,
                    peers: registry
                        .peers(&e.key)
                        .iter()
                        .map(|a| a.to_string())
                        .collect(),
                    seeders: c.complete,
                    leechers: c.incomplete,
                }
            })
            .collect();
        let reply = SearchReply {
            query: q.to_owned(),
            results,
        };
        Response::ok(
            "application/json",
            serde_json::to_vec(&reply).expect("json"),
        )
    }

    /// The torrent is checked with no lock held, and written under `files`
    /// only, so searches and announces go on while it is synced to disk.
    fn publish(&self, req: &Request) -> Response {
        if req.body.is_empty() {
            return Response::text(400, "empty body: POST the .torrent file's bytes");
        }
        let m = match Metainfo::from_bytes(&req.body) {
            Ok(m) => m,
            Err(e) => {
                warn!("refused a publish: {e}");
                return Response::text(400, &e.to_string());
            }
        };
        if let Some(why) = unlistable_name(&m) {
            warn!("refused a publish: {why}");
            return Response::text(400, &format!("refused: {why}"));
        }
        let files = lock(&self.files);
        let prepared = lock(&self.store).prepare(&m);
        let (entry, new) = match prepared {
            Prepared::Listed(e) => (e, false),
            Prepared::New(e) => {
                if let Err(reason) = files.write(&e, &req.body) {
                    warn!("publish of {} failed: {reason}", m.name);
                    return Response::text(500, &reason);
                }
                lock(&self.store).insert(e.clone());
                lock(&self.registry).pin(e.key);
                info!("published {} as {} ({})", e.file_name, e.torrent, e.key);
                (e, true)
            }
        };
        drop(files);
        let reply = PublishReply {
            key: entry.key.hex(),
            name: entry.file_name,
            torrent: entry.torrent,
            new,
        };
        Response::ok(
            "application/json",
            serde_json::to_vec(&reply).expect("json"),
        )
    }

    fn fetch(&self, key: &str) -> Response {
        let Some(hash) = InfoHash::from_hex(&key.to_lowercase()) else {
            return Response::text(400, "key must be 40 hex digits");
        };
        let path = lock(&self.store).torrent_path(&hash);
        match path.and_then(|p| std::fs::read(p).ok()) {
            Some(bytes) => Response::ok("application/x-bittorrent", bytes),
            None => Response::text(404, "no torrent with that key"),
        }
    }

    fn page(&self, req: &Request) -> Response {
        let q = req.param_str("q").unwrap_or("").to_owned();
        let store = lock(&self.store);
        let registry = lock(&self.registry);
        let rows: Vec<_> = store
            .index()
            .search(&q)
            .into_iter()
            .map(|e| (e, registry.counts(&e.key)))
            .collect();
        let html = page::render(&q, &rows, store.index().len());
        Response::ok("text/html; charset=utf-8", html.into_bytes())
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
