//! One BEP 3 connection's threads: a reader (the caller's) and a writer.
//! They are the shell around a pure [`Session`]: the reader frames bytes off
//! the socket, feeds each message to the session with the time, and passes
//! on what it says (messages to the writer, whole pieces to the verifier);
//! the writer owns the sending side, batches small messages and reads served
//! blocks straight from disk.
//!
//! The block path is socket → frame buffer → the session's piece buffer →
//! verifier (hash, positional write), with no lock until a piece is whole.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use log::{debug, warn};

use super::connection_context::ConnectionContext;
use super::handshake::PeerHello;
use super::hash_answer;
use super::outgoing::Outgoing;
use super::peer_stats::PeerStats;
use super::piece_buffer::PieceBuffer;
use super::session::{
    IDLE_LIMIT, MAX_ANSWERS, RequestAnswer, Session, SessionError, SessionOptions,
};
use super::torrent::{PeerLink, SharedSwarm, Torrent};
use super::torrent_core::{Geometry, NewPeer};
use super::verifier::Job;
use crate::common::wire::{self, MAX_BLOCK, Message};

const KEEPALIVE: Duration = Duration::from_secs(90);
/// A message begun and then left unfinished this long: the peer is stuck or hostile.
const STUCK_LIMIT: Duration = Duration::from_secs(20);

/// What the reader and the writer of one connection share, without a lock.
struct WriterShared {
    stats: Arc<PeerStats>,
    /// Requests and rejects queued for the writer, bounded against request floods.
    queued: AtomicUsize,
    /// Both sides speak BEP 6: requests we will not serve are rejected, never dropped.
    fast: bool,
    /// A non-fast peer asked for more than we queue: a choke is on its way to say so.
    throttled: AtomicBool,
}

pub struct Connection {
    pub ctx: Arc<ConnectionContext>,
    pub torrent: Arc<Torrent>,
    pub stream: TcpStream,
    pub addr: SocketAddr,
    pub outbound: bool,
    pub hello: PeerHello,
}

impl Connection {
    /// Runs the connection to its end; handshakes are already exchanged.
    /// False when the peer broke the protocol or stalled mid-message, so a
    /// dialler backs off instead of redialling it at once.
    pub fn run(self) -> bool {
        let Connection {
            ctx,
            torrent,
            mut stream,
            addr,
            outbound,
            hello,
        } = self;
        let _ = stream.set_nodelay(true);
        let (Ok(write_half), Ok(link_half)) = (stream.try_clone(), stream.try_clone()) else {
            return false;
        };
        let stats = Arc::new(PeerStats::default());
        let (tx, rx) = crossbeam_channel::unbounded();
        let (cancel_tx, cancel_rx) = crossbeam_channel::unbounded();
        let link = PeerLink {
            tx: tx.clone(),
            cancel_tx,
            stream: link_half,
        };
        let new = NewPeer {
            peer_id: hello.peer_id,
            addr,
            outbound,
            fast: hello.fast,
            stats: stats.clone(),
            history: ctx.ledger_history(&hello.peer_id),
        };
        let key = match torrent.register(link, new, &ctx.peer_id, ctx.max_peers) {
            Ok(k) => k,
            Err(why) => {
                debug!("not keeping connection to {addr}: {why}");
                return false;
            }
        };
        let meta = &torrent.meta;
        let geometry = Geometry::of(meta);
        let options = SessionOptions {
            fast: hello.fast,
            extended: hello.extensions,
            listen_port: ctx.listen_port,
            metadata: Some(meta.info_bytes.clone()),
            pex_interval: ctx.pex_interval,
            dht_port: ctx.dht.as_ref().filter(|_| hello.dht).map(|d| d.local_port),
        };
        let mut session = Session::new(key, geometry, options, Instant::now());
        session.start();
        let shared = Arc::new(WriterShared {
            stats,
            queued: AtomicUsize::new(0),
            fast: hello.fast,
            throttled: AtomicBool::new(false),
        });
        let writer = {
            let (ctx, torrent, shared) = (ctx.clone(), torrent.clone(), shared.clone());
            std::thread::Builder::new()
                .name(format!("send {addr}"))
                .spawn(move || writer_loop(write_half, rx, &ctx, &torrent, &shared))
        };
        let mut reader = Reader {
            ctx: &ctx,
            torrent: &torrent,
            shared: &shared,
            tx,
            cancel_rx,
            spare: crossbeam_channel::unbounded(),
            session,
            addr,
        };
        let result = reader.run(&mut stream);
        if let Err(e) = &result {
            debug!("connection to {addr} ended: {e}");
        }
        let pieces = reader.session.pieces_in_flight();
        drop(reader);
        let _ = stream.shutdown(Shutdown::Both);
        if let Some(delta) = torrent.unregister(key, &pieces) {
            ctx.record_ledger(&delta);
        }
        if let Ok(w) = writer {
            let _ = w.join();
        }
        !matches!(&result, Err(e) if matches!(e.kind(), io::ErrorKind::InvalidData | io::ErrorKind::TimedOut))
    }
}

