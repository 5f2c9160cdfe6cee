//! The protocol logic of one connection, with no I/O: the request pipeline
//! and its depth, the pieces being assembled, timeouts, rejects, allowed-fast
//! pieces, cancels, the answer to each request the peer makes, and extension
//! messages.
//!
//! It takes decoded messages and the current time, puts what to send in
//! [`Session::out`], hands back whole pieces for the verifier, and reports a
//! broken or silent peer as an error; [`Session::wake_in`] says when to call
//! [`Session::on_timer`]. The torrent's shared state (the picker above all) is
//! reached through [`Swarm`], which the shell implements by taking the
//! torrent's lock per call; the block path needs no lock at all: a block is
//! copied into its piece buffer, and only a whole piece leaves the session.

use std::time::{Duration, Instant};

use thiserror::Error;

use super::extensions::ut_pex::PexState;
use super::extensions::{ExtensionEvent, PeerExtensions};
use super::outgoing::Outgoing;
use super::piece_buffer::PieceBuffer;
use super::piece_picker::PeerKey;
use super::torrent_core::Geometry;
use crate::common::bitfield::Bitfield;
use crate::common::metainfo::BLOCK_SIZE;
use crate::common::wire::{BlockRef, HashRequest, MAX_BLOCK, Message};

/// Requests kept out per peer: about PIPELINE_SECONDS of what the peer delivers,
/// so a fast link stays full and a slow peer does not sit on pieces others could send.
/// Every request queued at an uploader delays the next one it is asked for, and in a
/// flash crowd the next one is the rare piece everyone waits on: 2 s here left the
/// 20-leecher swarm 1.18x the fluid bound, 0.5 s 1.10x. The depth follows the
/// measured rate, so it must cover a round trip or it would shrink itself: on a
/// link slower to answer than that, it holds two round trips' worth instead.
const PIPELINE_SECONDS: f64 = 0.5;
const MIN_PIPELINE: usize = 4;
pub const START_PIPELINE: usize = 32;
const MAX_PIPELINE: usize = 512;
/// Bytes of piece buffers one connection may hold, whatever the piece size.
const MAX_BUFFERED: u64 = 4 * 1024 * 1024;
/// A request outstanding this long counts as a timeout.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// After this many timeouts the peer is dropped.
const MAX_TIMEOUTS: u32 = 3;
/// How often a session with nothing to read checks its timers.
const READ_TICK: Duration = Duration::from_secs(1);
/// The same while a reject pause runs.
const PAUSE_TICK: Duration = Duration::from_millis(20);
/// With no message at all for this long, the peer is gone.
pub const IDLE_LIMIT: Duration = Duration::from_secs(180);
/// Blocks nobody asked for that a peer may send before it is dropped: a few
/// arrive honestly after a cancel, a stream of them is a flood.
pub const MAX_UNASKED: u32 = 64;
/// Served requests queued per peer; past this a fast peer's requests are
/// rejected and a non-fast peer is choked, never ignored in silence.
pub const MAX_QUEUED: usize = 1024;
/// Blocks and rejects queued for a peer: one that keeps asking without reading
/// our answers is made to wait (TCP pushes back on it).
pub const MAX_ANSWERS: usize = 2 * MAX_QUEUED;
/// Hash requests a minute one peer may make that need a piece read from disk.
const MAX_HASH_READS: u32 = 120;
/// Pieces a peer may let us fetch while it chokes us (BEP 6 allowed fast); more are ignored.
const MAX_ALLOWED_FAST: usize = 32;
/// After a reject, this peer is asked for nothing new for this long, times the
/// rounds of rejects in a row (up to MAX_REJECT_PAUSE): another peer can take
/// the piece, and a peer that rejects everything is not asked in a hot loop.
const REJECT_PAUSE: Duration = Duration::from_millis(100);
const MAX_REJECT_PAUSE: Duration = Duration::from_secs(5);

/// Why a session ends the connection.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SessionError {
    /// The peer broke the protocol: a dialler backs off before trying it again.
    #[error("{0}")]
    Protocol(String),
    /// The peer went silent or stopped delivering.
    #[error("{0}")]
    Timeout(&'static str),
}

