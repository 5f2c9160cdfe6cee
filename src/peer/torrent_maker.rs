//! Making a `.torrent` from files on disk: reading them as one stream and
//! hashing its pieces on both cores. The encoding itself is pure and lives in
//! `common::metainfo` (v1) and `common::metainfo_v2_encode` (v2 and hybrid).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha1::{Digest, Sha1};

use crate::common::merkle::{self, FileHasher, FileHashes, Hash32};
use crate::common::metainfo::{self, BLOCK_SIZE, MetainfoError};
use crate::common::metainfo_v2_encode::{self as v2, HashedFile, V2EncodeError, V2Torrent};

/// Which BitTorrent versions a `.torrent` we make speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum TorrentFormat {
    /// BEP 3 only: what every client reads.
    #[default]
    V1,
    /// BEP 52 with a BEP 3 half describing the same padded bytes: one
    /// torrent, two swarms, two info-hashes.
    Hybrid,
    /// BEP 52 only: SHA-256 trees per file, no SHA-1.
    V2,
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

/// What one read piece of one file comes to: its leaves, and for a hybrid the
/// SHA-1 of the v1 piece it is.
struct Hashed {
    file: usize,
    len: usize,
    leaves: Vec<Hash32>,
    sha1: Option<[u8; 20]>,
}

/// A piece of one file on its way to be hashed: its place in the stream, its
/// file, a buffer, and how much of it is the piece.
struct Unit {
    seq: usize,
    file: usize,
    buf: Vec<u8>,
    len: usize,
}

/// Puts the hashers' results back in stream order and feeds them to one
/// `FileHasher` at a time; it holds only the results that arrived early, at
/// most `TICKETS` of them.
struct Collector {
    piece_length: u64,
    next: usize,
    early: BTreeMap<usize, Hashed>,
    current: Option<(usize, FileHasher)>,
    done: BTreeMap<usize, FileHashes>,
    v1: Vec<[u8; 20]>,
}

impl Collector {
    /// Takes result `seq`; returns how many results it could use, in order.
    fn take(&mut self, seq: usize, h: Hashed) -> usize {
        self.early.insert(seq, h);
        let mut used = 0;
        while let Some(h) = self.early.remove(&self.next) {
            self.next += 1;
            used += 1;
            if self.current.as_ref().map(|c| c.0) != Some(h.file) {
                self.finish_file();
                self.current = Some((h.file, FileHasher::new(self.piece_length)));
            }
            let hasher = &mut self.current.as_mut().expect("set above").1;
            let mut left = h.len as u64;
            for leaf in h.leaves {
                let n = left.min(merkle::BLOCK);
                hasher.push_leaf(leaf, n);
                left -= n;
            }
            self.v1.extend(h.sha1);
        }
        used
    }

    fn finish_file(&mut self) {
        if let Some((file, hasher)) = self.current.take() {
            self.done.insert(file, hasher.finish());
        }
    }
}

/// A v2 or hybrid torrent's hashes, file by file, in the order given.
#[derive(Debug)]
pub struct TreeHashes {
    pub files: Vec<FileHashes>,
    /// Bytes read from each file.
    pub lengths: Vec<u64>,
    /// A hybrid's v1 pieces over the files and their pads; empty otherwise.
    pub v1_pieces: Vec<[u8; 20]>,
}

