//! Who may download from us: `slots` regular unchokes plus one optimistic unchoke.
//!
//! Regular slots go to interested peers ranked by the rate they send to us now
//! (tit for tat), then by the bytes we have downloaded from them before (the
//! ledger: the assignment's "preferred" peers), then by how long they have waited.
//! A seeder, which downloads from nobody, ranks by ledger and rotates the rest
//! round-robin. Every 30 s the optimistic slot moves to a random choked,
//! interested peer; newcomers are three times as likely to get it.
//! Pure: time is passed in, randomness is seeded.

use std::cmp::Ordering;

use super::piece_picker::PeerKey;

pub const RECHOKE_MS: u64 = 10_000;
pub const OPTIMISTIC_MS: u64 = 30_000;
/// The last free slot is given this long after someone first asks for it, so
/// that peers asking at about the same moment are ranked rather than raced.
pub const GRACE_MS: u64 = 1000;
const NEWCOMER_WEIGHT: usize = 3;

/// What the choker knows of one connected peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub key: PeerKey,
    pub interested: bool,
    /// Bytes per second this peer sends us now.
    pub rate_from: u64,
    /// Bytes we downloaded from this peer before, from the ledger.
    pub history: u64,
    /// When it became interested while choked; earlier waits rank higher.
    pub waiting_since_ms: u64,
    /// Has no pieces yet: favoured for the optimistic slot.
    pub newcomer: bool,
    pub unchoked: bool,
}

pub struct Choker {
    slots: usize,
    optimistic: Option<PeerKey>,
    last_optimistic_ms: Option<u64>,
    round_robin: usize,
    grace_since_ms: Option<u64>,
    /// When someone first asked: the optimistic slot opens one rechoke period
    /// later, so it never races the preferred peers for the very first pieces.
    first_interest_ms: Option<u64>,
    rng: fastrand::Rng,
}

