//! BEP 52 `.torrent` files, v2-only and hybrid, encoded from hashes already
//! computed (the I/O side is `peer::torrent_maker`). Pure.
//!
//! Layout choices, the ones libtorrent 2.0.8's `create_torrent` makes, so that
//! the same files give the same info dictionary, byte for byte:
//! - files are in file-tree order: paths sorted component by component, each
//!   component bytewise, which is the order of a walk of the bencoded `file
//!   tree` (its keys are sorted bytewise);
//! - a hybrid's v1 part describes the same bytes in the same order; when it
//!   has more than one file, every non-empty file whose length is not a
//!   multiple of the piece length is followed by a BEP 47 pad file
//!   `{"attr": "p", "length": N, "path": [".pad", "N"]}`, the last one too, so
//!   every file starts on a piece boundary as it does in v2. One file alone
//!   (a single-file torrent, or a folder holding one file) has no pad;
//! - `piece layers` has one entry per distinct `pieces root` of a file longer
//!   than one piece, and is present (perhaps empty) in every v2 torrent.

use std::collections::BTreeMap;

use thiserror::Error;

use super::bencode::Encoder;
use super::merkle::{self, FileHashes, FileShape, Hash32};
use super::metainfo::{self, MetainfoError};

/// One file of the torrent and its hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashedFile {
    /// Path components under the torrent's folder; `[name]` for a single-file torrent.
    pub path: Vec<String>,
    pub length: u64,
    pub hashes: FileHashes,
}

/// What goes into a v2 or hybrid `.torrent`.
#[derive(Debug, Clone, Copy)]
pub struct V2Torrent<'a> {
    pub name: &'a str,
    pub piece_length: u64,
    /// In file-tree order (see `in_tree_order`).
    pub files: &'a [HashedFile],
    /// True for one file named `name`, with no folder: a hybrid's v1 part then
    /// has `length` instead of `files`.
    pub single_file: bool,
    /// A hybrid's v1 `pieces`: the SHA-1 of every piece of the files laid end
    /// to end with their pads (`pad_after`). `None` makes a v2-only torrent.
    pub v1_pieces: Option<&'a [[u8; 20]]>,
    pub announce: &'a str,
    /// Seconds since the epoch; `None` leaves `creation date` out, so the same
    /// files always make the same bytes.
    pub creation_date: Option<i64>,
}

#[derive(Debug, Error)]
pub enum V2EncodeError {
    #[error(transparent)]
    Name(#[from] MetainfoError),
    /// BEP 52 maps files onto pieces of whole subtrees of 16 KiB blocks.
    #[error("piece length {0} is not a power of two of at least 16 KiB, as BEP 52 requires")]
    PieceLength(u64),
    #[error("a torrent needs at least one file")]
    NoFiles,
    #[error("a file has an empty path")]
    EmptyPath,
    #[error("a single-file torrent has exactly one file, whose path is the torrent's name")]
    SingleFile,
    /// The v1 pieces were hashed in the order given: the file tree has only one order.
    #[error("files are not in file-tree order: {first:?} comes before {second:?}")]
    Order { first: String, second: String },
    #[error("{0:?} is listed twice")]
    Duplicate(String),
    #[error("{0:?} is a file and also a folder holding other files")]
    FileAndFolder(String),
    #[error("{path:?}: {reason}")]
    Hashes { path: String, reason: &'static str },
    #[error(
        "{got} v1 piece hashes for {bytes} bytes (pads included) at {piece_length} bytes a piece; expected {want}"
    )]
    V1Pieces {
        got: usize,
        want: u64,
        bytes: u64,
        piece_length: u64,
    },
}

/// True when `files` is in file-tree order: strictly increasing, compared
/// component by component and each component bytewise (`Vec<String>`'s own
/// order, since `String` compares bytewise).
pub fn in_tree_order(files: &[Vec<String>]) -> bool {
    files.windows(2).all(|w| w[0] < w[1])
}

/// Whether a hybrid with `files` files pads them: only when there are several.
pub fn pads_files(files: usize) -> bool {
    files > 1
}

/// The pad a hybrid with `files` files puts after a file of `length` bytes.
pub fn pad_after(files: usize, length: u64, piece_length: u64) -> u64 {
    if !pads_files(files) || length == 0 {
        return 0;
    }
    (piece_length - length % piece_length) % piece_length
}

