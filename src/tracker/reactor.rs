//! The tracker's connections: one epoll thread reads every connection until it
//! holds a whole request, then hands the request to a worker thread; workers
//! never wait on a slow client, and the epoll thread never waits on anything.
//!
//! Slow clients are what this is for. A connection costs a thread only while a
//! complete request is being answered; while a request trickles in it costs a
//! file descriptor and its bytes, and it must arrive whole within
//! `REQUEST_DEADLINE` of its first byte, however steadily it trickles. One
//! address may hold `max_conns_per_ip` open connections, and all of them
//! together fit the process's descriptor limit. Keep-alive clients go back to
//! the epoll thread between requests, after a worker has waited `LINGER` for
//! the next one (an HTTP client with more to ask sends it at once).
//!
//! The common one-shot announce or scrape is answered on the epoll thread
//! itself, with no thread wake-up: its small reply is sent without blocking.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use log::{debug, warn};

use crate::common::http::{self, HttpError, Request, Response, encode_response};
use crate::sys::epoll::{self, Epoll};

/// What answers a whole request: the tracker's routes, handed in by its server
/// (so this file knows connections, not the tracker).
pub type Handler = Arc<dyn Fn(&Request, IpAddr) -> Response + Send + Sync>;

/// A lock poisoned by a panic in a handler is taken over: the slot counts stay consistent.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

const MAX_WORKERS: usize = 1024;
const INITIAL_WORKERS: usize = 2;
/// A keep-alive connection with no request under way is closed after this.
const IDLE_TIMEOUT: Duration = Duration::from_secs(15);
/// From a request's first byte to its last, for a head and a small body.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(5);
/// Extra time a request earns per 64 KiB it has sent: a large publish at a fair pace is not cut off.
const TIME_PER_64K: Duration = Duration::from_secs(1);
const MAX_REQUEST_TIME: Duration = Duration::from_secs(300);
/// How long a worker waits on a keep-alive connection before handing it back.
const LINGER: Duration = Duration::from_millis(20);
/// Bytes of unfinished requests held at once, over all connections.
const MAX_BUFFERED: usize = 256 * 1024 * 1024;
/// Descriptors kept free for files, the listener and a connection being refused.
const SPARE_FDS: usize = 128;
const SWEEP_EVERY: Duration = Duration::from_millis(250);
const LISTENER: u64 = u64::MAX;
const WAKE: u64 = u64::MAX - 1;

pub const DEFAULT_MAX_CONNS_PER_IP: usize = 256;

/// Open connections, counted per address: what a connection holds from accept to close.
struct Slots {
    per_ip: Mutex<(HashMap<IpAddr, usize>, usize)>,
    max_per_ip: usize,
    max_total: usize,
}

impl Slots {
    fn take(&self, ip: IpAddr) -> Result<(), &'static str> {
        let mut g = lock(&self.per_ip);
        let (map, total) = &mut *g;
        if *total >= self.max_total {
            return Err("the tracker is at its connection limit");
        }
        let n = map.entry(ip).or_default();
        if *n >= self.max_per_ip {
            return Err("too many connections from your address");
        }
        *n += 1;
        *total += 1;
        Ok(())
    }

    fn release(&self, ip: IpAddr) {
        let mut g = lock(&self.per_ip);
        let (map, total) = &mut *g;
        *total -= 1;
        if let Some(n) = map.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&ip);
            }
        }
    }
}

/// A connection that holds a slot; closing it gives the slot back.
pub struct Conn {
    pub stream: TcpStream,
    pub ip: IpAddr,
    slots: Arc<Slots>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.slots.release(self.ip);
    }
}

/// A connection between requests or in the middle of one.
struct Waiting {
    conn: Conn,
    buf: Vec<u8>,
    /// When the request under way began; `None` for an idle keep-alive connection.
    started: Option<Instant>,
    idle_since: Instant,
}

