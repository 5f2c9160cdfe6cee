//! v2 and hybrid torrents libtorrent 2.0.8 made (`testdata/`, made with
//! piece length 32 KiB from the files `data()` rebuilds), read as libtorrent
//! reads them.

use super::*;

const SINGLE_V2: &[u8] = include_bytes!("testdata/single-v2.torrent");
const MULTI_V2: &[u8] = include_bytes!("testdata/multi-v2.torrent");
const SINGLE_HYBRID: &[u8] = include_bytes!("testdata/single-hybrid.torrent");
const MULTI_HYBRID: &[u8] = include_bytes!("testdata/multi-hybrid.torrent");

fn pattern(len: usize, mul: usize, modulo: usize) -> Vec<u8> {
    (0..len).map(|i| (i * mul % modulo) as u8).collect()
}

/// The piece stream of a torrent: its files' bytes, with zeros for pad files.
fn stream(m: &Metainfo) -> Vec<u8> {
    let mut out = Vec::new();
    for f in &m.files {
        let data = match (f.pad, f.path.last().map(String::as_str)) {
            (true, _) => vec![0; f.length as usize],
            (false, Some("single.bin")) => pattern(100_000, 31, 251),
            (false, Some("a.bin")) => pattern(40_000, 7, 253),
            (false, Some("b.bin")) => pattern(70_000, 13, 241),
            (false, Some("empty")) => Vec::new(),
            other => panic!("unexpected file {other:?}"),
        };
        assert_eq!(data.len() as u64, f.length);
        out.extend(data);
    }
    out
}

fn every_piece_checks(m: &Metainfo) {
    let data = stream(m);
    for i in 0..m.num_pieces() as u32 {
        let at = i as usize * m.piece_length as usize;
        let piece = &data[at..at + m.piece_len(i) as usize];
        assert!(m.check_piece(i, piece), "piece {i}");
        let mut bad = piece.to_vec();
        bad[piece.len() / 2] ^= 1;
        assert!(!m.check_piece(i, &bad), "piece {i} with a flipped byte");
    }
}

#[test]
fn v2_only_single_file() {
    let m = Metainfo::from_bytes(SINGLE_V2).unwrap();
    assert!(!m.has_v1());
    assert_eq!(
        m.key(),
        "33de2895fe27627afb4640929dfd5b4b79d5d435c0b3a187c40ab5f1415e5295"
    );
    assert_eq!(m.info_hash.hex(), m.key()[..40]);
    assert_eq!(m.size(), 100_000);
    // As libtorrent lays it out: the file padded to a whole piece.
    assert_eq!(m.total_length, 131_072);
    assert_eq!(m.num_pieces(), 4);
    assert!(!m.multi_file);
    assert_eq!(m.swarm_hashes(), [m.info_hash]);
    every_piece_checks(&m);
}

#[test]
fn v2_only_folder_with_an_empty_file() {
    let m = Metainfo::from_bytes(MULTI_V2).unwrap();
    assert!(m.multi_file);
    let real: Vec<String> = m
        .files
        .iter()
        .filter(|f| !f.pad)
        .map(|f| f.path.join("/"))
        .collect();
    assert_eq!(real, ["a.bin", "empty", "sub/b.bin"]);
    assert_eq!(m.size(), 110_000);
    assert_eq!(m.num_pieces(), 5);
    every_piece_checks(&m);
}

