//! Which piece to ask a peer for next: a few random pieces first (to have
//! something to trade quickly), then rarest first, then strict endgame.
//!
//! Pieces are assigned whole to one connection, which owns the buffer it fills;
//! in endgame a piece already in flight is handed to a second peer too, and when
//! either delivers it, the picker names the others so their requests are cancelled.
//! Pure: no sockets, no clock; randomness comes from a seeded generator.

use crate::common::bitfield::Bitfield;

pub type PeerKey = u64;

/// Pieces picked at random before rarest-first takes over.
const RANDOM_FIRST: usize = 4;
/// In endgame, at most this many peers fetch the same piece.
const MAX_DUPLICATES: usize = 3;

pub struct PiecePicker {
    have: Bitfield,
    availability: Vec<u32>,
    in_flight: Vec<Vec<PeerKey>>,
    rng: fastrand::Rng,
}

impl PiecePicker {
    pub fn new(have: Bitfield, seed: u64) -> Self {
        let n = have.len();
        PiecePicker {
            have,
            availability: vec![0; n],
            in_flight: vec![Vec::new(); n],
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    pub fn have(&self) -> &Bitfield {
        &self.have
    }

    pub fn availability(&self, piece: usize) -> u32 {
        self.availability[piece]
    }

    pub fn is_in_flight(&self, piece: usize) -> bool {
        !self.in_flight[piece].is_empty()
    }

    pub fn add_peer(&mut self, has: &Bitfield) {
        for i in has.ones() {
            self.availability[i] += 1;
        }
    }

    pub fn remove_peer(&mut self, has: &Bitfield) {
        for i in has.ones() {
            self.availability[i] = self.availability[i].saturating_sub(1);
        }
    }

    pub fn add_have(&mut self, piece: usize) {
        if let Some(a) = self.availability.get_mut(piece) {
            *a += 1;
        }
    }

    /// True once every missing piece has a request out: the strict endgame condition.
    pub fn in_endgame(&self) -> bool {
        (0..self.have.len()).all(|i| self.have.get(i) || !self.in_flight[i].is_empty())
    }

    /// Chooses a piece for `peer`, which has `peer_has`, and marks it in flight.
    pub fn pick(&mut self, peer: PeerKey, peer_has: &Bitfield) -> Option<u32> {
        let wanted = |i: usize| !self.have.get(i) && peer_has.get(i);
        let fresh: Vec<usize> = (0..self.have.len())
            .filter(|&i| wanted(i) && self.in_flight[i].is_empty())
            .collect();
        let choice = if !fresh.is_empty() {
            if self.have.count() < RANDOM_FIRST {
                Some(fresh[self.rng.usize(..fresh.len())])
            } else {
                let rarest = fresh
                    .iter()
                    .map(|&i| self.availability[i])
                    .min()
                    .expect("non-empty");
                let ties: Vec<usize> = fresh
                    .into_iter()
                    .filter(|&i| self.availability[i] == rarest)
                    .collect();
                Some(ties[self.rng.usize(..ties.len())])
            }
        } else if self.in_endgame() {
            let dup: Vec<usize> = (0..self.have.len())
                .filter(|&i| {
                    wanted(i)
                        && !self.in_flight[i].contains(&peer)
                        && self.in_flight[i].len() < MAX_DUPLICATES
                })
                .collect();
            let fewest = dup.iter().map(|&i| self.in_flight[i].len()).min();
            fewest.map(|f| {
                let ties: Vec<usize> = dup
                    .into_iter()
                    .filter(|&i| self.in_flight[i].len() == f)
                    .collect();
                ties[self.rng.usize(..ties.len())]
            })
        } else {
            None
        };
        if let Some(i) = choice {
            self.in_flight[i].push(peer);
        }
        choice.map(|i| i as u32)
    }

    /// `peer` stopped fetching `piece` (choked, gone, timed out or sent bad data).
    pub fn release(&mut self, piece: u32, peer: PeerKey) {
        if let Some(v) = self.in_flight.get_mut(piece as usize) {
            v.retain(|&p| p != peer);
        }
    }

    /// Marks `piece` in flight for `peer` without picking: a piece under
    /// repair, held, then handed to the peer that finishes it.
    pub fn hold(&mut self, piece: u32, peer: PeerKey) {
        if let Some(v) = self.in_flight.get_mut(piece as usize)
            && !v.contains(&peer)
        {
            v.push(peer);
        }
    }

    /// Marks a verified piece as had; returns the other peers still fetching it, to cancel.
    pub fn piece_verified(&mut self, piece: u32, by: PeerKey) -> Vec<PeerKey> {
        let i = piece as usize;
        self.have.set(i);
        let mut others = std::mem::take(&mut self.in_flight[i]);
        others.retain(|&p| p != by);
        others
    }

    /// Whether `peer` has anything we still need.
    pub fn wants_from(&self, peer_has: &Bitfield) -> bool {
        peer_has.ones().any(|i| !self.have.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bf(n: usize, ones: &[usize]) -> Bitfield {
        let mut b = Bitfield::new(n);
        for &i in ones {
            b.set(i);
        }
        b
    }

    /// A picker past the random phase: it already has the first RANDOM_FIRST pieces.
    fn warmed(n: usize) -> PiecePicker {
        PiecePicker::new(bf(n, &(0..RANDOM_FIRST).collect::<Vec<_>>()), 7)
    }

    #[test]
    fn rarest_first_order() {
        let n = RANDOM_FIRST + 3;
        let (a, b, c) = (RANDOM_FIRST, RANDOM_FIRST + 1, RANDOM_FIRST + 2);
        let mut p = warmed(n);
        p.add_peer(&bf(n, &[a, b, c]));
        p.add_peer(&bf(n, &[a, b]));
        p.add_peer(&bf(n, &[a]));
        let all = Bitfield::full(n);
        assert_eq!(p.pick(1, &all), Some(c as u32), "held by one peer");
        assert_eq!(p.pick(1, &all), Some(b as u32), "held by two");
        assert_eq!(p.pick(1, &all), Some(a as u32), "held by three");
        assert_eq!(p.pick(1, &all), None);
    }

    #[test]
    fn only_pieces_the_peer_has() {
        let mut p = warmed(RANDOM_FIRST + 2);
        let peer = bf(RANDOM_FIRST + 2, &[RANDOM_FIRST + 1]);
        p.add_peer(&peer);
        assert_eq!(p.pick(1, &peer), Some(RANDOM_FIRST as u32 + 1));
    }

    #[test]
    fn first_pieces_are_random_not_rarest() {
        // With nothing had, repeated fresh pickers do not all agree on the rarest piece.
        let mut seen = std::collections::HashSet::new();
        for seed in 0..20 {
            let mut p = PiecePicker::new(Bitfield::new(50), seed);
            p.add_peer(&Bitfield::full(50));
            p.add_peer(&bf(50, &[0]));
            seen.insert(p.pick(1, &Bitfield::full(50)).unwrap());
        }
        assert!(seen.len() > 5, "random start, got {seen:?}");
    }

    #[test]
    fn endgame_duplicates_then_cancels() {
        let n = RANDOM_FIRST + 2;
        let mut p = warmed(n);
        let all = Bitfield::full(n);
        p.add_peer(&all);
        p.add_peer(&all);
        let x = p.pick(1, &all).unwrap();
        assert!(!p.in_endgame());
        let y = p.pick(1, &all).unwrap();
        assert_ne!(x, y);
        assert!(p.in_endgame(), "every missing piece has a request out");
        let d1 = p.pick(2, &all).unwrap();
        let d2 = p.pick(2, &all).unwrap();
        assert_eq!(
            [d1.min(d2), d1.max(d2)],
            [x.min(y), x.max(y)],
            "peer 2 duplicates both"
        );
        assert_eq!(
            p.pick(2, &all),
            None,
            "never the same piece twice to one peer"
        );
        assert_eq!(p.piece_verified(x, 2), vec![1], "peer 1 must cancel");
        assert!(p.have().get(x as usize));
    }

    #[test]
    fn no_endgame_while_pieces_are_unrequested() {
        let n = RANDOM_FIRST + 2;
        let mut p = warmed(n);
        let only_first = bf(n, &[RANDOM_FIRST]);
        p.add_peer(&Bitfield::full(n));
        assert_eq!(p.pick(1, &only_first), Some(RANDOM_FIRST as u32));
        assert_eq!(
            p.pick(2, &only_first),
            None,
            "piece 5 is still unrequested, so no duplicate"
        );
    }

    #[test]
    fn release_makes_a_piece_available_again() {
        let n = RANDOM_FIRST + 1;
        let mut p = warmed(n);
        let all = Bitfield::full(n);
        let x = p.pick(1, &all).unwrap();
        p.release(x, 1);
        assert!(!p.is_in_flight(x as usize));
        assert_eq!(p.pick(2, &all), Some(x));
    }

    #[test]
    fn availability_tracks_peers() {
        let mut p = PiecePicker::new(Bitfield::new(3), 1);
        let b = bf(3, &[0, 2]);
        p.add_peer(&b);
        p.add_have(1);
        assert_eq!((p.availability(0), p.availability(1)), (1, 1));
        p.remove_peer(&b);
        assert_eq!(p.availability(0), 0);
        assert!(p.wants_from(&b));
    }
}
