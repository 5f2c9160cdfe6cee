//! BEP 52's hash trees: every file is cut into 16 KiB blocks, each block is
//! hashed with SHA-256, and pairs of hashes are hashed together up to one root
//! per file, the file's `pieces root`. A tree is always a power of two wide;
//! leaves past the end of the file are 32 zero bytes, so the hash of a subtree
//! made only of such leaves is known without any data (`pad`).
//!
//! Heights count up from the leaves: height 0 is the block layer, and the
//! piece layer, whose hashes each cover `piece length` bytes, is at
//! `log2(piece length / 16 KiB)`. Pure: no I/O.

use sha2::{Digest, Sha256};

/// The bytes one leaf covers.
pub const BLOCK: u64 = 16 * 1024;

pub type Hash32 = [u8; 32];

/// The hash of one block (the last of a file may be shorter).
pub fn leaf(data: &[u8]) -> Hash32 {
    Sha256::digest(data).into()
}

pub fn parent(left: &Hash32, right: &Hash32) -> Hash32 {
    let mut h = Sha256::new();
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of a subtree `height` layers tall whose leaves are all past the
/// end of the file.
pub fn pad(height: u32) -> Hash32 {
    let mut h = [0u8; 32];
    for _ in 0..height {
        h = parent(&h, &h);
    }
    h
}

/// The root over `hashes`, which sit at `height`, filled out to `width`
/// (a power of two, at least `hashes.len()`) with `pad(height)`.
pub fn root(hashes: &[Hash32], width: usize, height: u32) -> Hash32 {
    debug_assert!(width.is_power_of_two() && width >= hashes.len());
    let mut layer: Vec<Hash32> = hashes.to_vec();
    let mut filler = pad(height);
    let mut width = width;
    while width > 1 {
        if layer.len() % 2 == 1 {
            layer.push(filler);
        }
        let next: Vec<Hash32> = layer
            .chunks_exact(2)
            .map(|p| parent(&p[0], &p[1]))
            .collect();
        layer = next;
        filler = parent(&filler, &filler);
        width /= 2;
    }
    layer.first().copied().unwrap_or(filler)
}

/// The leaf hashes of `data`, one per 16 KiB block.
pub fn leaves(data: &[u8]) -> Vec<Hash32> {
    data.chunks(BLOCK as usize).map(leaf).collect()
}

/// A tree's layers from some height up to its root.
pub type Layers = Vec<Vec<Hash32>>;

/// Every layer from `layer` (at `height`) up to a single root, each as wide
/// as its hashes need (past the end a node is `pad` of its height).
pub fn layers_above(layer: &[Hash32], height: u32) -> Layers {
    let mut out = vec![layer.to_vec()];
    let mut h = height;
    while out.last().is_some_and(|l| l.len() > 1) {
        let below = out.last().expect("one layer at least");
        let filler = pad(h);
        let next = below
            .chunks(2)
            .map(|p| parent(&p[0], p.get(1).unwrap_or(&filler)))
            .collect();
        out.push(next);
        h += 1;
    }
    out
}

/// What a `hashes` message carries for a request: `length` hashes of the
/// layer `base` from `index`, then one uncle for each of `proof_layers`
/// layers above the base, except those inside the requested subtree
/// (BEP 52; counted as libtorrent counts them). `node(height, index)` gives
/// the nodes the caller has. None when the request is not one a peer may
/// make of this file (checked as libtorrent checks), or a node is missing.
pub fn answer(
    shape: FileShape,
    base: u32,
    index: u32,
    length: u32,
    proof_layers: u32,
    node: impl Fn(u32, usize) -> Option<Hash32>,
) -> Option<Vec<Hash32>> {
    let leaves = (shape.blocks() as usize).max(1).next_power_of_two();
    let layers = leaves.trailing_zeros();
    let (index, length) = (index as usize, length as usize);
    if length == 0
        || length > 8192
        || !length.is_power_of_two()
        || !index.is_multiple_of(length)
        || base >= layers
        || index + length > leaves >> base
        || proof_layers >= layers - base
    {
        return None;
    }
    let mut out = Vec::with_capacity(length + proof_layers as usize);
    for i in index..index + length {
        out.push(node(base, i)?);
    }
    let inside = length.trailing_zeros();
    for i in 0..proof_layers {
        if i + 1 >= inside {
            let h = base + i + 1;
            let at = index >> (i + 1);
            out.push(node(h, at ^ 1)?);
        }
    }
    Some(out)
}

/// The node a `hashes` answer proves: the root of `hashes` (at `base`, from
/// `index`), folded with each uncle on its side. A requester compares it
/// with a hash it already trusts.
pub fn fold_proof(hashes: &[Hash32], base: u32, index: usize, uncles: &[Hash32]) -> Hash32 {
    let mut h = root(hashes, hashes.len().next_power_of_two(), base);
    let mut at = index / hashes.len().max(1);
    for u in uncles {
        h = if at.is_multiple_of(2) {
            parent(&h, u)
        } else {
            parent(u, &h)
        };
        at /= 2;
    }
    h
}

/// Checks a `hashes` answer to a request for a whole piece's blocks against
/// the piece's known hash: the requested hashes must fold into it. Returns
/// the block hashes.
pub fn verify_piece_leaves(hashes: &[Hash32], piece_hash: &Hash32) -> bool {
    hashes.len().is_power_of_two() && root(hashes, hashes.len(), 0) == *piece_hash
}

/// How a file sits in its tree, from its length and the torrent's piece length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileShape {
    pub length: u64,
    pub piece_length: u64,
}