impl Waiting {
    fn deadline(&self) -> Instant {
        match self.started {
            Some(t) => {
                let earned = TIME_PER_64K * (self.buf.len() / 65536) as u32;
                t + (REQUEST_DEADLINE + earned).min(MAX_REQUEST_TIME)
            }
            None => self.idle_since + IDLE_TIMEOUT,
        }
    }
}

/// A whole request for a worker, with any bytes that came after it.
struct Job {
    conn: Conn,
    req: Request,
    rest: Vec<u8>,
}

/// An eventfd that wakes the epoll thread when a worker hands a connection back.
struct Waker(OwnedFd);

impl Waker {
    fn new() -> io::Result<Waker> {
        // SAFETY: eventfd returns a new descriptor or -1.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor that nothing else owns.
        Ok(Waker(unsafe { OwnedFd::from_raw_fd(fd) }))
    }
    fn wake(&self) {
        let one = 1u64;
        // SAFETY: writes 8 bytes from a u64 to an eventfd.
        unsafe { libc::write(self.0.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }
    fn clear(&self) {
        let mut n = 0u64;
        // SAFETY: reads 8 bytes into a u64 from a non-blocking eventfd.
        unsafe { libc::read(self.0.as_raw_fd(), (&mut n as *mut u64).cast(), 8) };
    }
}

/// Reads what has already arrived, without waiting.
fn read_now(stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
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

/// Sends what fits in the socket's buffer now; true if all of it went.
fn send_now(stream: &TcpStream, mut bytes: &[u8]) -> bool {
    while !bytes.is_empty() {
        // SAFETY: a valid socket and a buffer of the length given.
        let n = unsafe {
            libc::send(
                stream.as_raw_fd(),
                bytes.as_ptr().cast(),
                bytes.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        if n <= 0 {
            return false;
        }
        bytes = &bytes[n as usize..];
    }
    true
}

/// Waits until the socket has something to read, for at most `timeout`.
fn wait_readable(stream: &TcpStream, timeout: Duration) -> bool {
    let mut p = libc::pollfd {
        fd: stream.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut p, 1, timeout.as_millis() as libc::c_int) == 1 }
}

/// Refuses a connection's request with `status` and closes it, without blocking.
/// What the client sent after is read away first, so the close does not turn
/// into a reset that could swallow the reply.
fn refuse(stream: &TcpStream, status: u16, why: &str) {
    send_now(
        stream,
        &encode_response(status, "text/plain", format!("{why}\n").as_bytes(), false),
    );
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut sink = [0u8; 8192];
    for _ in 0..8 {
        if !matches!(read_now(stream, &mut sink), Ok(n) if n > 0) {
            break;
        }
    }
}

fn status_of(e: &HttpError) -> u16 {
    match e {
        HttpError::TooLarge => 413,
        _ => 400,
    }
}

/// A one-shot announce or scrape: cheap to answer and with a small reply.
fn is_quick(req: &Request, rest: &[u8]) -> bool {
    rest.is_empty()
        && !req.keep_alive
        && req.method == "GET"
        && matches!(req.path.as_str(), "/announce" | "/scrape")
}

/// Raises the soft limit on open descriptors to the hard limit; returns the limit now in force.
fn raise_fd_limit() -> usize {
    // SAFETY: getrlimit/setrlimit on a plain struct.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return 1024;
        }
        if r.rlim_cur < r.rlim_max {
            let wanted = libc::rlimit {
                rlim_cur: r.rlim_max,
                rlim_max: r.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) == 0 {
                r = wanted;
            }
        }
        usize::try_from(r.rlim_cur).unwrap_or(usize::MAX)
    }
}

/// Sets, once on the listener, what every connection needs. Linux copies the
/// listener's options to the sockets it accepts, so this saves two system calls
/// a connection. Returns false if they must be set on each connection instead.
///
/// TCP_DEFER_ACCEPT makes the kernel complete `accept` only once the client's
/// request has arrived, so most connections are answered on their first read.
/// The send timeout bounds how long a worker may block on a client that does not read.
fn tune_listener(listener: &TcpListener) -> bool {
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
    // std listens with a backlog of 128; a burst of reconnecting clients would
    // overflow it and new clients' SYNs would be dropped (a second's retry each).
    // SAFETY: listen again on a listening socket only resizes its queue.
    if unsafe { libc::listen(fd, 4096) } != 0 {
        debug!(
            "cannot enlarge the accept queue: {}",
            io::Error::last_os_error()
        );
    }
    if !set(libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT, one) {
        debug!(
            "TCP_DEFER_ACCEPT not available: {}",
            io::Error::last_os_error()
        );
    }
    set(libc::IPPROTO_TCP, libc::TCP_NODELAY, one)
        && set(libc::SOL_SOCKET, libc::SO_SNDTIMEO, timeout)
}

/// Threads that answer whole requests. The pool grows whenever a request would
/// otherwise wait for a worker, up to MAX_WORKERS, which never exit; handing a
/// request over never blocks.
struct Pool {
    handler: Handler,
    tx: Sender<Job>,
    rx: Receiver<Job>,
    back: Sender<Waiting>,
    waker: Arc<Waker>,
    workers: usize,
    idle: Arc<AtomicUsize>,
}

impl Pool {
    fn hand_off(&mut self, job: Job) {
        if self.tx.len() >= self.idle.load(Ordering::Acquire) {
            self.spawn();
        }
        let _ = self.tx.send(job);
    }

    fn spawn(&mut self) {
        if self.workers >= MAX_WORKERS {
            return;
        }
        let (t, rx, idle, back, waker) = (
            Arc::clone(&self.handler),
            self.rx.clone(),
            Arc::clone(&self.idle),
            self.back.clone(),
            Arc::clone(&self.waker),
        );
        let spawned = std::thread::Builder::new()
            .name("http".into())
            .spawn(move || {
                loop {
                    idle.fetch_add(1, Ordering::AcqRel);
                    let Ok(job) = rx.recv() else {
                        return;
                    };
                    idle.fetch_sub(1, Ordering::AcqRel);
                    // A panic costs that connection, never the worker.
                    let waiting = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        serve_job(&t, job)
                    }));
                    if let Ok(Some(w)) = waiting
                        && back.send(w).is_ok()
                    {
                        waker.wake();
                    }
                }
            });
        match spawned {
            Ok(_) => self.workers += 1,
            Err(e) => warn!("cannot start another connection thread: {e}"),
        }
    }
}

