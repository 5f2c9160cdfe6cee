//! The tracker's threaded HTTP shell: one thread per connection (bounded),
//! keep-alive, and routes onto the pure registry and index.

use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use thiserror::Error;

use super::page;
use super::registry::{Change, Registry};
use super::store::Store;
use crate::common::bencode::Encoder;
use crate::common::http::{self, Request, write_response};
use crate::common::metainfo::InfoHash;
use crate::common::tracker_proto::{Announce, SearchMatch, SearchReply, failure};

const MAX_CONNECTIONS: usize = 1024;
const INITIAL_WORKERS: usize = 8;
const IDLE_TIMEOUT: Duration = Duration::from_secs(15);

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
}

pub struct Tracker {
    store: Mutex<Store>,
    registry: Mutex<Registry>,
    epoch: Instant,
}

struct Response {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
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

/// Sets, once on the listener, what every connection needs. Linux copies the
/// listener's options to the sockets it accepts, so this saves two system calls
/// a connection. Returns false if the per-connection options must be set on
/// each connection instead.
///
/// TCP_DEFER_ACCEPT makes the kernel complete `accept` only once the client's
/// request has arrived, so a worker wakes once per connection, not once for the
/// connection and again for its request.
fn tune_listener(listener: &TcpListener) -> bool {
    use std::os::fd::AsRawFd;
    let fd = listener.as_raw_fd();
    let set = |level: libc::c_int, name: libc::c_int, value: &[u8]| {
        // SAFETY: a valid socket descriptor, and a value of the size the option takes.
        unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                value.as_ptr().cast(),
                value.len() as libc::socklen_t,
            ) == 0
        }
    };
    let one: libc::c_int = 1;
    let timeout = libc::timeval {
        tv_sec: IDLE_TIMEOUT.as_secs() as libc::time_t,
        tv_usec: 0,
    };
    // SAFETY: both are plain C values viewed as bytes.
    let (one, timeout) = unsafe {
        (
            std::slice::from_raw_parts(
                (&one as *const libc::c_int).cast::<u8>(),
                std::mem::size_of::<libc::c_int>(),
            ),
            std::slice::from_raw_parts(
                (&timeout as *const libc::timeval).cast::<u8>(),
                std::mem::size_of::<libc::timeval>(),
            ),
        )
    };
    if !set(libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT, one) {
        debug!(
            "TCP_DEFER_ACCEPT not available: {}",
            io::Error::last_os_error()
        );
    }
    set(libc::IPPROTO_TCP, libc::TCP_NODELAY, one)
        && set(libc::SOL_SOCKET, libc::SO_RCVTIMEO, timeout)
}

impl Tracker {
    pub fn open(
        data_dir: &std::path::Path,
        interval_secs: u32,
    ) -> Result<Arc<Tracker>, TrackerError> {
        let store = Store::open(data_dir).map_err(|source| TrackerError::DataDir {
            dir: data_dir.to_owned(),
            source,
        })?;
        Ok(Arc::new(Tracker {
            store: Mutex::new(store),
            registry: Mutex::new(Registry::new(interval_secs)),
            epoch: Instant::now(),
        }))
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Takes the store's lock and keeps it, so that a shutdown never cuts a publish in half.
    pub fn quiesce(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Binds, then serves until the process ends. Expiry runs on its own thread.
    pub fn bind(config: &TrackerConfig) -> Result<(Arc<Tracker>, TcpListener), TrackerError> {
        let tracker = Tracker::open(&config.data_dir, config.interval_secs)?;
        let addr = SocketAddr::new(config.ip, config.port);
        let listener =
            TcpListener::bind(addr).map_err(|source| TrackerError::Bind { addr, source })?;
        Ok((tracker, listener))
    }

    pub fn serve(self: &Arc<Self>, listener: TcpListener) {
        let t = Arc::clone(self);
        std::thread::Builder::new()
            .name("expiry".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                    let gone = t.registry.lock().expect("registry").expire(t.now_ms());
                    for (hash, addr) in gone {
                        info!("expired {addr} from {hash}: silent for two intervals");
                    }
                }
            })
            .expect("spawn expiry thread");
        // Workers accept on the shared listener themselves, so a connection is
        // served by the thread that accepted it: no hand-off, no wake-up. When a
        // worker takes a connection while every other worker is busy, it starts
        // one more first, so long keep-alive connections never starve new ones
        // (up to MAX_CONNECTIONS workers, which then never exit).
        let inherited = tune_listener(&listener);
        let listener = Arc::new(listener);
        let pool = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
        for _ in 0..INITIAL_WORKERS {
            Self::spawn_worker(self, &listener, &pool, inherited);
        }
    }