fn shown(path: &[String]) -> String {
    path.join("/")
}

fn check(t: &V2Torrent<'_>) -> Result<(), V2EncodeError> {
    let pl = t.piece_length;
    if !pl.is_power_of_two() || pl < merkle::BLOCK {
        return Err(V2EncodeError::PieceLength(pl));
    }
    if t.files.is_empty() {
        return Err(V2EncodeError::NoFiles);
    }
    let paths: Vec<Vec<String>> = t.files.iter().map(|f| f.path.clone()).collect();
    if t.single_file {
        metainfo::check_name(t.name)?;
        if paths != [vec![t.name.to_owned()]] {
            return Err(V2EncodeError::SingleFile);
        }
    } else {
        metainfo::check_folder(t.name, &paths)?;
    }
    if paths.iter().any(Vec::is_empty) {
        return Err(V2EncodeError::EmptyPath);
    }
    for w in paths.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        if a == b {
            return Err(V2EncodeError::Duplicate(shown(a)));
        }
        if a > b {
            return Err(V2EncodeError::Order {
                first: shown(a),
                second: shown(b),
            });
        }
        // In sorted order a path that is also a folder comes right before its first file.
        if b.starts_with(a) {
            return Err(V2EncodeError::FileAndFolder(shown(a)));
        }
    }
    for f in t.files {
        check_hashes(f, pl)?;
    }
    if let Some(pieces) = t.v1_pieces {
        let bytes: u64 = t
            .files
            .iter()
            .map(|f| f.length + pad_after(t.files.len(), f.length, pl))
            .sum();
        let want = bytes.div_ceil(pl);
        if pieces.len() as u64 != want {
            return Err(V2EncodeError::V1Pieces {
                got: pieces.len(),
                want,
                bytes,
                piece_length: pl,
            });
        }
    }
    Ok(())
}

fn check_hashes(f: &HashedFile, piece_length: u64) -> Result<(), V2EncodeError> {
    let bad = |reason| {
        Err(V2EncodeError::Hashes {
            path: shown(&f.path),
            reason,
        })
    };
    let shape = FileShape {
        length: f.length,
        piece_length,
    };
    match (f.length, f.hashes.root) {
        (0, Some(_)) => return bad("an empty file has no pieces root"),
        (0, None) => {}
        (_, None) => return bad("a non-empty file needs a pieces root"),
        (_, Some(root)) if shape.has_piece_layer() => {
            if f.hashes.piece_layer.len() as u64 != shape.pieces() {
                return bad("its piece layer does not have one hash per piece");
            }
            if shape.root_from_layer(&f.hashes.piece_layer) != root {
                return bad("its piece layer does not hash to its pieces root");
            }
            return Ok(());
        }
        (_, Some(_)) => {}
    }
    if !f.hashes.piece_layer.is_empty() {
        return bad("a file of one piece or less has no piece layer");
    }
    Ok(())
}

/// The bytes of the `.torrent`.
pub fn encode(t: &V2Torrent<'_>) -> Result<Vec<u8>, V2EncodeError> {
    check(t)?;
    let pl = t.piece_length;
    let mut info = Vec::new();
    let mut e = Encoder::new(&mut info);
    // Keys in bytewise order: "file tree" < "files" < "length" < "meta version"
    // < "name" < "piece length" < "pieces".
    e.begin_dict().str("file tree");
    tree(&mut e, t.files, 0);
    if let Some(pieces) = t.v1_pieces {
        if t.single_file {
            e.str("length").int(t.files[0].length as i64);
        } else {
            e.str("files").begin_list();
            for f in t.files {
                e.begin_dict().str("length").int(f.length as i64);
                e.str("path").begin_list();
                for c in &f.path {
                    e.str(c);
                }
                e.end().end();
                let pad = pad_after(t.files.len(), f.length, pl);
                if pad > 0 {
                    e.begin_dict().str("attr").str("p");
                    e.str("length").int(pad as i64);
                    e.str("path")
                        .begin_list()
                        .str(".pad")
                        .str(&pad.to_string())
                        .end();
                    e.end();
                }
            }
            e.end();
        }
        e.str("meta version").int(2).str("name").str(t.name);
        e.str("piece length")
            .int(pl as i64)
            .str("pieces")
            .bytes(&pieces.concat());
    } else {
        e.str("meta version").int(2).str("name").str(t.name);
        e.str("piece length").int(pl as i64);
    }
    e.end();

    // Identical files share a root and a layer; a dictionary holds a key once.
    let layers: BTreeMap<Hash32, &[Hash32]> = t
        .files
        .iter()
        .filter(|f| !f.hashes.piece_layer.is_empty())
        .filter_map(|f| Some((f.hashes.root?, f.hashes.piece_layer.as_slice())))
        .collect();
    let mut out = Vec::with_capacity(info.len() + layers.len() * 64 + 128);
    let mut e = Encoder::new(&mut out);
    e.begin_dict()
        .str("announce")
        .str(t.announce)
        .str("created by")
        .str(concat!("swarmshare ", env!("CARGO_PKG_VERSION")));
    if let Some(date) = t.creation_date {
        e.str("creation date").int(date);
    }
    e.str("info").raw(&info).str("piece layers").begin_dict();
    for (root, layer) in layers {
        e.bytes(&root).bytes(&layer.concat());
    }
    e.end().end();
    Ok(out)
}

