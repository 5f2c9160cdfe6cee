//! Tells trackers about our torrents. Each torrent announces to the tracker
//! given on the command line, always, and to one of its own trackers at a time,
//! in BEP 12 order (`tracker_tiers`): when that one fails, the torrent moves to
//! the next. Each URL is served by its own thread, so a slow or dead tracker
//! never holds up another, and each torrent has its own schedule
//! (`announce_schedule`) with each URL it is at. The transport is chosen by the
//! URL's scheme: `http://` (BEP 3) or `udp://` (BEP 15); any other is skipped
//! with one warning, as if it had failed.
//!
//! It knows the engine only through what it is given: our peer id and port,
//! the torrents as they are added and removed, and a callback that dials the
//! addresses a reply brought. Locks, in this order: the tiers table, the
//! workers table, a worker's table, then a torrent's state (through
//! `Torrent::add_addrs`); none is held while taking one before it.

use std::collections::{HashMap, HashSet};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use log::{debug, warn};

use super::announce_schedule::{AnnounceSchedule, Company, Pace};
use super::error::PeerError;
use super::torrent::Torrent;
use super::torrent_core::Origin;
use super::tracker_tiers::TrackerTiers;
use crate::common::http::HttpError;
use crate::common::metainfo::InfoHash;
use crate::common::tracker_http::{HttpAnnounceReply, HttpAnnounceUrl};
use crate::common::tracker_proto::{Announce, AnnounceReply, Event};
use crate::sys::http_client;
use crate::sys::udp_tracker_client::UdpTrackerClient;

const TIMEOUT: Duration = Duration::from_secs(5);
/// How often a worker looks at its schedules when nothing wakes it.
const ROUND: Duration = Duration::from_millis(250);
/// Peers asked for in each announce.
const NUMWANT: u32 = 80;

type OnPeers = Box<dyn Fn(&Arc<Torrent>) + Send + Sync>;

/// A handle on the announcer; clones share it.
#[derive(Clone)]
pub struct Announcer {
    shared: Arc<Shared>,
}

struct Shared {
    peer_id: [u8; 20],
    listen_port: u16,
    /// The tracker named on the command line: every torrent announces there.
    default_url: String,
    /// Our global IPv6 address, sent as BEP 7 `ipv6=` so that a tracker we
    /// reach over IPv4 can list us to IPv6 peers too.
    ipv6: Option<SocketAddr>,
    on_peers: OnceLock<OnPeers>,
    stopping: AtomicBool,
    workers: Mutex<HashMap<String, Arc<Worker>>>,
    /// URLs already warned about, so an unusable one is reported once.
    warned: Mutex<HashSet<String>>,
    /// Trackers that did not answer, warned about once until they answer again.
    down: Mutex<HashSet<String>>,
    /// Each torrent's own trackers, and which one it is at.
    tiers: Mutex<HashMap<InfoHash, TrackerTiers>>,
    epoch: Instant,
}

/// How an announce reaches one tracker.
enum Transport {
    Http(HttpAnnounceUrl),
    /// BEP 15; the client keeps the connection id and the retry schedule
    /// for every torrent announced there.
    Udp(UdpTrackerClient),
}

impl Transport {
    /// A tracker on this host serves only peers on this host, which need no
    /// second address: BEP 7's `ipv6=` is not sent there.
    fn is_local(&self) -> bool {
        let host = match self {
            Transport::Http(u) => u.host.parse::<std::net::IpAddr>().ok(),
            Transport::Udp(c) => c.host_ip(),
        };
        host.is_some_and(|ip| ip.is_loopback() || ip.to_canonical().is_loopback())
            || matches!(self, Transport::Http(u) if u.host.eq_ignore_ascii_case("localhost"))
    }

    /// The transport for a URL's scheme, or why there is none.
    fn for_url(url: &str) -> Result<Transport, String> {
        let scheme = url
            .split_once("://")
            .map(|(s, _)| s.to_ascii_lowercase())
            .unwrap_or_default();
        match scheme.as_str() {
            "http" => HttpAnnounceUrl::parse(url).map(Transport::Http),
            "udp" => UdpTrackerClient::new(url)
                .map(Transport::Udp)
                .map_err(|e| e.to_string()),
            "" => Err("not a URL".into()),
            other => Err(format!(
                "{other}:// trackers are not supported (only http:// and udp://)"
            )),
        }
    }