/// The torrent as a session sees it: the shell implements it over the
/// torrent's lock, the tests over a bare `TorrentCore`.
pub trait Swarm {
    /// The next piece to fetch from this peer: any it has while it unchokes
    /// us, only those in `allowed` while it chokes us.
    fn pick(&mut self, key: PeerKey, allowed: Option<&[u32]>) -> Option<u32>;
    /// Pieces this peer will not deliver after all.
    fn release(&mut self, key: PeerKey, pieces: &[u32]);
    fn peer_choke(&mut self, key: PeerKey, choking: bool, released: &[u32]);
    fn interest(&mut self, key: PeerKey, interested: bool);
    /// False when the piece does not exist.
    fn have(&mut self, key: PeerKey, piece: u32) -> bool;
    /// False when the bitfield does not fit the torrent.
    fn bitfield(&mut self, key: PeerKey, has: Bitfield) -> bool;
    fn listen_port(&mut self, key: PeerKey, port: u16);
    /// The torrent's other peers that accept connections, with BEP 11 flags,
    /// to tell this peer of; never its own address.
    fn pex_peers(&mut self, key: PeerKey) -> Vec<(core::net::SocketAddr, u8)>;
    /// Addresses this peer told us of over ut_pex.
    fn pex_learnt(&mut self, addrs: &[core::net::SocketAddr]);
    /// A hash request to send this peer for a v2 piece under repair
    /// (`block_repair`); None almost always.
    fn repair_request(&mut self, _key: PeerKey) -> Option<HashRequest> {
        None
    }
    /// This peer's block hashes for a repair: the piece to finish, with its
    /// good blocks in the buffer and the bad blocks to fetch again.
    fn repair_hashes(
        &mut self,
        _key: PeerKey,
        _request: &HashRequest,
        _hashes: &[u8],
    ) -> Option<(u32, PieceBuffer, Vec<u32>)> {
        None
    }
    fn repair_rejected(&mut self, _key: PeerKey, _request: &HashRequest) {}
}

/// What a session knows of its peer from the handshakes, and what we offer it.
#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    /// Both sides speak BEP 6 (we always do).
    pub fast: bool,
    /// The peer speaks BEP 10.
    pub extended: bool,
    /// Our listen port, for the extension handshake.
    pub listen_port: u16,
    /// The info dictionary, served to peers that ask for it (BEP 9).
    pub metadata: Option<std::sync::Arc<[u8]>>,
    /// How often to send ut_pex messages; None turns peer exchange off (`--no-pex`).
    pub pex_interval: Option<Duration>,
    /// Our DHT node's UDP port, sent in a BEP 5 `port` message when both
    /// handshakes set the DHT bit.
    pub dht_port: Option<u16>,
}

/// What to do with a request from the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestAnswer {
    /// Queue the block for the writer.
    Serve,
    /// BEP 6: tell the peer we will not serve it. `wait` when the peer has so
    /// many answers unread that the reader should wait for the writer first.
    Reject { wait: bool },
    /// A BEP 3 peer over the queue learns its requests are gone only from a choke.
    Throttle,
    /// Choked, or invalid: BEP 3 says such requests are dropped.
    Ignore,
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

impl Active {
    /// Moves the next block to ask for past blocks already good, which only
    /// a piece under repair holds.
    fn skip_good(&mut self) {
        while let Some(true) = self
            .got
            .get(self.next_offset as usize / BLOCK_SIZE as usize)
        {
            self.next_offset = (self.next_offset + BLOCK_SIZE as u32).min(self.buf.len() as u32);
        }
    }
}

pub struct Session {
    key: PeerKey,
    geometry: Geometry,
    /// The peer speaks BEP 6, so requests we will not serve are rejected.
    fast: bool,
    listen_port: u16,
    dht_port: Option<u16>,
    /// The port of the peer's DHT node, from its `port` message, until the shell takes it.
    peer_dht_port: Option<u16>,
    /// The peer's handshake announced BEP 10, so it gets our extension handshake.
    extended: bool,
    extensions: PeerExtensions,
    /// What to send the peer, in order; the shell drains it.
    pub out: Vec<Outgoing>,
    active: Vec<Active>,
    outstanding: usize,
    last_progress: Instant,
    last_message: Instant,
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
    /// Hash requests this minute that needed a piece read from disk.
    hash_reads: (Instant, u32),
}