impl Choker {
    pub fn new(slots: usize, seed: u64) -> Self {
        Choker {
            slots,
            optimistic: None,
            last_optimistic_ms: None,
            round_robin: 0,
            grace_since_ms: None,
            first_interest_ms: None,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    pub fn optimistic(&self) -> Option<PeerKey> {
        self.optimistic
    }

    fn compare(seeding: bool, a: &Candidate, b: &Candidate) -> Ordering {
        let by_rate = if seeding {
            Ordering::Equal
        } else {
            b.rate_from.cmp(&a.rate_from)
        };
        by_rate
            .then(b.history.cmp(&a.history))
            .then(a.waiting_since_ms.cmp(&b.waiting_since_ms))
            .then(a.key.cmp(&b.key))
    }

    /// Interested peers, best first.
    pub fn rank(&self, seeding: bool, peers: &[Candidate]) -> Vec<PeerKey> {
        let mut v: Vec<&Candidate> = peers.iter().filter(|c| c.interested).collect();
        v.sort_by(|a, b| Self::compare(seeding, a, b));
        if seeding {
            // Preferred peers (with history) keep their order; the rest take turns.
            let split = v.iter().position(|c| c.history == 0).unwrap_or(v.len());
            let rest = &mut v[split..];
            if !rest.is_empty() {
                rest.sort_by_key(|c| c.key);
                let k = self.round_robin % rest.len();
                rest.rotate_left(k);
            }
        }
        v.into_iter().map(|c| c.key).collect()
    }

    /// The periodic rechoke (every RECHOKE_MS): returns the full set of peers to unchoke.
    pub fn rechoke(&mut self, now_ms: u64, seeding: bool, peers: &[Candidate]) -> Vec<PeerKey> {
        self.round_robin = self.round_robin.wrapping_add(1);
        self.grace_since_ms = None;
        let ranked = self.rank(seeding, peers);
        if !ranked.is_empty() {
            self.first_interest_ms.get_or_insert(now_ms);
        }
        let mut unchoke: Vec<PeerKey> = ranked.iter().copied().take(self.slots).collect();
        let open = self
            .first_interest_ms
            .is_some_and(|t| now_ms >= t + RECHOKE_MS);
        let still_valid = self
            .optimistic
            .is_some_and(|o| ranked.contains(&o) && !unchoke.contains(&o));
        let due = self
            .last_optimistic_ms
            .is_none_or(|t| now_ms.saturating_sub(t) >= OPTIMISTIC_MS);
        if open && (due || !still_valid) {
            self.optimistic = self.draw_optimistic(peers, &unchoke);
            self.last_optimistic_ms = Some(now_ms);
        }
        unchoke.extend(self.optimistic);
        unchoke
    }

    fn draw_optimistic(&mut self, peers: &[Candidate], regular: &[PeerKey]) -> Option<PeerKey> {
        let pool: Vec<&Candidate> = peers
            .iter()
            .filter(|c| c.interested && !regular.contains(&c.key))
            .collect();
        let total: usize = pool
            .iter()
            .map(|c| if c.newcomer { NEWCOMER_WEIGHT } else { 1 })
            .sum();
        if total == 0 {
            return None;
        }
        let mut ticket = self.rng.usize(..total);
        for c in pool {
            let w = if c.newcomer { NEWCOMER_WEIGHT } else { 1 };
            if ticket < w {
                return Some(c.key);
            }
            ticket -= w;
        }
        None
    }

    /// Between rechokes, when a peer's interest changes: fill free regular slots in
    /// rank order, and let a waiting peer with more ledger history take the slot of
    /// the least preferred one at once. This is the assignment's rule: the preferred
    /// requester starts first. The last free slot waits GRACE_MS from the first ask,
    /// and the returned time says when to call again. The optimistic slot is left to
    /// the periodic rechoke.
    pub fn on_interest_change(
        &mut self,
        now_ms: u64,
        seeding: bool,
        peers: &[Candidate],
    ) -> (Vec<PeerKey>, Option<u64>) {
        let ranked = self.rank(seeding, peers);
        if self.optimistic.is_some_and(|o| !ranked.contains(&o)) {
            self.optimistic = None;
        }
        let by_key = |k: PeerKey| {
            peers
                .iter()
                .find(|c| c.key == k)
                .expect("ranked from peers")
        };
        let mut regular: Vec<PeerKey> = ranked
            .iter()
            .copied()
            .filter(|&k| by_key(k).unchoked && Some(k) != self.optimistic)
            .collect();
        regular.truncate(self.slots);
        let mut recall = None;
        for &k in &ranked {
            if regular.contains(&k) || Some(k) == self.optimistic {
                continue;
            }
            if regular.len() + 1 < self.slots {
                regular.push(k);
                continue;
            }
            if regular.len() + 1 == self.slots {
                let since = *self.grace_since_ms.get_or_insert(now_ms);
                if now_ms < since + GRACE_MS {
                    recall = Some(since + GRACE_MS);
                    break;
                }
                self.grace_since_ms = None;
                regular.push(k);
                continue;
            }
            let worst = regular
                .iter()
                .copied()
                .min_by(|&a, &b| by_key(a).history.cmp(&by_key(b).history).then(b.cmp(&a)));
            if let Some(w) = worst
                && by_key(k).history > by_key(w).history
            {
                regular.retain(|&r| r != w);
                regular.push(k);
            }
        }
        regular.extend(self.optimistic);
        (regular, recall)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(key: PeerKey) -> Candidate {
        Candidate {
            key,
            interested: true,
            rate_from: 0,
            history: 0,
            waiting_since_ms: 0,
            newcomer: false,
            unchoked: false,
        }
    }

    #[test]
    fn ranking_is_rate_then_history_then_wait() {
        let c = Choker::new(4, 1);
        let peers = [
            Candidate {
                rate_from: 10,
                history: 0,
                ..cand(1)
            },
            Candidate {
                rate_from: 50,
                history: 0,
                ..cand(2)
            },
            Candidate {
                rate_from: 10,
                history: 900,
                ..cand(3)
            },
            Candidate {
                rate_from: 10,
                history: 0,
                waiting_since_ms: 5,
                ..cand(4)
            },
            Candidate {
                interested: false,
                rate_from: 99,
                ..cand(5)
            },
        ];
        assert_eq!(c.rank(false, &peers), vec![2, 3, 1, 4]);
    }

    #[test]
    fn preferred_first_with_one_slot() {
        let mut c = Choker::new(1, 1);
        let newcomer = Candidate {
            waiting_since_ms: 0,
            ..cand(1)
        };
        let preferred = Candidate {
            history: 1 << 20,
            waiting_since_ms: 100,
            ..cand(2)
        };
        // The newcomer asks first: the last slot waits out the grace period...
        assert_eq!(
            c.on_interest_change(1000, true, &[newcomer]),
            (vec![], Some(1000 + GRACE_MS))
        );
        // ...during which the preferred peer asks too, and gets the only slot.
        let both = [newcomer, preferred];
        assert_eq!(
            c.on_interest_change(1200, true, &both),
            (vec![], Some(1000 + GRACE_MS))
        );
        assert_eq!(
            c.on_interest_change(1000 + GRACE_MS, true, &both).0,
            vec![2]
        );
        // The other holds the slot: the preferred one takes it over at once.
        let holding = Candidate {
            unchoked: true,
            ..newcomer
        };
        assert_eq!(
            c.on_interest_change(9000, true, &[holding, preferred]).0,
            vec![2]
        );
        // Equal history never preempts, so slots do not flap.
        let equal = Candidate {
            history: 0,
            ..preferred
        };
        assert_eq!(
            c.on_interest_change(9000, true, &[holding, equal]).0,
            vec![1]
        );
    }

    #[test]
    fn slots_but_the_last_fill_at_once() {
        let mut c = Choker::new(3, 1);
        let peers = [cand(1), cand(2), cand(3)];
        let (set, recall) = c.on_interest_change(0, false, &peers);
        assert_eq!(set.len(), 2);
        assert_eq!(recall, Some(GRACE_MS));
        assert_eq!(c.on_interest_change(GRACE_MS, false, &peers).0.len(), 3);
    }

    #[test]
    fn optimistic_slot_rotates_every_30s() {
        let mut c = Choker::new(1, 42);
        let peers: Vec<Candidate> = (1..=6)
            .map(|k| Candidate {
                history: if k == 1 { 100 } else { 0 },
                ..cand(k)
            })
            .collect();
        assert_eq!(
            c.rechoke(0, false, &peers),
            vec![1],
            "the preferred peer first, alone for a period"
        );
        let first = c.rechoke(RECHOKE_MS, false, &peers);
        assert_eq!(first.len(), 2);
        assert_eq!(first[0], 1, "regular slot is the preferred peer");
        let opt = c.optimistic().unwrap();
        assert_ne!(opt, 1);
        assert_eq!(
            c.rechoke(RECHOKE_MS + 10_000, false, &peers)[1],
            opt,
            "kept until 30 s"
        );
        assert_eq!(c.rechoke(RECHOKE_MS + 20_000, false, &peers)[1], opt);
        let mut seen = std::collections::HashSet::new();
        for i in 1..40 {
            c.rechoke(i * OPTIMISTIC_MS, false, &peers);
            seen.insert(c.optimistic().unwrap());
        }
        assert!(seen.len() >= 4, "rotates among the choked peers: {seen:?}");
        assert!(!seen.contains(&1));
    }

    #[test]
    fn newcomers_are_three_times_as_likely() {
        let mut c = Choker::new(0, 9);
        let peers = [
            Candidate {
                newcomer: true,
                ..cand(1)
            },
            cand(2),
        ];
        let mut newcomer_wins = 0;
        c.rechoke(0, false, &peers);
        for i in 1..=4000 {
            c.rechoke(i * OPTIMISTIC_MS, false, &peers);
            newcomer_wins += (c.optimistic() == Some(1)) as u32;
        }
        let share = newcomer_wins as f64 / 4000.0;
        assert!((0.70..0.80).contains(&share), "expected ~0.75, got {share}");
    }

    #[test]
    fn seeder_rotates_round_robin() {
        let mut c = Choker::new(2, 3);
        let peers: Vec<Candidate> = (1..=5).map(cand).collect();
        let mut served = std::collections::HashSet::new();
        for i in 0..5 {
            let set = c.rechoke(i * RECHOKE_MS, true, &peers);
            served.extend(set.into_iter().take(2));
        }
        assert_eq!(served.len(), 5, "every peer gets a regular slot in turn");
    }

    #[test]
    fn seeder_keeps_preferred_peers_in_front() {
        let mut c = Choker::new(1, 3);
        let peers = [
            cand(1),
            Candidate {
                history: 5,
                ..cand(2)
            },
            cand(3),
        ];
        for i in 0..4 {
            assert_eq!(c.rechoke(i * RECHOKE_MS, true, &peers)[0], 2);
        }
    }

    #[test]
    fn uninterested_peers_are_never_unchoked() {
        let mut c = Choker::new(4, 3);
        let peers = [Candidate {
            interested: false,
            ..cand(1)
        }];
        assert!(c.rechoke(0, false, &peers).is_empty());
        assert!(c.on_interest_change(0, false, &peers).0.is_empty());
    }
}
