//! The tracker's files: published torrents under `DIR/published/`, and
//! `DIR/search_content.txt` with one assignment line per torrent.
//!
//! Order of writes: the torrent file lands (atomically) before its line is
//! appended, and a restart appends any line that a crash left out, so the
//! two never disagree for long and a line is never written twice.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use log::{info, warn};

use super::search_index::{Entry, SearchIndex, torrent_of_line};
use crate::common::atomic_file::write_atomic;
use crate::common::metainfo::{InfoHash, Metainfo};
use crate::common::tracker_proto::PublishReply;

pub struct Store {
    torrents_dir: PathBuf,
    search_file: PathBuf,
    index: SearchIndex,
    /// Torrent names that already have a line in `search_content.txt`.
    listed: std::collections::HashSet<String>,
}

impl Store {
    pub fn open(dir: &Path) -> io::Result<Store> {
        let torrents_dir = dir.join("published");
        fs::create_dir_all(&torrents_dir)?;
        let search_file = dir.join("search_content.txt");
        let mut store = Store {
            torrents_dir,
            search_file,
            index: SearchIndex::default(),
            listed: Default::default(),
        };
        let mut names: Vec<String> = fs::read_dir(&store.torrents_dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.ends_with(".torrent"))
            .collect();
        names.sort();
        for name in names {
            match Metainfo::from_file(&store.torrents_dir.join(&name)) {
                Ok(m) => {
                    store.index.insert(Entry::new(&m, name));
                }
                Err(e) => warn!("ignoring stored torrent {name}: {e}"),
            }
        }
        store.listed = match fs::read_to_string(&store.search_file) {
            Ok(text) => text
                .lines()
                .filter_map(torrent_of_line)
                .map(str::to_owned)
                .collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Default::default(),
            Err(e) => return Err(e),
        };
        let missing: Vec<Entry> = store
            .index
            .entries()
            .iter()
            .filter(|e| !store.listed.contains(&e.torrent))
            .cloned()
            .collect();
        for e in missing {
            store.append_line(&e)?;
        }
        info!(
            "loaded {} published torrents from {}",
            store.index.len(),
            dir.display()
        );
        Ok(store)
    }

    pub fn index(&self) -> &SearchIndex {
        &self.index
    }

    /// Stores a peer's `.torrent`; publishing the same content again changes nothing.
    pub fn publish(&mut self, bytes: &[u8]) -> Result<PublishReply, String> {
        let m = Metainfo::from_bytes(bytes).map_err(|e| e.to_string())?;
        if let Some(e) = self.index.get(&m.info_hash) {
            return Ok(PublishReply {
                key: e.key.hex(),
                name: e.file_name.clone(),
                torrent: e.torrent.clone(),
                new: false,
            });
        }
        let torrent = self.index.torrent_name_for(&m.name, &m.info_hash);
        let entry = Entry::new(&m, torrent.clone());
        write_atomic(&self.torrents_dir.join(&torrent), bytes)
            .map_err(|e| format!("cannot store torrent: {e}"))?;
        self.append_line(&entry)
            .map_err(|e| format!("cannot update search_content.txt: {e}"))?;
        self.index.insert(entry);
        Ok(PublishReply {
            key: m.info_hash.hex(),
            name: m.name,
            torrent,
            new: true,
        })
    }

    pub fn torrent_bytes(&self, key: &InfoHash) -> Option<Vec<u8>> {
        let e = self.index.get(key)?;
        fs::read(self.torrents_dir.join(&e.torrent)).ok()
    }

    /// One `write` of a whole line with O_APPEND, so a crash cannot leave half a line
    /// mid-file. A line already there (from an earlier run, or a copied file) is not repeated.
    fn append_line(&mut self, e: &Entry) -> io::Result<()> {
        if self.listed.contains(&e.torrent) {
            return Ok(());
        }
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.search_file)?;
        f.write_all(format!("{}\n", e.line()).as_bytes())?;
        f.sync_data()?;
        self.listed.insert(e.torrent.clone());
        Ok(())
    }
}
