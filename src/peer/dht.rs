//! The Mainline DHT (BEP 5) shell: owns the `mainline::Dht` node (which runs its
//! own actor thread and UDP socket), announces every torrent, and looks up peers
//! for every unfinished download on its own thread, so no engine lock is held
//! while a query walks the network. The routing table is saved in the home and
//! bootstraps the next start.

// mainline marks its blocking API deprecated in favour of `as_async()`; the async
// API would bring a runtime into a project of OS threads, so the blocking one it is.
#![allow(deprecated)]

use std::net::{SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use log::{debug, info, warn};
use mainline::{Dht, Id};

use super::torrent::Torrent;
use super::torrent_core::Origin;
use crate::common::metainfo::InfoHash;
use crate::sys::atomic_file;

/// Addresses taken from one lookup: a hostile node can answer with thousands.
pub const MAX_ADDRS_PER_LOOKUP: usize = 200;
/// Nodes kept in the saved routing table file, and read back from it.
const MAX_SAVED_NODES: usize = 500;
/// Nodes kept from `port` messages: any peer can send one.
const MAX_HEARD_NODES: usize = 100;
const ANNOUNCE_EVERY: Duration = Duration::from_secs(15 * 60);
const LOOKUP_EVERY: Duration = Duration::from_secs(5 * 60);
/// While a download knows no peer at all, it asks again sooner.
const LOOKUP_STARVED_EVERY: Duration = Duration::from_secs(20);
const SAVE_EVERY: Duration = Duration::from_secs(10 * 60);
/// How long one background lookup may take before its answers are used.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(30);
const LOOP_TICK: Duration = Duration::from_secs(2);

/// How the peer joins the DHT (`None` in `PeerConfig` means `--no-dht`).
#[derive(Debug, Clone, Default)]
pub struct DhtConfig {
    /// `--dht-bootstrap`: replaces the public routers when not empty.
    pub bootstrap: Vec<SocketAddr>,
    /// `--dht-port`; `None` tries the TCP listen port, then any free port.
    pub port: Option<u16>,
}

pub struct DhtNode {
    dht: Dht,
    /// Nodes heard of in BEP 5 `port` messages: mainline cannot be handed a
    /// node, so they join the saved table and bootstrap the next start.
    heard: Mutex<Vec<SocketAddrV4>>,
    nodes_path: PathBuf,
    pub local_port: u16,
}

impl DhtNode {
    pub fn start(config: &DhtConfig, tcp_port: u16, nodes_path: PathBuf) -> std::io::Result<Self> {
        let saved = load_nodes(&nodes_path);
        let build = |port: Option<u16>| {
            let mut b = Dht::builder();
            if !config.bootstrap.is_empty() {
                b.bootstrap(&config.bootstrap);
            }
            if !saved.is_empty() {
                b.extra_bootstrap(&saved);
            }
            if let Some(p) = port {
                b.port(p);
            }
            b.build()
        };
        let dht = match config.port {
            Some(p) => build(Some(p))?,
            // The listen port's number when its UDP twin is free, else any.
            None => build(Some(tcp_port)).or_else(|_| build(None))?,
        };
        let local_port = dht.info().local_addr().port();
        info!("DHT node on UDP port {local_port}");
        Ok(DhtNode {
            dht,
            heard: Mutex::new(Vec::new()),
            nodes_path,
            local_port,
        })
    }

    /// Asks the DHT for peers of `info_hash`, for at most `timeout`, taking at most
    /// MAX_ADDRS_PER_LOOKUP addresses. The query itself runs on a helper thread
    /// so the caller is back on time even when the walk is slow.
    pub fn get_peers(&self, info_hash: &InfoHash, timeout: Duration) -> Vec<SocketAddr> {
        let id = Id::from_bytes(info_hash.0).expect("20 bytes");
        let (tx, rx) = crossbeam_channel::bounded::<Vec<SocketAddrV4>>(64);
        let dht = self.dht.clone();
        let spawned = std::thread::Builder::new()
            .name("dht-lookup".into())
            .spawn(move || {
                for batch in dht.get_peers(id) {
                    if tx.send(batch).is_err() {
                        return;
                    }
                }
            });
        if spawned.is_err() {
            return Vec::new();
        }
        collect(&rx, Instant::now() + timeout)
    }

    /// Tells the DHT we serve `info_hash` on our TCP port; false if no node took it.
    pub fn announce(&self, info_hash: &InfoHash, tcp_port: u16) -> bool {
        let id = Id::from_bytes(info_hash.0).expect("20 bytes");
        match self.dht.announce_peer(id, Some(tcp_port)) {
            Ok(_) => {
                debug!("DHT: announced {}", info_hash.hex());
                true
            }
            Err(e) => {
                debug!("DHT: announce of {} failed: {e}", info_hash.hex());
                false
            }
        }
    }

    /// A peer's `port` message: its DHT node, kept (capped) for the next start.
    pub fn heard_node(&self, addr: SocketAddr) {
        let SocketAddr::V4(a) = addr else {
            return;
        };
        let mut heard = self.heard.lock().unwrap_or_else(|e| e.into_inner());
        if !heard.contains(&a) && heard.len() < MAX_HEARD_NODES {
            debug!("DHT node {a} heard of in a port message");
            heard.push(a);
        }
    }

    /// Writes the routing table, then the nodes heard of, for the next start.
    pub fn save_nodes(&self) {
        let heard: Vec<String> = {
            let heard = self.heard.lock().unwrap_or_else(|e| e.into_inner());
            heard.iter().map(|a| a.to_string()).collect()
        };
        let mut nodes = self.dht.to_bootstrap();
        for h in heard {
            if !nodes.contains(&h) {
                nodes.push(h);
            }
        }
        let nodes: Vec<String> = nodes.into_iter().take(MAX_SAVED_NODES).collect();
        if nodes.is_empty() {
            return;
        }
        let text = nodes.join("\n") + "\n";
        if let Err(e) = atomic_file::write_atomic(&self.nodes_path, text.as_bytes()) {
            warn!("cannot save {}: {e}", self.nodes_path.display());
        }
    }

    /// The background loop: announces and looks up until `stop` fires or closes.
    pub fn run(
        self: Arc<Self>,
        tcp_port: u16,
        torrents: impl Fn() -> Vec<Arc<Torrent>>,
        redial: impl Fn(&Arc<Torrent>),
        stop: Receiver<()>,
    ) {
        let mut announced: std::collections::HashMap<InfoHash, Instant> = Default::default();
        let mut looked: std::collections::HashMap<InfoHash, Instant> = Default::default();
        let mut saved = Instant::now();
        loop {
            match stop.recv_timeout(LOOP_TICK) {
                Err(RecvTimeoutError::Timeout) => {}
                _ => return,
            }
            let now = Instant::now();
            let list = torrents();
            announced.retain(|k, _| list.iter().any(|t| t.meta.info_hash == *k));
            looked.retain(|k, _| list.iter().any(|t| t.meta.info_hash == *k));
            for t in &list {
                let key = t.meta.info_hash;
                // A hybrid is in its v2 swarm too, under its truncated SHA-256.
                let swarms = t.meta.swarm_hashes();
                if announced.get(&key).is_none_or(|at| now >= *at) {
                    // Right after start the routing table may still be empty:
                    // a failed announce is tried again soon, not in 15 minutes.
                    // The first hash decides the pace.
                    let ok: Vec<bool> = swarms.iter().map(|h| self.announce(h, tcp_port)).collect();
                    let every = if ok[0] {
                        ANNOUNCE_EVERY
                    } else {
                        LOOKUP_STARVED_EVERY
                    };
                    announced.insert(key, Instant::now() + every);
                }
                if t.is_complete() {
                    continue;
                }
                if looked.get(&key).is_none_or(|at| now >= *at) {
                    let addrs: Vec<SocketAddr> = swarms
                        .iter()
                        .flat_map(|h| self.get_peers(h, LOOKUP_TIMEOUT))
                        .collect();
                    debug!("DHT: {} addresses for {}", addrs.len(), t.meta.name);
                    let every = if addrs.is_empty() {
                        LOOKUP_STARVED_EVERY
                    } else {
                        t.add_addrs(&addrs, Origin::Dht);
                        redial(t);
                        LOOKUP_EVERY
                    };
                    looked.insert(key, Instant::now() + every);
                }
                if stop.try_recv() != Err(crossbeam_channel::TryRecvError::Empty) {
                    return;
                }
            }
            if saved.elapsed() >= SAVE_EVERY {
                self.save_nodes();
                saved = Instant::now();
            }
        }
    }
}

/// Batches from a lookup until the deadline, the end, or the cap; duplicates once.
fn collect(rx: &Receiver<Vec<SocketAddrV4>>, deadline: Instant) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = Vec::new();
    while out.len() < MAX_ADDRS_PER_LOOKUP {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(batch) = rx.recv_timeout(left) else {
            break;
        };
        for a in batch {
            let a = SocketAddr::V4(a);
            if a.port() != 0 && !out.contains(&a) && out.len() < MAX_ADDRS_PER_LOOKUP {
                out.push(a);
            }
        }
    }
    out
}

