//! Super-seeding (BEP 16) for a seeder whose upload is scarce: instead of a
//! bitfield, each peer is shown a few pieces at a time, always those shown to
//! the fewest peers so far, and shown another when it announces one it has.
//! The seeder's upload then goes to pieces the swarm does not have yet, and
//! the leechers spread them among themselves. A choked peer is shown only one
//! piece (enough to stay interested): pieces shown to a peer that cannot
//! download them are pieces nobody else is shown.
//! Pure: no sockets; randomness is seeded.

use std::collections::{HashMap, HashSet};

use super::piece_picker::PeerKey;
use crate::common::bitfield::Bitfield;

/// Pieces shown to a peer and not yet announced back by it.
pub const REVEAL_AHEAD: usize = 2;

pub struct SuperSeeder {
    /// How many peers each piece has been shown to.
    shown: Vec<u32>,
    pending: HashMap<PeerKey, Vec<u32>>,
    /// Peers that were shown everything (a lone leecher has no one to share with).
    open: HashSet<PeerKey>,
    rng: fastrand::Rng,
}

impl SuperSeeder {
    pub fn new(pieces: usize, seed: u64) -> Self {
        SuperSeeder {
            shown: vec![0; pieces],
            pending: HashMap::new(),
            open: HashSet::new(),
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    pub fn is_open(&self, peer: PeerKey) -> bool {
        self.open.contains(&peer)
    }

    /// Tops the peer up to `ahead` pending pieces, least shown first, then least
    /// held by connected peers; returns the ones to announce with `have`.
    pub fn top_up(
        &mut self,
        peer: PeerKey,
        peer_has: &Bitfield,
        ahead: usize,
        held_by: &dyn Fn(usize) -> u32,
    ) -> Vec<u32> {
        if self.open.contains(&peer) {
            return Vec::new();
        }
        let pending = self.pending.entry(peer).or_default();
        pending.retain(|&i| !peer_has.get(i as usize));
        let mut shown_now = Vec::new();
        while pending.len() < ahead {
            let fresh = (0..self.shown.len())
                .filter(|&i| !peer_has.get(i) && !pending.contains(&(i as u32)));
            let rank = |i: usize| (self.shown[i], held_by(i));
            let Some(least) = fresh.clone().map(rank).min() else {
                break;
            };
            let ties: Vec<usize> = fresh.filter(|&i| rank(i) == least).collect();
            let pick = ties[self.rng.usize(..ties.len())];
            self.shown[pick] += 1;
            pending.push(pick as u32);
            shown_now.push(pick as u32);
        }
        shown_now
    }

    /// Gives back all but `keep` of a peer's pending pieces (it was choked), so
    /// they can be shown to peers that can download them now.
    pub fn shrink(&mut self, peer: PeerKey, keep: usize) {
        if let Some(pending) = self.pending.get_mut(&peer) {
            for i in pending.drain(keep.min(pending.len())..) {
                self.shown[i as usize] = self.shown[i as usize].saturating_sub(1);
            }
        }
    }

    /// Shows the peer every piece: returns those it was not shown yet.
    pub fn open_up(&mut self, peer: PeerKey, peer_has: &Bitfield) -> Vec<u32> {
        if !self.open.insert(peer) {
            return Vec::new();
        }
        let pending = self.pending.remove(&peer).unwrap_or_default();
        (0..self.shown.len() as u32)
            .filter(|&i| !peer_has.get(i as usize) && !pending.contains(&i))
            .collect()
    }

    /// A peer left: what it was shown and never took counts for nothing.
    pub fn forget(&mut self, peer: PeerKey) {
        for i in self.pending.remove(&peer).unwrap_or_default() {
            self.shown[i as usize] = self.shown[i as usize].saturating_sub(1);
        }
        self.open.remove(&peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_peer_sees_different_pieces_until_all_are_shown() {
        let mut s = SuperSeeder::new(8, 1);
        let none = Bitfield::new(8);
        let mut seen = HashSet::new();
        for peer in 0..4 {
            let shown = s.top_up(peer, &none, REVEAL_AHEAD, &|_| 0);
            assert_eq!(shown.len(), REVEAL_AHEAD);
            for i in shown {
                assert!(
                    seen.insert(i),
                    "piece {i} shown twice before all were shown once"
                );
            }
        }
        assert_eq!(seen.len(), 8);
    }

    #[test]
    fn announcing_a_piece_reveals_the_next() {
        let mut s = SuperSeeder::new(6, 2);
        let mut has = Bitfield::new(6);
        let first = s.top_up(1, &has, REVEAL_AHEAD, &|_| 0);
        assert!(
            s.top_up(1, &has, REVEAL_AHEAD, &|_| 0).is_empty(),
            "nothing more until it announces one"
        );
        has.set(first[0] as usize);
        let next = s.top_up(1, &has, REVEAL_AHEAD, &|_| 0);
        assert_eq!(next.len(), 1);
        assert!(!first.contains(&next[0]));
    }

    #[test]
    fn pieces_a_peer_has_are_never_shown_to_it() {
        let mut s = SuperSeeder::new(4, 3);
        let mut has = Bitfield::new(4);
        has.set(0);
        has.set(1);
        has.set(2);
        assert_eq!(s.top_up(1, &has, REVEAL_AHEAD, &|_| 0), vec![3]);
    }

    #[test]
    fn a_departed_peer_gives_its_pieces_back() {
        let mut s = SuperSeeder::new(2, 4);
        let none = Bitfield::new(2);
        let a = s.top_up(1, &none, REVEAL_AHEAD, &|_| 0);
        s.forget(1);
        let mut b = s.top_up(2, &none, REVEAL_AHEAD, &|_| 0);
        b.sort();
        let mut a = a;
        a.sort();
        assert_eq!(a, b, "the same least-shown pieces are shown again");
    }

    #[test]
    fn opening_up_reveals_the_rest_once() {
        let mut s = SuperSeeder::new(5, 5);
        let mut has = Bitfield::new(5);
        has.set(4);
        let shown = s.top_up(1, &has, REVEAL_AHEAD, &|_| 0);
        let rest = s.open_up(1, &has);
        assert_eq!(rest.len(), 4 - shown.len());
        assert!(s.is_open(1));
        assert!(s.open_up(1, &has).is_empty());
        assert!(s.top_up(1, &has, REVEAL_AHEAD, &|_| 0).is_empty());
    }

    #[test]
    fn a_choked_peer_gives_back_all_but_one_and_ties_go_to_the_least_held() {
        let mut s = SuperSeeder::new(4, 6);
        let none = Bitfield::new(4);
        // Pieces 0 and 1 are held by many peers already: 2 and 3 are shown first.
        let held = |i: usize| if i < 2 { 5 } else { 0 };
        let mut first = s.top_up(1, &none, REVEAL_AHEAD, &held);
        first.sort();
        assert_eq!(first, vec![2, 3]);
        s.shrink(1, 1);
        let other = s.top_up(2, &none, 1, &held);
        assert!(
            other == vec![2] || other == vec![3],
            "the given-back piece is shown again: {other:?}"
        );
    }
}