    fn announce(&self, a: &Announce) -> Result<AnnounceReply, PeerError> {
        match self {
            Transport::Http(url) => http_announce(url, a),
            Transport::Udp(client) => {
                client
                    .announce(a, TIMEOUT)
                    .map_err(|e| PeerError::TrackerUnusable {
                        url: client.url(),
                        reason: e.to_string(),
                    })
            }
        }
    }
}

/// One announce to `url`, whatever its scheme, outside any schedule: a magnet
/// link's trackers are asked for peers before its torrent exists.
pub fn announce_once(url: &str, a: &Announce) -> Result<AnnounceReply, PeerError> {
    Transport::for_url(url)
        .map_err(|reason| PeerError::TrackerUnusable {
            url: url.to_owned(),
            reason,
        })?
        .announce(a)
}

fn http_announce(url: &HttpAnnounceUrl, a: &Announce) -> Result<AnnounceReply, PeerError> {
    let addr = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| PeerError::TrackerUnresolved {
            host: url.host.clone(),
        })?;
    let host = if url.port == 80 {
        url.host.clone()
    } else {
        format!("{}:{}", url.host, url.port)
    };
    let target = url.announce_target(a);
    let body = match http_client::request_host(addr, &host, "GET", &target, b"", TIMEOUT) {
        Ok((_, body)) => body,
        Err(HttpError::Io(source)) => return Err(PeerError::TrackerUnreachable { addr, source }),
        Err(e) => {
            return Err(PeerError::TrackerBadReply {
                addr,
                reason: e.to_string(),
            });
        }
    };
    AnnounceReply::decode(&body).map_err(|reason| PeerError::TrackerBadReply { addr, reason })
}