/// One level of the file tree: `files` all share their first `depth`
/// components, and are sorted with no file also a folder (`check`).
fn tree(e: &mut Encoder<'_>, files: &[HashedFile], depth: usize) {
    e.begin_dict();
    let mut i = 0;
    while i < files.len() {
        let key = &files[i].path[depth];
        let same = files[i..]
            .iter()
            .take_while(|f| f.path[depth] == *key)
            .count();
        e.str(key);
        let f = &files[i];
        if f.path.len() == depth + 1 {
            e.begin_dict().str("").begin_dict();
            e.str("length").int(f.length as i64);
            if let Some(root) = &f.hashes.root {
                e.str("pieces root").bytes(root);
            }
            e.end().end();
        } else {
            tree(e, &files[i..i + same], depth + 1);
        }
        i += same;
    }
    e.end();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::bencode::{self, Value};
    use crate::common::merkle::{FileHasher, leaf};
    use sha1::{Digest, Sha1};
    use sha2::Sha256;

    const PL: u64 = 32 * 1024;

    /// Bytes `(j * 31 + seed * 7) % 251`, a pattern a Python one-liner repeats.
    fn data(len: usize, seed: usize) -> Vec<u8> {
        (0..len)
            .map(|j| ((j * 31 + seed * 7) % 251) as u8)
            .collect()
    }

    fn hashes(bytes: &[u8], pl: u64) -> FileHashes {
        let mut h = FileHasher::new(pl);
        for b in bytes.chunks(merkle::BLOCK as usize) {
            h.push_leaf(leaf(b), b.len() as u64);
        }
        h.finish()
    }

    fn file(path: &[&str], bytes: &[u8], pl: u64) -> HashedFile {
        HashedFile {
            path: path.iter().map(|c| c.to_string()).collect(),
            length: bytes.len() as u64,
            hashes: hashes(bytes, pl),
        }
    }

    /// SHA-1 of each piece of the files laid end to end with their pads.
    fn v1_pieces(contents: &[&[u8]], pl: u64) -> Vec<[u8; 20]> {
        let mut stream = Vec::new();
        for c in contents {
            stream.extend_from_slice(c);
            let pad = pad_after(contents.len(), c.len() as u64, pl);
            stream.resize(stream.len() + pad as usize, 0);
        }
        stream
            .chunks(pl as usize)
            .map(|p| Sha1::digest(p).into())
            .collect()
    }

    fn torrent<'a>(
        name: &'a str,
        files: &'a [HashedFile],
        single_file: bool,
        v1: Option<&'a [[u8; 20]]>,
    ) -> V2Torrent<'a> {
        V2Torrent {
            name,
            piece_length: PL,
            files,
            single_file,
            v1_pieces: v1,
            announce: "http://t/announce",
            creation_date: None,
        }
    }

    fn info_of(bytes: &[u8]) -> Vec<u8> {
        let v = bencode::decode(bytes).unwrap();
        let root = v.as_dict().unwrap();
        root.get("info").unwrap().as_dict().unwrap().raw.to_vec()
    }

    fn hex(b: &[u8]) -> String {
        metainfo::hex(b)
    }

    /// Folder `d`: `a.bin` (40,000 bytes), `empty`, `sub/b` (70,000), `z`
    /// (100). The info-hashes in the tests below are those of the info
    /// dictionaries libtorrent 2.0.8's `create_torrent` (piece length 32 KiB,
    /// flags 0 for a hybrid, `v2_only`) made of these very bytes;
    /// tests/v2_make.rs compares with libtorrent live.
    fn album() -> (Vec<HashedFile>, Vec<Vec<u8>>) {
        let contents = vec![data(40_000, 1), vec![], data(70_000, 3), data(100, 4)];
        let paths: [&[&str]; 4] = [&["a.bin"], &["empty"], &["sub", "b"], &["z"]];
        let files = paths
            .iter()
            .zip(&contents)
            .map(|(p, c)| file(p, c, PL))
            .collect();
        (files, contents)
    }

    #[test]
    fn a_hybrid_folder_is_byte_for_byte_what_libtorrent_makes() {
        let (files, contents) = album();
        let refs: Vec<&[u8]> = contents.iter().map(Vec::as_slice).collect();
        let pieces = v1_pieces(&refs, PL);
        let bytes = encode(&torrent("d", &files, false, Some(&pieces))).unwrap();
        let info = info_of(&bytes);
        assert_eq!(
            hex(&Sha1::digest(&info)),
            "726ce6625d58d1a58760b75c6e7114662011b5fc"
        );
        assert_eq!(
            hex(&Sha256::digest(&info)),
            "6cd4f5daa831d2fa74674e842c32c39b964ea19cacf562ae9de154b66e9b2f92"
        );
    }

    #[test]
    fn a_v2_folder_and_single_files_are_what_libtorrent_makes() {
        let (files, _) = album();
        let bytes = encode(&torrent("d", &files, false, None)).unwrap();
        assert_eq!(
            hex(&Sha256::digest(info_of(&bytes))),
            "b068b45dea43586f3ccdbb12dc50d622c667c8aba493590588be02179b638eb4"
        );
        let b = data(70_000, 3);
        let one = [file(&["b"], &b, PL)];
        let v2 = encode(&torrent("b", &one, true, None)).unwrap();
        assert_eq!(
            hex(&Sha256::digest(info_of(&v2))),
            "e431e02af8c063846d5221dca9675580947c3fd0758bc6f634e24f57637c69c0"
        );
        let pieces = v1_pieces(&[&b], PL);
        let hybrid = encode(&torrent("b", &one, true, Some(&pieces))).unwrap();
        let info = info_of(&hybrid);
        assert_eq!(
            hex(&Sha1::digest(&info)),
            "51ba6d7675b5905bc9f0acc0d0046c0eef87c791"
        );
        assert_eq!(
            hex(&Sha256::digest(&info)),
            "727e79a9d8fae29803c56d1a433d0c8603dd739a9cc1242e726e7cb8dd832051"
        );
    }

    /// The layout itself, read back: pads after every unaligned non-empty
    /// file, the last too; none after the empty file; the file tree nested.
    #[test]
    fn hybrid_folder_layout() {
        let (files, contents) = album();
        let refs: Vec<&[u8]> = contents.iter().map(Vec::as_slice).collect();
        let pieces = v1_pieces(&refs, PL);
        let bytes = encode(&torrent("d", &files, false, Some(&pieces))).unwrap();
        let v = bencode::decode(&bytes).unwrap();
        let root = v.as_dict().unwrap();
        let info = root.get("info").unwrap().as_dict().unwrap();
        let keys: Vec<&[u8]> = info.entries.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            keys,
            [
                &b"file tree"[..],
                b"files",
                b"meta version",
                b"name",
                b"piece length",
                b"pieces"
            ]
        );
        let listed: Vec<(String, i64, bool)> = info
            .get("files")
            .unwrap()
            .as_list()
            .unwrap()
            .iter()
            .map(|f| {
                let f = f.as_dict().unwrap();
                let path: Vec<&str> = f
                    .get("path")
                    .unwrap()
                    .as_list()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_str().unwrap())
                    .collect();
                (
                    path.join("/"),
                    f.get("length").unwrap().as_int().unwrap(),
                    f.get("attr").and_then(Value::as_str) == Some("p"),
                )
            })
            .collect();
        let want = [
            ("a.bin", 40_000, false),
            (".pad/25536", 25_536, true),
            ("empty", 0, false),
            ("sub/b", 70_000, false),
            (".pad/28304", 28_304, true),
            ("z", 100, false),
            (".pad/32668", 32_668, true),
        ];
        let want: Vec<(String, i64, bool)> = want
            .iter()
            .map(|(p, l, pad)| (p.to_string(), *l, *pad))
            .collect();
        assert_eq!(listed, want);
        // Every file starts on a piece boundary; 7 pieces of 32 KiB, the last full.
        assert_eq!(pieces.len(), (65_536 + 98_304 + 32_768) / PL as usize);
        let tree = info.get("file tree").unwrap().as_dict().unwrap();
        let b = tree
            .get("sub")
            .unwrap()
            .as_dict()
            .unwrap()
            .get("b")
            .unwrap();
        let leaf = b.as_dict().unwrap().get("").unwrap().as_dict().unwrap();
        assert_eq!(leaf.get("length").unwrap().as_int(), Some(70_000));
        assert_eq!(
            leaf.get("pieces root").unwrap().as_bytes().unwrap(),
            files[2].hashes.root.unwrap()
        );
        let empty = tree.get("empty").unwrap().as_dict().unwrap();
        let empty = empty.get("").unwrap().as_dict().unwrap();
        assert!(empty.get("pieces root").is_none());
        // Piece layers: a.bin (2 pieces) and sub/b (3); z fits in one piece.
        let layers = root.get("piece layers").unwrap().as_dict().unwrap();
        assert_eq!(layers.entries.len(), 2);
        let b_layer = layers
            .entries
            .iter()
            .find(|(k, _)| *k == files[2].hashes.root.unwrap().as_slice());
        assert_eq!(
            b_layer.unwrap().1.as_bytes().unwrap(),
            files[2].hashes.piece_layer.concat()
        );
    }

    #[test]
    fn single_file_v2_bytes() {
        let bytes = data(5, 0);
        let files = [file(&["f.bin"], &bytes, PL)];
        let got = encode(&torrent("f.bin", &files, true, None)).unwrap();
        let root = leaf(&bytes);
        let mut want = b"d8:announce17:http://t/announce10:created by".to_vec();
        let by = concat!("swarmshare ", env!("CARGO_PKG_VERSION"));
        want.extend_from_slice(format!("{}:{by}", by.len()).as_bytes());
        want.extend_from_slice(b"4:infod9:file treed5:f.bind0:d6:lengthi5e11:pieces root32:");
        want.extend_from_slice(&root);
        want.extend_from_slice(
            b"eee12:meta versioni2e4:name5:f.bin12:piece lengthi32768ee12:piece layersdee",
        );
        assert_eq!(got, want);
        // A hybrid of one file: `length`, no pad, a short last piece.
        let pieces = [Sha1::digest(&bytes).into()];
        let hybrid = encode(&torrent("f.bin", &files, true, Some(&pieces))).unwrap();
        let v = bencode::decode(&hybrid).unwrap();
        let info = v.as_dict().unwrap().get("info").unwrap().as_dict().unwrap();
        assert_eq!(info.get("length").unwrap().as_int(), Some(5));
        assert!(info.get("files").is_none());
        assert_eq!(info.get("pieces").unwrap().as_bytes().unwrap(), pieces[0]);
    }

    /// A folder of one file has `files` and no pad, as libtorrent makes it.
    #[test]
    fn a_folder_of_one_file_has_no_pad() {
        let bytes = data(5_000, 2);
        let files = [file(&["only"], &bytes, PL)];
        let pieces = v1_pieces(&[&bytes], PL);
        assert_eq!(pieces.len(), 1);
        let t = encode(&torrent("one", &files, false, Some(&pieces))).unwrap();
        let v = bencode::decode(&t).unwrap();
        let info = v.as_dict().unwrap().get("info").unwrap().as_dict().unwrap();
        assert_eq!(info.get("files").unwrap().as_list().unwrap().len(), 1);
    }

    /// Nested keys come out sorted bytewise, and `a/x` sorts before `a-b`.
    #[test]
    fn the_file_tree_nests_in_bytewise_order() {
        let b = data(10, 0);
        let files: Vec<HashedFile> = [
            &["a", "x"][..],
            &["a", "y", "z"],
            &["a-b"],
            &["a.b"],
            &["b"],
        ]
        .iter()
        .map(|p| file(p, &b, PL))
        .collect();
        let got = encode(&torrent("d", &files, false, None)).unwrap();
        let s = String::from_utf8_lossy(&got);
        let at = |k: &str| s.find(k).unwrap_or_else(|| panic!("{k} missing"));
        assert!(at("1:ad1:xd0:") < at("1:yd1:zd0:"));
        assert!(at("1:yd1:zd0:") < at("3:a-bd0:"));
        assert!(at("3:a-bd0:") < at("3:a.bd0:"));
        assert!(at("3:a.bd0:") < at("1:bd0:"));
        assert!(in_tree_order(
            &files.iter().map(|f| f.path.clone()).collect::<Vec<_>>()
        ));
    }

    #[test]
    fn identical_files_share_one_piece_layer_entry() {
        let b = data(100_000, 9);
        let files = [file(&["a"], &b, PL), file(&["b"], &b, PL)];
        let t = encode(&torrent("d", &files, false, None)).unwrap();
        let v = bencode::decode(&t).unwrap();
        let layers = v.as_dict().unwrap().get("piece layers").unwrap();
        assert_eq!(layers.as_dict().unwrap().entries.len(), 1);
    }

    #[test]
    fn creation_date_sits_before_info() {
        let b = data(10, 0);
        let files = [file(&["f"], &b, PL)];
        let mut t = torrent("f", &files, true, None);
        t.creation_date = Some(1_700_000_000);
        let got = encode(&t).unwrap();
        let s = String::from_utf8_lossy(&got);
        assert!(s.contains("13:creation datei1700000000e4:infod"), "{s}");
    }

    #[test]
    fn refuses_what_the_file_tree_cannot_say() {
        let b = data(10, 0);
        let mk = |paths: &[&[&str]]| -> Vec<HashedFile> {
            paths.iter().map(|p| file(p, &b, PL)).collect()
        };
        let err = |files: &[HashedFile]| encode(&torrent("d", files, false, None)).unwrap_err();
        assert!(matches!(
            err(&mk(&[&["b"], &["a"]])),
            V2EncodeError::Order { .. }
        ));
        assert!(matches!(
            err(&mk(&[&["a"], &["a"]])),
            V2EncodeError::Duplicate(_)
        ));
        assert!(matches!(
            err(&mk(&[&["a"], &["a", "b"]])),
            V2EncodeError::FileAndFolder(_)
        ));
        assert!(matches!(err(&mk(&[])), V2EncodeError::NoFiles));
        assert!(matches!(
            err(&mk(&[&["a\nb"]])),
            V2EncodeError::Name(MetainfoError::ControlCharacter { .. })
        ));
        assert!(matches!(
            err(&mk(&[&[".."]])),
            V2EncodeError::Name(MetainfoError::Invalid(_))
        ));
        let one = mk(&[&["f"]]);
        assert!(matches!(
            encode(&torrent("g", &one, true, None)).unwrap_err(),
            V2EncodeError::SingleFile
        ));
        for pl in [0, 8192, 49_152] {
            let mut t = torrent("f", &one, true, None);
            t.piece_length = pl;
            assert!(matches!(
                encode(&t).unwrap_err(),
                V2EncodeError::PieceLength(_)
            ));
        }
    }

    #[test]
    fn refuses_hashes_that_do_not_fit() {
        let b = data(100_000, 1);
        let good = file(&["f"], &b, PL);
        let err = |f: HashedFile, v1: Option<&[[u8; 20]]>| {
            let files = [f];
            let e = encode(&torrent("f", &files, true, v1)).unwrap_err();
            assert!(
                matches!(
                    e,
                    V2EncodeError::Hashes { .. } | V2EncodeError::V1Pieces { .. }
                ),
                "{e}"
            );
            e.to_string()
        };
        let mut f = good.clone();
        f.hashes.piece_layer.pop();
        assert!(err(f, None).contains("one hash per piece"));
        let mut f = good.clone();
        f.hashes.piece_layer[0][0] ^= 1;
        assert!(err(f, None).contains("does not hash"));
        let mut f = good.clone();
        f.hashes.root = None;
        assert!(err(f, None).contains("needs a pieces root"));
        let mut f = good.clone();
        f.length = 0;
        assert!(err(f, None).contains("empty file"));
        let pieces = v1_pieces(&[&b], PL);
        assert!(err(good.clone(), Some(&pieces[1..])).contains("expected 4"));
        let files = [good];
        assert!(encode(&torrent("f", &files, true, Some(&pieces))).is_ok());
    }
}
