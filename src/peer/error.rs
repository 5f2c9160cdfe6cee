//! The peer's errors, each worded for the person at the terminal: what failed and what to do.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use thiserror::Error;

use crate::common::metainfo::MetainfoError;

#[derive(Debug, Error)]
pub enum PeerError {
    #[error("tracker unreachable at {addr}: {source}; is tracker_server running?")]
    TrackerUnreachable { addr: SocketAddr, source: io::Error },
    #[error("tracker at {addr} answered badly: {reason}")]
    TrackerBadReply { addr: SocketAddr, reason: String },
    #[error("cannot find tracker {host}: no address for that name")]
    TrackerUnresolved { host: String },
    #[error("cannot announce to {url}: {reason}")]
    TrackerUnusable { url: String, reason: String },
    #[error("no match for {0:?} on the tracker; try `search` with fewer words")]
    NoMatch(String),
    #[error("{0}")]
    Ambiguous(String),
    #[error("cannot listen on port {port}: {source} (is another peer using it? try --listen 0)")]
    Listen { port: u16, source: io::Error },
    #[error(
        "home folder {path} is not usable: {source} (is it writable? choose another with --home)"
    )]
    Home { path: PathBuf, source: io::Error },
    #[error("home folder {0} is in use by another running peer; give each peer its own --home")]
    HomeLocked(PathBuf),
    #[error("{path}: {source}")]
    Torrent {
        path: PathBuf,
        source: MetainfoError,
    },
    #[error("{0}")]
    Metainfo(#[from] MetainfoError),
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
    #[error(
        "{reason}; download paused with {kept} of {pieces} parts kept: make room (or fix the folder) and run the same command to resume"
    )]
    DiskRefused {
        reason: String,
        kept: usize,
        pieces: usize,
    },
    #[error("interrupted")]
    Interrupted,
}

impl PeerError {
    pub fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> PeerError {
        let context = context.into();
        move |source| PeerError::Io { context, source }
    }
}