/// One tracker URL: the torrents announced there, each with its schedule.
struct Worker {
    url: String,
    transport: Transport,
    torrents: Mutex<HashMap<InfoHash, (Arc<Torrent>, AnnounceSchedule)>>,
    wake: (Sender<()>, Receiver<()>),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Announcer {
    /// `default_url` is the tracker every torrent announces to, besides its own.
    pub fn new(
        peer_id: [u8; 20],
        listen_port: u16,
        default_url: String,
        ipv6: Option<SocketAddr>,
    ) -> Announcer {
        Announcer {
            shared: Arc::new(Shared {
                peer_id,
                listen_port,
                default_url,
                ipv6,
                on_peers: OnceLock::new(),
                stopping: AtomicBool::new(false),
                workers: Mutex::new(HashMap::new()),
                warned: Mutex::new(HashSet::new()),
                down: Mutex::new(HashSet::new()),
                tiers: Mutex::new(HashMap::new()),
                epoch: Instant::now(),
            }),
        }
    }

    /// Sets what to do when a reply brought addresses (dial them now: it is
    /// time to first byte). Only the first call counts.
    pub fn on_peers(&self, f: impl Fn(&Arc<Torrent>) + Send + Sync + 'static) {
        let _ = self.shared.on_peers.set(Box::new(f));
    }

    /// Starts announcing a torrent: to our tracker and to the first of its own
    /// (in BEP 12 order) that we can reach, at once. A torrent added again
    /// starts over.
    pub fn add(&self, torrent: Arc<Torrent>, downloading: bool) {
        let key = torrent.meta.info_hash;
        for w in self.workers_of(&key) {
            lock(&w.torrents).remove(&key);
        }
        let own = TrackerTiers::of(
            &torrent.meta,
            &self.shared.default_url,
            &mut fastrand::Rng::new(),
        );
        let first = own.as_ref().map(|t| t.current().to_owned());
        match own {
            Some(t) => lock(&self.shared.tiers).insert(key, t),
            None => lock(&self.shared.tiers).remove(&key),
        };
        if let Some(w) = self.worker(&self.shared.default_url) {
            self.start_at(&w, &torrent, downloading);
        }
        if let Some(url) = first {
            match self.worker(&url) {
                Some(w) => self.start_at(&w, &torrent, downloading),
                None => self.move_on(&url, &torrent),
            }
        }
    }

    fn start_at(&self, w: &Worker, torrent: &Arc<Torrent>, downloading: bool) {
        lock(&w.torrents).insert(
            torrent.meta.info_hash,
            (torrent.clone(), AnnounceSchedule::new(downloading)),
        );
        let _ = w.wake.0.try_send(());
    }

    /// The torrent's own tracker `failed_url` failed (or cannot be used): it
    /// moves to the next one it can use, which starts with `started`. Nothing
    /// happens if it was not at that tracker, or has no other: then it stays
    /// where it is, on that tracker's retry schedule.
    fn move_on(&self, failed_url: &str, torrent: &Arc<Torrent>) {
        let key = torrent.meta.info_hash;
        let mut tiers = lock(&self.shared.tiers);
        let Some(t) = tiers.get_mut(&key) else {
            return;
        };
        if t.current() != failed_url {
            return;
        }
        let mut at = failed_url.to_owned();
        for _ in 0..t.urls().count() {
            let next = t.failed(&at).to_owned();
            if next == failed_url {
                return;
            }
            if let Some(w) = self.worker(&next) {
                let old = lock(&self.shared.workers).get(failed_url).cloned();
                if let Some(old) = old {
                    lock(&old.torrents).remove(&key);
                }
                debug!(
                    "{}: {failed_url} failed, announcing to {next}",
                    torrent.meta.name
                );
                self.start_at(&w, torrent, !torrent.is_complete());
                return;
            }
            at = next;
        }
    }

    /// Stops announcing a torrent, and tells each of its trackers it stopped.
    pub fn stopped(&self, t: &Torrent) {
        lock(&self.shared.tiers).remove(&t.meta.info_hash);
        for w in self.workers_of(&t.meta.info_hash) {
            lock(&w.torrents).remove(&t.meta.info_hash);
            if let Err(e) = self.send(&w, t, Some(Event::Stopped)) {
                debug!(
                    "stopped announce for {} to {} failed: {e}",
                    t.meta.name, w.url
                );
            }
        }
    }

    /// Tells the trackers a download finished, unless the announcer already has.
    pub fn announce_completed(&self, t: &Torrent) -> Result<(), PeerError> {
        let mut result = Ok(());
        for w in self.workers_of(&t.meta.info_hash) {
            let claimed = lock(&w.torrents)
                .get_mut(&t.meta.info_hash)
                .is_some_and(|(_, s)| s.claim_completed());
            if claimed && let Err(e) = self.send(&w, t, Some(Event::Completed)) {
                result = result.and(Err(e));
            }
        }
        result
    }

    /// Notes that a tracker does not answer; true if that is news (worth the
    /// one warning), false if it was already known down.
    pub fn mark_down(&self, url: &str) -> bool {
        lock(&self.shared.down).insert(url.to_owned())
    }

    /// Ends every worker's loop after its current announce.
    pub fn shutdown(&self) {
        self.shared.stopping.store(true, Ordering::Relaxed);
        for w in lock(&self.shared.workers).values() {
            let _ = w.wake.0.try_send(());
        }
    }

    fn workers_of(&self, key: &InfoHash) -> Vec<Arc<Worker>> {
        lock(&self.shared.workers)
            .values()
            .filter(|w| lock(&w.torrents).contains_key(key))
            .cloned()
            .collect()
    }

    /// The worker for a URL, started on first use; None (after one warning) if it cannot be.
    fn worker(&self, url: &str) -> Option<Arc<Worker>> {
        let mut workers = lock(&self.shared.workers);
        if let Some(w) = workers.get(url) {
            return Some(w.clone());
        }
        let warn_once = |why: String| {
            if lock(&self.shared.warned).insert(url.to_owned()) {
                warn!("not announcing to {url}: {why}");
            }
        };
        let transport = match Transport::for_url(url) {
            Ok(t) => t,
            Err(why) => {
                warn_once(why);
                return None;
            }
        };
        let w = Arc::new(Worker {
            url: url.to_owned(),
            transport,
            torrents: Mutex::new(HashMap::new()),
            wake: crossbeam_channel::bounded(1),
        });
        let (me, worker) = (self.clone(), w.clone());
        let spawned = std::thread::Builder::new()
            .name("announce".into())
            .spawn(move || me.run(&worker));
        if let Err(e) = spawned {
            warn_once(format!("cannot start a thread: {e}"));
            return None;
        }
        workers.insert(url.to_owned(), w.clone());
        Some(w)
    }

    fn now_ms(&self) -> u64 {
        self.shared.epoch.elapsed().as_millis() as u64
    }

    fn send(
        &self,
        w: &Worker,
        t: &Torrent,
        event: Option<Event>,
    ) -> Result<AnnounceReply, PeerError> {
        let (uploaded, downloaded) = t.transfer_totals();
        let announce = |info_hash| Announce {
            info_hash,
            peer_id: self.shared.peer_id,
            port: self.shared.listen_port,
            uploaded,
            downloaded,
            left: t.left(),
            event,
            numwant: Some(NUMWANT),
            compact: true,
            no_peer_id: true,
            ip: None,
            ipv6: self.shared.ipv6.filter(|_| !w.transport.is_local()),
            key: None,
        };
        let mut hashes = t.meta.swarm_hashes().into_iter();
        let first = hashes.next().expect("every torrent has a key");
        let mut reply = w.transport.announce(&announce(first))?;
        // A hybrid is in two swarms; its v2 one goes by the truncated SHA-256 (BEP 52).
        for other in hashes {
            match w.transport.announce(&announce(other)) {
                Ok(r) => reply.peers.extend(r.peers),
                Err(e) => debug!(
                    "announce of {}'s v2 swarm to {} failed: {e}",
                    t.meta.name, w.url
                ),
            }
        }
        Ok(reply)
    }

    /// Our own address in a tracker's list. Only loopback and unspecified are
    /// recognised: other local addresses would need an interface list, and a
    /// connection to ourselves is refused at the handshake (same peer id) anyway.
    fn is_self(&self, a: &SocketAddr) -> bool {
        a.port() == self.shared.listen_port && (a.ip().is_loopback() || a.ip().is_unspecified())
    }

    /// A worker's loop: every round, each torrent whose announce is due.
    fn run(&self, w: &Worker) {
        while !self.shared.stopping.load(Ordering::Relaxed) {
            let torrents: Vec<Arc<Torrent>> =
                lock(&w.torrents).values().map(|(t, _)| t.clone()).collect();
            for t in torrents {
                if self.shared.stopping.load(Ordering::Relaxed) {
                    return;
                }
                self.announce_if_due(w, &t);
            }
            // Sleep until the next round, or until a new torrent wants its first announce.
            let _ = w.wake.1.recv_timeout(ROUND);
        }
    }

    fn announce_if_due(&self, w: &Worker, t: &Arc<Torrent>) {
        let key = t.meta.info_hash;
        let complete = t.is_complete();
        let event = match lock(&w.torrents).get_mut(&key) {
            Some((_, s)) => s.due(complete, self.now_ms()),
            None => None,
        };
        let Some(event) = event else { return };
        let result = self.send(w, t, event);
        let mut table = lock(&w.torrents);
        // Removed meanwhile: its `stopped` has been sent, this reply is stale.
        let Some((_, s)) = table.get_mut(&key) else {
            return;
        };
        match result {
            Ok(reply) => {
                let addrs: Vec<SocketAddr> = reply
                    .peers
                    .iter()
                    .filter(|(a, _)| !self.is_self(a))
                    .map(|(a, _)| *a)
                    .collect();
                let knows_none = t.add_addrs(&addrs, Origin::Tracker);
                let pace = Pace {
                    interval_secs: reply.interval,
                    min_interval_secs: reply.min_interval,
                };
                s.succeeded(event, pace, company(t, knows_none), self.now_ms());
                drop(table);
                if let Some(tiers) = lock(&self.shared.tiers).get_mut(&key) {
                    tiers.succeeded(&w.url);
                }
                if lock(&self.shared.down).remove(&w.url) {
                    log::info!("tracker {} answers again", w.url);
                }
                if let Some(f) = self.shared.on_peers.get() {
                    f(t);
                }
            }
            Err(e) => {
                s.failed(event, self.now_ms());
                drop(table);
                self.move_on(&w.url, t);
                // One line per tracker, not one per torrent: they share its fate.
                if self.mark_down(&w.url) {
                    warn!(
                        "announce of {} to {} failed: {e}; retrying in the background",
                        t.meta.name, w.url
                    );
                } else {
                    debug!("announce of {} to {} failed: {e}", t.meta.name, w.url);
                }
            }
        }
    }
}

/// How a torrent stands for peers, for its schedule. Locks the torrent's
/// state, which the worker's table may already hold (that is the lock order).
fn company(t: &Torrent, knows_none: bool) -> Company {
    if t.is_complete() {
        Company::Seeding
    } else {
        Company::Downloading {
            peers: t.lock().peers.len(),
            knows_none,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_chooses_the_transport() {
        assert!(matches!(
            Transport::for_url("http://127.0.0.1:6969/announce"),
            Ok(Transport::Http(_))
        ));
        assert!(matches!(
            Transport::for_url("HTTP://tracker.example/announce"),
            Ok(Transport::Http(_))
        ));
        assert!(matches!(
            Transport::for_url("udp://tracker.example:1337/announce"),
            Ok(Transport::Udp(_))
        ));
        let wss = Transport::for_url("wss://t.example/a").err().unwrap();
        assert!(wss.contains("wss://"), "{wss}");
        assert!(Transport::for_url("https://t.example/a").is_err());
        assert!(Transport::for_url("tracker.example").is_err());
    }
}
