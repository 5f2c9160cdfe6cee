//! The piece layers of a v2 torrent fetched by magnet link: they live outside
//! the info dictionary (BEP 52), so peers send them in answer to hash
//! requests, each checked by folding it, with its uncle hashes, into the
//! file's `pieces root`, which the info dictionary does carry.
//!
//! Pure: the caller sends `requests()` to a peer and feeds back its answers.

use crate::common::merkle::{self, FileShape, Hash32};
use crate::common::wire::HashRequest;

/// Each file's root with its piece layer, as a `.torrent`'s `piece layers` holds them.
pub type PieceLayers = Vec<(Hash32, Vec<Hash32>)>;

/// Hashes asked for at once: libtorrent's limit, and BEP 52's advice.
const CHUNK: u64 = 512;

struct File {
    root: Hash32,
    layer: Vec<Hash32>,
}

pub struct LayerFetch {
    files: Vec<File>,
    pending: Vec<(usize, HashRequest)>,
}

/// The answer does not fold into the file's root: the peer lied.
#[derive(Debug, PartialEq, Eq)]
pub struct Mismatch;

impl LayerFetch {
    /// The layers of these files (each longer than a piece) are wanted.
    pub fn new(needed: &[(Hash32, FileShape)]) -> LayerFetch {
        let mut files = Vec::new();
        let mut pending = Vec::new();
        for (i, &(root, shape)) in needed.iter().enumerate() {
            let n = shape.pieces();
            let base = shape.piece_height();
            let width = n.next_power_of_two();
            let layers = (shape.blocks().next_power_of_two()).trailing_zeros();
            let chunk = CHUNK.min(width);
            let mut index = 0;
            while index < n {
                pending.push((
                    i,
                    HashRequest {
                        root,
                        base,
                        index: index as u32,
                        length: chunk as u32,
                        proof_layers: layers - base - 1,
                    },
                ));
                index += chunk;
            }
            files.push(File {
                root,
                layer: vec![[0; 32]; n as usize],
            });
        }
        LayerFetch { files, pending }
    }

    /// What is still to ask for.
    pub fn requests(&self) -> Vec<HashRequest> {
        self.pending.iter().map(|(_, r)| *r).collect()
    }

    pub fn is_complete(&self) -> bool {
        self.pending.is_empty()
    }

    /// An answer: kept when it proves itself against its file's root.
    /// Answers to nothing we asked are ignored.
    pub fn on_hashes(&mut self, request: &HashRequest, hashes: &[u8]) -> Result<(), Mismatch> {
        let Some(at) = self.pending.iter().position(|(_, r)| r == request) else {
            return Ok(());
        };
        let f = &mut self.files[self.pending[at].0];
        let all: Vec<Hash32> = hashes
            .chunks_exact(32)
            .map(|c| c.try_into().expect("32 bytes"))
            .collect();
        let count = request.length as usize;
        if all.len() < count {
            return Err(Mismatch);
        }
        let (mine, uncles) = all.split_at(count);
        if merkle::fold_proof(mine, request.base, request.index as usize, uncles) != f.root
            || uncles.len()
                != (request.proof_layers + 1).saturating_sub(count.trailing_zeros()) as usize
        {
            return Err(Mismatch);
        }
        let start = request.index as usize;
        let end = (start + count).min(f.layer.len());
        f.layer[start..end].copy_from_slice(&mine[..end - start]);
        self.pending.swap_remove(at);
        Ok(())
    }

    /// Each file's root and layer, once complete.
    pub fn layers(self) -> PieceLayers {
        debug_assert!(self.pending.is_empty());
        self.files.into_iter().map(|f| (f.root, f.layer)).collect()
    }

    /// How many files' layers are wanted.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of `pieces` 32 KiB pieces: its layer and root.
    fn file(pieces: usize) -> (Vec<Hash32>, Hash32, FileShape) {
        let shape = FileShape {
            length: pieces as u64 * 32768 - 100,
            piece_length: 32768,
        };
        let layer: Vec<Hash32> = (0..pieces)
            .map(|i| merkle::leaf(&i.to_be_bytes()))
            .collect();
        (layer.clone(), shape.root_from_layer(&layer), shape)
    }

    /// What an honest peer sends: the asked hashes, then the uncles.
    fn answer(layer: &[Hash32], shape: FileShape, r: &HashRequest) -> Vec<u8> {
        let tree = merkle::layers_above(layer, shape.piece_height());
        let node = |h: u32, i: usize| {
            let l = tree.get((h - shape.piece_height()) as usize)?;
            Some(l.get(i).copied().unwrap_or(merkle::pad(h)))
        };
        merkle::answer(shape, r.base, r.index, r.length, r.proof_layers, node)
            .unwrap()
            .concat()
    }

    #[test]
    fn small_and_chunked_layers_fold_into_their_roots() {
        for pieces in [3, 512, 1300] {
            let (layer, root, shape) = file(pieces);
            let mut f = LayerFetch::new(&[(root, shape)]);
            let asks = f.requests();
            assert_eq!(asks.len(), pieces.div_ceil(512));
            // A lie first: one hash changed.
            let mut lie = answer(&layer, shape, &asks[0]);
            lie[0] ^= 1;
            assert_eq!(f.on_hashes(&asks[0], &lie), Err(Mismatch));
            for r in &asks {
                f.on_hashes(r, &answer(&layer, shape, r)).unwrap();
            }
            assert!(f.is_complete());
            assert_eq!(f.layers(), vec![(root, layer)], "{pieces} pieces");
        }
    }
}