impl FileShape {
    pub fn blocks(&self) -> u64 {
        self.length.div_ceil(BLOCK)
    }

    pub fn pieces(&self) -> u64 {
        self.length.div_ceil(self.piece_length)
    }

    /// The piece layer's height above the leaves.
    pub fn piece_height(&self) -> u32 {
        (self.piece_length / BLOCK).trailing_zeros()
    }

    /// True when the torrent carries a piece layer for this file: only files
    /// longer than one piece have one; the root alone checks the others.
    pub fn has_piece_layer(&self) -> bool {
        self.length > self.piece_length
    }

    /// Leaves under one piece's hash: the piece's subtree, or the whole
    /// file's tree when the file fits in one piece.
    pub fn piece_width(&self) -> usize {
        if self.has_piece_layer() {
            (self.piece_length / BLOCK) as usize
        } else {
            (self.blocks().max(1) as usize).next_power_of_two()
        }
    }

    /// The file's root from its piece layer.
    pub fn root_from_layer(&self, layer: &[Hash32]) -> Hash32 {
        root(
            layer,
            (layer.len().max(1)).next_power_of_two(),
            self.piece_height(),
        )
    }
}

/// Hashes a file block by block as it streams past, keeping one piece's
/// leaves at a time: memory is the piece layer, 32 bytes a piece.
pub struct FileHasher {
    piece_length: u64,
    length: u64,
    piece_leaves: Vec<Hash32>,
    layer: Vec<Hash32>,
}

/// What a hashed file contributes to a v2 torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHashes {
    /// None for an empty file, which has no `pieces root`.
    pub root: Option<Hash32>,
    /// Its `piece layers` entry; empty when the file fits in one piece.
    pub piece_layer: Vec<Hash32>,
}

impl FileHasher {
    pub fn new(piece_length: u64) -> FileHasher {
        FileHasher {
            piece_length,
            length: 0,
            piece_leaves: Vec::with_capacity((piece_length / BLOCK) as usize),
            layer: Vec::new(),
        }
    }

    /// The next block's hash and length: every block but the last is 16 KiB.
    pub fn push_leaf(&mut self, hash: Hash32, len: u64) {
        debug_assert!(
            self.length.is_multiple_of(BLOCK),
            "a short block came before the last"
        );
        self.length += len;
        self.piece_leaves.push(hash);
        if self.piece_leaves.len() as u64 == self.piece_length / BLOCK {
            self.close_piece();
        }
    }

    fn close_piece(&mut self) {
        let width = (self.piece_length / BLOCK) as usize;
        self.layer.push(root(&self.piece_leaves, width, 0));
        self.piece_leaves.clear();
    }

