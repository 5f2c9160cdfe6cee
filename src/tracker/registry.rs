//! The tracker's live view of every swarm: who announced what, and when.
//! Pure: time is passed in as milliseconds, so expiry is tested without sleeping.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use crate::common::metainfo::InfoHash;
use crate::common::tracker_proto::{Announce, AnnounceReply, Event};

const DEFAULT_NUMWANT: usize = 50;

#[derive(Debug, Clone)]
struct PeerRecord {
    addr: SocketAddrV4,
    left: u64,
    last_ms: u64,
}

#[derive(Debug, Default)]
struct Swarm {
    peers: HashMap<[u8; 20], PeerRecord>,
    /// Completed downloads seen (BEP 48 `downloaded`).
    downloaded: u32,
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

pub struct Registry {
    swarms: HashMap<InfoHash, Swarm>,
    interval_secs: u32,
}

impl Registry {
    pub fn new(interval_secs: u32) -> Self {
        Registry {
            swarms: HashMap::new(),
            interval_secs: interval_secs.max(1),
        }
    }

    pub fn interval_secs(&self) -> u32 {
        self.interval_secs
    }

    /// Records an announce from `source` and answers with other peers of the swarm.
    pub fn announce(
        &mut self,
        a: &Announce,
        source: Ipv4Addr,
        now_ms: u64,
    ) -> (AnnounceReply, Change) {
        let ip = a.ip.unwrap_or(source);
        let addr = SocketAddrV4::new(ip, a.port);
        let swarm = self.swarms.entry(a.info_hash).or_default();
        let change = if a.event == Some(Event::Stopped) {
            swarm.peers.remove(&a.peer_id);
            Change::Left
        } else {
            // A restarted client may come back under a new id at the same address.
            swarm
                .peers
                .retain(|id, p| *id == a.peer_id || p.addr != addr);
            let old = swarm.peers.insert(
                a.peer_id,
                PeerRecord {
                    addr,
                    left: a.left,
                    last_ms: now_ms,
                },
            );
            let finished = a.event == Some(Event::Completed)
                || (a.left == 0 && old.as_ref().is_some_and(|o| o.left > 0));
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
        let mut peers: Vec<(SocketAddrV4, [u8; 20])> = swarm
            .peers
            .iter()
            .filter(|(id, p)| **id != a.peer_id && p.addr != addr)
            // A seeder has no use for other seeders.
            .filter(|(_, p)| a.left > 0 || p.left > 0)
            .map(|(id, p)| (p.addr, *id))
            .collect();
        peers.sort_by_key(|(addr, _)| *addr);
        if peers.len() > want {
            // Rotate the window by time so every peer gets handed out in turn.
            let start = (now_ms / 1000) as usize % peers.len();
            peers.rotate_left(start);
            peers.truncate(want);
        }
        let counts = count(swarm);
        let reply = AnnounceReply {
            interval: self.interval_secs,
            complete: counts.complete,
            incomplete: counts.incomplete,
            peers,
        };
        if swarm.peers.is_empty() && swarm.downloaded == 0 {
            self.swarms.remove(&a.info_hash);
        }
        (reply, change)
    }

    /// Drops peers silent for two intervals: this is how an unexpected leave is noticed.
    pub fn expire(&mut self, now_ms: u64) -> Vec<(InfoHash, SocketAddrV4)> {
        let limit = 2 * self.interval_secs as u64 * 1000;
        let mut gone = Vec::new();
        for (hash, swarm) in &mut self.swarms {
            swarm.peers.retain(|_, p| {
                let keep = now_ms.saturating_sub(p.last_ms) <= limit;
                if !keep {
                    gone.push((*hash, p.addr));
                }
                keep
            });
        }
        gone
    }

    pub fn peers(&self, hash: &InfoHash) -> Vec<SocketAddrV4> {
        let mut v: Vec<SocketAddrV4> = self
            .swarms
            .get(hash)
            .map(|s| s.peers.values().map(|p| p.addr).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    pub fn counts(&self, hash: &InfoHash) -> SwarmCounts {
        self.swarms.get(hash).map(count).unwrap_or_default()
    }
}

fn count(s: &Swarm) -> SwarmCounts {
    let complete = s.peers.values().filter(|p| p.left == 0).count() as u32;
    SwarmCounts {
        complete,
        incomplete: s.peers.len() as u32 - complete,
        downloaded: s.downloaded,
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
        }
    }

    const LO: Ipv4Addr = Ipv4Addr::LOCALHOST;

    #[test]
    fn peers_see_each_other_but_not_themselves() {
        let mut r = Registry::new(60);
        r.announce(&ann(1, 7001, 0, Some(Event::Started)), LO, 0);
        let (reply, change) = r.announce(&ann(2, 7002, 10, Some(Event::Started)), LO, 0);
        assert_eq!(change, Change::Joined);
        assert_eq!(reply.peers.len(), 1);
        assert_eq!(reply.peers[0].0.port(), 7001);
        assert_eq!((reply.complete, reply.incomplete), (1, 1));
    }

    #[test]
    fn stopped_removes_at_once() {
        let mut r = Registry::new(60);
        r.announce(&ann(1, 7001, 0, Some(Event::Started)), LO, 0);
        let (_, change) = r.announce(&ann(1, 7001, 0, Some(Event::Stopped)), LO, 10);
        assert_eq!(change, Change::Left);
        assert!(r.peers(&InfoHash([1; 20])).is_empty());
    }

    #[test]
    fn silent_peers_expire_after_two_intervals() {
        let mut r = Registry::new(10);
        r.announce(&ann(1, 7001, 0, None), LO, 0);
        r.announce(&ann(2, 7002, 0, None), LO, 15_000);
        assert!(r.expire(20_000).is_empty());
        let gone = r.expire(20_001);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].1.port(), 7001);
        assert_eq!(r.peers(&InfoHash([1; 20])).len(), 1);
    }

    #[test]
    fn completion_counts_and_seeders_get_only_leechers() {
        let mut r = Registry::new(60);
        r.announce(&ann(1, 7001, 0, None), LO, 0);
        r.announce(&ann(2, 7002, 5, None), LO, 0);
        let (_, change) = r.announce(&ann(2, 7002, 0, Some(Event::Completed)), LO, 1);
        assert_eq!(change, Change::Completed);
        assert_eq!(
            r.counts(&InfoHash([1; 20])),
            SwarmCounts {
                complete: 2,
                incomplete: 0,
                downloaded: 1
            }
        );
        let (reply, _) = r.announce(&ann(1, 7001, 0, None), LO, 2);
        assert!(reply.peers.is_empty());
    }

    #[test]
    fn same_address_new_id_replaces_old_record() {
        let mut r = Registry::new(60);
        r.announce(&ann(1, 7001, 0, None), LO, 0);
        r.announce(&ann(9, 7001, 0, None), LO, 1);
        assert_eq!(r.peers(&InfoHash([1; 20])).len(), 1);
    }

    #[test]
    fn numwant_limits_the_list() {
        let mut r = Registry::new(60);
        for i in 0..10 {
            r.announce(&ann(i, 7000 + i as u16, 0, None), LO, 0);
        }
        let mut a = ann(99, 9999, 5, None);
        a.numwant = Some(3);
        assert_eq!(r.announce(&a, LO, 0).0.peers.len(), 3);
    }
}
