//! The tracker's live view of every swarm: who announced what, and when.
//! Pure: time is passed in as milliseconds, so expiry is tested without sleeping.
//!
//! A peer silent for two intervals is dropped, but "interval" is the peer's own
//! pace when it is slower than ours: libtorrent, for one, never re-announces
//! sooner than every 300 s whatever the tracker asks, and must not vanish from
//! the swarm in between. The pace is learnt from the gap between its regular
//! announces, and kept for a while after an expiry so a slow peer is dropped
//! at most once.

use core::net::{Ipv4Addr, SocketAddrV4};
use std::collections::HashMap;

use crate::common::metainfo::InfoHash;
use crate::common::tracker_proto::{Announce, AnnounceReply, Event};

const DEFAULT_NUMWANT: usize = 50;
/// A pace slower than this is not believed: the peer is just gone.
const MAX_PACE_MS: u64 = 3_600_000;
/// Expired peers remembered per swarm, for their pace.
const MAX_REMEMBERED: usize = 1024;
/// The `min interval` sent with every announce reply (capped at the interval):
/// a download short of peers re-announces this often, so a seeder that appears
/// mid-download is found within seconds rather than at the next interval.
pub const MIN_INTERVAL_SECS: u32 = 5;

#[derive(Debug, Clone)]
struct PeerRecord {
    addr: SocketAddrV4,
    left: u64,
    last_ms: u64,
    /// The gap between its last two regular announces; 0 until seen.
    pace_ms: u64,
    /// The client's `key`, which lets it prove who it is from a new address.
    key: Option<Vec<u8>>,
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
    by_id: HashMap<[u8; 20], usize>,
    by_addr: HashMap<SocketAddrV4, [u8; 20]>,
    seeders: u32,
    cursor: usize,
    /// Peers dropped for silence: when each last announced.
    expired: HashMap<[u8; 20], u64>,
    /// Completed downloads seen (BEP 48 `downloaded`).
    downloaded: u32,
}

