//! A magnet link's info dictionary, fetched from peers (BEP 9) before the
//! download can start: without it we know neither the size nor the pieces.
//!
//! Threads: the caller's, which asks `find_peers` for addresses every few
//! seconds and starts a `metadata ADDR` thread for each new one (at most
//! `PARALLEL` at once). Each such thread dials, sends our extension handshake,
//! and asks that one peer for every piece (`MetadataFetch`, pure); the first
//! whole dictionary that hashes to the info-hash wins. A peer whose
//! dictionary does not is never asked again, and is handed back as banned so
//! the download never dials it either.

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, select};
use log::{debug, info, warn};

use super::extensions::{OURS, ut_metadata};
use super::handshake;
use super::piece_layer_fetch::{LayerFetch, PieceLayers};
use super::torrent_core::Origin;
use crate::common::extension_handshake::ExtensionHandshake;
use crate::common::magnet::Magnet;
use crate::common::merkle::{FileShape, Hash32};
use crate::common::wire::{self, Message};
use ut_metadata::{FetchError, MetadataFetch};

/// Peers asked at the same time.
const PARALLEL: usize = 8;
/// How long one peer may take to send the whole dictionary.
const PER_PEER: Duration = Duration::from_secs(30);
/// How often the peer sources are asked again.
const ASK_AGAIN: Duration = Duration::from_secs(3);
/// After this long with no metadata, the person is told why it waits.
const HINT_AFTER: Duration = Duration::from_secs(20);
/// The largest frame taken while fetching: a bitfield of a huge torrent
/// fits, and nothing bigger is expected before the metadata.
const MAX_FRAME: u32 = 4 << 20;

/// What a fetch found: the info dictionary, the peers it learnt of, and the
/// ones that lied.
pub struct Fetched {
    pub info: Vec<u8>,
    pub peers: Vec<(SocketAddr, Origin)>,
    pub banned: Vec<SocketAddr>,
}

/// Why a fetch ended without metadata.
#[derive(Debug)]
pub enum Stopped {
    /// A signal (SIGINT, SIGTERM) arrived.
    Signal,
}

/// Who we are, as a peer sees us.
#[derive(Clone, Copy)]
pub struct Identity {
    pub peer_id: [u8; 20],
    pub listen_port: u16,
}

enum Outcome {
    Got(Vec<u8>),
    Lied,
    Failed(String),
}