impl Session {
    /// A session for a peer registered under `key`.
    pub fn new(key: PeerKey, geometry: Geometry, peer: SessionOptions, now: Instant) -> Session {
        Session {
            key,
            geometry,
            fast: peer.fast,
            listen_port: peer.listen_port,
            dht_port: peer.dht_port,
            peer_dht_port: None,
            extended: peer.extended,
            extensions: PeerExtensions::new(
                peer.metadata,
                peer.pex_interval.map(|i| PexState::new(now, i)),
            ),
            out: Vec::new(),
            active: Vec::new(),
            outstanding: 0,
            last_progress: now,
            last_message: now,
            peer_choking: true,
            timeouts: 0,
            snubbed_until: None,
            spare: Vec::new(),
            rate: None,
            window_start: now,
            window_bytes: 0,
            round_trip: None,
            allowed: Vec::new(),
            rejects_in_a_row: 0,
            unasked: 0,
            given_up: 0,
            hash_reads: (now, 0),
        }
    }

    /// The first messages of the connection, after the torrent core's bitfield.
    pub fn start(&mut self) {
        if self.extended {
            self.out
                .push(self.extensions.our_handshake(self.listen_port));
        }
        if let Some(p) = self.dht_port {
            self.out.push(Outgoing::Port(p));
        }
    }

    /// The DHT port the peer announced in a `port` message, once.
    pub fn take_peer_dht_port(&mut self) -> Option<u16> {
        self.peer_dht_port.take()
    }

    /// The peer's key in the torrent core.
    pub fn key(&self) -> PeerKey {
        self.key
    }

    /// Pieces being fetched, to give back when the connection ends.
    pub fn pieces_in_flight(&self) -> Vec<u32> {
        self.active.iter().map(|a| a.index).collect()
    }

    /// Requests outstanding now (for tests and status).
    pub fn outstanding(&self) -> usize {
        self.outstanding
    }

    /// Blocks the pipeline holds for this peer now.
    pub fn depth(&self) -> usize {
        pipeline_depth(self.rate, self.round_trip)
    }

    /// How long the shell may wait for the next message before calling `on_timer`.
    pub fn wake_in(&self, now: Instant) -> Duration {
        if self.snubbed_until.is_some_and(|t| now < t) {
            PAUSE_TICK
        } else {
            READ_TICK
        }
    }

    /// A piece buffer back from the verifier, for reuse.
    pub fn give_back(&mut self, buf: PieceBuffer) {
        self.spare.push(buf);
    }

    /// A block arrived. A whole piece comes back for the verifier; a block we
    /// are not waiting for is counted, and a flood of them ends the connection.
    pub fn on_piece(
        &mut self,
        now: Instant,
        index: u32,
        begin: u32,
        data: &[u8],
    ) -> Result<Option<(u32, PieceBuffer)>, SessionError> {
        self.last_message = now;
        match self.on_block(now, index, begin, data) {
            Some(whole) => Ok(whole),
            None => {
                if self.given_up > 0 {
                    self.given_up -= 1;
                } else {
                    self.unasked += 1;
                }
                if self.unasked > MAX_UNASKED {
                    return Err(SessionError::Protocol("blocks nobody asked for".into()));
                }
                Ok(None)
            }
        }
    }

    /// Copies a block into its piece. None for a block we are not waiting for
    /// (cancelled, or never asked for); Some(Some(piece)) when a piece is whole.
    fn on_block(
        &mut self,
        now: Instant,
        index: u32,
        begin: u32,
        data: &[u8],
    ) -> Option<Option<(u32, PieceBuffer)>> {
        let pos = self.active.iter().position(|a| a.index == index)?;
        let a = &mut self.active[pos];
        let expected = (a.buf.len() as u64 - begin as u64).min(BLOCK_SIZE);
        let block = (begin as u64 / BLOCK_SIZE) as usize;
        if !(begin as u64).is_multiple_of(BLOCK_SIZE)
            || begin >= a.next_offset
            || data.len() as u64 != expected
            || a.got[block]
        {
            return None;
        }
        a.got[block] = true;
        let first_back = if a.received == 0 { a.asked } else { None };
        a.buf[begin as usize..begin as usize + data.len()].copy_from_slice(data);
        a.received += data.len() as u32;
        a.in_flight = a.in_flight.saturating_sub(1);
        let whole = a.received as usize == a.buf.len();
        if let Some(asked) = first_back {
            let took = now.saturating_duration_since(asked);
            self.round_trip = Some(self.round_trip.map_or(took, |r| r.min(took)));
        }
        self.outstanding = self.outstanding.saturating_sub(1);
        self.last_progress = now;
        self.count_bytes(now, data.len());
        self.timeouts = 0;
        self.rejects_in_a_row = 0;
        if whole {
            let a = self.active.swap_remove(pos);
            return Some(Some((index, a.buf)));
        }
        Some(None)
    }

