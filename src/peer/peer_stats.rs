//! The counters one connection's threads keep without any lock, and that the
//! torrent core reads: bytes each way, when the peer last asked for a block,
//! and whether we choke it.
//!
//! They are atomics because they change per block, on the hot path, where the
//! torrent's lock must not be taken; the core only reads them (and writes the
//! choke flag, which the reader checks per request).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[derive(Debug)]
pub struct PeerStats {
    pub downloaded: AtomicU64,
    pub uploaded: AtomicU64,
    /// When the peer last asked for a block while unchoked (torrent ms, 0
    /// never): a slot whose holder never asks is taken back.
    pub last_request_ms: AtomicU64,
    pub am_choking: AtomicBool,
}

impl Default for PeerStats {
    fn default() -> Self {
        PeerStats {
            downloaded: AtomicU64::new(0),
            uploaded: AtomicU64::new(0),
            last_request_ms: AtomicU64::new(0),
            am_choking: AtomicBool::new(true),
        }
    }
}

impl PeerStats {
    pub fn downloaded(&self) -> u64 {
        self.downloaded.load(Ordering::Relaxed)
    }

    pub fn uploaded(&self) -> u64 {
        self.uploaded.load(Ordering::Relaxed)
    }

    pub fn last_request_ms(&self) -> u64 {
        self.last_request_ms.load(Ordering::Relaxed)
    }
}
