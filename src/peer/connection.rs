//! One BEP 3 connection: a reader thread (this one) and a writer thread.
//!
//! The reader owns the buffers of the pieces it is fetching, so the block path
//! is socket → frame buffer → piece buffer → SHA-1 → positional write, with no
//! lock until a piece is whole. The writer owns the socket's sending side: it
//! batches small messages and reads served blocks straight from disk.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use log::{debug, warn};

use super::engine::Engine;
use super::piece_buffer::PieceBuffer;
use super::piece_picker::PeerKey;
use super::torrent::{Outgoing, PeerShared, Torrent};
use super::verifier::Job;
use crate::common::bitfield::Bitfield;
use crate::common::metainfo::BLOCK_SIZE;
use crate::common::wire::{self, BlockRef, HANDSHAKE_LEN, Handshake, MAX_BLOCK, Message};

/// Requests kept out per peer: about PIPELINE_SECONDS of what the peer delivers,
/// so a fast link stays full and a slow peer does not sit on pieces others could send.
/// Every request queued at an uploader delays the next one it is asked for, and in a
/// flash crowd the next one is the rare piece everyone waits on: 2 s here left the
/// 20-leecher swarm 1.18x the fluid bound, 0.5 s 1.10x. The depth follows the
/// measured rate, so it must cover a round trip or it would shrink itself: on a
/// link slower to answer than that, it holds two round trips' worth instead.
const PIPELINE_SECONDS: f64 = 0.5;
const MIN_PIPELINE: usize = 4;
const START_PIPELINE: usize = 32;
const MAX_PIPELINE: usize = 512;
/// Bytes of piece buffers one connection may hold, whatever the piece size.
const MAX_BUFFERED: u64 = 4 * 1024 * 1024;
/// A request outstanding this long counts as a timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// After this many timeouts the peer is dropped from the active set.
const MAX_TIMEOUTS: u32 = 3;
const KEEPALIVE: Duration = Duration::from_secs(90);
/// How often a reader with nothing to read checks its timers.
const READ_TICK: Duration = Duration::from_secs(1);
/// The same while a reject pause runs.
const PAUSE_TICK: Duration = Duration::from_millis(20);
/// With no message at all for this long, the peer is gone.
const IDLE_LIMIT: Duration = Duration::from_secs(180);
/// A message begun and then left unfinished this long: the peer is stuck or hostile.
const STUCK_LIMIT: Duration = Duration::from_secs(20);
/// Blocks nobody asked for that a peer may send before it is dropped: a few
/// arrive honestly after a cancel, a stream of them is a flood.
const MAX_UNASKED: u32 = 64;
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Served requests queued per peer; past this a fast peer's requests are
/// rejected and a non-fast peer is choked, never ignored in silence.
const MAX_QUEUED: usize = 1024;
/// Blocks and rejects queued for a peer: one that keeps asking without reading
/// our answers is dropped, so its queue cannot grow without bound.
const MAX_ANSWERS: usize = 2 * MAX_QUEUED;
/// Pieces a peer may let us fetch while it chokes us (BEP 6 allowed fast); more are ignored.
const MAX_ALLOWED_FAST: usize = 32;
/// After a reject, this peer is asked for nothing new for this long, times the
/// rounds of rejects in a row (up to MAX_REJECT_PAUSE): another peer can take
/// the piece, and a peer that rejects everything is not asked in a hot loop.
const REJECT_PAUSE: Duration = Duration::from_millis(100);
const MAX_REJECT_PAUSE: Duration = Duration::from_secs(5);

