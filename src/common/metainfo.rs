//! Metainfo (`.torrent`) files: BEP 3 (v1), BEP 52 (v2) and hybrids of the
//! two, parsed with validation into one hash-agnostic `Metainfo`; and
//! encoding a v1 `.torrent` from piece hashes already computed. Reading and
//! hashing files is the I/O side's (`peer::torrent_maker`, `sys::metainfo_file`).
//!
//! The assignment's vocabulary maps onto the standard fields: *Key* is the
//! info-hash, *size* is the files' total length, *n_parts* is the number of pieces.
//!
//! Every torrent becomes one piece stream: its files end to end, with BEP 47
//! pad files where a v2 torrent aligns each file to a piece boundary (listed
//! in a hybrid's v1 half, implied in a v2-only one). Pad files are zeros that
//! exist only in the stream, never on disk.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use sha1::{Digest, Sha1};
use sha2::Sha256;

use super::bencode::{self, Dict, Encoder, Value};
use super::file_tree::{self, TreeFile};
use super::merkle::{self, FileShape, Hash32, Layers};
pub use super::metainfo_checks::{MetainfoError, is_safe_component};
use super::metainfo_checks::{check_component, invalid};

/// 16 KiB: the block size every client requests, so every piece length is a multiple of it.
pub const BLOCK_SIZE: u64 = 16 * 1024;
/// Pieces larger than this are refused: a piece is held in memory while it is verified.
pub const MAX_PIECE_LENGTH: u64 = 16 * 1024 * 1024;
/// A torrent with more files than this is refused as hostile.
const MAX_FILES: usize = 100_000;

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InfoHash(pub [u8; 20]);

impl InfoHash {
    pub fn hex(&self) -> String {
        hex(&self.0)
    }
    /// What peers and trackers know a v2 torrent by: its SHA-256 info-hash
    /// cut to 20 bytes (BEP 52).
    pub fn of_v2(v2: &Hash32) -> InfoHash {
        InfoHash(v2[..20].try_into().expect("20 of 32 bytes"))
    }

    /// The assignment's *Key* of a torrent known by `self`, with `v2` its
    /// whole v2 info-hash if it has one: `self` where it is a v1 hash, else
    /// (a v2-only torrent, known by its v2 hash cut short) all 64 digits.
    pub fn key_text(&self, v2: Option<&Hash32>) -> String {
        match v2 {
            Some(v2) if InfoHash::of_v2(v2) == *self => hex(v2),
            _ => self.hex(),
        }
    }

    /// A hybrid's second swarm, known by `self` (its v1 hash) in the first:
    /// its v2 hash cut short. None for v1 and v2-only torrents.
    pub fn v2_swarm(&self, v2: Option<&Hash32>) -> Option<InfoHash> {
        let short = InfoHash::of_v2(v2?);
        (short != *self).then_some(short)
    }

    /// Parses the 40-hex-digit form the tracker and the user see, or a v2
    /// torrent's 64 digits, which peers and trackers know by their first 40.
    pub fn from_hex(s: &str) -> Option<InfoHash> {
        let b = s.as_bytes();
        if b.len() != 40 && (b.len() != 64 || !b.iter().all(u8::is_ascii_hexdigit)) {
            return None;
        }
        let b = &b[..40];
        let mut out = [0u8; 20];
        for (i, pair) in b.chunks(2).enumerate() {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            out[i] = (hi * 16 + lo) as u8;
        }
        Some(InfoHash(out))
    }
}

impl fmt::Display for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl fmt::Debug for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHash({})", self.hex())
    }
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// What one piece of a v2 torrent is checked against (BEP 52).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MerklePiece {
    /// The root of the piece's subtree: its file's piece-layer entry, or the
    /// file's `pieces root` when the file fits in one piece.
    pub hash: Hash32,
    /// Leaves under `hash`: a power of two.
    pub width: u32,
    /// Bytes of file data the piece starts with; the rest of it is alignment
    /// padding, which must be zeros.
    pub data_len: u32,
}

impl MerklePiece {
    fn check(&self, data: &[u8]) -> bool {
        let n = self.data_len as usize;
        n <= data.len()
            && data[n..].iter().all(|&b| b == 0)
            && merkle::root(&merkle::leaves(&data[..n]), self.width as usize, 0) == self.hash
    }
}

/// A v2 file's place in the piece stream, and its tree from the piece
/// hashes up: what a BEP 52 hash request names by `root`, and the nodes
/// every answer takes its hashes and uncles from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2File {
    pub root: Hash32,
    pub first_piece: u32,
    pub length: u64,
    /// From the piece layer (or, for a file of one piece, the root) up.
    pub upper: Layers,
}

/// The expected hash of every piece, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PieceHashes {
    /// BEP 3: the info dictionary's `pieces` string, cut every 20 bytes.
    Sha1(Vec<[u8; 20]>),
    /// BEP 52: each piece against its file's SHA-256 tree.
    Merkle(Vec<MerklePiece>, Vec<V2File>),
    /// A hybrid: a piece is good only when both halves say so, since a
    /// torrent whose halves disagree must not pass bytes that one of them refuses.
    Both(Vec<[u8; 20]>, Vec<MerklePiece>, Vec<V2File>),
}