enum Next {
    Ready(Request),
    /// Nothing whole yet: back to the epoll thread.
    Wait,
    Done,
}

/// Answers a job's request and any that follow at once on the same
/// connection; returns the connection if it is to wait for more.
fn serve_job(t: &Handler, job: Job) -> Option<Waiting> {
    let Job {
        conn,
        mut req,
        mut rest,
    } = job;
    loop {
        let resp = t(&req, conn.ip);
        let mut out = &conn.stream;
        let bytes = http::encode_response_with(
            resp.status,
            resp.content_type,
            &resp.extra_headers,
            &resp.body,
            req.keep_alive,
        );
        if let Err(e) = std::io::Write::write_all(&mut out, &bytes) {
            debug!("reply not sent: {e}");
            return None;
        }
        if !req.keep_alive {
            return None;
        }
        match next_request(&conn, &mut rest) {
            Next::Ready(r) => req = r,
            Next::Done => return None,
            Next::Wait => {
                let now = Instant::now();
                return Some(Waiting {
                    conn,
                    started: (!rest.is_empty()).then_some(now),
                    buf: rest,
                    idle_since: now,
                });
            }
        }
    }
}

fn next_request(conn: &Conn, rest: &mut Vec<u8>) -> Next {
    let mut waited = false;
    loop {
        match http::parse_request(rest) {
            Ok(Some((req, used))) => {
                rest.drain(..used);
                return Next::Ready(req);
            }
            Err(e) => {
                refuse(&conn.stream, status_of(&e), &e.to_string());
                return Next::Done;
            }
            Ok(None) if waited => return Next::Wait,
            Ok(None) => {}
        }
        waited = true;
        if !wait_readable(&conn.stream, LINGER) {
            return Next::Wait;
        }
        let mut chunk = [0u8; 8192];
        match read_now(&conn.stream, &mut chunk) {
            Ok(0) => return Next::Done,
            Ok(n) => rest.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Wait,
            Err(_) => return Next::Done,
        }
    }
}

