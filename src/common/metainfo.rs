//! BEP 3 metainfo (`.torrent`) files: parsing with validation, and streaming creation.
//!
//! The assignment's vocabulary maps onto the standard fields: *Key* is the
//! info-hash, *size* is the total length, *n_parts* is the number of pieces.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use sha1::{Digest, Sha1};
use thiserror::Error;

use super::bencode::{self, Dict, Encoder, Value};

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
    /// Parses the 40-hex-digit form the tracker and the user see.
    pub fn from_hex(s: &str) -> Option<InfoHash> {
        let b = s.as_bytes();
        if b.len() != 40 {
            return None;
        }
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

#[derive(Debug, Error)]
pub enum MetainfoError {
    #[error("not a valid torrent: {0}")]
    Bencode(#[from] bencode::BencodeError),
    #[error("not a valid torrent: {0}")]
    Invalid(String),
    /// Names end up one per line in files and on terminals; a control character could forge lines.
    #[error(
        "{what} {name:?} contains a control character (a byte below 0x20, or 0x7f), which torrents may not carry"
    )]
    ControlCharacter { what: &'static str, name: String },
    #[error("{0}")]
    Io(#[from] io::Error),
}

fn invalid(msg: impl Into<String>) -> MetainfoError {
    MetainfoError::Invalid(msg.into())
}

/// One file of a torrent, with a path that has been checked to stay inside its folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    pub path: Vec<String>,
    pub length: u64,
}

#[derive(Debug, Clone)]
pub struct Metainfo {
    pub announce: Option<String>,
    pub info_hash: InfoHash,
    /// The suggested name: the file's name, or the top folder of a multi-file torrent.
    pub name: String,
    pub piece_length: u64,
    pub piece_hashes: Vec<[u8; 20]>,
    /// For a single-file torrent one entry whose path is `[name]`.
    pub files: Vec<FileEntry>,
    pub multi_file: bool,
    pub total_length: u64,
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
        let info_hash = InfoHash(Sha1::digest(info.raw).into());
        parse_info(info, info_hash, announce)
    }

    pub fn from_file(path: &Path) -> Result<Metainfo, MetainfoError> {
        let len = std::fs::metadata(path)?.len();
        if len > 64 * 1024 * 1024 {
            return Err(invalid("file is larger than any sane torrent (64 MiB)"));
        }
        Self::from_bytes(&std::fs::read(path)?)
    }

    pub fn num_pieces(&self) -> usize {
        self.piece_hashes.len()
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
        format!(
            "Name : {}\nKey : {}\nsize : {} bytes\nn_parts : {}\npiece length : {} bytes\nfiles : {}\nannounce : {}\n",
            self.name,
            self.info_hash,
            group_thousands(self.total_length),
            self.num_pieces(),
            self.piece_length,
            self.files.len(),
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

/// A path component is safe when it cannot climb out of, or jump outside, the
/// download folder, and holds no control character.
pub fn is_safe_component(c: &str) -> bool {
    stays_inside(c) && !has_control(c)
}

fn stays_inside(c: &str) -> bool {
    !c.is_empty()
        && c != "."
        && c != ".."
        && !c.contains('/')
        && !c.contains('\\')
        && !c.contains('\0')
        && c.len() <= 255
}

fn has_control(c: &str) -> bool {
    c.bytes().any(|b| b.is_ascii_control())
}

/// The one check every name and path component of a torrent passes, parsed or made;
/// `what` says which it is in the error.
fn check_component(what: &'static str, c: &str) -> Result<(), MetainfoError> {
    if !stays_inside(c) {
        return Err(invalid(format!(
            "unsafe {what} {c:?}: it would escape the download folder"
        )));
    }
    if has_control(c) {
        return Err(MetainfoError::ControlCharacter {
            what,
            name: c.to_owned(),
        });
    }
    Ok(())
}

fn parse_info(
    info: &Dict<'_>,
    info_hash: InfoHash,
    announce: Option<String>,
) -> Result<Metainfo, MetainfoError> {
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
    let pieces = info
        .get("pieces")
        .and_then(Value::as_bytes)
        .ok_or_else(|| invalid("info has no pieces"))?;
    if pieces.len() % 20 != 0 {
        return Err(invalid("pieces is not a multiple of 20 bytes"));
    }
    let piece_hashes: Vec<[u8; 20]> = pieces
        .chunks_exact(20)
        .map(|c| c.try_into().expect("20 bytes"))
        .collect();

    let (files, multi_file) = if let Some(length) = info.get("length") {
        let length = length
            .as_int()
            .filter(|&l| l >= 0)
            .ok_or_else(|| invalid("length is not a non-negative integer"))?;
        (
            vec![FileEntry {
                path: vec![name.clone()],
                length: length as u64,
            }],
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
            files.push(FileEntry {
                path,
                length: length as u64,
            });
        }
        (files, true)
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
        info_hash,
        name,
        piece_length,
        piece_hashes,
        files,
        multi_file,
        total_length,
    })
}

/// The piece length for a file of `size` bytes: a power of two from 16 KiB to
/// 4 MiB that keeps the piece count near 1000 or below. It depends on the size
/// alone, so identical files always get identical info-hashes.
pub fn choose_piece_length(size: u64) -> u64 {
    let mut len = BLOCK_SIZE;
    while len < 4 * 1024 * 1024 && size.div_ceil(len) > 1024 {
        len *= 2;
    }
    len
}

/// A piece on its way to be hashed: its index, a buffer, and how much of it is the piece.
type ReadPiece = (usize, Vec<u8>, usize);

/// Hashes a sequence of files as one stream cut into pieces. One thread reads
/// whole pieces while two hash them, so the page-cache copies and SHA-1 share
/// both cores. A few piece buffers circulate among them, so memory stays at
/// a few pieces whatever the size.
pub fn hash_pieces(paths: &[&Path], piece_length: u64) -> io::Result<(Vec<[u8; 20]>, u64)> {
    // One being read, one being hashed by each of the two hashers.
    const BUFFERS: usize = 3;
    let (work_tx, work_rx) = crossbeam_channel::bounded::<ReadPiece>(BUFFERS);
    let (free_tx, free_rx) = crossbeam_channel::bounded::<Vec<u8>>(BUFFERS);
    for _ in 0..BUFFERS {
        let _ = free_tx.send(vec![0u8; piece_length as usize]);
    }
    let hash = move |work: crossbeam_channel::Receiver<ReadPiece>| {
        let mut done = Vec::new();
        for (index, buf, n) in work {
            done.push((index, <[u8; 20]>::from(Sha1::digest(&buf[..n]))));
            let _ = free_tx.send(buf);
        }
        done
    };
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || read_pieces(paths, &free_rx, &work_tx));
        let helper = {
            let (hash, work_rx) = (hash.clone(), work_rx.clone());
            scope.spawn(move || hash(work_rx))
        };
        let mut done = hash(work_rx);
        done.extend(helper.join().expect("a hashing thread does not panic"));
        let total = reader.join().expect("the reading thread does not panic")?;
        done.sort_unstable_by_key(|&(index, _)| index);
        Ok((done.into_iter().map(|(_, h)| h).collect(), total))
    })
}