    pub fn finish(mut self) -> FileHashes {
        let shape = FileShape {
            length: self.length,
            piece_length: self.piece_length,
        };
        if self.length == 0 {
            return FileHashes {
                root: None,
                piece_layer: Vec::new(),
            };
        }
        if !shape.has_piece_layer() {
            // One piece or less: a tree only as wide as the file's blocks.
            let leaves: Vec<Hash32> = if self.layer.is_empty() {
                std::mem::take(&mut self.piece_leaves)
            } else {
                // Exactly one whole piece, already folded.
                return FileHashes {
                    root: self.layer.pop(),
                    piece_layer: Vec::new(),
                };
            };
            return FileHashes {
                root: Some(root(&leaves, shape.piece_width(), 0)),
                piece_layer: Vec::new(),
            };
        }
        if !self.piece_leaves.is_empty() {
            self.close_piece();
        }
        FileHashes {
            root: Some(shape.root_from_layer(&self.layer)),
            piece_layer: self.layer,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex32(s: &str) -> Hash32 {
        let mut out = [0u8; 32];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    fn hash_file(data: &[u8], piece_length: u64) -> FileHashes {
        let mut h = FileHasher::new(piece_length);
        for b in data.chunks(BLOCK as usize) {
            h.push_leaf(leaf(b), b.len() as u64);
        }
        h.finish()
    }

    /// Straight from the definition: all leaves, padded to a power of two.
    fn naive_root(data: &[u8]) -> Hash32 {
        let l = leaves(data);
        root(&l, l.len().next_power_of_two(), 0)
    }

    #[test]
    fn pad_is_the_root_of_zero_leaves() {
        assert_eq!(pad(0), [0; 32]);
        assert_eq!(root(&[], 4, 0), pad(2));
        assert_eq!(pad(1), parent(&[0; 32], &[0; 32]));
    }

    #[test]
    fn one_block_is_its_own_root() {
        let data = b"hello";
        assert_eq!(hash_file(data, 32768).root, Some(leaf(data)));
    }

    #[test]
    fn streamed_roots_match_the_definition_at_every_size() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for len in [
            1, 16384, 16385, 32768, 32769, 65536, 100_000, 131_073, 300_000,
        ] {
            for pl in [16384, 32768, 65536, 262_144] {
                let f = hash_file(&data[..len], pl);
                assert_eq!(f.root, Some(naive_root(&data[..len])), "len {len} pl {pl}");
                let shape = FileShape {
                    length: len as u64,
                    piece_length: pl,
                };
                if shape.has_piece_layer() {
                    assert_eq!(f.piece_layer.len() as u64, shape.pieces());
                    assert_eq!(shape.root_from_layer(&f.piece_layer), f.root.unwrap());
                    // Each layer hash is the root of its piece's data, zero-padded.
                    for (i, want) in f.piece_layer.iter().enumerate() {
                        let start = i * pl as usize;
                        let end = (start + pl as usize).min(len);
                        let got = root(&leaves(&data[start..end]), shape.piece_width(), 0);
                        assert_eq!(&got, want);
                    }
                } else {
                    assert!(f.piece_layer.is_empty());
                }
            }
        }
    }

    /// An answer's uncles lead from the requested hashes to the root, as a
    /// requester folds them.
    #[test]
    fn answers_fold_to_the_root() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7) as u8).collect();
        let leaves = leaves(&data);
        let tree = layers_above(&leaves, 0);
        let want = naive_root(&data);
        assert_eq!(tree.last().unwrap()[0], want);
        let shape = FileShape {
            length: data.len() as u64,
            piece_length: 65536,
        };
        let node = |h: u32, i: usize| Some(tree[h as usize].get(i).copied().unwrap_or(pad(h)));
        for (base, index, length, proof) in
            [(0, 4, 4, 4), (2, 2, 2, 2), (0, 16, 2, 4), (0, 0, 2, 0)]
        {
            let got = answer(shape, base, index, length, proof, node).unwrap();
            let (mine, uncles) = got.split_at(length as usize);
            assert_eq!(
                mine,
                &tree[base as usize][index as usize..(index + length) as usize]
            );
            // Folded, they give the node the last uncle's parent is.
            let h = fold_proof(mine, base, index as usize, uncles);
            let height = base + length.trailing_zeros() + uncles.len() as u32;
            let at = (index as usize / length as usize) >> uncles.len();
            assert_eq!(
                h, tree[height as usize][at],
                "{base} {index} {length} {proof}"
            );
            if base + proof + 1 == 5 {
                assert_eq!(h, want, "all the way up");
            }
        }
        // What libtorrent refuses, refused.
        for (base, index, length, proof) in [
            (0, 1, 2, 0),
            (0, 0, 3, 0),
            (5, 0, 1, 0),
            (0, 0, 2, 5),
            (0, 32, 2, 0),
        ] {
            assert!(answer(shape, base, index, length, proof, node).is_none());
        }
    }

    #[test]
    fn empty_file_has_no_root() {
        assert_eq!(hash_file(b"", 32768).root, None);
    }

    /// A file libtorrent 2.0.8 hashed: 40,000 bytes of `i * 31 % 251`,
    /// piece length 32 KiB; its `pieces root` as libtorrent wrote it.
    #[test]
    fn a_root_libtorrent_made() {
        let data: Vec<u8> = (0..40_000u32).map(|i| (i * 31 % 251) as u8).collect();
        let f = hash_file(&data, 32768);
        assert_eq!(
            f.root.unwrap(),
            hex32("cb1c8b072333dde0adbe4a339178baea7273820d20f00289b989bf8acde773cb")
        );
    }
}
