//! Answers to BEP 52 hash requests. The torrent's trees, built once when it
//! was read, give every hash at or above a piece; the block hashes below one
//! come from the piece's bytes, which the caller reads from disk only when
//! the request needs them.
//! Pure: the read is the caller's closure.

use crate::common::merkle::{self, FileShape, Hash32};
use crate::common::metainfo::Metainfo;
use crate::common::wire::HashRequest;

/// The hashes for `req`, or None for a request we refuse (a root we do not
/// know, a malformed range, or blocks of a piece we do not have).
/// `read_piece(i)` gives piece `i`'s bytes if we have it.
pub fn answer(
    meta: &Metainfo,
    req: &HashRequest,
    read_piece: impl FnOnce(u32) -> Option<Vec<u8>>,
) -> Option<Vec<Hash32>> {
    let file = meta.piece_hashes.v2_file(&req.root)?;
    let shape = FileShape {
        length: file.length,
        piece_length: meta.piece_length,
    };
    // The height of one piece's hash: the piece layer, or for a file of one
    // piece its root.
    let width = shape.piece_width();
    let piece_height = width.trailing_zeros();
    let upper = &file.upper;
    // Below the piece layer only one piece's subtree can be known: the one
    // holding the requested range, read from disk.
    let lower = if req.base < piece_height {
        let span = piece_height - req.base;
        let first = (req.index >> span) as u64;
        let last = (req.index as u64 + req.length.max(1) as u64 - 1) >> span;
        if first != last || first >= shape.pieces() {
            return None;
        }
        let piece = file.first_piece + first as u32;
        let data = read_piece(piece)?;
        let n = meta.piece_hashes.merkle(piece)?.data_len as usize;
        let mut leaves = merkle::leaves(data.get(..n)?);
        leaves.resize(width, [0; 32]);
        Some((first as usize, merkle::layers_above(&leaves, 0)))
    } else {
        None
    };
    let node = |h: u32, i: usize| -> Option<Hash32> {
        if h >= piece_height {
            let l = upper.get((h - piece_height) as usize)?;
            return Some(l.get(i).copied().unwrap_or_else(|| merkle::pad(h)));
        }
        let (piece, layers) = lower.as_ref()?;
        let per_piece = width >> h;
        if i / per_piece != *piece {
            return None;
        }
        layers.get(h as usize)?.get(i % per_piece).copied()
    };
    merkle::answer(
        shape,
        req.base,
        req.index,
        req.length,
        req.proof_layers,
        node,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SINGLE_V2: &[u8] = include_bytes!("../common/metainfo/testdata/single-v2.torrent");

    fn data() -> Vec<u8> {
        let mut d: Vec<u8> = (0..100_000usize).map(|i| (i * 31 % 251) as u8).collect();
        d.resize(131_072, 0);
        d
    }

    fn read(i: u32) -> Option<Vec<u8>> {
        let d = data();
        Some(d[i as usize * 32768..(i as usize + 1) * 32768].to_vec())
    }

    fn root_of(meta: &Metainfo) -> Hash32 {
        match &meta.piece_hashes {
            crate::common::metainfo::PieceHashes::Merkle(_, f) => f[0].root,
            _ => panic!("v2"),
        }
    }

    #[test]
    fn the_piece_layer_and_one_pieces_blocks_with_proofs() {
        let meta = Metainfo::from_bytes(SINGLE_V2).unwrap();
        let root = root_of(&meta);
        let all_leaves = merkle::leaves(&data()[..100_000]);
        let tree = merkle::layers_above(&all_leaves, 0);
        // The piece layer (height 1 at 32 KiB pieces), whole: no proof needed.
        let req = HashRequest {
            root,
            base: 1,
            index: 0,
            length: 4,
            proof_layers: 0,
        };
        let got = answer(&meta, &req, |_| panic!("no disk read")).unwrap();
        assert_eq!(got, tree[1][..4].to_vec());
        // Piece 2's two blocks, with the uncles up to the root's children.
        let req = HashRequest {
            root,
            base: 0,
            index: 4,
            length: 2,
            proof_layers: 2,
        };
        let got = answer(&meta, &req, read).unwrap();
        assert_eq!(&got[..2], &tree[0][4..6]);
        assert_eq!(got[2], tree[1][3], "the piece's sibling");
        assert_eq!(got[3], tree[2][0], "its parent's sibling");
        // A range across two pieces, or a piece we lack, is refused.
        let across = HashRequest {
            length: 4,
            index: 4,
            proof_layers: 0,
            ..req
        };
        assert!(answer(&meta, &across, read).is_none());
        assert!(answer(&meta, &req, |_| None).is_none());
        let unknown = HashRequest {
            root: [1; 32],
            ..req
        };
        assert!(answer(&meta, &unknown, read).is_none());
    }
}