/// Reads the files as one stream into whole pieces (the last may be short),
/// sending each with its index; returns the stream's length.
fn read_pieces(
    paths: &[&Path],
    free: &crossbeam_channel::Receiver<Vec<u8>>,
    work: &crossbeam_channel::Sender<ReadPiece>,
) -> io::Result<u64> {
    let next = || {
        free.recv()
            .map_err(|_| io::Error::other("the hashing threads stopped"))
    };
    let mut total = 0u64;
    let mut index = 0;
    let (mut buf, mut filled) = (next()?, 0);
    for path in paths {
        let mut f = File::open(path)?;
        loop {
            let n = match f.read(&mut buf[filled..]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                break;
            }
            filled += n;
            total += n as u64;
            if filled == buf.len() {
                let _ = work.send((index, buf, filled));
                index += 1;
                (buf, filled) = (next()?, 0);
            }
        }
    }
    if filled > 0 {
        let _ = work.send((index, buf, filled));
    }
    Ok(total)
}

/// Builds the bytes of a single-file `.torrent` for `path`, streaming the file.
pub fn create_single_file(
    path: &Path,
    name: &str,
    announce: &str,
) -> Result<Vec<u8>, MetainfoError> {
    check_component("name", name)?;
    let size = std::fs::metadata(path)?.len();
    let piece_length = choose_piece_length(size);
    let (hashes, total) = hash_pieces(&[path], piece_length)?;
    let mut info = Vec::new();
    let mut e = Encoder::new(&mut info);
    e.begin_dict()
        .str("length")
        .int(total as i64)
        .str("name")
        .str(name);
    e.str("piece length")
        .int(piece_length as i64)
        .str("pieces")
        .bytes(&hashes.concat());
    e.end();
    Ok(wrap_info(&info, announce))
}

