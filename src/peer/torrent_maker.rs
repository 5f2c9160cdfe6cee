//! Making a `.torrent` from files on disk: reading them as one stream and
//! hashing its pieces on both cores. The encoding itself is pure and lives in
//! `common::metainfo`.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha1::{Digest, Sha1};

use crate::common::metainfo::{self, BLOCK_SIZE, MetainfoError};

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