/// Fetches `magnet`'s info dictionary from the peers `find_peers` names,
/// until one sends it whole and true, or `stop` delivers.
pub fn fetch(
    magnet: &Magnet,
    me: Identity,
    find_peers: &mut dyn FnMut() -> Vec<(SocketAddr, Origin)>,
    stop: &Receiver<i32>,
) -> Result<Fetched, Stopped> {
    let name = magnet.display_name();
    let (done_tx, done_rx) = crossbeam_channel::unbounded::<(SocketAddr, Outcome)>();
    let mut known: Vec<(SocketAddr, Origin)> = Vec::new();
    let mut tried: HashSet<SocketAddr> = HashSet::new();
    let mut banned = Vec::new();
    let mut running = 0usize;
    let started = Instant::now();
    let mut hinted = false;
    let mut next_ask = Instant::now();
    loop {
        if Instant::now() >= next_ask {
            for (a, o) in find_peers() {
                if !known.iter().any(|(k, _)| *k == a) {
                    known.push((a, o));
                }
            }
            next_ask = Instant::now() + ASK_AGAIN;
        }
        while running < PARALLEL {
            let Some(&(addr, _)) = known.iter().find(|(a, _)| !tried.contains(a)) else {
                break;
            };
            tried.insert(addr);
            let (tx, key) = (done_tx.clone(), magnet.info_hash);
            let spawned = std::thread::Builder::new()
                .name(format!("metadata {addr}"))
                .spawn(move || {
                    let outcome = match from_peer(addr, key.0, me) {
                        Ok(info) => Outcome::Got(info),
                        Err(FetchFailure::Fetch(FetchError::WrongHash)) => Outcome::Lied,
                        Err(e) => Outcome::Failed(e.to_string()),
                    };
                    let _ = tx.send((addr, outcome));
                });
            if spawned.is_ok() {
                running += 1;
            }
        }
        if !hinted && started.elapsed() >= HINT_AFTER {
            hinted = true;
            warn!(
                "no peer has sent the metadata of {name} yet ({} found, {} tried); waiting for more",
                known.len(),
                tried.len()
            );
        }
        let wait = next_ask.saturating_duration_since(Instant::now());
        select! {
            recv(done_rx) -> msg => {
                let Ok((addr, outcome)) = msg else { continue };
                running -= 1;
                match outcome {
                    Outcome::Got(info) => {
                        info!("metadata of {name} ({} bytes) from {addr}", info.len());
                        known.retain(|(a, _)| !banned.contains(a));
                        return Ok(Fetched { info, peers: known, banned });
                    }
                    Outcome::Lied => {
                        warn!("{addr} sent metadata that does not match {name}'s info-hash; it is banned");
                        banned.push(addr);
                    }
                    Outcome::Failed(why) => {
                        debug!("no metadata from {addr}: {why}");
                        // A peer that was busy or not ready may answer later.
                        if !banned.contains(&addr) {
                            tried.remove(&addr);
                        }
                    }
                }
            }
            recv(stop) -> _ => return Err(Stopped::Signal),
            default(wait) => {}
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum FetchFailure {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Fetch(#[from] FetchError),
    #[error("{0}")]
    Protocol(&'static str),
}

/// The whole dictionary from one peer, checked against `info_hash`.
fn from_peer(addr: SocketAddr, info_hash: [u8; 20], me: Identity) -> Result<Vec<u8>, FetchFailure> {
    let deadline = Instant::now() + PER_PEER;
    let (mut s, hello) = handshake::dial(addr, info_hash, me.peer_id, false)?;
    if !hello.extensions {
        return Err(FetchFailure::Protocol(
            "it does not speak BEP 10 extensions",
        ));
    }
    let our_id = OURS
        .iter()
        .find(|(n, _)| *n == ut_metadata::NAME)
        .map(|&(_, id)| id)
        .expect("we speak ut_metadata");
    // Named without a size: we have nothing to serve yet (BEP 9).
    let hello = ExtensionHandshake {
        m: [(ut_metadata::NAME.to_owned(), our_id)].into(),
        listen_port: Some(me.listen_port),
        client: Some(concat!("swarmshare ", env!("CARGO_PKG_VERSION")).into()),
        metadata_size: None,
    };
    send(&mut s, 0, &hello.encode())?;
    let mut theirs: Option<(u8, MetadataFetch)> = None;
    let mut frame = Vec::new();
    loop {
        read_frame(&mut s, deadline, &mut frame)?;
        if frame.is_empty() {
            continue;
        }
        let Ok(Message::Extended { id, payload }) = wire::decode(&frame) else {
            continue;
        };
        if id == 0 {
            let h = ExtensionHandshake::decode(payload)
                .ok_or(FetchFailure::Protocol("a bad extension handshake"))?;
            let (Some(&their_id), Some(size)) = (h.m.get(ut_metadata::NAME), h.metadata_size)
            else {
                return Err(FetchFailure::Protocol("it offers no metadata"));
            };
            if their_id == 0 {
                return Err(FetchFailure::Protocol("it offers no metadata"));
            }
            let mut f = MetadataFetch::new(size)?;
            for ask in f.requests() {
                send(&mut s, their_id, &ask)?;
            }
            theirs = Some((their_id, f));
        } else if id == our_id {
            let Some((their_id, f)) = theirs.as_mut() else {
                continue;
            };
            if let Some(reply) = f.on_message(payload)? {
                send(&mut s, *their_id, &reply)?;
            }
            if f.is_complete() {
                let (_, f) = theirs.take().expect("fetching");
                return Ok(f.verified(&crate::common::metainfo::InfoHash(info_hash))?);
            }
            for ask in f.requests() {
                send(&mut s, *their_id, &ask)?;
            }
        }
    }
}

/// Peers a hybrid's optional piece layers are asked of, and how long each may take.
const OPTIONAL_PEERS: usize = 3;
const OPTIONAL_PER_PEER: Duration = Duration::from_secs(5);

/// A v2 torrent's piece layers, asked of the peers that had its metadata,
/// one peer at a time, until one sends every layer and each folds into its
/// file's root (`piece_layer_fetch`). `required` (a v2-only torrent, which
/// cannot be checked without them): asked until some peer sends them. Else
/// (a hybrid, which its v1 half checks): a few peers, briefly, and None if
/// none sends them.
pub fn piece_layers(
    needed: &[(Hash32, FileShape)],
    required: bool,
    info_hash: [u8; 20],
    peers: &[(SocketAddr, Origin)],
    me: Identity,
    stop: &Receiver<i32>,
) -> Result<Option<PieceLayers>, Stopped> {
    let (ask, per_peer) = if required {
        (peers.len(), PER_PEER)
    } else {
        (OPTIONAL_PEERS, OPTIONAL_PER_PEER)
    };
    loop {
        for &(addr, _) in peers.iter().take(ask) {
            if stop.try_recv().is_ok() {
                return Err(Stopped::Signal);
            }
            let mut fetch = LayerFetch::new(needed);
            match layers_from_peer(addr, info_hash, me, per_peer, &mut fetch) {
                Ok(()) => {
                    info!("piece layers of {} file(s) from {addr}", fetch.len());
                    return Ok(Some(fetch.layers()));
                }
                Err(e) => debug!("no piece layers from {addr}: {e}"),
            }
        }
        if !required {
            info!("no peer sent the piece layers; the torrent's v1 half checks its pieces");
            return Ok(None);
        }
        warn!("no peer has sent the piece layers yet; asking again");
        select! {
            recv(stop) -> _ => return Err(Stopped::Signal),
            default(ASK_AGAIN) => {}
        }
    }
}

fn layers_from_peer(
    addr: SocketAddr,
    info_hash: [u8; 20],
    me: Identity,
    per_peer: Duration,
    fetch: &mut LayerFetch,
) -> Result<(), FetchFailure> {
    let deadline = Instant::now() + per_peer;
    let (mut s, _) = handshake::dial(addr, info_hash, me.peer_id, false)?;
    let mut out = Vec::new();
    for r in fetch.requests() {
        wire::encode(&Message::HashRequest(r), &mut out);
    }
    s.write_all(&out)?;
    let mut frame = Vec::new();
    while !fetch.is_complete() {
        read_frame(&mut s, deadline, &mut frame)?;
        match wire::decode(&frame) {
            Ok(Message::Hashes { request, hashes }) => fetch
                .on_hashes(&request, hashes)
                .map_err(|_| FetchFailure::Protocol("hashes that do not fold into their root"))?,
            Ok(Message::HashReject(_)) => {
                return Err(FetchFailure::Protocol("it will not send the hashes"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The next message into `frame`, by `deadline`; a frame too long for this
/// early stage is an error.
fn read_frame(
    s: &mut TcpStream,
    deadline: Instant,
    frame: &mut Vec<u8>,
) -> Result<(), FetchFailure> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(FetchFailure::Protocol("too slow"));
    }
    s.set_read_timeout(Some(left))?;
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len);
    if len > MAX_FRAME {
        return Err(FetchFailure::Protocol("a message too long"));
    }
    frame.resize(len as usize, 0);
    s.read_exact(frame)?;
    Ok(())
}

fn send(s: &mut TcpStream, id: u8, payload: &[u8]) -> io::Result<()> {
    let mut out = Vec::with_capacity(payload.len() + 6);
    wire::encode(&Message::Extended { id, payload }, &mut out);
    s.write_all(&out)
}