    fn count_bytes(&mut self, now: Instant, n: usize) {
        self.window_bytes += n as u64;
        let elapsed = now
            .saturating_duration_since(self.window_start)
            .as_secs_f64();
        if elapsed >= 0.5 {
            let rate = self.window_bytes as f64 / elapsed;
            self.rate = Some(self.rate.map_or(rate, |r| 0.5 * r + 0.5 * rate));
            self.window_bytes = 0;
            self.window_start = now;
        }
    }

    /// How to answer a request. `has_piece` says whether we have a piece,
    /// `unchoked` whether we let the peer download now, `queued` how many of
    /// its requests and rejects wait for the writer.
    pub fn on_request(
        &mut self,
        now: Instant,
        b: BlockRef,
        has_piece: impl FnOnce(u32) -> bool,
        unchoked: bool,
        queued: usize,
    ) -> RequestAnswer {
        self.last_message = now;
        let valid = (b.index as usize) < self.geometry.num_pieces
            && b.length > 0
            && b.length <= MAX_BLOCK
            && b.begin as u64 + b.length as u64 <= self.geometry.piece_len(b.index)
            && has_piece(b.index);
        if valid && unchoked && queued < MAX_QUEUED {
            RequestAnswer::Serve
        } else if self.fast {
            RequestAnswer::Reject {
                wait: queued >= MAX_ANSWERS,
            }
        } else if valid && unchoked {
            RequestAnswer::Throttle
        } else {
            RequestAnswer::Ignore
        }
    }

    /// Any message other than a block or a request.
    pub fn on_message(
        &mut self,
        now: Instant,
        msg: Message<'_>,
        swarm: &mut dyn Swarm,
    ) -> Result<(), SessionError> {
        self.last_message = now;
        let key = self.key;
        let n = self.geometry.num_pieces;
        match msg {
            Message::Choke => {
                self.peer_choking = true;
                let released: Vec<u32> = self.active.drain(..).map(|a| a.index).collect();
                self.given_up += self.outstanding as u32;
                self.outstanding = 0;
                swarm.peer_choke(key, true, &released);
            }
            Message::Unchoke => {
                self.peer_choking = false;
                self.last_progress = now;
                swarm.peer_choke(key, false, &[]);
            }
            Message::Extended { id, payload } => {
                match self.extensions.on_message(now, id, payload) {
                    Some(ExtensionEvent::ListenPort(port)) => swarm.listen_port(key, port),
                    Some(ExtensionEvent::Reply(m)) => self.out.push(m),
                    Some(ExtensionEvent::Pex(addrs)) => swarm.pex_learnt(&addrs),
                    None => {}
                }
            }
            Message::Interested => swarm.interest(key, true),
            Message::NotInterested => swarm.interest(key, false),
            Message::Have(i) => {
                if !swarm.have(key, i) {
                    return Err(SessionError::Protocol(format!("have for piece {i} of {n}")));
                }
            }
            Message::Bitfield(b) => {
                let bf = Bitfield::from_bytes(b, n)
                    .ok_or_else(|| SessionError::Protocol("malformed bitfield".into()))?;
                swarm.bitfield(key, bf);
            }
            Message::HaveAll => {
                swarm.bitfield(key, Bitfield::full(n));
            }
            Message::HaveNone => {
                swarm.bitfield(key, Bitfield::new(n));
            }
            Message::Reject(b) => self.on_reject(now, b, swarm),
            Message::AllowedFast(i) => {
                if (i as usize) < n
                    && self.allowed.len() < MAX_ALLOWED_FAST
                    && !self.allowed.contains(&i)
                {
                    self.allowed.push(i);
                }
            }
            // Blocks and requests have their own entry points; cancels are
            // hints, and a block already queued is cheap to send anyway.
            // Port 0 cannot be a node.
            Message::Port(p) => self.peer_dht_port = (p != 0).then_some(p),
            // BEP 52: answered with hashes or a reject whatever the choke
            // state; the writer finds the hashes.
            Message::HashRequest(r) => {
                let answer = if self.may_read_for_hashes(now, &r) {
                    Outgoing::HashAnswer(r)
                } else {
                    Outgoing::HashReject(r)
                };
                self.out.push(answer);
            }
            Message::Hashes { request, hashes } => {
                if let Some((index, buf, bad)) = swarm.repair_hashes(key, &request, hashes) {
                    self.take_repair(index, buf, &bad);
                }
            }
            Message::HashReject(r) => swarm.repair_rejected(key, &r),
            Message::Piece { .. }
            | Message::Request(_)
            | Message::Cancel(_)
            | Message::KeepAlive
            | Message::Suggest(_)
            | Message::Other(_) => {}
        }
        Ok(())
    }