impl PieceHashes {
    pub fn len(&self) -> usize {
        match self {
            PieceHashes::Sha1(h) | PieceHashes::Both(h, ..) => h.len(),
            PieceHashes::Merkle(m, _) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Piece `index`'s SHA-1, where the torrent has a v1 half.
    pub fn sha1(&self, index: u32) -> Option<[u8; 20]> {
        match self {
            PieceHashes::Sha1(h) | PieceHashes::Both(h, ..) => h.get(index as usize).copied(),
            PieceHashes::Merkle(..) => None,
        }
    }

    /// True when `data` is exactly piece `index`; false for an index out of range.
    pub fn check(&self, index: u32, data: &[u8]) -> bool {
        let i = index as usize;
        let sha1_ok = |h: &[[u8; 20]]| {
            h.get(i)
                .is_some_and(|want| <[u8; 20]>::from(Sha1::digest(data)) == *want)
        };
        let merkle_ok = |m: &[MerklePiece]| m.get(i).is_some_and(|p| p.check(data));
        match self {
            PieceHashes::Sha1(h) => sha1_ok(h),
            PieceHashes::Merkle(m, _) => merkle_ok(m),
            PieceHashes::Both(h, m, _) => sha1_ok(h) && merkle_ok(m),
        }
    }

    /// Piece `index`'s v2 check, where its tree is known.
    pub fn merkle(&self, index: u32) -> Option<&MerklePiece> {
        match self {
            PieceHashes::Merkle(m, _) | PieceHashes::Both(_, m, _) => m.get(index as usize),
            PieceHashes::Sha1(_) => None,
        }
    }

    /// The v2 file piece `index` belongs to, where the trees are known.
    pub fn v2_file_of(&self, index: u32) -> Option<&V2File> {
        match self {
            PieceHashes::Merkle(_, f) | PieceHashes::Both(_, _, f) => {
                f.iter().rev().find(|f| f.first_piece <= index)
            }
            PieceHashes::Sha1(_) => None,
        }
    }

    /// The v2 file whose tree has `root`, where the trees are known.
    pub fn v2_file(&self, root: &Hash32) -> Option<&V2File> {
        match self {
            PieceHashes::Merkle(_, f) | PieceHashes::Both(_, _, f) => {
                f.iter().find(|f| f.root == *root)
            }
            PieceHashes::Sha1(_) => None,
        }
    }
}

/// One file of a torrent, with a path that has been checked to stay inside its folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    pub path: Vec<String>,
    pub length: u64,
    /// A BEP 47 pad file: zeros in the piece stream, never a file on disk.
    pub pad: bool,
}

impl FileEntry {
    fn new(path: Vec<String>, length: u64) -> FileEntry {
        FileEntry {
            path,
            length,
            pad: false,
        }
    }

