//! What every connection of a running peer shares: who we are, the limits,
//! the verifier, the preference ledger and the shutdown flag. A connection
//! gets this rather than the whole engine, so it cannot reach the torrent
//! table, the announcer or the dialler, and the engine can own connections
//! without a cycle.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::dht::DhtNode;
use super::ledger::Ledger;
use super::torrent_core::LedgerDelta;
use super::verifier::Verifier;
use crate::sys::token_bucket::TokenBucket;

pub struct ConnectionContext {
    pub peer_id: [u8; 20],
    pub listen_port: u16,
    /// Connected peers per torrent.
    pub max_peers: usize,
    pub upload_limit: Option<TokenBucket>,
    pub download_limit: Option<TokenBucket>,
    pub verifier: Verifier,
    /// How often each connection sends ut_pex; None with `--no-pex`.
    pub pex_interval: Option<Duration>,
    /// Our DHT node, when it runs: for the BEP 5 `port` message, both ways.
    pub dht: Option<Arc<DhtNode>>,
    ledger: Mutex<Ledger>,
    shutdown: AtomicBool,
}

impl ConnectionContext {
    pub fn new(
        peer_id: [u8; 20],
        listen_port: u16,
        max_peers: usize,
        upload_limit: Option<TokenBucket>,
        download_limit: Option<TokenBucket>,
        ledger: Ledger,
        pex_interval: Option<Duration>,
    ) -> ConnectionContext {
        ConnectionContext {
            peer_id,
            listen_port,
            max_peers,
            upload_limit,
            download_limit,
            verifier: Verifier::start(),
            pex_interval,
            dht: None,
            ledger: Mutex::new(ledger),
            shutdown: AtomicBool::new(false),
        }
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed)
    }

    pub fn shut_down(&self) {
        self.shutdown.store(true, Ordering::Relaxed);
    }

    pub fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn ledger_history(&self, peer_id: &[u8; 20]) -> u64 {
        self.ledger().history(peer_id)
    }

    pub fn record_ledger(&self, (id, addr, down, up): &LedgerDelta) {
        if *down > 0 || *up > 0 {
            self.ledger().record(id, addr, *down, *up);
        }
    }
}
