//! Who may download from us: `slots` regular unchokes plus one optimistic unchoke.
//!
//! Regular slots go to interested peers ranked by the rate they send to us now
//! (tit for tat), then by the bytes we have downloaded from them before (the
//! ledger: the assignment's "preferred" peers), then by how long they have waited.
//! A seeder, which downloads from nobody, ranks by ledger and rotates the rest
//! round-robin. Every 30 s the optimistic slot moves to a random choked,
//! interested peer; newcomers are three times as likely to get it.
//! A peer given a slot that sends no request within IDLE_SLOT_MS loses it at
//! once and ranks behind every peer that has not wasted one, until it requests:
//! idle peers cannot hold the slots honest downloaders need. While no interested
//! peer has ledger history (no preference is at stake), a peer that has never
//! had a slot is unchoked on trial at once, and trials that have not asked for
//! anything yet take no slot: a crowd of idle strangers cannot make an honest
//! newcomer queue behind them, since an unchoke nobody uses costs nothing.
//! Pure: time is passed in, randomness is seeded.

use std::cmp::Ordering;

use super::piece_picker::PeerKey;

pub const RECHOKE_MS: u64 = 10_000;
pub const OPTIMISTIC_MS: u64 = 30_000;
/// The last free slot is given this long after someone first asks for it, so
/// that peers asking at about the same moment are ranked rather than raced.
pub const GRACE_MS: u64 = 1000;
const NEWCOMER_WEIGHT: usize = 3;
/// An unchoked peer that has not requested anything this long after its unchoke
/// is not using its slot. Several round trips, even on a slow link.
pub const IDLE_SLOT_MS: u64 = 4_000;
/// Peers that have requested from us before are this much likelier to get the optimistic slot.
const REQUESTER_WEIGHT: usize = 3;

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
    /// When it was last unchoked (meaningful while `unchoked`).
    pub unchoked_at_ms: u64,
    /// When it last requested a block while unchoked; 0 if never.
    pub last_request_ms: u64,
    /// Slots it lost for not using them, since it last requested.
    pub wasted: u32,
}

impl Candidate {
    /// Holds a slot and has not requested since it got it.
    fn unused_slot(&self) -> bool {
        self.unchoked && self.last_request_ms < self.unchoked_at_ms
    }

    /// Holds a slot it has not used for IDLE_SLOT_MS.
    pub fn idle_holder(&self, now_ms: u64) -> bool {
        self.unused_slot() && now_ms >= self.unchoked_at_ms + IDLE_SLOT_MS
    }

    /// Has had a slot at some time on this connection.
    fn tried(&self) -> bool {
        self.unchoked || self.unchoked_at_ms > 0
    }

    /// Unchoked on trial and has not asked for anything yet: with the door open,
    /// such a peer holds no slot (see `open_door`).
    fn on_trial(&self) -> bool {
        self.unused_slot() && self.wasted == 0
    }
}

