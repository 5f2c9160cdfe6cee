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

/// 56 bytes: the registry's unit of memory, a million of them for a million peers.
#[derive(Debug, Clone)]
struct PeerRecord {
    addr: PackedAddr,
    /// `left == 0` in its last announce.
    seeding: bool,
    /// It said `completed`, or went from `left > 0` to 0: a seeder for sure.
    /// A client fetching a magnet's metadata does not know the size yet and
    /// announces `left=0` (aria2c does): until then it is given seeders too.
    proven_seed: bool,
    /// The gap between its last two regular announces; 0 until seen.
    pace_ms: u32,
    last_ms: u64,
    /// A digest of the client's `key` (0: none), which lets it prove who it is
    /// from a new address. Keyed by a secret, so a collision cannot be aimed at.
    key: u64,
    /// Its IPv6 address too, when it announced over IPv4 with `ipv6=` (BEP 7):
    /// rare, so boxed.
    addr6: Option<Box<PackedAddr>>,
}

/// Swarms up to this many peers have no indexes: a scan of their list is as
/// fast as a hash lookup, and most swarms are that small.
const INDEX_FROM: usize = 16;

/// Where a large swarm's peers are in its list, by id, and whose each address is.
#[derive(Debug, Default)]
struct Index {
    by_id: HashMap<[u8; 20], u32>,
    by_addr: HashMap<PackedAddr, [u8; 20]>,
}

/// One torrent's peers, laid out so an announce costs O(numwant), not O(swarm):
/// a dense list (with indexes by id and by address once it is large), counts
/// kept as peers change, and a cursor that hands out a different window of
/// peers each time.
#[derive(Debug, Default)]
struct Swarm {
    list: Vec<([u8; 20], PeerRecord)>,
    index: Option<Box<Index>>,
    seeders: u32,
    /// Completed downloads seen (BEP 48 `downloaded`).
    downloaded: u32,
    cursor: u32,
}

impl Swarm {
    fn position(&self, id: &[u8; 20]) -> Option<usize> {
        match &self.index {
            Some(ix) => ix.by_id.get(id).map(|&i| i as usize),
            None => self.list.iter().position(|(i, _)| i == id),
        }
    }

    fn id_at_addr(&self, addr: &PackedAddr) -> Option<[u8; 20]> {
        match &self.index {
            Some(ix) => ix.by_addr.get(addr).copied(),
            None => self
                .list
                .iter()
                .find(|(_, p)| p.addr == *addr)
                .map(|(i, _)| *i),
        }
    }

    fn get(&self, id: &[u8; 20]) -> Option<&PeerRecord> {
        self.position(id).map(|i| &self.list[i].1)
    }

    fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    fn build_index(&mut self) {
        let mut ix = Index::default();
        for (i, (id, p)) in self.list.iter().enumerate() {
            ix.by_id.insert(*id, i as u32);
            ix.by_addr.insert(p.addr, *id);
        }
        self.index = Some(Box::new(ix));
    }

    fn insert(&mut self, id: [u8; 20], rec: PeerRecord) -> Option<PeerRecord> {
        // A restarted client may come back under a new id at the same address.
        if let Some(other) = self.id_at_addr(&rec.addr)
            && other != id
        {
            self.remove(&other);
        }
        self.seeders += rec.seeding as u32;
        let addr = rec.addr;
        let old = match self.position(&id) {
            Some(i) => {
                let old = std::mem::replace(&mut self.list[i].1, rec);
                self.seeders -= old.seeding as u32;
                if let Some(ix) = &mut self.index
                    && old.addr != addr
                {
                    ix.by_addr.remove(&old.addr);
                }
                Some(old)
            }
            None => {
                if let Some(ix) = &mut self.index {
                    ix.by_id.insert(id, self.list.len() as u32);
                }
                self.list.push((id, rec));
                None
            }
        };
        match &mut self.index {
            Some(ix) => {
                ix.by_addr.insert(addr, id);
            }
            None if self.list.len() > INDEX_FROM => self.build_index(),
            None => {}
        }
        old
    }