impl From<SessionError> for io::Error {
    fn from(e: SessionError) -> io::Error {
        let kind = match e {
            SessionError::Protocol(_) => io::ErrorKind::InvalidData,
            SessionError::Timeout(_) => io::ErrorKind::TimedOut,
        };
        io::Error::new(kind, e.to_string())
    }
}

/// The reading half of a connection, and the session it feeds.
struct Reader<'a> {
    ctx: &'a ConnectionContext,
    torrent: &'a Arc<Torrent>,
    shared: &'a WriterShared,
    tx: crossbeam_channel::Sender<Outgoing>,
    cancel_rx: Receiver<u32>,
    /// Piece buffers coming back from the verifier.
    spare: (
        crossbeam_channel::Sender<PieceBuffer>,
        Receiver<PieceBuffer>,
    ),
    session: Session,
    addr: SocketAddr,
}

impl Reader<'_> {
    fn run(&mut self, stream: &mut TcpStream) -> io::Result<()> {
        let n = self.torrent.meta.num_pieces();
        let max_frame = (9 + MAX_BLOCK).max(n.div_ceil(8) as u32 + 1);
        let mut frames = FrameReader::new();
        let mut read_timeout = None;
        self.flush();
        loop {
            if self.ctx.is_shutting_down() {
                return Ok(());
            }
            let cancelled: Vec<u32> = self.cancel_rx.try_iter().collect();
            if !cancelled.is_empty() {
                self.session.cancel_pieces(&cancelled);
            }
            // While a reject pause runs, wake up soon after it ends to ask
            // again, rather than at the next message or the next second.
            let wake = Some(self.session.wake_in(Instant::now()));
            if wake != read_timeout {
                read_timeout = wake;
                stream.set_read_timeout(wake)?;
            }
            let Some((lo, hi)) = frames.next(stream, max_frame)? else {
                if frames.stuck() {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "message left unfinished",
                    ));
                }
                self.take_back_buffers();
                let result = self
                    .session
                    .on_timer(Instant::now(), &mut SharedSwarm(self.torrent));
                self.flush();
                result?;
                continue;
            };
            let msg = wire::decode(&frames.buf[lo..hi])
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let now = Instant::now();
            match msg {
                Message::Piece { index, begin, data } => {
                    let len = data.len();
                    self.shared
                        .stats
                        .downloaded
                        .fetch_add(len as u64, Ordering::Relaxed);
                    if let Some(limit) = &self.ctx.download_limit {
                        limit.take(len);
                    }
                    if let Some((index, buf)) = self.session.on_piece(now, index, begin, data)? {
                        self.ctx.verifier.submit(Job {
                            torrent: self.torrent.clone(),
                            key: self.key(),
                            index,
                            buf,
                            back: self.spare.0.clone(),
                        });
                    }
                }
                Message::Request(b) => self.on_request(now, b)?,
                msg => {
                    let result = self
                        .session
                        .on_message(now, msg, &mut SharedSwarm(self.torrent));
                    if let (Some(p), Some(dht)) = (self.session.take_peer_dht_port(), &self.ctx.dht)
                    {
                        dht.heard_node(SocketAddr::new(self.addr.ip(), p));
                    }
                    self.flush();
                    result?;
                }
            }
            self.take_back_buffers();
            let now = Instant::now();
            self.session.pex_tick(now, &mut SharedSwarm(self.torrent));
            self.session
                .fill_pipeline(now, &mut SharedSwarm(self.torrent));
            self.flush();
        }
    }

    fn key(&self) -> u64 {
        self.session.key()
    }

    fn take_back_buffers(&mut self) {
        for buf in self.spare.1.try_iter() {
            self.session.give_back(buf);
        }
    }

    /// Hands what the session wants sent to the writer.
    fn flush(&mut self) {
        for m in self.session.out.drain(..) {
            let _ = self.tx.send(m);
        }
    }

    fn on_request(&mut self, now: Instant, b: wire::BlockRef) -> io::Result<()> {
        let shared = self.shared;
        let unchoked = !shared.stats.am_choking.load(Ordering::Relaxed);
        let queued = shared.queued.load(Ordering::Relaxed);
        let torrent = self.torrent;
        match self
            .session
            .on_request(now, b, |i| torrent.has_piece(i), unchoked, queued)
        {
            RequestAnswer::Serve => {
                shared
                    .stats
                    .last_request_ms
                    .store(torrent.now_ms().max(1), Ordering::Relaxed);
                shared.queued.fetch_add(1, Ordering::Relaxed);
                let _ = self.tx.send(Outgoing::Block(b));
            }
            RequestAnswer::Reject { wait } => {
                if wait {
                    self.wait_for_answers()?;
                }
                shared.queued.fetch_add(1, Ordering::Relaxed);
                let _ = self.tx.send(Outgoing::Reject(b));
            }
            RequestAnswer::Throttle => {
                if !shared.throttled.swap(true, Ordering::AcqRel) {
                    let _ = self.tx.send(Outgoing::Throttle);
                }
            }
            RequestAnswer::Ignore => debug!("ignoring request {b:?}"),
        }
        Ok(())
    }

    /// A peer asks faster than it reads our answers: stop reading its requests
    /// (TCP pushes back on it) until the writer has sent some, so the queue of
    /// answers stays bounded. One that reads nothing for IDLE_LIMIT is dropped.
    fn wait_for_answers(&self) -> io::Result<()> {
        let since = Instant::now();
        while self.shared.queued.load(Ordering::Relaxed) >= MAX_ANSWERS {
            if self.ctx.is_shutting_down() || since.elapsed() > IDLE_LIMIT {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "peer does not read our answers",
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }
}

/// Incremental framing, so a read timeout never loses half a message.
struct FrameReader {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// When bytes last arrived.
    last_data: Instant,
}

impl FrameReader {
    fn new() -> Self {
        FrameReader {
            buf: vec![0; 256 * 1024],
            start: 0,
            end: 0,
            last_data: Instant::now(),
        }
    }

    /// Part of a message arrived, and nothing more for STUCK_LIMIT.
    fn stuck(&self) -> bool {
        self.end > self.start && self.last_data.elapsed() > STUCK_LIMIT
    }

    /// The next whole frame's body range, `None` on a read timeout.
    fn next(&mut self, stream: &mut TcpStream, max: u32) -> io::Result<Option<(usize, usize)>> {
        loop {
            let avail = &self.buf[self.start..self.end];
            let need = wire::frame_len(avail, max)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            if let Some(len) = need {
                if avail.len() >= len {
                    let body = (self.start + 4, self.start + len);
                    self.start += len;
                    return Ok(Some(body));
                }
                if self.start + len > self.buf.len() {
                    self.compact();
                    if len > self.buf.len() {
                        self.buf.resize(len, 0);
                    }
                }
            } else if self.start + 4 > self.buf.len() {
                self.compact();
            }
            match stream.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "peer closed the connection",
                    ));
                }
                Ok(n) => {
                    self.end += n;
                    self.last_data = Instant::now();
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(None);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn compact(&mut self) {
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
    }
}

fn writer_loop(
    mut stream: TcpStream,
    rx: Receiver<Outgoing>,
    ctx: &ConnectionContext,
    torrent: &Torrent,
    shared: &WriterShared,
) {
    let mut out: Vec<u8> = Vec::with_capacity(256 * 1024);
    let mut choked = true;
    loop {
        let first = match rx.recv_timeout(KEEPALIVE) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => {
                wire::encode(&Message::KeepAlive, &mut out);
                if stream.write_all(&out).is_err() {
                    break;
                }
                out.clear();
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let mut next = Some(first);
        while let Some(m) = next {
            if let Err(e) = encode_outgoing(m, &mut out, &mut choked, ctx, torrent, shared) {
                warn!("cannot serve {}: {e}", torrent.meta.name);
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
            // Batch what is queued into one write, but never hold much.
            next = if out.len() < 128 * 1024 {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        if let Err(e) = stream.write_all(&out) {
            debug!("send failed: {e}");
            break;
        }
        out.clear();
    }
    let _ = stream.shutdown(Shutdown::Both);
}

fn encode_outgoing(
    m: Outgoing,
    out: &mut Vec<u8>,
    choked: &mut bool,
    ctx: &ConnectionContext,
    torrent: &Torrent,
    shared: &WriterShared,
) -> io::Result<()> {
    let msg = match m {
        Outgoing::Block(b) => {
            shared.queued.fetch_sub(1, Ordering::Relaxed);
            // Requests queued before a choke are dropped, as BEP 3 says, and
            // rejected for a fast peer, as BEP 6 says.
            if *choked {
                if shared.fast {
                    wire::encode(&Message::Reject(b), out);
                }
                return Ok(());
            }
            if let Some(limit) = &ctx.upload_limit {
                limit.take(b.length as usize);
            }
            out.extend_from_slice(&wire::piece_header(b.index, b.begin, b.length));
            let at = out.len();
            out.resize(at + b.length as usize, 0);
            torrent.storage.read_at(
                b.index as u64 * torrent.meta.piece_length + b.begin as u64,
                &mut out[at..],
            )?;
            shared
                .stats
                .uploaded
                .fetch_add(b.length as u64, Ordering::Relaxed);
            return Ok(());
        }
        Outgoing::Reject(b) => {
            shared.queued.fetch_sub(1, Ordering::Relaxed);
            Message::Reject(b)
        }
        Outgoing::Throttle => {
            shared.throttled.store(false, Ordering::Release);
            if *choked {
                return Ok(());
            }
            wire::encode(&Message::Choke, out);
            if shared.stats.am_choking.load(Ordering::Relaxed) {
                *choked = true;
                return Ok(());
            }
            Message::Unchoke
        }
        Outgoing::HaveAll => Message::HaveAll,
        Outgoing::HaveNone => Message::HaveNone,
        Outgoing::Choke => {
            *choked = true;
            Message::Choke
        }
        Outgoing::Unchoke => {
            *choked = false;
            Message::Unchoke
        }
        Outgoing::Interested => Message::Interested,
        Outgoing::NotInterested => Message::NotInterested,
        Outgoing::Have(i) => Message::Have(i),
        Outgoing::Request(b) => Message::Request(b),
        Outgoing::Cancel(b) => Message::Cancel(b),
        Outgoing::Bitfield(ref bytes) => Message::Bitfield(bytes),
        Outgoing::Extended(id, ref payload) => Message::Extended { id, payload },
        Outgoing::Port(p) => Message::Port(p),
        Outgoing::HashRequest(r) => Message::HashRequest(r),
        Outgoing::HashReject(r) => Message::HashReject(r),
        Outgoing::HashAnswer(request) => {
            let read = |i: u32| {
                if !torrent.has_piece(i) {
                    return None;
                }
                let mut buf = vec![0; torrent.meta.piece_len(i) as usize];
                let at = i as u64 * torrent.meta.piece_length;
                torrent.storage.read_at(at, &mut buf).ok().map(|()| buf)
            };
            match hash_answer::answer(&torrent.meta, &request, read) {
                Some(hashes) => wire::encode(
                    &Message::Hashes {
                        request,
                        hashes: &hashes.concat(),
                    },
                    out,
                ),
                None => wire::encode(&Message::HashReject(request), out),
            }
            return Ok(());
        }
    };
    wire::encode(&msg, out);
    Ok(())
}