    fn spawn_worker(
        self: &Arc<Self>,
        listener: &Arc<TcpListener>,
        pool: &Arc<(AtomicUsize, AtomicUsize)>,
        inherited: bool,
    ) {
        if pool.0.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
            pool.0.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        let (t, listener, shared) = (Arc::clone(self), Arc::clone(listener), Arc::clone(pool));
        let spawned = std::thread::Builder::new()
            .name("http".into())
            .spawn(move || {
                let (workers, busy) = (&shared.0, &shared.1);
                loop {
                    let Ok((stream, addr)) = listener.accept() else {
                        continue;
                    };
                    if busy.fetch_add(1, Ordering::AcqRel) + 1 >= workers.load(Ordering::Acquire) {
                        t.spawn_worker(&listener, &shared, inherited);
                    }
                    if let Err(e) = t.handle_connection(stream, addr.ip(), inherited) {
                        debug!("connection ended: {e}");
                    }
                    busy.fetch_sub(1, Ordering::AcqRel);
                }
            });
        if spawned.is_err() {
            pool.0.fetch_sub(1, Ordering::AcqRel);
        }
    }

    fn handle_connection(
        &self,
        mut stream: TcpStream,
        peer: IpAddr,
        inherited: bool,
    ) -> io::Result<()> {
        // Replies are small and written whole, so only reads need a timeout.
        if !inherited {
            stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
            stream.set_nodelay(true)?;
        }
        let peer_ip = match peer {
            IpAddr::V4(ip) => ip,
            IpAddr::V6(ip) => ip.to_ipv4_mapped().unwrap_or(Ipv4Addr::LOCALHOST),
        };
        let mut buf = Vec::with_capacity(4096);
        let mut chunk = [0u8; 8192];
        loop {
            match http::parse_request(&buf) {
                Ok(Some((req, used))) => {
                    buf.drain(..used);
                    let resp = self.route(&req, peer_ip);
                    write_response(
                        &mut stream,
                        resp.status,
                        resp.content_type,
                        &resp.body,
                        req.keep_alive,
                    )?;
                    if !req.keep_alive {
                        return Ok(());
                    }
                    continue;
                }
                Ok(None) => {}
                Err(e) => {
                    let status = if matches!(e, http::HttpError::TooLarge) {
                        413
                    } else {
                        400
                    };
                    write_response(
                        &mut stream,
                        status,
                        "text/plain",
                        format!("{e}\n").as_bytes(),
                        false,
                    )?;
                    return Ok(());
                }
            }
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn route(&self, req: &Request, peer_ip: Ipv4Addr) -> Response {
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
        let result = self
            .registry
            .lock()
            .expect("registry")
            .announce(&a, peer_ip, self.now_ms());
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
        let registry = self.registry.lock().expect("registry");
        if hashes.is_empty() {
            let store = self.store.lock().expect("store");
            hashes = store.index().entries().iter().map(|e| e.key).collect();
        }
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
        let store = self.store.lock().expect("store");
        let registry = self.registry.lock().expect("registry");
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

    fn publish(&self, req: &Request) -> Response {
        if req.body.is_empty() {
            return Response::text(400, "empty body: POST the .torrent file's bytes");
        }
        let result = self.store.lock().expect("store").publish(&req.body);
        match result {
            Ok(reply) => {
                if reply.new {
                    info!(
                        "published {} as {} ({})",
                        reply.name, reply.torrent, reply.key
                    );
                }
                Response::ok(
                    "application/json",
                    serde_json::to_vec(&reply).expect("json"),
                )
            }
            Err(reason) => {
                warn!("refused a publish: {reason}");
                Response::text(400, &reason)
            }
        }
    }

    fn fetch(&self, key: &str) -> Response {
        let Some(hash) = InfoHash::from_hex(&key.to_lowercase()) else {
            return Response::text(400, "key must be 40 hex digits");
        };
        match self.store.lock().expect("store").torrent_bytes(&hash) {
            Some(bytes) => Response::ok("application/x-bittorrent", bytes),
            None => Response::text(404, "no torrent with that key"),
        }
    }

    fn page(&self, req: &Request) -> Response {
        let q = req.param_str("q").unwrap_or("").to_owned();
        let store = self.store.lock().expect("store");
        let registry = self.registry.lock().expect("registry");
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