pub fn read_handshake(stream: &mut TcpStream) -> io::Result<Handshake> {
    stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    let mut b = [0u8; HANDSHAKE_LEN];
    stream.read_exact(&mut b)?;
    Handshake::decode(&b).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

pub fn write_handshake(
    stream: &mut TcpStream,
    info_hash: [u8; 20],
    peer_id: [u8; 20],
) -> io::Result<()> {
    // Two reserved bits: the BEP 10 extension protocol, used only to exchange
    // listen ports, and the BEP 6 Fast extension, so a request we will not
    // serve is rejected rather than left to time out. We claim nothing else.
    let mut reserved = [0u8; 8];
    reserved[wire::EXTENSION_PROTOCOL.0] |= wire::EXTENSION_PROTOCOL.1;
    reserved[wire::FAST_EXTENSION.0] |= wire::FAST_EXTENSION.1;
    stream.write_all(
        &Handshake {
            reserved,
            info_hash,
            peer_id,
        }
        .encode(),
    )
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

/// Blocks to keep requested from a peer that delivers `rate` bytes/s.
fn pipeline_depth(rate: Option<f64>, round_trip: Option<Duration>) -> usize {
    let Some(rate) = rate else {
        return START_PIPELINE;
    };
    let seconds = PIPELINE_SECONDS.max(2.0 * round_trip.map_or(0.0, |d| d.as_secs_f64()));
    ((rate * seconds / BLOCK_SIZE as f64) as usize).clamp(MIN_PIPELINE, MAX_PIPELINE)
}

/// A piece this connection is fetching.
struct Active {
    index: u32,
    buf: PieceBuffer,
    next_offset: u32,
    received: u32,
    got: Vec<bool>,
    in_flight: usize,
    /// When its first block was asked for.
    asked: Option<Instant>,
}

struct Downloader {
    active: Vec<Active>,
    outstanding: usize,
    last_progress: Instant,
    peer_choking: bool,
    timeouts: u32,
    snubbed_until: Option<Instant>,
    spare: Vec<PieceBuffer>,
    /// Bytes per second this peer delivers, smoothed; None until measured.
    rate: Option<f64>,
    window_start: Instant,
    window_bytes: u64,
    /// The quickest a piece's first block has come back after it was asked
    /// for: a round trip, plus whatever queue was ahead of it.
    round_trip: Option<Duration>,
    /// Pieces the peer lets us fetch while it chokes us (BEP 6).
    allowed: Vec<u32>,
    rejects_in_a_row: u32,
    /// Blocks received that we never asked for, and blocks we asked for and
    /// then gave up on, which may still arrive honestly.
    unasked: u32,
    given_up: u32,
}

impl Downloader {
    fn depth(&self) -> usize {
        pipeline_depth(self.rate, self.round_trip)
    }

    fn count_bytes(&mut self, n: usize) {
        self.window_bytes += n as u64;
        let elapsed = self.window_start.elapsed().as_secs_f64();
        if elapsed >= 0.5 {
            let now = self.window_bytes as f64 / elapsed;
            self.rate = Some(self.rate.map_or(now, |r| 0.5 * r + 0.5 * now));
            self.window_bytes = 0;
            self.window_start = Instant::now();
        }
    }
}

pub struct Connection {
    pub engine: Arc<Engine>,
    pub torrent: Arc<Torrent>,
    pub stream: TcpStream,
    pub peer_id: [u8; 20],
    pub addr: SocketAddr,
    pub outbound: bool,
    /// The peer's handshake announced the BEP 10 extension protocol.
    pub extensions: bool,
    /// The peer's handshake announced the BEP 6 Fast extension (we always do).
    pub fast: bool,
}

/// What the reader half of a connection works with.
struct Link<'a> {
    engine: &'a Arc<Engine>,
    torrent: &'a Arc<Torrent>,
    key: PeerKey,
    shared: &'a Arc<PeerShared>,
    /// The reader's own handle on the writer, so sending never takes the torrent lock.
    tx: Sender<Outgoing>,
    /// Piece buffers coming back from the verifier.
    spare_tx: Sender<PieceBuffer>,
    spare_rx: Receiver<PieceBuffer>,
}

impl Connection {
    /// Runs the connection to its end; handshakes are already exchanged.
    /// False when the peer broke the protocol or stalled mid-message, so a
    /// dialler backs off instead of redialling it at once.
    pub fn run(self) -> bool {
        let Connection {
            engine,
            torrent,
            mut stream,
            peer_id,
            addr,
            outbound,
            extensions,
            fast,
        } = self;
        let _ = stream.set_nodelay(true);
        let (Ok(write_half), Ok(shared_half)) = (stream.try_clone(), stream.try_clone()) else {
            return false;
        };
        let shared = Arc::new(PeerShared::new(shared_half, fast));
        let (tx, rx) = crossbeam_channel::unbounded();
        let history = engine.ledger_history(&peer_id);
        let n = torrent.meta.num_pieces();
        let entry = Torrent::new_peer_entry(
            peer_id,
            addr,
            outbound,
            tx.clone(),
            shared.clone(),
            n,
            history,
        );
        let key = match torrent.register(entry, &engine.peer_id, engine.max_peers) {
            Ok(k) => k,
            Err(why) => {
                debug!("not keeping connection to {addr}: {why}");
                return false;
            }
        };
        if extensions {
            let _ = tx.send(Outgoing::Extended(
                0,
                wire::extension_handshake(engine.listen_port),
            ));
        }
        let writer = {
            let (engine, torrent, shared) = (engine.clone(), torrent.clone(), shared.clone());
            std::thread::Builder::new()
                .name(format!("send {addr}"))
                .spawn(move || writer_loop(write_half, rx, &engine, &torrent, &shared))
        };
        let (spare_tx, spare_rx) = crossbeam_channel::unbounded();
        let link = Link {
            engine: &engine,
            torrent: &torrent,
            key,
            shared: &shared,
            tx,
            spare_tx,
            spare_rx,
        };
        let mut dl = Downloader {
            active: Vec::new(),
            outstanding: 0,
            last_progress: Instant::now(),
            peer_choking: true,
            timeouts: 0,
            snubbed_until: None,
            spare: Vec::new(),
            rate: None,
            window_start: Instant::now(),
            window_bytes: 0,
            round_trip: None,
            allowed: Vec::new(),
            rejects_in_a_row: 0,
            unasked: 0,
            given_up: 0,
        };
        let result = reader_loop(&link, &mut stream, &mut dl);
        if let Err(e) = &result {
            debug!("connection to {addr} ended: {e}");
        }
        drop(link);
        shared.disconnect();
        let pieces: Vec<u32> = dl.active.iter().map(|a| a.index).collect();
        if let Some(delta) = torrent.unregister(key, &pieces) {
            engine.record_ledger(&delta);
        }
        if let Ok(w) = writer {
            let _ = w.join();
        }
        !matches!(&result, Err(e) if matches!(e.kind(), io::ErrorKind::InvalidData | io::ErrorKind::TimedOut))
    }
}

fn reader_loop(link: &Link<'_>, stream: &mut TcpStream, dl: &mut Downloader) -> io::Result<()> {
    stream.set_read_timeout(Some(READ_TICK))?;
    let mut short_reads = false;
    let Link {
        engine,
        torrent,
        key,
        shared,
        ..
    } = *link;
    let meta = &torrent.meta;
    let n = meta.num_pieces();
    let max_frame = (9 + MAX_BLOCK).max(n.div_ceil(8) as u32 + 1);
    let mut frames = FrameReader::new();
    let mut last_message = Instant::now();
    loop {
        if engine.is_shutting_down() {
            return Ok(());
        }
        if shared.has_cancelled.swap(false, Ordering::Acquire) {
            let cancelled = std::mem::take(&mut *shared.cancelled.lock().expect("cancel list"));
            drop_pieces(link, dl, &cancelled, false);
        }
        // While a reject pause runs, wake up soon after it ends to ask again,
        // rather than at the next message or the next second.
        let pausing = dl.snubbed_until.is_some_and(|t| Instant::now() < t);
        if pausing != short_reads {
            short_reads = pausing;
            stream.set_read_timeout(Some(if pausing { PAUSE_TICK } else { READ_TICK }))?;
        }
        let Some((lo, hi)) = frames.next(stream, max_frame)? else {
            if last_message.elapsed() > IDLE_LIMIT {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "peer silent"));
            }
            if frames.stuck() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "message left unfinished",
                ));
            }
            check_timeouts(link, dl)?;
            fill_pipeline(link, dl);
            continue;
        };
        last_message = Instant::now();
        let msg = wire::decode(&frames.buf[lo..hi])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        match msg {
            Message::Piece { index, begin, data } => {
                let len = data.len();
                shared.downloaded.fetch_add(len as u64, Ordering::Relaxed);
                if let Some(limit) = &engine.download_limit {
                    limit.take(len);
                }
                if !on_block(link, dl, index, begin, data) {
                    if dl.given_up > 0 {
                        dl.given_up -= 1;
                    } else {
                        dl.unasked += 1;
                    }
                    if dl.unasked > MAX_UNASKED {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "blocks nobody asked for",
                        ));
                    }
                }
            }
            Message::Choke => {
                dl.peer_choking = true;
                let released: Vec<u32> = dl.active.drain(..).map(|a| a.index).collect();
                dl.given_up += dl.outstanding as u32;
                dl.outstanding = 0;
                torrent.on_peer_choke(key, true, &released);
            }
            Message::Unchoke => {
                dl.peer_choking = false;
                dl.last_progress = Instant::now();
                torrent.on_peer_choke(key, false, &[]);
            }
            Message::Extended { id: 0, payload } => {
                if let Some(port) = wire::listen_port_of(payload) {
                    torrent.on_listen_port(key, port);
                }
            }
            Message::Interested => torrent.on_interest(key, true),
            Message::NotInterested => torrent.on_interest(key, false),
            Message::Have(i) => {
                if !torrent.on_have(key, i) {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("have for piece {i} of {n}"),
                    ));
                }
            }
            Message::Bitfield(b) => {
                let bf = Bitfield::from_bytes(b, n).ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidData, "malformed bitfield")
                })?;
                torrent.on_bitfield(key, bf);
            }
            Message::HaveAll => {
                torrent.on_bitfield(key, Bitfield::full(n));
            }
            Message::HaveNone => {
                torrent.on_bitfield(key, Bitfield::new(n));
            }
            Message::Request(b) => {
                let valid = (b.index as usize) < n
                    && b.length > 0
                    && b.length <= MAX_BLOCK
                    && b.begin as u64 + b.length as u64 <= meta.piece_len(b.index)
                    && torrent.has_piece(b.index);
                let unchoked = !shared.am_choking.load(Ordering::Relaxed);
                let queued = shared.queued.load(Ordering::Relaxed);
                if valid && unchoked && queued < MAX_QUEUED {
                    shared
                        .last_request_ms
                        .store(torrent.now_ms().max(1), Ordering::Relaxed);
                    shared.queued.fetch_add(1, Ordering::Relaxed);
                    let _ = link.tx.send(Outgoing::Block(b));
                } else if shared.fast {
                    if queued >= MAX_ANSWERS {
                        wait_for_answers(engine, shared)?;
                    }
                    shared.queued.fetch_add(1, Ordering::Relaxed);
                    let _ = link.tx.send(Outgoing::Reject(b));
                } else if valid && unchoked {
                    // Over the queue: a BEP 3 peer learns its requests are
                    // gone only from a choke.
                    if !shared.throttled.swap(true, Ordering::AcqRel) {
                        let _ = link.tx.send(Outgoing::Throttle);
                    }
                } else {
                    // Choked, or invalid: BEP 3 says such requests are dropped.
                    debug!("ignoring request {b:?}");
                }
            }
            Message::Reject(b) => on_reject(link, dl, b),
            Message::AllowedFast(i) => {
                if (i as usize) < n
                    && dl.allowed.len() < MAX_ALLOWED_FAST
                    && !dl.allowed.contains(&i)
                {
                    dl.allowed.push(i);
                }
            }
            // Cancels are hints; a block already queued is cheap to send anyway.
            Message::Cancel(_)
            | Message::KeepAlive
            | Message::Port(_)
            | Message::Suggest(_)
            | Message::Extended { .. }
            | Message::Other(_) => {}
        }
        fill_pipeline(link, dl);
    }
}

