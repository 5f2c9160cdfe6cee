//! The tracker's live view of every swarm: who announced what, and when.
//! Pure: time is passed in as milliseconds, so expiry is tested without sleeping.
//!
//! A peer silent for two intervals is dropped, but "interval" is the peer's own
//! pace when it is slower than ours: libtorrent, for one, never re-announces
//! sooner than every 300 s whatever the tracker asks, and must not vanish from
//! the swarm in between. The pace is learnt from the gap between its regular
//! announces, and kept for a while after an expiry so a slow peer is dropped
//! at most once.
//!
//! Memory follows the swarms: a peer costs one record, an address index entry
//! and an id index entry; a swarm whose peers are gone is dropped (published
//! torrents keep their completion count); the paces of expired peers live in
//! one FIFO for the whole registry, bounded in length and in age.

use core::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::BuildHasher;

use crate::common::metainfo::InfoHash;
use crate::common::tracker_proto::{Announce, AnnounceReply, Event};

const DEFAULT_NUMWANT: usize = 50;
/// A pace slower than this is not believed: the peer is just gone.
const MAX_PACE_MS: u64 = 3_600_000;
/// Expired peers whose pace is remembered, over all swarms.
const MAX_REMEMBERED: usize = 65_536;
/// The `min interval` sent with every announce reply (capped at the interval):
/// a download short of peers re-announces this often, so a seeder that appears
/// mid-download is found within seconds rather than at the next interval.
pub const MIN_INTERVAL_SECS: u32 = 5;

/// A peer's address in 18 bytes, IPv4 as IPv4-mapped IPv6 (`SocketAddr` takes
/// 32): a million peers are kept in two records and two index entries each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct PackedAddr {
    ip: [u8; 16],
    port: u16,
}

impl PackedAddr {
    fn new(a: SocketAddr) -> PackedAddr {
        let ip = match a.ip() {
            IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            IpAddr::V6(v6) => v6,
        };
        PackedAddr {
            ip: ip.octets(),
            port: a.port(),
        }
    }

    fn get(self) -> SocketAddr {
        SocketAddr::new(Ipv6Addr::from(self.ip).to_canonical(), self.port)
    }
}

#[derive(Debug, Clone)]
struct PeerRecord {
    addr: PackedAddr,
    /// Its IPv6 address too, when it announced over IPv4 with `ipv6=` (BEP 7).
    addr6: Option<PackedAddr>,
    left: u64,
    last_ms: u64,
    /// The gap between its last two regular announces; 0 until seen.
    pace_ms: u32,
    /// A digest of the client's `key`, which lets it prove who it is from a
    /// new address. Keyed by a secret, so a collision cannot be aimed at.
    key: Option<u64>,
    /// It said `completed`, or went from `left > 0` to 0: a seeder for sure.
    /// A client fetching a magnet's metadata does not know the size yet and
    /// announces `left=0` (aria2c does): until then it is given seeders too.
    proven_seed: bool,
}

/// One torrent's peers, laid out so an announce costs O(numwant), not O(swarm):
/// a dense list with indexes by id and by address, counts kept as peers change,
/// and a cursor that hands out a different window of peers each time.
#[derive(Debug, Default)]
struct Swarm {
    list: Vec<([u8; 20], PeerRecord)>,
    by_id: HashMap<[u8; 20], u32>,
    by_addr: HashMap<PackedAddr, [u8; 20]>,
    seeders: u32,
    cursor: usize,
    /// Completed downloads seen (BEP 48 `downloaded`).
    downloaded: u32,
}

impl Swarm {
    fn get(&self, id: &[u8; 20]) -> Option<&PeerRecord> {
        self.by_id.get(id).map(|&i| &self.list[i as usize].1)
    }

    fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    fn insert(&mut self, id: [u8; 20], rec: PeerRecord) -> Option<PeerRecord> {
        // A restarted client may come back under a new id at the same address.
        if let Some(other) = self.by_addr.get(&rec.addr).copied()
            && other != id
        {
            self.remove(&other);
        }
        self.seeders += (rec.left == 0) as u32;
        self.by_addr.insert(rec.addr, id);
        match self.by_id.get(&id) {
            Some(&i) => {
                let i = i as usize;
                let old = std::mem::replace(&mut self.list[i].1, rec);
                self.seeders -= (old.left == 0) as u32;
                if old.addr != self.list[i].1.addr {
                    self.by_addr.remove(&old.addr);
                }
                Some(old)
            }
            None => {
                self.by_id.insert(id, self.list.len() as u32);
                self.list.push((id, rec));
                None
            }
        }
    }

    fn remove(&mut self, id: &[u8; 20]) -> Option<PeerRecord> {
        let i = self.by_id.remove(id)? as usize;
        let (_, rec) = self.list.swap_remove(i);
        if let Some((moved, _)) = self.list.get(i) {
            self.by_id.insert(*moved, i as u32);
        }
        if self.by_addr.get(&rec.addr) == Some(id) {
            self.by_addr.remove(&rec.addr);
        }
        self.seeders -= (rec.left == 0) as u32;
        // A swarm that shrank a lot gives its memory back.
        if self.list.capacity() > 64 && self.list.len() < self.list.capacity() / 4 {
            self.list.shrink_to(self.list.len() * 2);
            self.by_id.shrink_to(self.list.len() * 2);
            self.by_addr.shrink_to(self.list.len() * 2);
        }
        Some(rec)
    }

    /// Up to `want` peers other than the asker, starting where the last answer
    /// stopped; a peer with an IPv6 address besides its own is listed at both.
    /// A proven seeder is given only leechers: it has no use for other seeders.
    fn sample(
        &mut self,
        want: usize,
        asker: &[u8; 20],
        asker_is_seed: bool,
    ) -> Vec<(SocketAddr, [u8; 20])> {
        let n = self.list.len();
        let mut out = Vec::with_capacity(want.min(n));
        let start = if n == 0 { 0 } else { self.cursor % n };
        for k in 0..n {
            if out.len() >= want {
                self.cursor = start + k;
                return out;
            }
            let (id, p) = &self.list[(start + k) % n];
            if id != asker && !(asker_is_seed && p.left == 0) {
                out.push((p.addr.get(), *id));
                if let Some(a6) = p.addr6 {
                    out.push((a6.get(), *id));
                }
            }
        }
        self.cursor = start + 1;
        out
    }