struct Reactor {
    handler: Handler,
    epoll: Epoll,
    waker: Arc<Waker>,
    back: Receiver<Waiting>,
    pending: HashMap<RawFd, Waiting>,
    buffered: usize,
    pool: Pool,
    slots: Arc<Slots>,
    inherited: bool,
}

/// Serves `listener` until the process ends; the calling thread becomes the epoll thread.
pub fn run(handler: Handler, listener: TcpListener, max_conns_per_ip: usize) {
    let fd_limit = raise_fd_limit();
    let inherited = tune_listener(&listener);
    let mut r = match Reactor::new(handler, fd_limit, max_conns_per_ip, inherited) {
        Ok(r) => r,
        Err(e) => {
            // Without epoll there is no way to serve; say so and stop serving.
            log::error!("cannot start the connection loop: {e}");
            return;
        }
    };
    if let Err(e) = listener
        .set_nonblocking(true)
        .and_then(|()| r.epoll.add(listener.as_raw_fd(), LISTENER))
    {
        log::error!("cannot watch the listening socket: {e}");
        return;
    }
    r.run(&listener);
}

impl Reactor {
    fn new(
        handler: Handler,
        fd_limit: usize,
        max_per_ip: usize,
        inherited: bool,
    ) -> io::Result<Reactor> {
        let epoll = Epoll::new()?;
        let waker = Arc::new(Waker::new()?);
        let (tx, rx) = crossbeam_channel::unbounded();
        let (back_tx, back_rx) = crossbeam_channel::unbounded();
        let mut pool = Pool {
            handler: Arc::clone(&handler),
            tx,
            rx,
            back: back_tx,
            waker: Arc::clone(&waker),
            workers: 0,
            idle: Arc::new(AtomicUsize::new(0)),
        };
        for _ in 0..INITIAL_WORKERS {
            pool.spawn();
        }
        let r = Reactor {
            handler,
            epoll,
            waker,
            back: back_rx,
            pending: HashMap::new(),
            buffered: 0,
            pool,
            slots: Arc::new(Slots {
                per_ip: Mutex::new((HashMap::new(), 0)),
                max_per_ip: max_per_ip.max(1),
                max_total: fd_limit.saturating_sub(SPARE_FDS).max(16),
            }),
            inherited,
        };
        r.epoll.add(r.waker.0.as_raw_fd(), WAKE)?;
        Ok(r)
    }

    fn run(&mut self, listener: &TcpListener) {
        let mut events = epoll::events(512);
        let mut next_sweep = Instant::now() + SWEEP_EVERY;
        loop {
            let wait = next_sweep.saturating_duration_since(Instant::now());
            let ready = match self.epoll.wait(&mut events, wait) {
                Ok(ready) => ready,
                Err(e) => {
                    warn!("epoll_wait: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            };
            for token in ready {
                // A panic while reading costs that connection, never this thread.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match token {
                    LISTENER => self.accept_all(listener),
                    WAKE => self.take_back(),
                    fd => self.readable(fd as RawFd),
                }));
            }
            if Instant::now() >= next_sweep {
                self.sweep();
                next_sweep = Instant::now() + SWEEP_EVERY;
            }
        }
    }

    fn accept_all(&mut self, listener: &TcpListener) {
        // Bounded, so connections already open get their turn too.
        for _ in 0..256 {
            match listener.accept() {
                Ok((stream, addr)) => {
                    // A dual-stack socket shows IPv4 clients as IPv4-mapped
                    // IPv6: one client, one form.
                    self.admit(stream, addr.ip().to_canonical())
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    debug!("accept: {e}");
                    return;
                }
            }
        }
    }