    fn pad(length: u64) -> FileEntry {
        FileEntry {
            path: vec![".pad".into(), length.to_string()],
            length,
            pad: true,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Metainfo {
    pub announce: Option<String>,
    /// BEP 12 tiers of tracker URLs, as listed (at most MAX_TRACKERS URLs in
    /// all); empty when the torrent has no `announce-list`.
    pub announce_list: Vec<Vec<String>>,
    /// The key peers and trackers know the torrent by: the SHA-1 of the info
    /// dictionary, or for a v2-only torrent the first 20 bytes of its SHA-256.
    pub info_hash: InfoHash,
    /// BEP 52's SHA-256 of the info dictionary, for v2 and hybrid torrents.
    /// A hybrid's second swarm is found under its first 20 bytes.
    pub info_hash_v2: Option<Hash32>,
    /// The suggested name: the file's name, or the top folder of a multi-file torrent.
    pub name: String,
    pub piece_length: u64,
    pub piece_hashes: PieceHashes,
    /// For a single-file torrent one entry whose path is `[name]`; pad files
    /// included, in stream order.
    pub files: Vec<FileEntry>,
    pub multi_file: bool,
    /// The piece stream's length, pad files included: what piece offsets
    /// and lengths are measured in. `size()` is what the files hold.
    pub total_length: u64,
    /// The info dictionary exactly as it came, the bytes the info-hash is over:
    /// what BEP 9 serves to a peer that has only the info-hash.
    pub info_bytes: Arc<[u8]>,
}

impl Metainfo {
    pub fn from_bytes(bytes: &[u8]) -> Result<Metainfo, MetainfoError> {
        let root = bencode::decode(bytes)?;
        let root = root
            .as_dict()
            .ok_or_else(|| invalid("top level is not a dictionary"))?;
        let announce = root
            .get("announce")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let info = root
            .get("info")
            .and_then(Value::as_dict)
            .ok_or_else(|| invalid("missing info dictionary"))?;
        let layers = root.get("piece layers").and_then(Value::as_dict);
        let mut meta = parse_info(info, announce, layers)?;
        meta.announce_list = root
            .get("announce-list")
            .map(announce_tiers)
            .unwrap_or_default();
        Ok(meta)
    }

    /// A torrent from its info dictionary alone, as a magnet link's peers send it (BEP 9).
    pub fn from_info_bytes(
        info: &[u8],
        announce: Option<String>,
    ) -> Result<Metainfo, MetainfoError> {
        let info = bencode::decode(info)?;
        let info = info
            .as_dict()
            .ok_or_else(|| invalid("info is not a dictionary"))?;
        parse_info(info, announce, None)
    }

    /// The files of a v2 or hybrid info dictionary whose piece layers must
    /// come from peers, as a magnet link brings it: files longer than one
    /// piece, by root; and whether they are required (v2-only) or a bonus
    /// (a hybrid, which its v1 half can check alone). Empty for v1.
    pub fn missing_piece_layers(
        info: &[u8],
    ) -> Result<(Vec<(Hash32, FileShape)>, bool), MetainfoError> {
        let info = bencode::decode(info)?;
        let info = info
            .as_dict()
            .ok_or_else(|| invalid("info is not a dictionary"))?;
        let v2 = info.get("meta version").and_then(Value::as_int) == Some(2);
        let required = v2 && info.get("pieces").is_none();
        let (Some(tree), Some(piece_length), true) = (
            info.get("file tree").and_then(Value::as_dict),
            info.get("piece length").and_then(Value::as_int),
            v2,
        ) else {
            return Ok((Vec::new(), false));
        };
        let mut out: Vec<(Hash32, FileShape)> = Vec::new();
        for f in file_tree::parse(tree, MAX_FILES)? {
            let shape = FileShape {
                length: f.length,
                piece_length: piece_length.max(1) as u64,
            };
            if let (Some(root), true) = (f.root, shape.has_piece_layer())
                && !out.iter().any(|(r, _)| *r == root)
            {
                out.push((root, shape));
            }
        }
        Ok((out, required))
    }

    /// A `.torrent` around an info dictionary fetched by magnet link: the
    /// link's trackers as `announce` and, when there are several, one BEP 12
    /// tier each, in the link's order; and a v2 torrent's piece layers as
    /// peers sent them.
    pub fn torrent_bytes(
        info: &[u8],
        trackers: &[String],
        layers: &[(Hash32, Vec<Hash32>)],
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(info.len() + 64);
        let mut e = Encoder::new(&mut out);
        e.begin_dict();
        if let Some(first) = trackers.first() {
            e.str("announce").str(first);
        }
        if trackers.len() > 1 {
            e.str("announce-list").begin_list();
            for t in trackers {
                e.begin_list().str(t).end();
            }
            e.end();
        }
        e.str("info").raw(info);
        if !layers.is_empty() {
            let mut sorted: Vec<&(Hash32, Vec<Hash32>)> = layers.iter().collect();
            sorted.sort_by_key(|(root, _)| *root);
            e.str("piece layers").begin_dict();
            for (root, layer) in sorted {
                e.bytes(root).bytes(&layer.concat());
            }
            e.end();
        }
        e.end();
        out
    }

    pub fn num_pieces(&self) -> usize {
        self.piece_hashes.len()
    }

    /// True when `data` is exactly piece `index`: the one piece check, whatever the hash.
    pub fn check_piece(&self, index: u32, data: &[u8]) -> bool {
        self.piece_hashes.check(index, data)
    }

    /// The bytes the torrent's files hold: the stream without its pad files.
    pub fn size(&self) -> u64 {
        self.files.iter().filter(|f| !f.pad).map(|f| f.length).sum()
    }

    /// True when the torrent has BEP 3 piece hashes, so that clients without
    /// v2 can join it.
    pub fn has_v1(&self) -> bool {
        !matches!(self.piece_hashes, PieceHashes::Merkle(..))
    }

    /// The assignment's *Key*: the v1 info-hash where there is one, else the
    /// whole v2 info-hash (64 hex digits).
    pub fn key(&self) -> String {
        self.info_hash.key_text(self.info_hash_v2.as_ref())
    }

    /// The info-hashes peers and trackers may know this torrent by: the
    /// v1 one and, for a hybrid, the truncated v2 one too.
    pub fn swarm_hashes(&self) -> Vec<InfoHash> {
        let mut out = vec![self.info_hash];
        out.extend(self.info_hash.v2_swarm(self.info_hash_v2.as_ref()));
        out
    }

    /// Length of piece `index`: all are `piece_length` but the last.
    pub fn piece_len(&self, index: u32) -> u64 {
        let start = index as u64 * self.piece_length;
        self.piece_length.min(self.total_length - start)
    }

    /// Where each file lives when the torrent is stored under `base`: the file
    /// itself for a single-file torrent, `base/name/path...` for a multi-file one.
    pub fn file_paths(&self, base: &Path) -> Vec<std::path::PathBuf> {
        let top = base.join(&self.name);
        self.files
            .iter()
            .map(|f| {
                if self.multi_file {
                    f.path.iter().fold(top.clone(), |a, c| a.join(c))
                } else {
                    top.clone()
                }
            })
            .collect()
    }

    /// The assignment's *Name* / *type* split: `got5.mp4` is name `got5`, type `mp4`.
    pub fn name_and_type(&self) -> (String, String) {
        split_name(&self.name)
    }

    /// The form the assignment uses to describe a torrent.
    pub fn assignment_form(&self) -> String {
        let v2_key = match (&self.info_hash_v2, self.has_v1()) {
            (Some(v2), true) => format!("Key v2 : {}\n", hex(v2)),
            _ => String::new(),
        };
        let version = match (self.has_v1(), self.info_hash_v2.is_some()) {
            (true, true) => "hybrid (v1 + v2)",
            (false, _) => "v2",
            (true, false) => "v1",
        };
        format!(
            "Name : {}\nKey : {}\n{v2_key}size : {} bytes\nn_parts : {}\npiece length : {} bytes\nfiles : {}\nformat : {version}\nannounce : {}\n",
            self.name,
            self.key(),
            group_thousands(self.size()),
            self.num_pieces(),
            self.piece_length,
            self.files.iter().filter(|f| !f.pad).count(),
            self.announce.as_deref().unwrap_or("-"),
        )
    }
}

pub fn split_name(name: &str) -> (String, String) {
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && !ext.is_empty() => {
            (stem.to_owned(), ext.to_owned())
        }
        _ => (name.to_owned(), String::new()),
    }
}

pub fn group_thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The most tracker URLs taken from an `announce-list`: each is a thread
/// and a socket, and a hostile torrent could list thousands.
pub const MAX_TRACKERS: usize = 32;

/// BEP 12 tiers; entries that are not lists of strings are skipped, not fatal,
/// as other clients do, and empty tiers are dropped.
fn announce_tiers(v: &Value<'_>) -> Vec<Vec<String>> {
    let mut left = MAX_TRACKERS;
    let mut tiers = Vec::new();
    for tier in v.as_list().unwrap_or_default() {
        let urls: Vec<String> = tier
            .as_list()
            .unwrap_or_default()
            .iter()
            .filter_map(Value::as_str)
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .take(left)
            .map(str::to_owned)
            .collect();
        left -= urls.len();
        if !urls.is_empty() {
            tiers.push(urls);
        }
    }
    tiers
}

fn parse_info(
    info: &Dict<'_>,
    announce: Option<String>,
    layers: Option<&Dict<'_>>,
) -> Result<Metainfo, MetainfoError> {
    // BEP 52: the version first, so that a newer format is named as such
    // rather than reported as some missing field.
    let v2 = match info.get("meta version") {
        None => false,
        Some(v) => match v.as_int() {
            Some(2) => true,
            _ => {
                return Err(invalid(
                    "meta version is not 2: a newer torrent format than this peer reads",
                ));
            }
        },
    };
    let name = info
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("info has no UTF-8 name"))?
        .to_owned();
    check_component("name", &name)?;
    let piece_length = info
        .get("piece length")
        .and_then(Value::as_int)
        .ok_or_else(|| invalid("info has no piece length"))?;
    if piece_length <= 0 || piece_length as u64 > MAX_PIECE_LENGTH {
        return Err(invalid(format!(
            "piece length {piece_length} is out of range"
        )));
    }
    let piece_length = piece_length as u64;
    let v1 = if !v2 || info.get("pieces").is_some() {
        Some(parse_v1(info, &name)?)
    } else {
        None
    };
    let (files, multi_file, piece_hashes, info_hash, info_hash_v2) = if v2 {
        if piece_length < BLOCK_SIZE || !piece_length.is_power_of_two() {
            return Err(invalid(format!(
                "piece length {piece_length} is not a power of two of at least 16 KiB, as v2 needs"
            )));
        }
        let tree = info
            .get("file tree")
            .and_then(Value::as_dict)
            .ok_or_else(|| invalid("a v2 torrent (meta version 2) has no file tree"))?;
        let tree = file_tree::parse(tree, MAX_FILES)?;
        let (files, multi_file) = match &v1 {
            Some(v1) => {
                halves_agree(&v1.files, &tree)?;
                (v1.files.clone(), v1.multi_file)
            }
            None => v2_layout(&tree, piece_length, &name),
        };
        let needs_layers = tree.iter().any(|f| {
            FileShape {
                length: f.length,
                piece_length,
            }
            .has_piece_layer()
        });
        let merkle = match layers {
            Some(l) => Some(file_tree::piece_layers(l, &tree, piece_length)?),
            None if !needs_layers => Some(vec![Vec::new(); tree.len()]),
            None => None,
        }
        .map(|layers| merkle_pieces(&files, &tree, &layers, piece_length))
        .transpose()?;
        let sha256: Hash32 = Sha256::digest(info.raw).into();
        match (v1, merkle) {
            (Some(v1), Some((m, f))) => (
                files,
                multi_file,
                PieceHashes::Both(v1.hashes, m, f),
                v1.info_hash,
                Some(sha256),
            ),
            // A hybrid fetched by magnet link comes without its piece layers
            // (they are outside the info dictionary): its v1 half checks it.
            (Some(v1), None) => (
                files,
                multi_file,
                PieceHashes::Sha1(v1.hashes),
                v1.info_hash,
                Some(sha256),
            ),
            (None, Some((m, f))) => (
                files,
                multi_file,
                PieceHashes::Merkle(m, f),
                InfoHash::of_v2(&sha256),
                Some(sha256),
            ),
            (None, None) => {
                return Err(invalid(
                    "this v2 torrent comes without its piece layers (a .torrent must carry them; a magnet link fetches them from peers)",
                ));
            }
        }
    } else {
        let v1 = v1.expect("parsed for every torrent without meta version 2");
        (
            v1.files,
            v1.multi_file,
            PieceHashes::Sha1(v1.hashes),
            v1.info_hash,
            None,
        )
    };
    let total_length = files
        .iter()
        .try_fold(0u64, |acc, f| acc.checked_add(f.length))
        .filter(|&t| t < (1u64 << 50))
        .ok_or_else(|| invalid("total length is too large"))?;
    let expected = total_length.div_ceil(piece_length);
    if expected != piece_hashes.len() as u64 {
        return Err(invalid(format!(
            "{} piece hashes for {} bytes at {} bytes a piece (expected {})",
            piece_hashes.len(),
            total_length,
            piece_length,
            expected
        )));
    }
    Ok(Metainfo {
        announce,
        announce_list: Vec::new(),
        info_hash,
        info_hash_v2,
        name,
        piece_length,
        piece_hashes,
        files,
        multi_file,
        total_length,
        info_bytes: info.raw.into(),
    })
}

/// The BEP 3 half of an info dictionary.
struct V1 {
    info_hash: InfoHash,
    hashes: Vec<[u8; 20]>,
    files: Vec<FileEntry>,
    multi_file: bool,
}

fn parse_v1(info: &Dict<'_>, name: &str) -> Result<V1, MetainfoError> {
    let pieces = info
        .get("pieces")
        .and_then(Value::as_bytes)
        .ok_or_else(|| invalid("info has no pieces"))?;
    if pieces.len() % 20 != 0 {
        return Err(invalid("pieces is not a multiple of 20 bytes"));
    }
    let hashes: Vec<[u8; 20]> = pieces
        .chunks_exact(20)
        .map(|c| c.try_into().expect("20 bytes"))
        .collect();

    let (files, multi_file) = if let Some(length) = info.get("length") {
        let length = length
            .as_int()
            .filter(|&l| l >= 0)
            .ok_or_else(|| invalid("length is not a non-negative integer"))?;
        (
            vec![FileEntry::new(vec![name.to_owned()], length as u64)],
            false,
        )
    } else {
        let list = info
            .get("files")
            .and_then(Value::as_list)
            .ok_or_else(|| invalid("info has neither length nor files"))?;
        if list.is_empty() || list.len() > MAX_FILES {
            return Err(invalid("files list is empty or too long"));
        }
        let mut files = Vec::with_capacity(list.len());
        for f in list {
            let d = f
                .as_dict()
                .ok_or_else(|| invalid("file entry is not a dictionary"))?;
            let length = d
                .get("length")
                .and_then(Value::as_int)
                .filter(|&l| l >= 0)
                .ok_or_else(|| invalid("file entry has no valid length"))?;
            let comps = d
                .get("path")
                .and_then(Value::as_list)
                .filter(|p| !p.is_empty())
                .ok_or_else(|| invalid("file entry has no path"))?;
            let mut path = Vec::with_capacity(comps.len());
            for c in comps {
                let c = c
                    .as_str()
                    .ok_or_else(|| invalid("path component is not UTF-8"))?;
                check_component("path component", c)?;
                path.push(c.to_owned());
            }
            // BEP 47: `attr` holds one letter a flag; `p` marks padding.
            let pad = d
                .get("attr")
                .and_then(Value::as_bytes)
                .is_some_and(|a| a.contains(&b'p'));
            files.push(FileEntry {
                path,
                length: length as u64,
                pad,
            });
        }
        (files, true)
    };
    Ok(V1 {
        info_hash: InfoHash(Sha1::digest(info.raw).into()),
        hashes,
        files,
        multi_file,
    })
}

/// A hybrid's two halves must list the same files, in the same order, with
/// the same lengths (BEP 52, "Upgrade Path").
fn halves_agree(v1: &[FileEntry], tree: &[TreeFile]) -> Result<(), MetainfoError> {
    let real: Vec<&FileEntry> = v1.iter().filter(|f| !f.pad).collect();
    let disagree = |what: String| {
        invalid(format!(
            "the v1 and v2 halves of this hybrid torrent disagree: {what}"
        ))
    };
    if real.len() != tree.len() {
        return Err(disagree(format!(
            "{} files against {}",
            real.len(),
            tree.len()
        )));
    }
    let single = v1.len() == 1 && tree.len() == 1;
    for (a, b) in real.iter().zip(tree) {
        if a.length != b.length || (!single && a.path != b.path) {
            return Err(disagree(format!(
                "{} ({} bytes) against {} ({} bytes)",
                a.path.join("/"),
                a.length,
                b.path.join("/"),
                b.length
            )));
        }
    }
    Ok(())
}

/// A v2-only torrent's piece stream: each non-empty file followed by the
/// padding that brings the next to a piece boundary, the last one too, as
/// libtorrent lays it out, so that both sides agree on every piece's length.
fn v2_layout(tree: &[TreeFile], piece_length: u64, name: &str) -> (Vec<FileEntry>, bool) {
    let single = tree.len() == 1 && tree[0].path.len() == 1;
    let mut files = Vec::with_capacity(tree.len() * 2);
    for f in tree {
        let path = if single {
            vec![name.to_owned()]
        } else {
            f.path.clone()
        };
        files.push(FileEntry::new(path, f.length));
        let tail = f.length % piece_length;
        if tail != 0 {
            files.push(FileEntry::pad(piece_length - tail));
        }
    }
    (files, !single)
}

/// Every piece's merkle check, from the stream's layout and each file's tree.
/// Each non-empty file must start on a piece boundary, and every piece must
/// hold some file's data: a hybrid whose pad files say otherwise is refused.
fn merkle_pieces(
    files: &[FileEntry],
    tree: &[TreeFile],
    trees: &[Layers],
    piece_length: u64,
) -> Result<(Vec<MerklePiece>, Vec<V2File>), MetainfoError> {
    let misaligned = |path: &[String]| {
        invalid(format!(
            "the v1 and v2 halves of this hybrid torrent disagree: {} does not start on a piece boundary",
            path.join("/")
        ))
    };
    let mut pieces = Vec::new();
    let mut v2_files = Vec::new();
    let mut offset = 0u64;
    let mut tree = tree.iter().zip(trees);
    for f in files {
        if f.pad {
            offset += f.length;
            continue;
        }
        let (t, upper) = tree.next().expect("halves_agree matched the files");
        if f.length > 0 {
            if offset != pieces.len() as u64 * piece_length {
                return Err(misaligned(&f.path));
            }
            let shape = FileShape {
                length: f.length,
                piece_length,
            };
            let root = t.root.expect("a non-empty file has a root");
            let upper = if shape.has_piece_layer() {
                upper.clone()
            } else {
                vec![vec![root]]
            };
            for (k, hash) in upper[0].iter().enumerate() {
                let k = k as u64;
                pieces.push(MerklePiece {
                    hash: *hash,
                    width: shape.piece_width() as u32,
                    data_len: (f.length - k * piece_length).min(piece_length) as u32,
                });
            }
            v2_files.push(V2File {
                root,
                first_piece: (pieces.len() as u64 - shape.pieces()) as u32,
                length: f.length,
                upper,
            });
        }
        offset += f.length;
    }
    if offset.div_ceil(piece_length) != pieces.len() as u64 {
        return Err(invalid(
            "the v1 and v2 halves of this hybrid torrent disagree: a pad file is longer than alignment needs",
        ));
    }
    Ok((pieces, v2_files))
}

/// Refuses a name a torrent may not carry, before any file is read for it.
pub fn check_name(name: &str) -> Result<(), MetainfoError> {
    check_component("name", name)
}

/// Refuses a folder torrent's name, an empty file list, or an unsafe path
/// component, before any file is read for it.
pub fn check_folder(name: &str, files: &[Vec<String>]) -> Result<(), MetainfoError> {
    check_name(name)?;
    if files.is_empty() {
        return Err(invalid(format!("cannot make a torrent of folder {name:?}")));
    }
    for c in files.iter().flatten() {
        check_component("path component", c)?;
    }
    Ok(())
}

/// The bytes of a single-file BEP 3 `.torrent` whose pieces hash to `hashes`.
pub fn encode_single_file(
    name: &str,
    length: u64,
    piece_length: u64,
    hashes: &[[u8; 20]],
    announce: &str,
) -> Result<Vec<u8>, MetainfoError> {
    check_name(name)?;
    let mut info = Vec::new();
    let mut e = Encoder::new(&mut info);
    e.begin_dict()
        .str("length")
        .int(length as i64)
        .str("name")
        .str(name);
    e.str("piece length")
        .int(piece_length as i64)
        .str("pieces")
        .bytes(&hashes.concat());
    e.end();
    Ok(wrap_info(&info, announce))
}

/// The bytes of a multi-file BEP 3 `.torrent`: `files` are paths under the
/// folder `name`, `lengths` theirs, in the order their bytes were hashed.
pub fn encode_multi_file(
    name: &str,
    files: &[Vec<String>],
    lengths: &[u64],
    piece_length: u64,
    hashes: &[[u8; 20]],
    announce: &str,
) -> Result<Vec<u8>, MetainfoError> {
    check_folder(name, files)?;
    if files.len() != lengths.len() {
        return Err(invalid("as many file lengths as files are needed"));
    }
    let mut info = Vec::new();
    let mut e = Encoder::new(&mut info);
    e.begin_dict().str("files").begin_list();
    for (path, len) in files.iter().zip(lengths) {
        e.begin_dict()
            .str("length")
            .int(*len as i64)
            .str("path")
            .begin_list();
        for c in path {
            e.str(c);
        }
        e.end().end();
    }
    e.end().str("name").str(name);
    e.str("piece length")
        .int(piece_length as i64)
        .str("pieces")
        .bytes(&hashes.concat());
    e.end();
    Ok(wrap_info(&info, announce))
}

fn wrap_info(info: &[u8], announce: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(info.len() + announce.len() + 64);
    Encoder::new(&mut out)
        .begin_dict()
        .str("announce")
        .str(announce)
        .str("created by")
        .str(concat!("swarmshare ", env!("CARGO_PKG_VERSION")))
        .str("info")
        .raw(info)
        .end();
    out
}

/// A one-piece, five-byte torrent for other modules' tests.
#[cfg(test)]
pub fn tiny_for_tests(name: &str, announce: Option<&str>) -> Metainfo {
    let mut out = Vec::new();
    let mut e = Encoder::new(&mut out);
    e.begin_dict();
    if let Some(url) = announce {
        e.str("announce").str(url);
    }
    e.str("info").begin_dict();
    e.str("length").int(5).str("name").str(name);
    e.str("piece length")
        .int(16384)
        .str("pieces")
        .bytes(&[7; 20]);
    e.end().end();
    Metainfo::from_bytes(&out).expect("a valid torrent")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder torrent `dir` holding one 5-byte file at `path`.
    fn one_file_at(path: &[&str]) -> Vec<u8> {
        let mut info = Vec::new();
        let mut e = Encoder::new(&mut info);
        e.begin_dict()
            .str("files")
            .begin_list()
            .begin_dict()
            .str("length")
            .int(5)
            .str("path")
            .begin_list();
        for c in path {
            e.str(c);
        }
        e.end()
            .end()
            .end()
            .str("name")
            .str("dir")
            .str("piece length")
            .int(16384)
            .str("pieces")
            .bytes(&[0; 20])
            .end();
        wrap_info(&info, "x")
    }

    fn single(name: &str, length: i64, piece_len: i64, pieces: &[u8]) -> Vec<u8> {
        let mut info = Vec::new();
        Encoder::new(&mut info)
            .begin_dict()
            .str("length")
            .int(length)
            .str("name")
            .str(name)
            .str("piece length")
            .int(piece_len)
            .str("pieces")
            .bytes(pieces)
            .end();
        wrap_info(&info, "http://127.0.0.1:6969/announce")
    }

    #[test]
    fn info_hash_is_over_the_raw_info_bytes() {
        // Unsorted keys: a re-encoding would differ, the raw span must not.
        let info = b"d4:name1:a12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaa6:lengthi5ee";
        let mut t = b"d8:announce3:url4:info".to_vec();
        t.extend_from_slice(info);
        t.push(b'e');
        let m = Metainfo::from_bytes(&t).unwrap();
        assert_eq!(m.info_hash.0, <[u8; 20]>::from(Sha1::digest(info)));
        assert_eq!(m.total_length, 5);
        assert_eq!(m.num_pieces(), 1);
        // Kept byte for byte, so a magnet peer can be served what hashes to the key.
        assert_eq!(&m.info_bytes[..], info);
        let again = Metainfo::from_info_bytes(&m.info_bytes, None).unwrap();
        assert_eq!(again.info_hash, m.info_hash);
        assert_eq!(again.piece_hashes, m.piece_hashes);
        assert!(Metainfo::from_info_bytes(b"le", None).is_err());
    }

    #[test]
    fn check_piece_compares_with_the_pieces_own_hash() {
        let data: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
        let hashes: Vec<[u8; 20]> = data.chunks(16384).map(|c| Sha1::digest(c).into()).collect();
        let bytes = encode_single_file("f", 40_000, 16384, &hashes, "x").unwrap();
        let m = Metainfo::from_bytes(&bytes).unwrap();
        assert_eq!(m.piece_hashes.sha1(1), Some(hashes[1]));
        assert!(m.check_piece(0, &data[..16384]));
        assert!(m.check_piece(2, &data[32768..]));
        // Another piece's bytes, one flipped bit, a truncated piece, a piece past the end.
        assert!(!m.check_piece(1, &data[..16384]));
        let mut bad = data[16384..32768].to_vec();
        bad[100] ^= 1;
        assert!(!m.check_piece(1, &bad));
        assert!(!m.check_piece(2, &data[32768..39_999]));
        assert!(!m.check_piece(3, b""));
        assert_eq!(m.piece_hashes.sha1(3), None);
    }

    #[test]
    fn announce_list_tiers_are_read_capped_and_junk_skipped() {
        let plain = one_file_at(&["f"]);
        assert!(
            Metainfo::from_bytes(&plain)
                .unwrap()
                .announce_list
                .is_empty()
        );
        // `announce-list` sorts between `announce` (d8:announce1:x) and `info`.
        let with_list = |list: &str| {
            let mut t = plain[..14].to_vec();
            t.extend_from_slice(format!("13:announce-list{list}").as_bytes());
            t.extend_from_slice(&plain[14..]);
            Metainfo::from_bytes(&t).unwrap()
        };
        let m = with_list("ll1:a1:bei5el0:el1:cee");
        assert_eq!(m.announce_list, [vec!["a", "b"], vec!["c"]]);
        let many: String = (0..100).map(|i| format!("3:u{i:02}")).collect();
        let m = with_list(&format!("ll{many}ee"));
        assert_eq!(m.announce_list[0].len(), MAX_TRACKERS);
        let round = Metainfo::torrent_bytes(&m.info_bytes, &["x".into(), "y".into()], &[]);
        let m = Metainfo::from_bytes(&round).unwrap();
        assert_eq!(m.announce_list, [vec!["x"], vec!["y"]]);
    }

    #[test]
    fn encoded_folder_parses_back() {
        let files = [vec!["a".to_owned()], vec!["sub".to_owned(), "b".to_owned()]];
        let bytes =
            encode_multi_file("d", &files, &[3, 20_000], 16384, &[[1; 20], [2; 20]], "u").unwrap();
        let m = Metainfo::from_bytes(&bytes).unwrap();
        assert!(m.multi_file);
        assert_eq!(m.announce.as_deref(), Some("u"));
        assert_eq!(m.total_length, 20_003);
        assert_eq!(m.files[1].path, files[1]);
        assert_eq!(m.piece_hashes, PieceHashes::Sha1(vec![[1; 20], [2; 20]]));
        let err = encode_multi_file("d", &[], &[], 16384, &[], "u").unwrap_err();
        assert!(err.to_string().contains("cannot make a torrent"), "{err}");
    }

    #[test]
    fn rejects_escaping_names_and_paths() {
        assert!(Metainfo::from_bytes(&single("../x", 5, 16384, &[0; 20])).is_err());
        assert!(Metainfo::from_bytes(&single("/etc/passwd", 5, 16384, &[0; 20])).is_err());
        assert!(Metainfo::from_bytes(&single("..", 5, 16384, &[0; 20])).is_err());
        let err = Metainfo::from_bytes(&one_file_at(&["..", "evil"])).unwrap_err();
        assert!(err.to_string().contains("unsafe"), "{err}");
    }

    /// A control character in a name would forge lines wherever names are
    /// written one per line (the tracker's `search_content.txt`, logs, the terminal).
    #[test]
    fn rejects_control_characters_in_names_and_paths() {
        for name in [
            "a\nb",
            "a\rb",
            "tab\there",
            "\u{1b}[31mred",
            "del\u{7f}",
            "\u{1f}",
        ] {
            let err = Metainfo::from_bytes(&single(name, 5, 16384, &[0; 20])).unwrap_err();
            assert!(
                matches!(err, MetainfoError::ControlCharacter { .. }),
                "{name:?}: {err}"
            );
        }
        // Only controls: other punctuation and non-ASCII names stay welcome.
        for name in ["a b", "été ~!#.mkv", "x\u{80}y"] {
            assert!(
                Metainfo::from_bytes(&single(name, 5, 16384, &[0; 20])).is_ok(),
                "{name:?}"
            );
        }
        let err = Metainfo::from_bytes(&one_file_at(&[
            "sub",
            "evil\nName : forged type: x tor : forged.torrent",
        ]))
        .unwrap_err();
        assert!(
            matches!(err, MetainfoError::ControlCharacter { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("control character"), "{err}");
        // Encoding a torrent refuses such a name instead of writing a bad one.
        let err = encode_single_file("bad\rname", 5, 16384, &[[0; 20]], "x").unwrap_err();
        assert!(
            matches!(err, MetainfoError::ControlCharacter { .. }),
            "{err}"
        );
        let err = encode_multi_file("d", &[vec!["a\nb".into()]], &[5], 16384, &[[0; 20]], "x")
            .unwrap_err();
        assert!(
            matches!(err, MetainfoError::ControlCharacter { .. }),
            "{err}"
        );
        assert!(!is_safe_component("a\nb"));
    }

    #[test]
    fn rejects_inconsistent_fields() {
        assert!(Metainfo::from_bytes(&single("a", 5, 16384, &[0; 19])).is_err());
        assert!(Metainfo::from_bytes(&single("a", 40000, 16384, &[0; 20])).is_err());
        assert!(Metainfo::from_bytes(&single("a", 5, 0, &[0; 20])).is_err());
        assert!(Metainfo::from_bytes(&single("a", -5, 16384, &[0; 20])).is_err());
        assert!(Metainfo::from_bytes(b"not a torrent").is_err());
        assert!(Metainfo::from_bytes(b"le").is_err());
    }

    #[test]
    fn hex_round_trip_and_names() {
        let h = InfoHash([0xab; 20]);
        assert_eq!(InfoHash::from_hex(&h.hex()), Some(h));
        assert_eq!(InfoHash::from_hex("zz"), None);
        assert_eq!(
            split_name("archive.tar.gz"),
            ("archive.tar".into(), "gz".into())
        );
        assert_eq!(split_name("README"), ("README".into(), "".into()));
        assert_eq!(group_thousands(41633813), "41,633,813");
    }
}

#[cfg(test)]
mod v2_tests;