/// No interested peer has ledger history, so the order in which strangers are
/// let in prefers nobody, and trials may run side by side.
fn open_door(peers: &[Candidate]) -> bool {
    peers.iter().all(|c| !c.interested || c.history == 0)
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
        let mut v: Vec<&Candidate> = peers
            .iter()
            .filter(|c| c.interested && c.wasted == 0)
            .collect();
        let mut wasters: Vec<&Candidate> = peers
            .iter()
            .filter(|c| c.interested && c.wasted > 0)
            .collect();
        wasters.sort_by_key(|c| (c.wasted, c.unchoked_at_ms, c.key));
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
        v.into_iter().chain(wasters).map(|c| c.key).collect()
    }

    /// Peers to choke now because they hold a slot they do not use.
    pub fn idle_holders(now_ms: u64, peers: &[Candidate]) -> Vec<PeerKey> {
        peers
            .iter()
            .filter(|c| c.idle_holder(now_ms))
            .map(|c| c.key)
            .collect()
    }

    /// Frees the optimistic slot when its holder lost it for idling.
    pub fn revoke(&mut self, key: PeerKey) {
        if self.optimistic == Some(key) {
            self.optimistic = None;
        }
    }

    /// The periodic rechoke (every RECHOKE_MS): returns the full set of peers to unchoke.
    pub fn rechoke(&mut self, now_ms: u64, seeding: bool, peers: &[Candidate]) -> Vec<PeerKey> {
        self.round_robin = self.round_robin.wrapping_add(1);
        self.grace_since_ms = None;
        let ranked = self.rank(seeding, peers);
        if !ranked.is_empty() {
            self.first_interest_ms.get_or_insert(now_ms);
        }
        let (trials, ranked) = self.split_trials(ranked, peers);
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
        unchoke.extend(trials);
        unchoke
    }

    /// Splits the trials that hold no slot (with the door open) from the ranked peers.
    fn split_trials(
        &self,
        ranked: Vec<PeerKey>,
        peers: &[Candidate],
    ) -> (Vec<PeerKey>, Vec<PeerKey>) {
        if !open_door(peers) {
            return (Vec::new(), ranked);
        }
        ranked.into_iter().partition(|&k| {
            Some(k) != self.optimistic && peers.iter().any(|c| c.key == k && c.on_trial())
        })
    }

    fn draw_optimistic(&mut self, peers: &[Candidate], regular: &[PeerKey]) -> Option<PeerKey> {
        let mut pool: Vec<&Candidate> = peers
            .iter()
            .filter(|c| c.interested && !regular.contains(&c.key))
            .collect();
        // Peers that wasted a slot get the optimistic one only when nobody else wants it.
        if pool.iter().any(|c| c.wasted == 0) {
            pool.retain(|c| c.wasted == 0);
        }
        let weight = |c: &Candidate| {
            (if c.newcomer { NEWCOMER_WEIGHT } else { 1 })
                * (if c.last_request_ms > 0 {
                    REQUESTER_WEIGHT
                } else {
                    1
                })
        };
        let total: usize = pool.iter().map(|c| weight(c)).sum();
        if total == 0 {
            return None;
        }
        let mut ticket = self.rng.usize(..total);
        for c in pool {
            let w = weight(c);
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
        let door = open_door(peers);
        let (mut trials, ranked) = self.split_trials(ranked, peers);
        let mut regular: Vec<PeerKey> = ranked
            .iter()
            .copied()
            .filter(|&k| by_key(k).unchoked && Some(k) != self.optimistic)
            .collect();
        regular.truncate(self.slots);
        let mut recall = None;
        let mut admitted_trial = false;
        for &k in &ranked {
            if regular.contains(&k) || Some(k) == self.optimistic {
                continue;
            }
            // A slot given back to a peer that wasted one before, and still unused,
            // goes at once to a peer that has not wasted one.
            let squatter = regular.iter().copied().rev().find(|&r| {
                let c = by_key(r);
                c.wasted > 0 && c.unused_slot()
            });
            // No grace period for that: the waster is not asking for anything.
            if by_key(k).wasted == 0
                && regular.len() + 1 >= self.slots
                && let Some(w) = squatter
            {
                regular.retain(|&r| r != w);
                regular.push(k);
                continue;
            }
            if regular.len() + 1 < self.slots {
                regular.push(k);
                continue;
            }
            // A stranger never tried goes on trial while the slots are not full of
            // peers that use them, after the same grace as the last slot, so that
            // a preferred peer asking at about the same moment still goes first.
            if door && !by_key(k).tried() && by_key(k).wasted == 0 && regular.len() < self.slots {
                let since = *self.grace_since_ms.get_or_insert(now_ms);
                if now_ms < since + GRACE_MS {
                    recall = Some(since + GRACE_MS);
                    break;
                }
                trials.push(k);
                admitted_trial = true;
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
            // A slot waster never takes a slot from a peer that uses one.
            if let Some(w) = worst
                && by_key(k).wasted == 0
                && by_key(k).history > by_key(w).history
            {
                regular.retain(|&r| r != w);
                regular.push(k);
            }
        }
        if admitted_trial && recall.is_none() {
            self.grace_since_ms = None;
        }
        regular.extend(self.optimistic);
        regular.extend(trials);
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
            unchoked_at_ms: 0,
            last_request_ms: 0,
            wasted: 0,
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

    #[test]
    fn an_unused_slot_is_idle_after_idle_slot_ms() {
        let holder = Candidate {
            unchoked: true,
            unchoked_at_ms: 1000,
            ..cand(1)
        };
        let user = Candidate {
            last_request_ms: 1500,
            ..holder
        };
        let choked = Candidate {
            unchoked: false,
            ..holder
        };
        let peers = [
            holder,
            Candidate { key: 2, ..user },
            Candidate { key: 3, ..choked },
        ];
        assert!(Choker::idle_holders(1000 + IDLE_SLOT_MS - 1, &peers).is_empty());
        assert_eq!(Choker::idle_holders(1000 + IDLE_SLOT_MS, &peers), vec![1]);
        // A request from an earlier unchoke does not count for this one.
        let stale = Candidate {
            last_request_ms: 999,
            ..holder
        };
        assert_eq!(Choker::idle_holders(1000 + IDLE_SLOT_MS, &[stale]), vec![1]);
    }

    #[test]
    fn slot_wasters_rank_last_and_yield_at_once() {
        let mut c = Choker::new(2, 1);
        let waster = |k| Candidate {
            wasted: 1,
            unchoked: true,
            unchoked_at_ms: 5000,
            history: 1 << 20,
            ..cand(k)
        };
        let fresh = Candidate {
            waiting_since_ms: 9000,
            ..cand(3)
        };
        let peers = [waster(1), waster(2), fresh];
        assert_eq!(c.rank(true, &peers), vec![3, 1, 2]);
        assert_eq!(c.rank(false, &peers), vec![3, 1, 2]);
        // Both slots held by wasters that still have not asked: the newcomer
        // takes one at once, with no grace period and no rechoke.
        let (set, recall) = c.on_interest_change(6000, true, &peers);
        assert_eq!(recall, None);
        assert!(set.contains(&3) && set.len() == 2, "{set:?}");
        // A waster that now uses its slot keeps it.
        let using = |k| Candidate {
            last_request_ms: 5500,
            ..waster(k)
        };
        let (set, _) = c.on_interest_change(6000, true, &[using(1), using(2), fresh]);
        assert_eq!(set, vec![1, 2]);
    }

    #[test]
    fn optimistic_slot_avoids_wasters_and_prefers_requesters() {
        let mut c = Choker::new(0, 5);
        let peers = [
            Candidate {
                wasted: 2,
                ..cand(1)
            },
            cand(2),
            Candidate {
                last_request_ms: 100,
                ..cand(3)
            },
        ];
        c.rechoke(0, false, &peers);
        let mut wins = [0u32; 4];
        for i in 1..=4000 {
            c.rechoke(i * OPTIMISTIC_MS, false, &peers);
            wins[c.optimistic().unwrap() as usize] += 1;
        }
        assert_eq!(wins[1], 0, "a slot waster is never drawn while others wait");
        let share = wins[3] as f64 / 4000.0;
        assert!((0.70..0.80).contains(&share), "expected ~0.75, got {share}");
        // Alone, a waster still gets the slot rather than leaving it empty.
        c.rechoke(5000 * OPTIMISTIC_MS, false, &peers[..1]);
        assert_eq!(c.optimistic(), Some(1));
    }

    #[test]
    fn strangers_go_on_trial_at_once_and_idle_trials_take_no_slot() {
        let mut c = Choker::new(4, 9);
        // Twenty idle strangers hold trials they have not used for a second.
        let idle = |k| Candidate {
            unchoked: true,
            unchoked_at_ms: 1000,
            waiting_since_ms: 900,
            ..cand(k)
        };
        let mut peers: Vec<Candidate> = (1..=20).map(idle).collect();
        // An honest newcomer, waiting behind all of them by time.
        peers.push(Candidate {
            waiting_since_ms: 2000,
            ..cand(21)
        });
        let (set, recall) = c.on_interest_change(2000, true, &peers);
        assert_eq!(recall, None);
        assert!(
            set.contains(&21),
            "the newcomer is unchoked at once: {set:?}"
        );
        assert_eq!(
            set.len(),
            21,
            "the idle trials keep theirs until IDLE_SLOT_MS"
        );
        // The periodic rechoke keeps them too.
        assert!(c.rechoke(2000, true, &peers).contains(&21));

        // A peer with ledger history closes the door: slots and grace as before.
        let mut c = Choker::new(1, 9);
        let preferred = Candidate {
            history: 1 << 20,
            waiting_since_ms: 2000,
            ..cand(1)
        };
        let stranger = Candidate {
            waiting_since_ms: 2000,
            ..cand(2)
        };
        let (set, recall) = c.on_interest_change(2000, true, &[preferred, stranger]);
        assert!(set.is_empty() && recall == Some(2000 + GRACE_MS), "{set:?}");
        let (set, _) = c.on_interest_change(2000 + GRACE_MS, true, &[preferred, stranger]);
        assert_eq!(set, vec![1]);
    }

    #[test]
    fn trials_that_start_asking_are_trimmed_to_the_slots() {
        let mut c = Choker::new(2, 3);
        let using = |k, since| Candidate {
            unchoked: true,
            unchoked_at_ms: 1000,
            last_request_ms: 1100,
            waiting_since_ms: since,
            ..cand(k)
        };
        let peers = [using(1, 10), using(2, 20), using(3, 30)];
        let (set, _) = c.on_interest_change(1500, true, &peers);
        assert_eq!(set.len(), 2, "{set:?}");
    }
}