/// Builds a multi-file `.torrent` for a folder; `files` are relative paths under `root`, in order.
pub fn create_multi_file(
    root: &Path,
    name: &str,
    files: &[Vec<String>],
    announce: &str,
) -> Result<Vec<u8>, MetainfoError> {
    check_component("name", name)?;
    if files.is_empty() {
        return Err(invalid(format!("cannot make a torrent of folder {name:?}")));
    }
    for c in files.iter().flatten() {
        check_component("path component", c)?;
    }
    let full: Vec<std::path::PathBuf> = files
        .iter()
        .map(|p| p.iter().fold(root.to_path_buf(), |a, c| a.join(c)))
        .collect();
    let mut size = 0;
    let mut lengths = Vec::new();
    for p in &full {
        let l = std::fs::metadata(p)?.len();
        lengths.push(l);
        size += l;
    }
    let piece_length = choose_piece_length(size);
    let refs: Vec<&Path> = full.iter().map(|p| p.as_path()).collect();
    let (hashes, total) = hash_pieces(&refs, piece_length)?;
    if total != size {
        return Err(invalid("a file changed size while it was being hashed"));
    }
    let mut info = Vec::new();
    let mut e = Encoder::new(&mut info);
    e.begin_dict().str("files").begin_list();
    for (path, len) in files.iter().zip(&lengths) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// The threaded hashing gives, in order, the SHA-1 of each piece of the
    /// files laid end to end: pieces that span files, an empty file, a short
    /// last piece, and a stream that ends on a piece boundary.
    #[test]
    fn hash_pieces_matches_hashing_the_stream() {
        let d = tempfile::tempdir().unwrap();
        let sizes = [40_000usize, 0, 16_384, 70_001];
        let mut stream = Vec::new();
        let mut paths = Vec::new();
        for (i, &n) in sizes.iter().enumerate() {
            let bytes: Vec<u8> = (0..n).map(|j| (j * 7 + i * 13) as u8).collect();
            let p = d.path().join(format!("f{i}"));
            std::fs::write(&p, &bytes).unwrap();
            stream.extend_from_slice(&bytes);
            paths.push(p);
        }
        let refs: Vec<&Path> = paths.iter().map(|p| p.as_path()).collect();
        for piece in [16_384u64, 32_768, 126_385] {
            let (hashes, total) = hash_pieces(&refs, piece).unwrap();
            assert_eq!(total, stream.len() as u64);
            let want: Vec<[u8; 20]> = stream
                .chunks(piece as usize)
                .map(|c| Sha1::digest(c).into())
                .collect();
            assert_eq!(hashes, want, "piece length {piece}");
        }
    }

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
    }

    #[test]
    fn create_then_parse_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("got5.mp4");
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::File::create(&p).unwrap().write_all(&data).unwrap();
        let bytes = create_single_file(&p, "got5.mp4", "http://t/announce").unwrap();
        let m = Metainfo::from_bytes(&bytes).unwrap();
        assert_eq!(m.name, "got5.mp4");
        assert_eq!(m.total_length, 100_000);
        assert_eq!(m.piece_length, BLOCK_SIZE);
        assert_eq!(m.num_pieces(), 7);
        assert_eq!(m.piece_len(6), 100_000 - 6 * BLOCK_SIZE);
        let first: [u8; 20] = Sha1::digest(&data[..BLOCK_SIZE as usize]).into();
        assert_eq!(m.piece_hashes[0], first);
        assert_eq!(m.name_and_type(), ("got5".into(), "mp4".into()));
        // Same content, same key.
        let again = Metainfo::from_bytes(
            &create_single_file(&p, "got5.mp4", "http://other/announce").unwrap(),
        )
        .unwrap();
        assert_eq!(again.info_hash, m.info_hash);
    }

    #[test]
    fn piece_length_depends_on_size_only() {
        assert_eq!(choose_piece_length(0), BLOCK_SIZE);
        assert_eq!(choose_piece_length(16 << 20), BLOCK_SIZE);
        assert_eq!(choose_piece_length(1 << 30), 1 << 20);
        assert_eq!(choose_piece_length(1 << 40), 4 << 20);
        for s in [1u64, 1 << 20, 1 << 33] {
            assert_eq!(choose_piece_length(s) % BLOCK_SIZE, 0);
        }
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
        // Making a torrent refuses such a name instead of writing a bad one.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"hello").unwrap();
        let err = create_single_file(&p, "bad\rname", "http://t/announce").unwrap_err();
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