    fn admit(&mut self, stream: TcpStream, ip: IpAddr) {
        let mut chunk = [0u8; 8192];
        let n = match read_now(&stream, &mut chunk) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(_) => return,
        };
        // The common case costs no slot: the whole request came with the connection.
        if let Ok(Some((req, used))) = http::parse_request(&chunk[..n])
            && is_quick(&req, &chunk[used..n])
        {
            self.answer_here(&stream, &req, ip);
            return;
        }
        if let Err(why) = self.slots.take(ip) {
            debug!("refused a connection from {ip}: {why}");
            refuse(&stream, 503, why);
            return;
        }
        if !self.inherited {
            let _ = stream.set_nodelay(true);
            let _ = stream.set_write_timeout(Some(IDLE_TIMEOUT));
        }
        let now = Instant::now();
        let w = Waiting {
            conn: Conn {
                stream,
                ip,
                slots: Arc::clone(&self.slots),
            },
            buf: chunk[..n].to_vec(),
            started: Some(now),
            idle_since: now,
        };
        self.advance(w, false);
    }

    fn answer_here(&self, stream: &TcpStream, req: &Request, ip: IpAddr) {
        let resp = (self.handler)(req, ip);
        if !send_now(
            stream,
            &encode_response(resp.status, resp.content_type, &resp.body, false),
        ) {
            debug!("reply to {ip} did not fit the socket: dropped");
        }
    }

    /// Moves a connection on: a whole request goes to a worker (or is answered
    /// here), a bad one is refused, an unfinished one waits for more bytes.
    fn advance(&mut self, mut w: Waiting, registered: bool) {
        let fd = w.conn.stream.as_raw_fd();
        let parsed = http::parse_request(&w.buf);
        if !matches!(parsed, Ok(None)) && registered {
            let _ = self.epoll.delete(fd);
        }
        match parsed {
            Ok(Some((req, used))) => {
                let rest = w.buf.split_off(used);
                if is_quick(&req, &rest) {
                    self.answer_here(&w.conn.stream, &req, w.conn.ip);
                } else {
                    self.pool.hand_off(Job {
                        conn: w.conn,
                        req,
                        rest,
                    });
                }
            }
            Err(e) => refuse(&w.conn.stream, status_of(&e), &e.to_string()),
            Ok(None) => {
                if !registered && self.epoll.add(fd, fd as u64).is_err() {
                    return;
                }
                self.buffered += w.buf.len();
                self.pending.insert(fd, w);
            }
        }
    }

    fn readable(&mut self, fd: RawFd) {
        let Some(mut w) = self.pending.remove(&fd) else {
            return;
        };
        self.buffered -= w.buf.len();
        let mut chunk = [0u8; 16384];
        loop {
            match read_now(&w.conn.stream, &mut chunk) {
                Ok(0) => return,
                Ok(n) => {
                    w.buf.extend_from_slice(&chunk[..n]);
                    if n < chunk.len() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => return,
            }
            if w.buf.len() > http::MAX_HEAD + http::MAX_BODY {
                break;
            }
        }
        if self.buffered + w.buf.len() > MAX_BUFFERED {
            refuse(&w.conn.stream, 503, "the tracker is busy: try again later");
            return;
        }
        if w.started.is_none() {
            w.started = Some(Instant::now());
        }
        self.advance(w, true);
    }

    fn take_back(&mut self) {
        self.waker.clear();
        while let Ok(w) = self.back.try_recv() {
            self.advance(w, false);
        }
    }

    /// Closes connections past their deadline.
    fn sweep(&mut self) {
        let now = Instant::now();
        let late: Vec<RawFd> = self
            .pending
            .iter()
            .filter(|(_, w)| w.deadline() <= now)
            .map(|(&fd, _)| fd)
            .collect();
        for fd in late {
            if let Some(w) = self.pending.remove(&fd) {
                self.buffered -= w.buf.len();
                if w.started.is_some() {
                    debug!("{}: request not whole in time", w.conn.ip);
                    refuse(&w.conn.stream, 408, "the request did not arrive in time");
                }
            }
        }
    }
}