#[test]
fn hybrids_check_both_halves_and_join_both_swarms() {
    let m = Metainfo::from_bytes(MULTI_HYBRID).unwrap();
    assert!(m.has_v1());
    assert_eq!(m.key(), "a4591604d1952b72ccdf9c776da8f38a7e629433");
    assert_eq!(
        hex(&m.info_hash_v2.unwrap()),
        "881fab043c5c65fbf2c01ed0bb9c25882c364b84db6a18a54cafac7ed87ec36f"
    );
    assert_eq!(m.swarm_hashes().len(), 2);
    assert_eq!(
        m.swarm_hashes()[1].hex(),
        "881fab043c5c65fbf2c01ed0bb9c25882c364b84"
    );
    assert!(matches!(m.piece_hashes, PieceHashes::Both(..)));
    assert_eq!(m.files.iter().filter(|f| f.pad).count(), 2);
    every_piece_checks(&m);
    let form = m.assignment_form();
    assert!(
        form.contains("Key : a4591604d1952b72ccdf9c776da8f38a7e629433\n"),
        "{form}"
    );
    assert!(form.contains("Key v2 : 881fab04"), "{form}");
    assert!(form.contains("size : 110,000 bytes"), "{form}");

    let single = Metainfo::from_bytes(SINGLE_HYBRID).unwrap();
    assert_eq!(single.total_length, 100_000);
    every_piece_checks(&single);
}

/// A pad region with data in it fails, though the file's own bytes are right.
#[test]
fn a_pad_region_must_be_zeros() {
    let m = Metainfo::from_bytes(SINGLE_V2).unwrap();
    let data = stream(&m);
    let last = &data[3 * 32768..];
    assert!(m.check_piece(3, last));
    let mut bad = last.to_vec();
    *bad.last_mut().unwrap() = 1;
    assert!(!m.check_piece(3, &bad));
}

/// The bytes of `torrent` with `from` replaced by `to` (same length, so
/// every bencode length stays right).
fn patched(torrent: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let at = torrent
        .windows(from.len())
        .position(|w| w == from)
        .expect("the bytes to patch");
    let mut out = torrent.to_vec();
    out[at..at + to.len()].copy_from_slice(to);
    out
}

#[test]
fn hostile_v2_torrents_get_one_clear_error() {
    let err = |b: &[u8]| Metainfo::from_bytes(b).unwrap_err().to_string();
    // A piece layer that does not hash to its root.
    let layers_at = SINGLE_V2
        .windows(12)
        .position(|w| w == b"piece layers")
        .unwrap();
    let mut bad = SINGLE_V2.to_vec();
    let last = bad.len() - 3;
    bad[last] ^= 1;
    assert!(last > layers_at);
    assert!(
        err(&bad).contains("does not hash to its pieces root"),
        "{}",
        err(&bad)
    );
    // Path traversal in the file tree.
    let e = err(&patched(MULTI_V2, b"3:sub", b"3:../"));
    assert!(e.contains("would escape the download folder"), "{e}");
    // A control character in a name.
    let e = err(&patched(MULTI_V2, b"5:a.bin", b"5:a\x07bin"));
    assert!(e.contains("control character"), "{e}");
    // Halves that disagree: the v1 list says a.bin is a byte longer.
    let e = err(&patched(
        MULTI_HYBRID,
        b"d6:lengthi40000e4:pathl5:a.bine",
        b"d6:lengthi40001e4:pathl5:a.bine",
    ));
    assert!(e.contains("halves of this hybrid torrent disagree"), "{e}");
    // A newer format.
    let e = err(&patched(
        SINGLE_V2,
        b"12:meta versioni2e",
        b"12:meta versioni3e",
    ));
    assert!(e.contains("newer torrent format"), "{e}");
    // v2 without piece layers, for files longer than a piece.
    let e = err(&patched(SINGLE_V2, b"12:piece layers", b"12:piece_layers"));
    assert!(e.contains("without its piece layers"), "{e}");
}

/// A hybrid fetched by magnet link has no piece layers: its v1 half checks it.
#[test]
fn a_hybrid_info_dictionary_alone_is_checked_by_its_v1_half() {
    let full = Metainfo::from_bytes(MULTI_HYBRID).unwrap();
    let m = Metainfo::from_info_bytes(&full.info_bytes, None).unwrap();
    assert!(matches!(m.piece_hashes, PieceHashes::Sha1(_)));
    assert_eq!(m.info_hash_v2, full.info_hash_v2);
    every_piece_checks(&m);
}