    fn counts(&self) -> SwarmCounts {
        SwarmCounts {
            complete: self.seeders,
            incomplete: self.list.len() as u32 - self.seeders,
            downloaded: self.downloaded,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SwarmCounts {
    pub complete: u32,
    pub incomplete: u32,
    pub downloaded: u32,
}

/// What an announce changed, for the tracker's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Joined,
    Updated,
    Completed,
    Left,
}

/// When expired peers last announced, so a slow one that comes back has its
/// pace learnt. Oldest first; at most `MAX_REMEMBERED`, none older than
/// `MAX_PACE_MS`. The queue may hold entries already taken back out of the
/// map (the peer returned): they are skipped when they reach the front.
#[derive(Default)]
struct Remembered {
    last_ms: HashMap<(InfoHash, [u8; 20]), u64>,
    order: VecDeque<(InfoHash, [u8; 20], u64)>,
}

impl Remembered {
    fn push(&mut self, hash: InfoHash, id: [u8; 20], last_ms: u64) {
        while self.order.len() >= MAX_REMEMBERED {
            self.pop();
        }
        self.last_ms.insert((hash, id), last_ms);
        self.order.push_back((hash, id, last_ms));
    }

    fn pop(&mut self) {
        if let Some((h, id, at)) = self.order.pop_front()
            && self.last_ms.get(&(h, id)) == Some(&at)
        {
            self.last_ms.remove(&(h, id));
        }
    }

    fn take(&mut self, hash: InfoHash, id: [u8; 20]) -> Option<u64> {
        self.last_ms.remove(&(hash, id))
    }

    fn forget_older_than(&mut self, now_ms: u64) {
        while self
            .order
            .front()
            .is_some_and(|&(_, _, at)| now_ms.saturating_sub(at) > MAX_PACE_MS)
        {
            self.pop();
        }
        if self.order.is_empty() {
            self.order = VecDeque::new();
            self.last_ms = HashMap::new();
        }
    }
}

/// Every swarm with a peer, plus the little that outlives its peers: the pace
/// of recently expired ones, and the completion count of published torrents
/// only. A swarm of an unpublished torrent whose peers are all gone is
/// forgotten, so announces for random info-hashes cost memory only while their
/// peers are live.
pub struct Registry {
    swarms: HashMap<InfoHash, Swarm>,
    interval_secs: u32,
    /// Published torrents: their completion counts are kept when their swarm empties.
    published: HashSet<InfoHash>,
    remembered: Remembered,
    /// Digests keys with a secret of this process.
    key_digest: std::collections::hash_map::RandomState,
    peer_count: usize,
}

impl Registry {
    pub fn new(interval_secs: u32) -> Self {
        Registry {
            swarms: HashMap::new(),
            interval_secs: interval_secs.max(1),
            published: Default::default(),
            remembered: Remembered::default(),
            key_digest: Default::default(),
            peer_count: 0,
        }
    }

    /// Marks a torrent as published, so its completion count outlives its peers.
    pub fn pin(&mut self, hash: InfoHash) {
        self.published.insert(hash);
    }

    /// Swarms held in memory.
    pub fn swarm_count(&self) -> usize {
        self.swarms.len()
    }

    /// Peers held in memory, over all swarms.
    pub fn peer_count(&self) -> usize {
        self.peer_count
    }

    fn worth_keeping(published: &HashSet<InfoHash>, hash: &InfoHash, s: &Swarm) -> bool {
        !s.is_empty() || (s.downloaded > 0 && published.contains(hash))
    }

    pub fn interval_secs(&self) -> u32 {
        self.interval_secs
    }

    /// Records an announce from `source` and answers with other peers of the swarm.
    /// `Err` is the `failure reason` for a peer id announced by someone else.
    pub fn announce(
        &mut self,
        a: &Announce,
        source: IpAddr,
        now_ms: u64,
    ) -> Result<(AnnounceReply, Change), String> {
        let ip = a.ip.unwrap_or(source).to_canonical();
        let addr = PackedAddr::new(SocketAddr::new(ip, a.port));
        let key = a.key.as_ref().map(|k| self.key_digest.hash_one(k));
        if let Some(old) = self
            .swarms
            .get(&a.info_hash)
            .and_then(|s| s.get(&a.peer_id))
            && old.addr != addr
            && old.key.is_some()
            && old.key != key
        {
            return Err("peer_id is in use from another address, and key does not match".into());
        }
        // Listed at its IPv6 address too, if it has one besides the one it came from.
        let addr6 = a
            .ipv6
            .filter(|_| ip.is_ipv4())
            .map(PackedAddr::new)
            .filter(|a6| *a6 != addr);
        let swarm = self.swarms.entry(a.info_hash).or_default();
        let before = swarm.list.len();
        let change = if a.event == Some(Event::Stopped) {
            let old = swarm.remove(&a.peer_id);
            self.remembered.take(a.info_hash, a.peer_id);
            // Some clients (aria2c) go straight to `stopped` when done, never `completed`.
            if a.left == 0 && old.is_some_and(|o| o.left > 0) {
                swarm.downloaded += 1;
            }
            Change::Left
        } else {
            let was = swarm.get(&a.peer_id);
            let last_ms = match was {
                Some(o) => Some(o.last_ms),
                None => self.remembered.take(a.info_hash, a.peer_id),
            };
            let old_pace = was.map_or(0, |o| o.pace_ms);
            // Event announces come early; only regular ones show the peer's pace.
            let pace_ms = match last_ms {
                Some(last) if a.event.is_none() => {
                    now_ms.saturating_sub(last).min(MAX_PACE_MS) as u32
                }
                _ => old_pace,
            };
            let proven_seed = a.left == 0
                && (a.event == Some(Event::Completed)
                    || was.is_some_and(|o| o.left > 0 || o.proven_seed));
            let old = swarm.insert(
                a.peer_id,
                PeerRecord {
                    addr,
                    addr6,
                    left: a.left,
                    last_ms: now_ms,
                    pace_ms,
                    key,
                    proven_seed,
                },
            );
            // A completion counts once per peer, however often it says so.
            let finished = a.left == 0
                && match &old {
                    Some(o) => o.left > 0,
                    None => a.event == Some(Event::Completed),
                };
            if finished {
                swarm.downloaded += 1;
                Change::Completed
            } else if old.is_none() {
                Change::Joined
            } else {
                Change::Updated
            }
        };
        self.peer_count = self.peer_count + swarm.list.len() - before;
        let want = a.numwant.map_or(DEFAULT_NUMWANT, |n| n as usize);
        let proven_seed = swarm.get(&a.peer_id).is_some_and(|p| p.proven_seed);
        let peers = swarm.sample(want, &a.peer_id, proven_seed);
        let counts = swarm.counts();
        let reply = AnnounceReply {
            interval: self.interval_secs,
            min_interval: Some(self.interval_secs.min(MIN_INTERVAL_SECS)),
            complete: counts.complete,
            incomplete: counts.incomplete,
            peers,
        };
        if !Self::worth_keeping(&self.published, &a.info_hash, swarm) {
            self.swarms.remove(&a.info_hash);
        }
        Ok((reply, change))
    }

    /// Drops peers silent for two of their intervals: this is how an unexpected leave is noticed.
    pub fn expire(&mut self, now_ms: u64) -> Vec<(InfoHash, SocketAddr)> {
        let interval_ms = self.interval_secs as u64 * 1000;
        let mut gone = Vec::new();
        for (hash, swarm) in &mut self.swarms {
            let silent: Vec<[u8; 20]> = swarm
                .list
                .iter()
                .filter(|(_, p)| {
                    now_ms.saturating_sub(p.last_ms) > 2 * interval_ms.max(p.pace_ms as u64)
                })
                .map(|(id, _)| *id)
                .collect();
            for id in silent {
                if let Some(p) = swarm.remove(&id) {
                    gone.push((*hash, p.addr.get()));
                    self.remembered.push(*hash, id, p.last_ms);
                }
            }
        }
        self.peer_count -= gone.len();
        self.remembered.forget_older_than(now_ms);
        let published = &self.published;
        self.swarms
            .retain(|h, s| Self::worth_keeping(published, h, s));
        if self.swarms.capacity() > 64 && self.swarms.len() < self.swarms.capacity() / 4 {
            self.swarms.shrink_to(self.swarms.len() * 2);
        }
        gone
    }

    /// A swarm's peers, each once, at the address it announced from; sorted.
    pub fn peers(&self, hash: &InfoHash) -> Vec<SocketAddr> {
        let mut v: Vec<SocketAddr> = self
            .swarms
            .get(hash)
            .map(|s| s.list.iter().map(|(_, p)| p.addr.get()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    pub fn counts(&self, hash: &InfoHash) -> SwarmCounts {
        self.swarms.get(hash).map(Swarm::counts).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(id: u8, port: u16, left: u64, event: Option<Event>) -> Announce {
        Announce {
            info_hash: InfoHash([1; 20]),
            peer_id: [id; 20],
            port,
            uploaded: 0,
            downloaded: 0,
            left,
            event,
            numwant: None,
            compact: true,
            no_peer_id: false,
            ip: None,
            ipv6: None,
            key: None,
        }
    }

    const LO: IpAddr = IpAddr::V4(core::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn peers_see_each_other_but_not_themselves() {
        let mut r = Registry::new(60);
        r.announce(&ann(1, 7001, 0, Some(Event::Started)), LO, 0)
            .unwrap();
        let (reply, change) = r
            .announce(&ann(2, 7002, 10, Some(Event::Started)), LO, 0)
            .unwrap();
        assert_eq!(change, Change::Joined);
        assert_eq!(reply.peers.len(), 1);
        assert_eq!(reply.peers[0].0.port(), 7001);
        assert_eq!((reply.complete, reply.incomplete), (1, 1));
    }

    #[test]
    fn stopped_removes_at_once() {
        let mut r = Registry::new(60);
        r.announce(&ann(1, 7001, 0, Some(Event::Started)), LO, 0)
            .unwrap();
        let (_, change) = r
            .announce(&ann(1, 7001, 0, Some(Event::Stopped)), LO, 10)
            .unwrap();
        assert_eq!(change, Change::Left);
        assert!(r.peers(&InfoHash([1; 20])).is_empty());
    }

    #[test]
    fn silent_peers_expire_after_two_intervals() {
        let mut r = Registry::new(10);
        r.announce(&ann(1, 7001, 0, None), LO, 0).unwrap();
        r.announce(&ann(2, 7002, 0, None), LO, 15_000).unwrap();
        assert!(r.expire(20_000).is_empty());
        let gone = r.expire(20_001);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].1.port(), 7001);
        assert_eq!(r.peers(&InfoHash([1; 20])).len(), 1);
    }

    #[test]
    fn completion_counts_and_seeders_get_only_leechers() {
        let mut r = Registry::new(60);
        r.announce(&ann(1, 7001, 0, None), LO, 0).unwrap();
        r.announce(&ann(2, 7002, 5, None), LO, 0).unwrap();
        let (_, change) = r
            .announce(&ann(2, 7002, 0, Some(Event::Completed)), LO, 1)
            .unwrap();
        assert_eq!(change, Change::Completed);
        assert_eq!(
            r.counts(&InfoHash([1; 20])),
            SwarmCounts {
                complete: 2,
                incomplete: 0,
                downloaded: 1
            }
        );
        let (reply, _) = r.announce(&ann(2, 7002, 0, None), LO, 2).unwrap();
        assert!(reply.peers.is_empty(), "{:?}", reply.peers);
    }

    #[test]
    fn a_magnet_user_announcing_left_0_before_it_knows_the_size_still_gets_seeders() {
        let mut r = Registry::new(60);
        r.announce(&ann(1, 7001, 0, Some(Event::Started)), LO, 0)
            .unwrap();
        // aria2c fetching metadata: `started` with left=0, size unknown.
        let (reply, _) = r
            .announce(&ann(2, 7002, 0, Some(Event::Started)), LO, 1)
            .unwrap();
        assert_eq!(reply.peers.len(), 1, "it must be given the seeder");
        // Once it has said `completed`, it is a seeder and gets only leechers.
        r.announce(&ann(2, 7002, 0, Some(Event::Completed)), LO, 2)
            .unwrap();
        let (reply, _) = r.announce(&ann(2, 7002, 0, None), LO, 3).unwrap();
        assert!(reply.peers.is_empty(), "{:?}", reply.peers);
    }

    #[test]
    fn same_address_new_id_replaces_old_record() {
        let mut r = Registry::new(60);
        r.announce(&ann(1, 7001, 0, None), LO, 0).unwrap();
        r.announce(&ann(9, 7001, 0, None), LO, 1).unwrap();
        assert_eq!(r.peers(&InfoHash([1; 20])).len(), 1);
    }

    #[test]
    fn numwant_limits_the_list() {
        let mut r = Registry::new(60);
        for i in 0..10 {
            r.announce(&ann(i, 7000 + i as u16, 0, None), LO, 0)
                .unwrap();
        }
        let mut a = ann(99, 9999, 5, None);
        a.numwant = Some(3);
        assert_eq!(r.announce(&a, LO, 0).unwrap().0.peers.len(), 3);
    }

    #[test]
    fn a_completion_counts_once_and_a_stop_when_done_counts_too() {
        let mut r = Registry::new(60);
        r.announce(&ann(1, 7001, 5, Some(Event::Started)), LO, 0)
            .unwrap();
        r.announce(&ann(1, 7001, 0, Some(Event::Completed)), LO, 1)
            .unwrap();
        // Our peer and others may repeat themselves.
        r.announce(&ann(1, 7001, 0, Some(Event::Completed)), LO, 2)
            .unwrap();
        r.announce(&ann(1, 7001, 0, None), LO, 3).unwrap();
        assert_eq!(r.counts(&InfoHash([1; 20])).downloaded, 1);
        // aria2c says `stopped` with nothing left, never `completed`.
        r.announce(&ann(2, 7002, 5, Some(Event::Started)), LO, 4)
            .unwrap();
        r.announce(&ann(2, 7002, 0, Some(Event::Stopped)), LO, 5)
            .unwrap();
        assert_eq!(
            r.counts(&InfoHash([1; 20])),
            SwarmCounts {
                complete: 1,
                incomplete: 0,
                downloaded: 2
            }
        );
    }

    #[test]
    fn a_peer_slower_than_the_interval_is_dropped_at_most_once() {
        let mut r = Registry::new(10);
        // A client that announces every 300 s whatever the interval (libtorrent's floor).
        r.announce(&ann(1, 7001, 0, Some(Event::Started)), LO, 0)
            .unwrap();
        assert_eq!(r.expire(20_001).len(), 1);
        r.announce(&ann(1, 7001, 0, None), LO, 300_000).unwrap();
        assert!(r.expire(599_000).is_empty(), "its pace is now known");
        r.announce(&ann(1, 7001, 0, None), LO, 600_000).unwrap();
        assert!(r.expire(1_199_000).is_empty());
        assert_eq!(r.expire(1_200_001).len(), 1, "two of its own intervals");
        // A peer that keeps the tracker's pace is dropped after two intervals, as before.
        r.announce(&ann(2, 7002, 0, Some(Event::Started)), LO, 0)
            .unwrap();
        r.announce(&ann(2, 7002, 0, None), LO, 10_000).unwrap();
        assert_eq!(r.expire(30_001).len(), 1);
    }

    #[test]
    fn a_key_guards_a_peer_id_against_another_address() {
        let mut r = Registry::new(60);
        let mut a = ann(1, 7001, 5, None);
        a.key = Some(b"FBE3B926".to_vec());
        r.announce(&a, LO, 0).unwrap();
        let mut other = a.clone();
        other.port = 9999;
        other.key = Some(b"00000000".to_vec());
        assert!(r.announce(&other, LO, 1).unwrap_err().contains("key"));
        // The same client, moved to a new address, proves itself with its key.
        other.key = a.key.clone();
        r.announce(&other, LO, 2).unwrap();
        assert_eq!(r.peers(&InfoHash([1; 20])), vec![SocketAddr::new(LO, 9999)]);
    }

    #[test]
    fn an_emptied_swarm_is_forgotten_unless_published() {
        let mut r = Registry::new(10);
        let mut other = ann(2, 7002, 0, Some(Event::Completed));
        other.info_hash = InfoHash([2; 20]);
        r.pin(InfoHash([2; 20]));
        r.announce(&ann(1, 7001, 5, Some(Event::Started)), LO, 0)
            .unwrap();
        r.announce(&ann(1, 7001, 0, Some(Event::Completed)), LO, 1)
            .unwrap();
        r.announce(&other, LO, 1).unwrap();
        assert_eq!(r.swarm_count(), 2);
        assert_eq!(r.expire(30_000).len(), 2);
        // Nothing is left but the published count.
        assert_eq!(r.swarm_count(), 1);
        assert_eq!(r.counts(&InfoHash([2; 20])).downloaded, 1);
        assert_eq!(r.counts(&InfoHash([1; 20])), SwarmCounts::default());
        // A peer that leaves properly frees its swarm at once.
        let mut h3 = ann(3, 7003, 0, Some(Event::Started));
        h3.info_hash = InfoHash([3; 20]);
        r.announce(&h3, LO, 40_000).unwrap();
        h3.event = Some(Event::Stopped);
        r.announce(&h3, LO, 40_001).unwrap();
        assert_eq!(r.swarm_count(), 1);
    }

    #[test]
    fn answers_rotate_through_the_swarm_and_indexes_survive_removals() {
        let mut r = Registry::new(60);
        for i in 0..10u8 {
            r.announce(&ann(i, 7000 + i as u16, 5, None), LO, 0)
                .unwrap();
        }
        r.announce(&ann(3, 7003, 5, Some(Event::Stopped)), LO, 1)
            .unwrap();
        r.announce(&ann(0, 7000, 5, Some(Event::Stopped)), LO, 1)
            .unwrap();
        let mut seen = std::collections::HashSet::new();
        let mut asker = ann(99, 9999, 5, None);
        asker.numwant = Some(3);
        for t in 0..6 {
            let (reply, _) = r.announce(&asker, LO, 2 + t).unwrap();
            assert_eq!(reply.peers.len(), 3);
            seen.extend(reply.peers.iter().map(|(a, _)| a.port()));
        }
        let expected: std::collections::HashSet<u16> =
            [1, 2, 4, 5, 6, 7, 8, 9].iter().map(|i| 7000 + i).collect();
        assert_eq!(
            seen, expected,
            "every other peer handed out in turn, never the stopped ones"
        );
        assert_eq!(
            r.counts(&InfoHash([1; 20])),
            SwarmCounts {
                complete: 0,
                incomplete: 9,
                downloaded: 0
            }
        );
    }

    #[test]
    fn ipv6_peers_and_a_bep7_second_address_are_listed() {
        let mut r = Registry::new(60);
        let v6: IpAddr = "2001:db8::7".parse().unwrap();
        r.announce(&ann(1, 7001, 0, None), v6, 0).unwrap();
        // An IPv4 client over a dual-stack socket arrives IPv4-mapped: one form.
        let mapped: IpAddr = "::ffff:10.0.0.2".parse().unwrap();
        let mut both = ann(2, 7002, 5, None);
        both.ipv6 = Some("[2001:db8::2]:7002".parse().unwrap());
        r.announce(&both, mapped, 0).unwrap();
        assert_eq!(
            r.peers(&InfoHash([1; 20])),
            vec![
                "10.0.0.2:7002".parse::<SocketAddr>().unwrap(),
                "[2001:db8::7]:7001".parse().unwrap(),
            ],
            "each peer once, where it announced from"
        );
        let (reply, _) = r.announce(&ann(3, 7003, 5, None), LO, 1).unwrap();
        assert_eq!(reply.peers.len(), 3, "{:?}", reply.peers);
        assert_eq!(
            (reply.complete, reply.incomplete),
            (1, 2),
            "peers, not addresses"
        );
        assert_eq!(r.peer_count(), 3);
    }

    #[test]
    fn remembered_paces_are_bounded_over_the_whole_registry() {
        let mut r = Registry::new(1);
        for i in 0..(MAX_REMEMBERED as u32 + 10) {
            let mut a = ann(1, 7001, 0, None);
            a.info_hash = InfoHash([0; 20]);
            a.info_hash.0[..4].copy_from_slice(&i.to_be_bytes());
            r.announce(&a, LO, 0).unwrap();
        }
        assert_eq!(r.swarm_count(), MAX_REMEMBERED + 10);
        r.expire(10_000);
        assert_eq!((r.swarm_count(), r.peer_count()), (0, 0));
        assert_eq!(r.remembered.order.len(), MAX_REMEMBERED);
        assert_eq!(r.remembered.last_ms.len(), MAX_REMEMBERED);
        r.expire(10_000 + MAX_PACE_MS + 1);
        assert!(r.remembered.order.is_empty() && r.remembered.last_ms.is_empty());
    }
}