/// Hashes files for a v2 torrent (and, with `hybrid`, its v1 half) in one
/// pass over the data. BEP 52 aligns every file to a piece boundary, so a
/// piece never spans files: one thread reads each file a piece at a time
/// while two compute its 16 KiB leaves (SHA-256) and, for a hybrid, the
/// piece's SHA-1, the file's last piece filled out with the zeros of its pad
/// (`metainfo_v2_encode::pad_after`) when the torrent has several files. The
/// results go back into order through a `Collector`. A few piece buffers and
/// at most `TICKETS` early results circulate, so memory is a few pieces plus
/// 32 bytes a piece for the piece layers, whatever the size.
pub fn hash_tree(paths: &[&Path], piece_length: u64, hybrid: bool) -> io::Result<TreeHashes> {
    // One being read, one being hashed by each of the two hashers.
    const BUFFERS: usize = 3;
    // Pieces read but not yet folded in: bounds the results held out of order.
    const TICKETS: usize = 16;
    let pads = hybrid && v2::pads_files(paths.len());
    let (work_tx, work_rx) = crossbeam_channel::bounded::<Unit>(BUFFERS);
    let (free_tx, free_rx) = crossbeam_channel::bounded::<Vec<u8>>(BUFFERS);
    let (ticket_tx, ticket_rx) = crossbeam_channel::bounded::<()>(TICKETS);
    for _ in 0..BUFFERS {
        let _ = free_tx.send(vec![0u8; piece_length as usize]);
    }
    for _ in 0..TICKETS {
        let _ = ticket_tx.send(());
    }
    let collector = Mutex::new(Collector {
        piece_length,
        next: 0,
        early: BTreeMap::new(),
        current: None,
        done: BTreeMap::new(),
        v1: Vec::new(),
    });
    let hash = |work: crossbeam_channel::Receiver<Unit>| {
        for Unit {
            seq,
            file,
            mut buf,
            len,
        } in work
        {
            let mut leaves = Vec::with_capacity(len.div_ceil(merkle::BLOCK as usize));
            let mut sha1 = hybrid.then(Sha1::new);
            // Block by block, so SHA-1 reads what SHA-256 just brought into the cache.
            for block in buf[..len].chunks(merkle::BLOCK as usize) {
                leaves.push(merkle::leaf(block));
                if let Some(s) = &mut sha1 {
                    s.update(block);
                }
            }
            if let Some(s) = &mut sha1
                && pads
            {
                // Only a file's last piece is short; its pad fills the rest with zeros.
                buf[len..].fill(0);
                s.update(&buf[len..]);
            }
            let h = Hashed {
                file,
                len,
                leaves,
                sha1: sha1.map(|s| s.finalize().into()),
            };
            let _ = free_tx.send(buf);
            let used = collector
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(seq, h);
            for _ in 0..used {
                let _ = ticket_tx.send(());
            }
        }
    };
    let lengths = std::thread::scope(|scope| {
        let reader = scope.spawn(move || read_file_pieces(paths, &free_rx, &work_tx, &ticket_rx));
        let helper = {
            let (hash, work_rx) = (&hash, work_rx.clone());
            scope.spawn(move || hash(work_rx))
        };
        hash(work_rx);
        helper.join().expect("a hashing thread does not panic");
        reader.join().expect("the reading thread does not panic")
    })?;
    let mut c = collector.into_inner().unwrap_or_else(|p| p.into_inner());
    c.finish_file();
    let files = (0..paths.len())
        .map(|i| {
            c.done
                .remove(&i)
                .unwrap_or_else(|| FileHasher::new(piece_length).finish())
        })
        .collect();
    Ok(TreeHashes {
        files,
        lengths,
        v1_pieces: c.v1,
    })
}