    fn remove(&mut self, id: &[u8; 20]) -> Option<PeerRecord> {
        let i = self.position(id)?;
        let (_, rec) = self.list.swap_remove(i);
        if let Some(ix) = &mut self.index {
            ix.by_id.remove(id);
            if let Some((moved, _)) = self.list.get(i) {
                ix.by_id.insert(*moved, i as u32);
            }
            if ix.by_addr.get(&rec.addr) == Some(id) {
                ix.by_addr.remove(&rec.addr);
            }
        }
        self.seeders -= rec.seeding as u32;
        // A swarm that shrank gives its memory back.
        if self.index.is_some() && self.list.len() <= INDEX_FROM / 2 {
            self.index = None;
        }
        if self.list.capacity() > 8 && self.list.len() < self.list.capacity() / 4 {
            self.list.shrink_to(self.list.len() * 2);
            if let Some(ix) = &mut self.index {
                ix.by_id.shrink_to(self.list.len() * 2);
                ix.by_addr.shrink_to(self.list.len() * 2);
            }
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
        let start = if n == 0 { 0 } else { self.cursor as usize % n };
        for k in 0..n {
            if out.len() >= want {
                self.cursor = ((start + k) % n) as u32;
                return out;
            }
            let (id, p) = &self.list[(start + k) % n];
            if id != asker && !(asker_is_seed && p.seeding) {
                out.push((p.addr.get(), *id));
                if let Some(a6) = &p.addr6 {
                    out.push((a6.get(), *id));
                }
            }
        }
        self.cursor = if n == 0 { 0 } else { ((start + 1) % n) as u32 };
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
    /// The swarms an expiry sweep has yet to look at.
    sweep: Vec<InfoHash>,
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
            sweep: Vec::new(),
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
        // 0 is "no key"; a digest of 0 is taken as 1, which costs nothing.
        let key = a
            .key
            .as_ref()
            .map_or(0, |k| self.key_digest.hash_one(k).max(1));
        if let Some(old) = self
            .swarms
            .get(&a.info_hash)
            .and_then(|s| s.get(&a.peer_id))
            && old.addr != addr
            && old.key != 0
            && old.key != key
        {
            return Err("peer_id is in use from another address, and key does not match".into());
        }
        // Listed at its IPv6 address too, if it has one besides the one it came from.
        let addr6 = a
            .ipv6
            .filter(|_| ip.is_ipv4())
            .map(PackedAddr::new)
            .filter(|a6| *a6 != addr)
            .map(Box::new);
        let swarm = self.swarms.entry(a.info_hash).or_default();
        let before = swarm.list.len();
        let change = if a.event == Some(Event::Stopped) {
            let old = swarm.remove(&a.peer_id);
            self.remembered.take(a.info_hash, a.peer_id);
            // Some clients (aria2c) go straight to `stopped` when done, never `completed`.
            if a.left == 0 && old.is_some_and(|o| !o.seeding) {
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
                    || was.is_some_and(|o| !o.seeding || o.proven_seed));
            let old = swarm.insert(
                a.peer_id,
                PeerRecord {
                    addr,
                    addr6,
                    seeding: a.left == 0,
                    last_ms: now_ms,
                    pace_ms,
                    key,
                    proven_seed,
                },
            );
            // A completion counts once per peer, however often it says so.
            let finished = a.left == 0
                && match &old {
                    Some(o) => !o.seeding,
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

    /// Drops peers silent for two of their intervals: this is how an
    /// unexpected leave is noticed. The whole registry at once; a server holds
    /// its lock for `expire_slice`s instead.
    pub fn expire(&mut self, now_ms: u64) -> Vec<(InfoHash, SocketAddr)> {
        let mut gone = Vec::new();
        while !self.expire_slice(now_ms, usize::MAX, &mut gone) {}
        gone
    }

    /// One slice of a sweep: swarms, in the order the sweep's snapshot took
    /// them, until about `budget` peers have been looked at. True when the
    /// sweep is over; the next call starts another. Expired peers are added
    /// to `gone`. A sweep sees every swarm that existed when it began, so a
    /// caller that drops its lock between slices keeps each hold short.
    pub fn expire_slice(
        &mut self,
        now_ms: u64,
        budget: usize,
        gone: &mut Vec<(InfoHash, SocketAddr)>,
    ) -> bool {
        if self.sweep.is_empty() {
            self.sweep = self.swarms.keys().copied().collect();
        }
        let interval_ms = self.interval_secs as u64 * 1000;
        let mut looked = 0;
        while looked < budget {
            let Some(hash) = self.sweep.pop() else {
                break;
            };
            let Some(swarm) = self.swarms.get_mut(&hash) else {
                continue;
            };
            looked += swarm.list.len() + 1;
            let silent = |p: &PeerRecord| {
                now_ms.saturating_sub(p.last_ms) > 2 * interval_ms.max(p.pace_ms as u64)
            };
            if swarm.list.iter().all(|(_, p)| silent(p)) {
                // The whole swarm went quiet: no need to take it apart peer by peer.
                self.peer_count -= swarm.list.len();
                for (id, p) in std::mem::take(&mut swarm.list) {
                    gone.push((hash, p.addr.get()));
                    self.remembered.push(hash, id, p.last_ms);
                }
                swarm.seeders = 0;
                swarm.index = None;
            } else {
                let ids: Vec<[u8; 20]> = swarm
                    .list
                    .iter()
                    .filter(|(_, p)| silent(p))
                    .map(|(id, _)| *id)
                    .collect();
                for id in ids {
                    if let Some(p) = swarm.remove(&id) {
                        gone.push((hash, p.addr.get()));
                        self.remembered.push(hash, id, p.last_ms);
                        self.peer_count -= 1;
                    }
                }
            }
            if !Self::worth_keeping(&self.published, &hash, swarm) {
                self.swarms.remove(&hash);
            }
        }
        if !self.sweep.is_empty() {
            return false;
        }
        self.sweep = Vec::new();
        self.remembered.forget_older_than(now_ms);
        if self.swarms.capacity() > 64 && self.swarms.len() < self.swarms.capacity() / 4 {
            self.swarms.shrink_to(self.swarms.len() * 2);
        }
        true
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
            event,
            no_peer_id: false,
            ..Announce::started(InfoHash([1; 20]), [id; 20], port, left)
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

    #[test]
    fn large_swarms_are_indexed_and_small_again_are_not() {
        let mut r = Registry::new(60);
        let n = (INDEX_FROM * 3) as u8;
        for i in 0..n {
            r.announce(&ann(i, 7000 + i as u16, 5, None), LO, 0)
                .unwrap();
        }
        let swarm = |r: &Registry| r.swarms.get(&InfoHash([1; 20])).map(|s| s.index.is_some());
        assert_eq!(swarm(&r), Some(true));
        // Same address, new id: the old record goes, through the index.
        r.announce(&ann(200, 7003, 5, None), LO, 1).unwrap();
        assert_eq!(r.peer_count(), n as usize);
        // Each peer found by id, whatever swap_remove moved.
        for i in (0..n).step_by(2) {
            if i != 3 {
                r.announce(&ann(i, 7000 + i as u16, 5, Some(Event::Stopped)), LO, 2)
                    .unwrap();
            }
        }
        let left: Vec<u16> = r
            .peers(&InfoHash([1; 20]))
            .iter()
            .map(|a| a.port())
            .collect();
        let mut expected: Vec<u16> = (0..n)
            .filter(|i| i % 2 == 1 && *i != 3)
            .map(|i| 7000 + i as u16)
            .collect();
        expected.push(7003);
        expected.sort();
        assert_eq!(left, expected);
        for i in (1..n).step_by(2) {
            r.announce(&ann(i, 7000 + i as u16, 5, Some(Event::Stopped)), LO, 3)
                .unwrap();
        }
        assert_eq!(swarm(&r), Some(false), "down to one peer: no index");
        assert_eq!(r.peer_count(), 1);
    }

    #[test]
    fn expiry_in_slices_covers_every_swarm_and_announces_may_come_between() {
        let mut r = Registry::new(1);
        for s in 0..50u8 {
            for p in 0..3u8 {
                let mut a = ann(p, 7000 + p as u16, 5, None);
                a.info_hash = InfoHash([s; 20]);
                r.announce(&a, LO, 0).unwrap();
            }
        }
        let mut gone = Vec::new();
        let mut slices = 1;
        while !r.expire_slice(10_000, 10, &mut gone) {
            slices += 1;
            // A peer joining mid-sweep is not swept by it.
            let mut a = ann(9, 9000 + slices, 5, None);
            a.info_hash = InfoHash([200; 20]);
            r.announce(&a, LO, 10_000).unwrap();
        }
        assert!(slices > 10, "{slices} slices");
        assert_eq!(gone.len(), 150);
        assert_eq!((r.swarm_count(), r.peer_count()), (1, 1));
    }
}
