//! Repairing a v2 piece that failed its hash, block by block (BEP 52).
//!
//! A piece's hash is the root of the 16 KiB block hashes under it, so once
//! another peer sends those block hashes (a `hash request` for the piece's
//! leaves), the blocks that differ are known: only they are fetched again,
//! and the peer that sent them is known to have lied, so it is banned at once
//! rather than after strikes. The piece's buffer waits here meanwhile, its
//! good blocks kept. A repair nobody answers within `WAIT_MS` is given up and
//! the piece fetched whole, as a v1 piece would be.
//!
//! Pure: the torrent core holds this and feeds it peers' answers.

use super::piece_buffer::PieceBuffer;
use super::piece_picker::PeerKey;
use crate::common::merkle::{self, Hash32};
use crate::common::wire::HashRequest;

/// How long a repair waits for some peer to send its block hashes.
pub const WAIT_MS: u64 = 20_000;
/// How long one peer has to answer before another is asked.
const ASK_AGAIN_MS: u64 = 5_000;

pub struct Repair {
    pub index: u32,
    pub buf: PieceBuffer,
    /// Each block's hash as it arrived, over the piece's file data.
    pub got: Vec<Hash32>,
    /// Blocks of alignment padding that arrived holding something else than zeros.
    pub bad_padding: Vec<u32>,
    /// The piece's hash: what the true block hashes must fold into.
    pub expect: Hash32,
    /// The request for the piece's block hashes, with no uncles: the piece's
    /// hash is known already.
    pub request: HashRequest,
    /// Who sent the bad piece.
    pub sender: PeerKey,
    pub since_ms: u64,
    /// Who was asked for the block hashes, when, and whether it said no.
    pub asked: Option<Asked>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asked {
    pub who: PeerKey,
    pub at_ms: u64,
    pub rejected: bool,
}

/// A repair whose bad blocks are known: the blocks to fetch again.
pub struct Diagnosis {
    pub repair: Repair,
    pub bad: Vec<u32>,
    /// Who sent the true hashes: it has the piece, so it is asked for the blocks.
    pub helper: PeerKey,
}

#[derive(Default)]
pub struct Repairs {
    list: Vec<Repair>,
}

impl Repairs {
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn add(&mut self, r: Repair) {
        self.list.push(r);
    }

    /// The next hash request for peer `key`, which has the pieces `has`
    /// says: a repair no one is asked for now, of a piece `key` did not send.
    pub fn next_request(
        &mut self,
        key: PeerKey,
        has: impl Fn(u32) -> bool,
        now_ms: u64,
    ) -> Option<HashRequest> {
        // Another peer once the one asked is slow to answer; anyone but the
        // one that said no at once, and that one too after a while.
        let may_ask = |a: &Asked| {
            let waited = now_ms.saturating_sub(a.at_ms) >= ASK_AGAIN_MS;
            if a.rejected {
                a.who != key || waited
            } else {
                a.who != key && waited
            }
        };
        let r = self
            .list
            .iter_mut()
            .find(|r| r.sender != key && has(r.index) && r.asked.as_ref().is_none_or(may_ask))?;
        r.asked = Some(Asked {
            who: key,
            at_ms: now_ms,
            rejected: false,
        });
        Some(r.request)
    }

    /// `hashes` from `key` for `request`. When they fold into a repair's
    /// piece hash, the repair leaves with its bad blocks named; hashes that
    /// do not fold are ignored (the repair waits for another peer).
    pub fn on_hashes(
        &mut self,
        key: PeerKey,
        request: &HashRequest,
        hashes: &[u8],
    ) -> Option<Diagnosis> {
        let at = self.list.iter().position(|r| r.request == *request)?;
        let r = &self.list[at];
        let want: Vec<Hash32> = hashes
            .chunks_exact(32)
            .map(|c| c.try_into().expect("32 bytes"))
            .collect();
        if want.len() != request.length as usize || !merkle::verify_piece_leaves(&want, &r.expect) {
            return None;
        }
        let mut bad: Vec<u32> = r
            .got
            .iter()
            .zip(&want)
            .enumerate()
            .filter(|(_, (got, want))| got != want)
            .map(|(i, _)| i as u32)
            .collect();
        bad.extend(&r.bad_padding);
        if bad.is_empty() {
            // Every block of the file data is right, yet the piece failed:
            // its other half (a hybrid's SHA-1) refused it. Fetch it all.
            bad = (0..r.buf.len().div_ceil(merkle::BLOCK as usize) as u32).collect();
        }
        bad.sort_unstable();
        bad.dedup();
        Some(Diagnosis {
            repair: self.list.swap_remove(at),
            bad,
            helper: key,
        })
    }