/// Reads each file a piece at a time, never across files, sending each piece
/// with its place in the stream; returns the bytes read from each file.
fn read_file_pieces(
    paths: &[&Path],
    free: &crossbeam_channel::Receiver<Vec<u8>>,
    work: &crossbeam_channel::Sender<Unit>,
    tickets: &crossbeam_channel::Receiver<()>,
) -> io::Result<Vec<u64>> {
    let stopped = || io::Error::other("the hashing threads stopped");
    let mut lengths = Vec::with_capacity(paths.len());
    let mut seq = 0;
    let mut buf = free.recv().map_err(|_| stopped())?;
    for (file, path) in paths.iter().enumerate() {
        let mut f = File::open(path)?;
        let mut length = 0u64;
        loop {
            let mut len = 0;
            while len < buf.len() {
                match f.read(&mut buf[len..]) {
                    Ok(0) => break,
                    Ok(n) => len += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if len == 0 {
                break;
            }
            length += len as u64;
            // A short piece is the file's last: the read above reached its end.
            let short = len < buf.len();
            tickets.recv().map_err(|_| stopped())?;
            let _ = work.send(Unit {
                seq,
                file,
                buf,
                len,
            });
            seq += 1;
            buf = free.recv().map_err(|_| stopped())?;
            if short {
                break;
            }
        }
        lengths.push(length);
    }
    Ok(lengths)
}

/// The encoder's refusals as the maker reports them: a bad name keeps its
/// own kind; the rest would be a bug here, said in words.
fn encode_error(e: V2EncodeError) -> MetainfoError {
    match e {
        V2EncodeError::Name(e) => e,
        e => MetainfoError::Invalid(e.to_string()),
    }
}

/// Hashes `files` (full paths, with their torrent paths) and encodes a v2 or hybrid torrent.
fn create_tree(
    format: TorrentFormat,
    name: &str,
    single_file: bool,
    full: &[PathBuf],
    paths: &[Vec<String>],
    announce: &str,
) -> Result<Vec<u8>, MetainfoError> {
    let mut lengths = Vec::with_capacity(full.len());
    for p in full {
        lengths.push(std::fs::metadata(p)?.len());
    }
    let piece_length = choose_piece_length(lengths.iter().sum());
    let refs: Vec<&Path> = full.iter().map(PathBuf::as_path).collect();
    let hybrid = format == TorrentFormat::Hybrid;
    let hashed = hash_tree(&refs, piece_length, hybrid)?;
    if hashed.lengths != lengths {
        return Err(MetainfoError::Invalid(
            "a file changed size while it was being hashed".into(),
        ));
    }
    let files: Vec<HashedFile> = paths
        .iter()
        .zip(&lengths)
        .zip(hashed.files)
        .map(|((path, &length), hashes)| HashedFile {
            path: path.clone(),
            length,
            hashes,
        })
        .collect();
    v2::encode(&V2Torrent {
        name,
        piece_length,
        files: &files,
        single_file,
        v1_pieces: hybrid.then_some(hashed.v1_pieces.as_slice()),
        announce,
        creation_date: None,
    })
    .map_err(encode_error)
}

/// A single-file `.torrent` for `path` in `format`, streaming the file once.
pub fn create_single_file_as(
    format: TorrentFormat,
    path: &Path,
    name: &str,
    announce: &str,
) -> Result<Vec<u8>, MetainfoError> {
    if format == TorrentFormat::V1 {
        return create_single_file(path, name, announce);
    }
    metainfo::check_name(name)?;
    create_tree(
        format,
        name,
        true,
        &[path.to_owned()],
        &[vec![name.to_owned()]],
        announce,
    )
}

/// A multi-file `.torrent` for a folder in `format`; `files` are relative
/// paths under `root`. For v2 and hybrid they must be in file-tree order
/// (sorted component by component, bytewise: `share` lists them so), since
/// that is the only order BEP 52 has.
pub fn create_multi_file_as(
    format: TorrentFormat,
    root: &Path,
    name: &str,
    files: &[Vec<String>],
    announce: &str,
) -> Result<Vec<u8>, MetainfoError> {
    if format == TorrentFormat::V1 {
        return create_multi_file(root, name, files, announce);
    }
    metainfo::check_folder(name, files)?;
    if !v2::in_tree_order(files) {
        return Err(MetainfoError::Invalid(
            "a v2 torrent's files must be sorted by path, component by component".into(),
        ));
    }
    let full: Vec<PathBuf> = files
        .iter()
        .map(|p| p.iter().fold(root.to_path_buf(), |a, c| a.join(c)))
        .collect();
    create_tree(format, name, false, &full, files, announce)
}

/// Builds the bytes of a single-file `.torrent` for `path`, streaming the file.
pub fn create_single_file(
    path: &Path,
    name: &str,
    announce: &str,
) -> Result<Vec<u8>, MetainfoError> {
    metainfo::check_name(name)?;
    let size = std::fs::metadata(path)?.len();
    let piece_length = choose_piece_length(size);
    let (hashes, total) = hash_pieces(&[path], piece_length)?;
    metainfo::encode_single_file(name, total, piece_length, &hashes, announce)
}

/// Builds a multi-file `.torrent` for a folder; `files` are relative paths under `root`, in order.
pub fn create_multi_file(
    root: &Path,
    name: &str,
    files: &[Vec<String>],
    announce: &str,
) -> Result<Vec<u8>, MetainfoError> {
    metainfo::check_folder(name, files)?;
    let full: Vec<PathBuf> = files
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
        return Err(MetainfoError::Invalid(
            "a file changed size while it was being hashed".into(),
        ));
    }
    metainfo::encode_multi_file(name, files, &lengths, piece_length, &hashes, announce)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::metainfo::Metainfo;
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

    /// Files with bytes `(j * 7 + i * 13) % 256`, written under `dir`.
    fn files_of(dir: &Path, sizes: &[usize]) -> (Vec<PathBuf>, Vec<Vec<u8>>) {
        let mut paths = Vec::new();
        let mut contents = Vec::new();
        for (i, &n) in sizes.iter().enumerate() {
            let bytes: Vec<u8> = (0..n).map(|j| (j * 7 + i * 13) as u8).collect();
            let p = dir.join(format!("f{i}"));
            std::fs::write(&p, &bytes).unwrap();
            paths.push(p);
            contents.push(bytes);
        }
        (paths, contents)
    }

    /// The threaded v2 hashing gives each file the hashes a block-by-block
    /// `FileHasher` gives it, and a hybrid's SHA-1 pieces are those of the
    /// files laid end to end with zero pads after every unaligned file (none
    /// for one file alone): empty files, files of exactly one piece and of a
    /// whole number of pieces, short last pieces.
    #[test]
    fn hash_tree_matches_hashing_each_file_and_the_padded_stream() {
        let d = tempfile::tempdir().unwrap();
        let (paths, contents) = files_of(d.path(), &[40_000, 0, 16_384, 70_001, 65_536, 1]);
        for piece in [16_384u64, 32_768, 65_536] {
            for n in [1, 2, paths.len()] {
                let refs: Vec<&Path> = paths[..n].iter().map(|p| p.as_path()).collect();
                for hybrid in [false, true] {
                    let got = hash_tree(&refs, piece, hybrid).unwrap();
                    let mut stream = Vec::new();
                    for (i, c) in contents[..n].iter().enumerate() {
                        assert_eq!(got.lengths[i], c.len() as u64);
                        let mut h = FileHasher::new(piece);
                        for b in c.chunks(BLOCK_SIZE as usize) {
                            h.push_leaf(merkle::leaf(b), b.len() as u64);
                        }
                        assert_eq!(got.files[i], h.finish(), "file {i} piece {piece} n {n}");
                        stream.extend_from_slice(c);
                        let pad = v2::pad_after(n, c.len() as u64, piece);
                        stream.resize(stream.len() + pad as usize, 0);
                    }
                    let want: Vec<[u8; 20]> = if hybrid {
                        stream
                            .chunks(piece as usize)
                            .map(|c| Sha1::digest(c).into())
                            .collect()
                    } else {
                        Vec::new()
                    };
                    assert_eq!(got.v1_pieces, want, "piece {piece} n {n}");
                }
            }
        }
    }

    /// The default stays v1: `V1` makes exactly today's bytes; v2 and hybrid
    /// carry `meta version` 2, and only the hybrid has `pieces`.
    #[test]
    fn formats_make_what_they_say() {
        let d = tempfile::tempdir().unwrap();
        let (paths, _) = files_of(d.path(), &[100_000, 5, 0]);
        let files: Vec<Vec<String>> = (0..3).map(|i| vec![format!("f{i}")]).collect();
        assert_eq!(TorrentFormat::default(), TorrentFormat::V1);
        let v1 = create_single_file(&paths[0], "f0", "x").unwrap();
        assert_eq!(
            create_single_file_as(TorrentFormat::V1, &paths[0], "f0", "x").unwrap(),
            v1
        );
        assert_eq!(
            create_multi_file_as(TorrentFormat::V1, d.path(), "d", &files, "x").unwrap(),
            create_multi_file(d.path(), "d", &files, "x").unwrap()
        );
        assert!(!String::from_utf8_lossy(&v1).contains("meta version"));
        for format in [TorrentFormat::V2, TorrentFormat::Hybrid] {
            for bytes in [
                create_single_file_as(format, &paths[0], "f0", "x").unwrap(),
                create_multi_file_as(format, d.path(), "d", &files, "x").unwrap(),
            ] {
                let text = String::from_utf8_lossy(&bytes);
                assert!(text.contains("12:meta versioni2e"), "{format:?}");
                assert!(text.contains("9:file treed"), "{format:?}");
                assert_eq!(
                    text.contains("6:pieces"),
                    format == TorrentFormat::Hybrid,
                    "{format:?}"
                );
                // Our own reader takes it: v2 hashes always, v1 ones for a hybrid.
                let m = Metainfo::from_bytes(&bytes).unwrap();
                assert!(m.info_hash_v2.is_some(), "{format:?}");
                assert_eq!(m.has_v1(), format == TorrentFormat::Hybrid);
            }
        }
        // BEP 52 has one order; files given in another are refused, not reordered.
        let backwards: Vec<Vec<String>> = files.iter().rev().cloned().collect();
        let err =
            create_multi_file_as(TorrentFormat::V2, d.path(), "d", &backwards, "x").unwrap_err();
        assert!(err.to_string().contains("sorted"), "{err}");
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
        assert_eq!(m.piece_hashes.sha1(0), Some(first));
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

    /// Making a torrent refuses a name with a control character instead of writing a bad one.
    #[test]
    fn refuses_control_characters_in_names() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"hello").unwrap();
        let err = create_single_file(&p, "bad\rname", "http://t/announce").unwrap_err();
        assert!(
            matches!(err, MetainfoError::ControlCharacter { .. }),
            "{err}"
        );
        let err = create_multi_file(dir.path(), "d", &[vec!["f\n".into()]], "x").unwrap_err();
        assert!(
            matches!(err, MetainfoError::ControlCharacter { .. }),
            "{err}"
        );
    }
}
