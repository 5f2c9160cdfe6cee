//! The tracker's threaded HTTP shell: an accepting thread that answers the
//! common one-shot announce itself, a pool of threads for everything else (one
//! per connection, bounded, keep-alive), and routes onto the pure registry and index.

use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
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
const INITIAL_WORKERS: usize = 2;
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

/// Threads for the connections the acceptor does not answer itself: keep-alive
/// clients, searches, publishes, slow senders. A worker serves one connection
/// at a time, to its end. The pool grows whenever a connection would otherwise
/// wait for a worker, up to MAX_CONNECTIONS workers, which never exit; past
/// that, connections wait in the kernel's accept queue.
struct Pool {
    tracker: Arc<Tracker>,
    tx: Sender<(TcpStream, Ipv4Addr, Vec<u8>)>,
    rx: Receiver<(TcpStream, Ipv4Addr, Vec<u8>)>,
    workers: usize,
    idle: Arc<AtomicUsize>,
    inherited: bool,
}

impl Pool {
    fn new(tracker: &Arc<Tracker>, inherited: bool) -> Pool {
        let (tx, rx) = crossbeam_channel::bounded(MAX_CONNECTIONS);
        let mut pool = Pool {
            tracker: Arc::clone(tracker),
            tx,
            rx,
            workers: 0,
            idle: Arc::new(AtomicUsize::new(0)),
            inherited,
        };
        for _ in 0..INITIAL_WORKERS {
            pool.spawn();
        }
        pool
    }

    fn hand_off(&mut self, stream: TcpStream, peer_ip: Ipv4Addr, read: Vec<u8>) {
        if self.tx.len() >= self.idle.load(Ordering::Acquire) {
            self.spawn();
        }
        let _ = self.tx.send((stream, peer_ip, read));
    }

    fn spawn(&mut self) {
        if self.workers >= MAX_CONNECTIONS {
            return;
        }
        let (t, rx, idle, inherited) = (
            Arc::clone(&self.tracker),
            self.rx.clone(),
            Arc::clone(&self.idle),
            self.inherited,
        );
        let spawned = std::thread::Builder::new()
            .name("http".into())
            .spawn(move || {
                loop {
                    idle.fetch_add(1, Ordering::AcqRel);
                    let Ok((stream, peer_ip, read)) = rx.recv() else {
                        return;
                    };
                    idle.fetch_sub(1, Ordering::AcqRel);
                    // As on the acceptor: a panic costs the connection, not the worker.
                    let served = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        t.handle_connection(stream, peer_ip, read, inherited)
                    }));
                    if let Ok(Err(e)) = served {
                        debug!("connection ended: {e}");
                    }
                }
            });
        match spawned {
            Ok(_) => self.workers += 1,
            Err(e) => warn!("cannot start another connection thread: {e}"),
        }
    }
}

/// Reads what has already arrived, without waiting.
fn read_now(stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid socket and a buffer of the length given.
    let n = unsafe {
        libc::recv(
            stream.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

fn ipv4_of(ip: IpAddr) -> Ipv4Addr {
    match ip {
        IpAddr::V4(ip) => ip,
        IpAddr::V6(ip) => ip.to_ipv4_mapped().unwrap_or(Ipv4Addr::LOCALHOST),
    }
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

    /// Opens the data folder and binds the listening socket.
    pub fn bind(config: &TrackerConfig) -> Result<(Arc<Tracker>, TcpListener), TrackerError> {
        let tracker = Tracker::open(&config.data_dir, config.interval_secs)?;
        let addr = SocketAddr::new(config.ip, config.port);
        let listener =
            TcpListener::bind(addr).map_err(|source| TrackerError::Bind { addr, source })?;
        Ok((tracker, listener))
    }

    /// Serves until the process ends; the calling thread becomes the acceptor.
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
        let inherited = tune_listener(&listener);
        let mut pool = Pool::new(self, inherited);
        loop {
            let Ok((stream, addr)) = listener.accept() else {
                continue;
            };
            let peer_ip = ipv4_of(addr.ip());
            // A panic while answering costs that connection, never the acceptor.
            let rest = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.answer_at_once(&stream, peer_ip)
            }));
            if let Ok(Some(read)) = rest {
                pool.hand_off(stream, peer_ip, read);
            }
        }
    }

    /// Answers a connection on the accepting thread when that is cheap and
    /// cannot block: its one request has already arrived whole (TCP_DEFER_ACCEPT
    /// sees to that), asks to close afterwards, and is an announce or scrape,
    /// whose small reply fits the socket's send buffer. That is how most clients
    /// announce, and it costs no thread wake-up: while the acceptor is busy, new
    /// connections wait in the kernel's queue and are taken without sleeping.
    /// Anything else goes to a worker with the bytes read so far: `None` means
    /// the connection is done with.
    fn answer_at_once(&self, stream: &TcpStream, peer_ip: Ipv4Addr) -> Option<Vec<u8>> {
        let mut chunk = [0u8; 8192];
        let n = match read_now(stream, &mut chunk) {
            Ok(0) => return None,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Some(Vec::new()),
            Err(_) => return None,
        };
        if let Ok(Some((req, used))) = http::parse_request(&chunk[..n])
            && used == n
            && !req.keep_alive
            && req.method == "GET"
            && matches!(req.path.as_str(), "/announce" | "/scrape")
        {
            let resp = self.route(&req, peer_ip);
            let mut out = stream;
            if let Err(e) =
                write_response(&mut out, resp.status, resp.content_type, &resp.body, false)
            {
                debug!("reply not sent: {e}");
            }
            return None;
        }
        Some(chunk[..n].to_vec())
    }

    /// Serves a connection's requests until it closes, starting from bytes already read.
    fn handle_connection(
        &self,
        mut stream: TcpStream,
        peer_ip: Ipv4Addr,
        mut buf: Vec<u8>,
        inherited: bool,
    ) -> io::Result<()> {
        // Replies are small and written whole, so only reads need a timeout.
        if !inherited {
            stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
            stream.set_nodelay(true)?;
        }
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