impl Swarm {
    fn get(&self, id: &[u8; 20]) -> Option<&PeerRecord> {
        self.by_id.get(id).map(|&i| &self.list[i].1)
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
                let old = std::mem::replace(&mut self.list[i].1, rec);
                self.seeders -= (old.left == 0) as u32;
                if old.addr != self.list[i].1.addr {
                    self.by_addr.remove(&old.addr);
                }
                Some(old)
            }
            None => {
                self.by_id.insert(id, self.list.len());
                self.list.push((id, rec));
                None
            }
        }
    }

    fn remove(&mut self, id: &[u8; 20]) -> Option<PeerRecord> {
        let i = self.by_id.remove(id)?;
        let (_, rec) = self.list.swap_remove(i);
        if let Some((moved, _)) = self.list.get(i) {
            self.by_id.insert(*moved, i);
        }
        if self.by_addr.get(&rec.addr) == Some(id) {
            self.by_addr.remove(&rec.addr);
        }
        self.seeders -= (rec.left == 0) as u32;
        Some(rec)
    }

    /// Up to `want` peers other than the asker, starting where the last answer stopped.
    /// A proven seeder is given only leechers: it has no use for other seeders.
    fn sample(
        &mut self,
        want: usize,
        asker: &[u8; 20],
        asker_is_seed: bool,
    ) -> Vec<(SocketAddrV4, [u8; 20])> {
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
                out.push((p.addr, *id));
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

/// Every swarm with a peer, plus the little that outlives its peers: the pace
/// of recently expired ones (bounded per swarm and in time), and the completion
/// count of published torrents only. A swarm of an unpublished torrent whose
/// peers are all gone is forgotten, so announces for random info-hashes cost
/// memory only while their peers are live.
pub struct Registry {
    swarms: HashMap<InfoHash, Swarm>,
    interval_secs: u32,
    /// Published torrents: their completion counts are kept when their swarm empties.
    published: std::collections::HashSet<InfoHash>,
}

impl Registry {
    pub fn new(interval_secs: u32) -> Self {
        Registry {
            swarms: HashMap::new(),
            interval_secs: interval_secs.max(1),
            published: Default::default(),
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

    fn worth_keeping(
        published: &std::collections::HashSet<InfoHash>,
        hash: &InfoHash,
        s: &Swarm,
    ) -> bool {
        !s.is_empty() || !s.expired.is_empty() || (s.downloaded > 0 && published.contains(hash))
    }

    pub fn interval_secs(&self) -> u32 {
        self.interval_secs
    }

    /// Records an announce from `source` and answers with other peers of the swarm.
    /// `Err` is the `failure reason` for a peer id announced by someone else.
    pub fn announce(
        &mut self,
        a: &Announce,
        source: Ipv4Addr,
        now_ms: u64,
    ) -> Result<(AnnounceReply, Change), String> {
        let ip = a.ip.unwrap_or(source);
        let addr = SocketAddrV4::new(ip, a.port);
        if let Some(old) = self
            .swarms
            .get(&a.info_hash)
            .and_then(|s| s.get(&a.peer_id))
            && old.addr != addr
            && old.key.is_some()
            && old.key != a.key
        {
            return Err("peer_id is in use from another address, and key does not match".into());
        }
        let swarm = self.swarms.entry(a.info_hash).or_default();
        let change = if a.event == Some(Event::Stopped) {
            let old = swarm.remove(&a.peer_id);
            swarm.expired.remove(&a.peer_id);
            // Some clients (aria2c) go straight to `stopped` when done, never `completed`.
            if a.left == 0 && old.is_some_and(|o| o.left > 0) {
                swarm.downloaded += 1;
            }
            Change::Left
        } else {
            let last_ms = swarm
                .get(&a.peer_id)
                .map(|o| o.last_ms)
                .or_else(|| swarm.expired.remove(&a.peer_id));
            let old_pace = swarm.get(&a.peer_id).map_or(0, |o| o.pace_ms);
            // Event announces come early; only regular ones show the peer's pace.
            let pace_ms = match last_ms {
                Some(last) if a.event.is_none() => now_ms.saturating_sub(last).min(MAX_PACE_MS),
                _ => old_pace,
            };
            let was = swarm.get(&a.peer_id);
            let proven_seed = a.left == 0
                && (a.event == Some(Event::Completed)
                    || was.is_some_and(|o| o.left > 0 || o.proven_seed));
            let old = swarm.insert(
                a.peer_id,
                PeerRecord {
                    addr,
                    left: a.left,
                    last_ms: now_ms,
                    pace_ms,
                    key: a.key.clone(),
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
    pub fn expire(&mut self, now_ms: u64) -> Vec<(InfoHash, SocketAddrV4)> {
        let interval_ms = self.interval_secs as u64 * 1000;
        let mut gone = Vec::new();
        for (hash, swarm) in &mut self.swarms {
            let silent: Vec<[u8; 20]> = swarm
                .list
                .iter()
                .filter(|(_, p)| now_ms.saturating_sub(p.last_ms) > 2 * interval_ms.max(p.pace_ms))
                .map(|(id, _)| *id)
                .collect();
            for id in silent {
                if let Some(p) = swarm.remove(&id) {
                    gone.push((*hash, p.addr));
                    if swarm.expired.len() < MAX_REMEMBERED {
                        swarm.expired.insert(id, p.last_ms);
                    }
                }
            }
            swarm
                .expired
                .retain(|_, last| now_ms.saturating_sub(*last) <= MAX_PACE_MS);
        }
        let published = &self.published;
        self.swarms
            .retain(|h, s| Self::worth_keeping(published, h, s));
        gone
    }

    pub fn peers(&self, hash: &InfoHash) -> Vec<SocketAddrV4> {
        let mut v: Vec<SocketAddrV4> = self
            .swarms
            .get(hash)
            .map(|s| s.list.iter().map(|(_, p)| p.addr).collect())
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
            key: None,
        }
    }

    const LO: Ipv4Addr = Ipv4Addr::LOCALHOST;

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
        assert_eq!(
            r.peers(&InfoHash([1; 20])),
            vec![SocketAddrV4::new(LO, 9999)]
        );
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
        // Their paces are remembered for a while, then nothing is left but the published count.
        r.expire(30_000 + MAX_PACE_MS);
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
}
