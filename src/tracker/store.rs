//! The tracker's files: published torrents under `DIR/published/`, and
//! `DIR/search_content.txt` with one assignment line per torrent.
//!
//! The torrent files are the truth; `search_content.txt` is derived from them.
//! Order of writes: the torrent file lands (atomically) before its line is
//! appended, in one `write`. At start-up the file is checked line by line
//! against the torrents: a line that is not exactly the line of a stored
//! torrent (forged, torn, repeated, or naming nothing) is reported and the file
//! is rewritten from the torrents; otherwise only the lines a crash left out
//! are appended. Either way a restart never repeats a line.
//!
//! `Store` is the in-memory index (cheap to lock, never does I/O while locked
//! by the server); `Files` does the writing, so a publish's fsync does not hold
//! up searches.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use log::{info, warn};

use super::search_index::{Entry, SearchIndex, unlistable_name};
use crate::common::metainfo::{InfoHash, Metainfo};
use crate::sys::atomic_file::{remove_stale_temps, write_atomic};
use crate::sys::metainfo_file::MetainfoFile;

pub struct Store {
    torrents_dir: PathBuf,
    index: SearchIndex,
}

/// The writer of the tracker's files; one publish at a time goes through it.
pub struct Files {
    torrents_dir: PathBuf,
    search_file: PathBuf,
}

/// What a publish found: the torrent already listed, or a new entry to write.
pub enum Prepared {
    Listed(Entry),
    New(Entry),
}

impl Store {
    pub fn open(dir: &Path) -> io::Result<(Store, Files)> {
        let torrents_dir = dir.join("published");
        fs::create_dir_all(&torrents_dir)?;
        for name in remove_stale_temps(&torrents_dir)? {
            warn!("removed {name} from published/: a publish interrupted by a crash");
        }
        let files = Files {
            torrents_dir: torrents_dir.clone(),
            search_file: dir.join("search_content.txt"),
        };
        let mut store = Store {
            torrents_dir,
            index: SearchIndex::default(),
        };
        let mut names: Vec<String> = fs::read_dir(&store.torrents_dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.ends_with(".torrent"))
            .collect();
        names.sort();
        for name in names {
            let path = store.torrents_dir.join(&name);
            match Metainfo::from_file(&path) {
                Ok(m) => match unlistable_name(&m) {
                    Some(why) => warn!("ignoring stored torrent {name:?}: {why}"),
                    None => {
                        let mut e = Entry::new(&m, name);
                        e.published_unix = fs::metadata(&path)
                            .and_then(|md| md.modified())
                            .ok()
                            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                            .map(|d| d.as_secs());
                        store.index.insert(e);
                    }
                },
                Err(e) => warn!("ignoring stored torrent {name:?}: {e}"),
            }
        }
        files.reconcile(&store.index)?;
        info!(
            "loaded {} published torrents from {}",
            store.index.len(),
            dir.display()
        );
        Ok((store, files))
    }

    /// A store with nothing published, whose torrents would live in `torrents_dir`.
    pub fn empty(torrents_dir: PathBuf) -> Store {
        Store {
            torrents_dir,
            index: SearchIndex::default(),
        }
    }

    pub fn index(&self) -> &SearchIndex {
        &self.index
    }

    /// The first half of a publish, under the store's lock: is it listed already,
    /// and if not, under which torrent file name will it be.
    pub fn prepare(&self, m: &Metainfo) -> Prepared {
        match self.index.get(&m.info_hash) {
            Some(e) => Prepared::Listed(e.clone()),
            None => Prepared::New(Entry::new(
                m,
                self.index.torrent_name_for(&m.name, &m.info_hash),
            )),
        }
    }

    /// The last half of a publish, once `Files::write` has made it durable.
    pub fn insert(&mut self, e: Entry) {
        self.index.insert(e);
    }

    /// Where a listed torrent's file is; read it without holding the store.
    pub fn torrent_path(&self, key: &InfoHash) -> Option<PathBuf> {
        let e = self.index.get(key)?;
        Some(self.torrents_dir.join(&e.torrent))
    }
}

impl Files {
    /// Stores a new torrent's bytes, then its line. Callers hold the one `Files`
    /// lock, so entries prepared one at a time never collide.
    pub fn write(&self, e: &Entry, bytes: &[u8]) -> Result<(), String> {
        write_atomic(&self.torrents_dir.join(&e.torrent), bytes)
            .map_err(|err| format!("cannot store torrent: {err}"))?;
        self.append(&[e])
            .map_err(|err| format!("cannot update search_content.txt: {err}"))
    }

    /// One `write` with O_APPEND for all the lines, so a crash cannot leave half a line mid-file.
    fn append(&self, entries: &[&Entry]) -> io::Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let text: String = entries.iter().map(|e| format!("{}\n", e.line())).collect();
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.search_file)?;
        f.write_all(text.as_bytes())?;
        f.sync_data()
    }

    /// Makes `search_content.txt` hold exactly one line per indexed torrent.
    fn reconcile(&self, index: &SearchIndex) -> io::Result<()> {
        let text = match fs::read(&self.search_file) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let expected: HashMap<String, usize> = index
            .entries()
            .iter()
            .enumerate()
            .map(|(i, e)| (e.line(), i))
            .collect();
        let mut seen = vec![false; index.len()];
        let mut clean = text.is_empty() || text.ends_with(b"\n");
        if !clean {
            warn!("search_content.txt: the last line is cut short");
        }
        for (n, line) in text.split(|&b| b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            let shown = String::from_utf8_lossy(line);
            let problem = match std::str::from_utf8(line).ok().and_then(|l| expected.get(l)) {
                None => "is not the line of a stored torrent",
                Some(&i) if seen[i] => "repeats an earlier line",
                Some(&i) => {
                    seen[i] = true;
                    continue;
                }
            };
            warn!("search_content.txt line {}: {shown:?} {problem}", n + 1);
            clean = false;
        }
        let missing: Vec<&Entry> = index
            .entries()
            .iter()
            .zip(&seen)
            .filter(|(_, seen)| !**seen)
            .map(|(e, _)| e)
            .collect();
        if clean {
            return self.append(&missing);
        }
        warn!(
            "search_content.txt: rewritten from the {} stored torrents",
            index.len()
        );
        let all: String = index
            .entries()
            .iter()
            .map(|e| format!("{}\n", e.line()))
            .collect();
        write_atomic(&self.search_file, all.as_bytes())
    }
}
