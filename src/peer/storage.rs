//! Positional reads and writes of a torrent's bytes across its files.
//! Pieces are addressed as one stream; a piece may span file boundaries.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use sha1::{Digest, Sha1};

use crate::common::metainfo::Metainfo;

struct Segment {
    file: File,
    start: u64,
    length: u64,
}

pub struct Storage {
    segments: Vec<Segment>,
    /// Where the data lives, for messages: the file, or the top folder.
    pub location: PathBuf,
}

impl Storage {
    /// Opens (creating as needed) the files of `meta` under `downloads`. Every
    /// component was checked when the torrent was parsed, so the joins stay inside.
    pub fn open_for_download(downloads: &Path, meta: &Metainfo) -> io::Result<Storage> {
        let mut files = Vec::new();
        for (p, f) in meta.file_paths(downloads).iter().zip(&meta.files) {
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(p)?;
            if file.metadata()?.len() != f.length {
                file.set_len(f.length)?;
            }
            files.push(file);
        }
        Ok(Self::from_files(files, meta, downloads.join(&meta.name)))
    }

    /// Opens files that are already complete, read-only, for seeding.
    pub fn open_for_seeding(
        paths: &[PathBuf],
        meta: &Metainfo,
        location: PathBuf,
    ) -> io::Result<Storage> {
        let mut files = Vec::new();
        for (p, f) in paths.iter().zip(&meta.files) {
            let file = File::open(p)?;
            if file.metadata()?.len() != f.length {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} changed size", p.display()),
                ));
            }
            files.push(file);
        }
        Ok(Self::from_files(files, meta, location))
    }

    /// Lays the files end to end, as the torrent's piece stream does.
    fn from_files(files: Vec<File>, meta: &Metainfo, location: PathBuf) -> Storage {
        let mut start = 0;
        let segments = files
            .into_iter()
            .zip(&meta.files)
            .map(|(file, f)| {
                let s = Segment {
                    file,
                    start,
                    length: f.length,
                };
                start += f.length;
                s
            })
            .collect();
        Storage { segments, location }
    }

    fn each_segment(
        &self,
        offset: u64,
        len: usize,
        mut f: impl FnMut(&File, u64, usize, usize) -> io::Result<()>,
    ) -> io::Result<()> {
        let end = offset + len as u64;
        for s in &self.segments {
            let (lo, hi) = (offset.max(s.start), end.min(s.start + s.length));
            if lo < hi {
                f(
                    &s.file,
                    lo - s.start,
                    (lo - offset) as usize,
                    (hi - lo) as usize,
                )?;
            }
        }
        Ok(())
    }

    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let len = buf.len();
        self.each_segment(offset, len, |file, at, from, n| {
            file.read_exact_at(&mut buf[from..from + n], at)
        })
    }

    pub fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.each_segment(offset, data.len(), |file, at, from, n| {
            file.write_all_at(&data[from..from + n], at)
        })
    }

    /// Each file's size and modification time (ns), to notice changes between runs.
    pub fn stamps(&self) -> Vec<(u64, u128)> {
        self.segments
            .iter()
            .map(|s| {
                let m = s.file.metadata().ok();
                let mtime = m
                    .as_ref()
                    .and_then(|m| m.modified().ok())
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                (m.map_or(0, |m| m.len()), mtime)
            })
            .collect()
    }

    /// Reads piece `index` into `buf` (sized to the piece) and checks its hash.
    pub fn verify_piece(&self, meta: &Metainfo, index: u32, buf: &mut Vec<u8>) -> io::Result<bool> {
        buf.resize(meta.piece_len(index) as usize, 0);
        self.read_at(index as u64 * meta.piece_length, buf)?;
        Ok(<[u8; 20]>::from(Sha1::digest(&buf[..])) == meta.piece_hashes[index as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::metainfo::create_multi_file;

    #[test]
    fn pieces_span_files() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("a"), vec![1u8; 20_000]).unwrap();
        std::fs::write(src.join("sub/b"), vec![2u8; 30_000]).unwrap();
        let files = vec![
            vec!["a".to_string()],
            vec!["sub".to_string(), "b".to_string()],
        ];
        let meta =
            Metainfo::from_bytes(&create_multi_file(&src, "src", &files, "x").unwrap()).unwrap();
        let seed =
            Storage::open_for_seeding(&[src.join("a"), src.join("sub/b")], &meta, src.clone())
                .unwrap();
        let dl = Storage::open_for_download(&d.path().join("dl"), &meta).unwrap();
        let mut buf = Vec::new();
        for i in 0..meta.num_pieces() as u32 {
            assert!(seed.verify_piece(&meta, i, &mut buf).unwrap());
            dl.write_at(i as u64 * meta.piece_length, &buf).unwrap();
        }
        assert_eq!(
            std::fs::read(d.path().join("dl/src/sub/b")).unwrap(),
            vec![2u8; 30_000]
        );
        assert!(dl.verify_piece(&meta, 1, &mut buf).unwrap());
    }
}