/// A peer asks faster than it reads our answers: stop reading its requests
/// (TCP pushes back on it) until the writer has sent some, so the queue of
/// answers stays bounded. One that reads nothing for IDLE_LIMIT is dropped.
fn wait_for_answers(engine: &Engine, shared: &PeerShared) -> io::Result<()> {
    let since = Instant::now();
    while shared.queued.load(Ordering::Relaxed) >= MAX_ANSWERS {
        if engine.is_shutting_down() || since.elapsed() > IDLE_LIMIT {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "peer does not read our answers",
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// Copies a block into its piece; a whole piece goes to the verifier. False
/// for a block we are not waiting for (cancelled, or never asked for).
fn on_block(link: &Link<'_>, dl: &mut Downloader, index: u32, begin: u32, data: &[u8]) -> bool {
    let Some(pos) = dl.active.iter().position(|a| a.index == index) else {
        return false;
    };
    let a = &mut dl.active[pos];
    let expected = (a.buf.len() as u64 - begin as u64).min(BLOCK_SIZE);
    let block = (begin as u64 / BLOCK_SIZE) as usize;
    if !(begin as u64).is_multiple_of(BLOCK_SIZE)
        || begin >= a.next_offset
        || data.len() as u64 != expected
        || a.got[block]
    {
        return false;
    }
    a.got[block] = true;
    let first_back = if a.received == 0 { a.asked } else { None };
    a.buf[begin as usize..begin as usize + data.len()].copy_from_slice(data);
    a.received += data.len() as u32;
    a.in_flight = a.in_flight.saturating_sub(1);
    let whole = a.received as usize == a.buf.len();
    if let Some(asked) = first_back {
        let took = asked.elapsed();
        dl.round_trip = Some(dl.round_trip.map_or(took, |r| r.min(took)));
    }
    dl.outstanding = dl.outstanding.saturating_sub(1);
    dl.last_progress = Instant::now();
    dl.count_bytes(data.len());
    dl.timeouts = 0;
    dl.rejects_in_a_row = 0;
    if whole {
        let a = dl.active.swap_remove(pos);
        link.engine.verifier.submit(Job {
            torrent: link.torrent.clone(),
            key: link.key,
            index,
            buf: a.buf,
            shared: link.shared.clone(),
            back: link.spare_tx.clone(),
        });
    }
    true
}

/// The peer will not send a block we asked for: its piece goes back to the
/// picker at once, for another peer, instead of waiting out a timeout.
fn on_reject(link: &Link<'_>, dl: &mut Downloader, b: BlockRef) {
    let Some(a) = dl.active.iter().find(|a| a.index == b.index) else {
        return;
    };
    let block = (b.begin as u64 / BLOCK_SIZE) as usize;
    if b.begin >= a.next_offset || a.got.get(block) != Some(&false) {
        return;
    }
    drop_pieces(link, dl, &[b.index], true);
    // Rejects arriving together (a choke, a full queue) count as one: the
    // pause grows only with rounds of asking again and being refused again.
    let now = Instant::now();
    if dl.snubbed_until.is_none_or(|t| now >= t) {
        dl.rejects_in_a_row += 1;
        let pause = (REJECT_PAUSE * dl.rejects_in_a_row).min(MAX_REJECT_PAUSE);
        dl.snubbed_until = Some(now + pause);
    }
}

fn drop_pieces(link: &Link<'_>, dl: &mut Downloader, pieces: &[u32], release: bool) {
    dl.active.retain(|a| {
        if !pieces.contains(&a.index) {
            return true;
        }
        dl.outstanding = dl.outstanding.saturating_sub(a.in_flight);
        dl.given_up += a.in_flight as u32;
        for (block, got) in a.got.iter().enumerate() {
            let begin = block as u32 * BLOCK_SIZE as u32;
            if !got && begin < a.next_offset {
                let length = (a.buf.len() as u32 - begin).min(BLOCK_SIZE as u32);
                let _ = link.tx.send(Outgoing::Cancel(BlockRef {
                    index: a.index,
                    begin,
                    length,
                }));
            }
        }
        false
    });
    if release {
        link.torrent.release(link.key, pieces);
    }
}

fn check_timeouts(link: &Link<'_>, dl: &mut Downloader) -> io::Result<()> {
    if dl.outstanding == 0 || dl.last_progress.elapsed() < REQUEST_TIMEOUT {
        return Ok(());
    }
    dl.timeouts += 1;
    let pieces: Vec<u32> = dl.active.iter().map(|a| a.index).collect();
    drop_pieces(link, dl, &pieces, true);
    dl.outstanding = 0;
    dl.last_progress = Instant::now();
    dl.snubbed_until = Some(Instant::now() + REQUEST_TIMEOUT);
    if dl.timeouts >= MAX_TIMEOUTS {
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "requests timed out repeatedly",
        ));
    }
    Ok(())
}

/// Keeps the pipeline full while the peer lets us download.
fn fill_pipeline(link: &Link<'_>, dl: &mut Downloader) {
    let choked = dl.peer_choking;
    if (choked && dl.allowed.is_empty()) || dl.snubbed_until.is_some_and(|t| Instant::now() < t) {
        return;
    }
    dl.spare.extend(link.spare_rx.try_iter());
    let meta = &link.torrent.meta;
    let max_active = (MAX_BUFFERED / meta.piece_length).max(1) as usize + 1;
    let depth = dl.depth();
    let was_idle = dl.outstanding == 0;
    while dl.outstanding < depth {
        let allowed = &dl.allowed;
        if let Some(a) = dl.active.iter_mut().find(|a| {
            (a.next_offset as usize) < a.buf.len() && (!choked || allowed.contains(&a.index))
        }) {
            let length = (a.buf.len() as u32 - a.next_offset).min(BLOCK_SIZE as u32);
            let _ = link.tx.send(Outgoing::Request(BlockRef {
                index: a.index,
                begin: a.next_offset,
                length,
            }));
            a.next_offset += length;
            a.in_flight += 1;
            a.asked.get_or_insert_with(Instant::now);
            dl.outstanding += 1;
            continue;
        }
        if dl.active.len() >= max_active {
            break;
        }
        let picked = if choked {
            link.torrent.pick_allowed(link.key, &dl.allowed)
        } else {
            link.torrent.pick(link.key)
        };
        let Some(index) = picked else {
            break;
        };
        let mut buf = dl.spare.pop().unwrap_or_default();
        buf.resize(meta.piece_len(index) as usize);
        let blocks = buf.len().div_ceil(BLOCK_SIZE as usize);
        dl.active.push(Active {
            index,
            buf,
            next_offset: 0,
            received: 0,
            got: vec![false; blocks],
            in_flight: 0,
            asked: None,
        });
    }
    if was_idle && dl.outstanding > 0 {
        // The request timeout counts from when something was first asked for.
        dl.last_progress = Instant::now();
    }
}

fn writer_loop(
    mut stream: TcpStream,
    rx: Receiver<Outgoing>,
    engine: &Engine,
    torrent: &Torrent,
    shared: &PeerShared,
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
            if let Err(e) = encode_outgoing(m, &mut out, &mut choked, engine, torrent, shared) {
                warn!("cannot serve {}: {e}", torrent.meta.name);
                shared.disconnect();
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
    shared.disconnect();
}

fn encode_outgoing(
    m: Outgoing,
    out: &mut Vec<u8>,
    choked: &mut bool,
    engine: &Engine,
    torrent: &Torrent,
    shared: &PeerShared,
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
            if let Some(limit) = &engine.upload_limit {
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
            if shared.am_choking.load(Ordering::Relaxed) {
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
    };
    wire::encode(&msg, out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipeline_holds_half_a_second_or_two_round_trips() {
        let ms = Duration::from_millis;
        // 2 MB/s over loopback: half a second's worth of 16 KiB blocks.
        assert_eq!(pipeline_depth(Some(2e6), Some(ms(1))), 61);
        // The same rate 600 ms away: two round trips' worth, or the pipe would run dry.
        assert_eq!(pipeline_depth(Some(2e6), Some(ms(600))), 146);
        assert_eq!(pipeline_depth(None, None), START_PIPELINE);
        assert_eq!(pipeline_depth(Some(1.0), None), MIN_PIPELINE);
        assert_eq!(pipeline_depth(Some(1e10), Some(ms(1))), MAX_PIPELINE);
    }
}
