//! The torrent core's side of a v2 block repair (`block_repair`): holding the
//! piece out of the picker while its block hashes are asked for, banning the
//! sender once they prove it lied, and handing the bad blocks to the peer
//! that sent the hashes.

use log::{info, log, warn};

use super::TorrentCore;
use crate::common::wire::HashRequest;
use crate::peer::block_repair::{Diagnosis, Repair};
use crate::peer::piece_buffer::PieceBuffer;
use crate::peer::piece_picker::PeerKey;

/// The picker's claim on a piece under repair, so that nobody picks it.
const REPAIR_HOLD: PeerKey = PeerKey::MAX;

impl TorrentCore {
    /// A v2 piece failed its hash: its good blocks wait while its block
    /// hashes are asked of another peer.
    pub fn repair_started(&mut self, r: Repair) {
        self.picker.release(r.index, r.sender);
        self.picker.hold(r.index, REPAIR_HOLD);
        let from = self
            .peers
            .get(&r.sender)
            .map_or("?".to_owned(), |p| p.addr.to_string());
        // One line a piece would flood the log while a liar's pipeline drains.
        info!(
            "piece {} of {} from {from} failed its hash check: asking another peer for its block hashes",
            r.index, self.geometry.name
        );
        self.repairs.add(r);
    }

    /// A hash request for peer `key`, if a repair needs one it can answer.
    pub fn repair_request(&mut self, key: PeerKey, now: u64) -> Option<HashRequest> {
        let has = &self.peers.get(&key)?.has;
        let done = self.picker.have();
        self.repairs
            .next_request(key, |i| has.get(i as usize) && !done.get(i as usize), now)
    }

    /// Block hashes from `key`. When they name the bad blocks, the sender is
    /// banned and the piece, its good blocks kept, goes to `key` to finish.
    pub fn repair_hashes(
        &mut self,
        key: PeerKey,
        request: &HashRequest,
        hashes: &[u8],
    ) -> Option<(u32, PieceBuffer, Vec<u32>)> {
        let Diagnosis {
            repair,
            bad,
            helper,
        } = self.repairs.on_hashes(key, request, hashes)?;
        let index = repair.index;
        self.picker.release(index, REPAIR_HOLD);
        if self.picker.have().get(index as usize) {
            // Another peer delivered it meanwhile (endgame).
            return None;
        }
        self.picker.hold(index, helper);
        let blocks: Vec<String> = bad.iter().map(u32::to_string).collect();
        let helper_addr = self
            .peers
            .get(&helper)
            .map_or("?".to_owned(), |p| p.addr.to_string());
        // Loud for the first lie of a peer, the one that bans it.
        let first = self.peers.contains_key(&repair.sender);
        let level = if first {
            log::Level::Warn
        } else {
            log::Level::Info
        };
        log!(
            level,
            "piece {index} of {}: block {} of {} proved bad by the block hashes from {helper_addr}; fetching only that again",
            self.geometry.name,
            blocks.join(", "),
            repair.buf.len().div_ceil(16 * 1024)
        );
        self.ban(
            repair.sender,
            "it sent a block that does not match its hash",
        );
        Some((index, repair.buf, bad))
    }

    pub fn repair_rejected(&mut self, key: PeerKey, request: &HashRequest) {
        self.repairs.on_reject(key, request);
    }

    /// Repairs no peer helped in time: the piece is fetched whole again, and
    /// its sender takes a strike as for a v1 piece.
    pub(super) fn give_up_repairs(&mut self, now: u64) {
        for r in self.repairs.expired(now) {
            self.picker.release(r.index, REPAIR_HOLD);
            warn!(
                "piece {} of {}: no peer sent its block hashes; fetching it whole again",
                r.index, self.geometry.name
            );
            if self.peers.contains_key(&r.sender) {
                // `piece_failed` releases the sender's claim, gone already: harmless.
                self.piece_failed(r.sender, r.index);
            }
        }
    }
}