    /// Block hashes are read from disk, a piece per request: a peer gets
    /// `MAX_HASH_READS` such answers a minute, so that cheap requests cannot
    /// keep our disk busy. Hashes above the blocks cost no read.
    fn may_read_for_hashes(&mut self, now: Instant, r: &HashRequest) -> bool {
        let piece_height = (self.geometry.piece_length / BLOCK_SIZE).trailing_zeros();
        if r.base >= piece_height {
            return true;
        }
        let (since, n) = &mut self.hash_reads;
        if now.saturating_duration_since(*since) >= Duration::from_secs(60) {
            (*since, *n) = (now, 0);
        }
        *n += 1;
        *n <= MAX_HASH_READS
    }

    /// A piece under repair, to finish here: only its `bad` blocks are asked for.
    fn take_repair(&mut self, index: u32, buf: PieceBuffer, bad: &[u32]) {
        let blocks = buf.len().div_ceil(BLOCK_SIZE as usize);
        let mut got = vec![true; blocks];
        let mut received = buf.len() as u32;
        for &b in bad {
            if let Some(g) = got.get_mut(b as usize) {
                *g = false;
                let begin = b as u64 * BLOCK_SIZE;
                received -= (buf.len() as u64 - begin).min(BLOCK_SIZE) as u32;
            }
        }
        let mut a = Active {
            index,
            buf,
            next_offset: 0,
            received,
            got,
            in_flight: 0,
            asked: None,
        };
        a.skip_good();
        self.active.push(a);
    }

    /// The peer will not send a block we asked for: its piece goes back to the
    /// picker at once, for another peer, instead of waiting out a timeout.
    fn on_reject(&mut self, now: Instant, b: BlockRef, swarm: &mut dyn Swarm) {
        let Some(a) = self.active.iter().find(|a| a.index == b.index) else {
            return;
        };
        let block = (b.begin as u64 / BLOCK_SIZE) as usize;
        if b.begin >= a.next_offset || a.got.get(block) != Some(&false) {
            return;
        }
        self.drop_pieces(&[b.index], Some(swarm));
        // Rejects arriving together (a choke, a full queue) count as one: the
        // pause grows only with rounds of asking again and being refused again.
        if self.snubbed_until.is_none_or(|t| now >= t) {
            self.rejects_in_a_row += 1;
            let pause = (REJECT_PAUSE * self.rejects_in_a_row).min(MAX_REJECT_PAUSE);
            self.snubbed_until = Some(now + pause);
        }
    }

    /// Another peer delivered these pieces first (endgame): drop ours and
    /// cancel what is still asked for.
    pub fn cancel_pieces(&mut self, pieces: &[u32]) {
        self.drop_pieces(pieces, None);
    }

    /// Drops pieces, cancelling their outstanding blocks; with a swarm, the
    /// pieces go back to the picker.
    fn drop_pieces(&mut self, pieces: &[u32], swarm: Option<&mut dyn Swarm>) {
        let (out, outstanding, given_up) =
            (&mut self.out, &mut self.outstanding, &mut self.given_up);
        self.active.retain(|a| {
            if !pieces.contains(&a.index) {
                return true;
            }
            *outstanding = outstanding.saturating_sub(a.in_flight);
            *given_up += a.in_flight as u32;
            for (block, got) in a.got.iter().enumerate() {
                let begin = block as u32 * BLOCK_SIZE as u32;
                if !got && begin < a.next_offset {
                    let length = (a.buf.len() as u32 - begin).min(BLOCK_SIZE as u32);
                    out.push(Outgoing::Cancel(BlockRef {
                        index: a.index,
                        begin,
                        length,
                    }));
                }
            }
            false
        });
        if let Some(swarm) = swarm {
            swarm.release(self.key, pieces);
        }
    }