/// The saved routing table; a malformed file is ignored with a warning.
fn load_nodes(path: &Path) -> Vec<SocketAddrV4> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    match parse_nodes(&text) {
        Some(nodes) => nodes,
        None => {
            warn!("ignoring malformed DHT node list {}", path.display());
            Vec::new()
        }
    }
}

fn parse_nodes(text: &str) -> Option<Vec<SocketAddrV4>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .take(MAX_SAVED_NODES)
        .map(|l| l.trim().parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_list_parses_and_malformed_is_refused() {
        let nodes = parse_nodes("127.0.0.1:6881\n\n10.0.0.2:1\n").unwrap();
        assert_eq!(nodes.len(), 2);
        assert!(parse_nodes("127.0.0.1:6881\nnot a node\n").is_none());
    }

    #[test]
    fn a_lookup_keeps_at_most_the_cap_and_no_duplicates() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let many: Vec<SocketAddrV4> = (1..=300u16)
            .map(|p| SocketAddrV4::new([127, 0, 0, 1].into(), p))
            .collect();
        tx.send(many[..10].to_vec()).unwrap();
        tx.send(many.clone()).unwrap();
        drop(tx);
        let got = collect(&rx, Instant::now() + Duration::from_secs(5));
        assert_eq!(got.len(), MAX_ADDRS_PER_LOOKUP);
        let mut d = got.clone();
        d.dedup();
        assert_eq!(d.len(), got.len());
    }
}