    /// `key` will not send the hashes: someone else is asked now, and
    /// `key` not again for a while (it may be rationing its disk reads).
    pub fn on_reject(&mut self, key: PeerKey, request: &HashRequest) {
        for r in &mut self.list {
            if let Some(a) = r.asked.as_mut()
                && r.request == *request
                && a.who == key
            {
                a.rejected = true;
            }
        }
    }

    /// Repairs waiting longer than `WAIT_MS`: given up.
    pub fn expired(&mut self, now_ms: u64) -> Vec<Repair> {
        let (old, keep) = std::mem::take(&mut self.list)
            .into_iter()
            .partition(|r| now_ms.saturating_sub(r.since_ms) > WAIT_MS);
        self.list = keep;
        old
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(blocks: &[&[u8]]) -> (Vec<Hash32>, Hash32) {
        let leaves: Vec<Hash32> = blocks.iter().map(|b| merkle::leaf(b)).collect();
        let root = merkle::root(&leaves, leaves.len().next_power_of_two(), 0);
        (leaves, root)
    }

    fn request() -> HashRequest {
        HashRequest {
            root: [9; 32],
            base: 0,
            index: 4,
            length: 4,
            proof_layers: 0,
        }
    }

    fn repair(got: Vec<Hash32>, expect: Hash32) -> Repair {
        let mut buf = PieceBuffer::default();
        buf.resize(4 * merkle::BLOCK as usize);
        Repair {
            index: 1,
            buf,
            got,
            bad_padding: Vec::new(),
            expect,
            request: request(),
            sender: 7,
            since_ms: 0,
            asked: None,
        }
    }

    #[test]
    fn the_true_hashes_name_the_bad_block_and_no_other() {
        let good: [&[u8]; 4] = [b"a", b"b", b"c", b"d"];
        let (want, root) = piece(&good);
        let (got, _) = piece(&[b"a", b"b", b"X", b"d"]);
        let mut rs = Repairs::default();
        rs.add(repair(got, root));
        // Not the sender, and only a peer that has the piece.
        assert!(rs.next_request(7, |_| true, 0).is_none());
        assert!(rs.next_request(8, |_| false, 0).is_none());
        assert_eq!(rs.next_request(8, |_| true, 0), Some(request()));
        assert!(rs.next_request(9, |_| true, 1000).is_none(), "8 is asked");
        // Hashes that do not fold into the piece's hash are a lie: ignored.
        let mut lie = want.clone();
        lie[0] = [1; 32];
        assert!(rs.on_hashes(8, &request(), &lie.concat()).is_none());
        let d = rs.on_hashes(8, &request(), &want.concat()).unwrap();
        assert_eq!(d.bad, [2]);
        assert_eq!(d.helper, 8);
        assert!(rs.is_empty());
    }

    #[test]
    fn a_reject_frees_the_repair_for_another_peer_and_time_gives_it_up() {
        let (got, root) = piece(&[b"a", b"b"]);
        let mut rs = Repairs::default();
        rs.add(repair(got, root));
        assert!(rs.next_request(8, |_| true, 0).is_some());
        rs.on_reject(8, &request());
        assert!(
            rs.next_request(8, |_| true, 10).is_none(),
            "not the one that said no, yet"
        );
        assert!(rs.next_request(9, |_| true, 10).is_some());
        rs.on_reject(9, &request());
        assert!(
            rs.next_request(9, |_| true, 10 + ASK_AGAIN_MS).is_some(),
            "after a while"
        );
        assert!(rs.expired(WAIT_MS).is_empty());
        assert_eq!(rs.expired(WAIT_MS + 1).len(), 1);
    }
}