    /// Nothing arrived for a while: a silent peer ends the connection, and
    /// requests outstanding too long are given up (three times in a row ends
    /// it too). Then the pipeline is topped up.
    /// Sends the peer a ut_pex message when one is due. Cheap when none is:
    /// the shell calls it after every message, as a busy connection may never
    /// reach `on_timer`.
    pub fn pex_tick(&mut self, now: Instant, swarm: &mut dyn Swarm) {
        if self.extensions.pex_due(now) {
            let current = swarm.pex_peers(self.key);
            if let Some(m) = self.extensions.pex_message(now, &current) {
                self.out.push(m);
            }
        }
    }

    pub fn on_timer(&mut self, now: Instant, swarm: &mut dyn Swarm) -> Result<(), SessionError> {
        self.pex_tick(now, swarm);
        if now.saturating_duration_since(self.last_message) > IDLE_LIMIT {
            return Err(SessionError::Timeout("peer silent"));
        }
        self.check_timeouts(now, swarm)?;
        self.fill_pipeline(now, swarm);
        Ok(())
    }

    fn check_timeouts(&mut self, now: Instant, swarm: &mut dyn Swarm) -> Result<(), SessionError> {
        if self.outstanding == 0
            || now.saturating_duration_since(self.last_progress) < REQUEST_TIMEOUT
        {
            return Ok(());
        }
        self.timeouts += 1;
        let pieces = self.pieces_in_flight();
        self.drop_pieces(&pieces, Some(swarm));
        self.outstanding = 0;
        self.last_progress = now;
        self.snubbed_until = Some(now + REQUEST_TIMEOUT);
        if self.timeouts >= MAX_TIMEOUTS {
            return Err(SessionError::Timeout("requests timed out repeatedly"));
        }
        Ok(())
    }

    /// Keeps the pipeline full while the peer lets us download.
    pub fn fill_pipeline(&mut self, now: Instant, swarm: &mut dyn Swarm) {
        // BEP 52: hash requests go out whatever the choke state.
        if let Some(r) = swarm.repair_request(self.key) {
            self.out.push(Outgoing::HashRequest(r));
        }
        let choked = self.peer_choking;
        if (choked && self.allowed.is_empty()) || self.snubbed_until.is_some_and(|t| now < t) {
            return;
        }
        let max_active = (MAX_BUFFERED / self.geometry.piece_length).max(1) as usize + 1;
        let depth = self.depth();
        let was_idle = self.outstanding == 0;
        while self.outstanding < depth {
            let allowed = &self.allowed;
            if let Some(a) = self.active.iter_mut().find(|a| {
                (a.next_offset as usize) < a.buf.len() && (!choked || allowed.contains(&a.index))
            }) {
                let length = (a.buf.len() as u32 - a.next_offset).min(BLOCK_SIZE as u32);
                self.out.push(Outgoing::Request(BlockRef {
                    index: a.index,
                    begin: a.next_offset,
                    length,
                }));
                a.next_offset += length;
                a.skip_good();
                a.in_flight += 1;
                a.asked.get_or_insert(now);
                self.outstanding += 1;
                continue;
            }
            if self.active.len() >= max_active {
                break;
            }
            let picked = swarm.pick(self.key, choked.then_some(&self.allowed[..]));
            let Some(index) = picked else {
                break;
            };
            let mut buf = self.spare.pop().unwrap_or_default();
            buf.resize(self.geometry.piece_len(index) as usize);
            let blocks = buf.len().div_ceil(BLOCK_SIZE as usize);
            self.active.push(Active {
                index,
                buf,
                next_offset: 0,
                received: 0,
                got: vec![false; blocks],
                in_flight: 0,
                asked: None,
            });
        }
        if was_idle && self.outstanding > 0 {
            // The request timeout counts from when something was first asked for.
            self.last_progress = now;
        }
    }
}

#[cfg(test)]
mod tests;
