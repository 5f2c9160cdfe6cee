//! The peer ledger: bytes exchanged with every remote peer, across torrents and restarts.
//! It decides who is "preferred": the peers we have downloaded the most from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use log::warn;
use serde::{Deserialize, Serialize};

use crate::common::metainfo::hex;
use crate::sys::atomic_file::write_atomic;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub downloaded: u64,
    pub uploaded: u64,
    pub last_addr: String,
    /// Seconds since the Unix epoch.
    pub last_seen: u64,
}

pub struct Ledger {
    path: PathBuf,
    entries: BTreeMap<String, LedgerEntry>,
    dirty: bool,
}

pub fn peer_id_text(id: &[u8; 20]) -> String {
    hex(id)
}

impl Ledger {
    /// Loads the ledger; a damaged file is set aside, never a reason not to start.
    pub fn load(path: &Path) -> Ledger {
        let entries = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                warn!(
                    "ledger {} is damaged ({e}); starting a new one",
                    path.display()
                );
                let _ = std::fs::rename(path, path.with_extension("damaged"));
                BTreeMap::new()
            }),
            Err(_) => BTreeMap::new(),
        };
        Ledger {
            path: path.to_owned(),
            entries,
            dirty: false,
        }
    }

    pub fn record(&mut self, peer_id: &[u8; 20], addr: &str, downloaded: u64, uploaded: u64) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let e = self.entries.entry(peer_id_text(peer_id)).or_default();
        e.downloaded += downloaded;
        e.uploaded += uploaded;
        e.last_addr = addr.to_owned();
        e.last_seen = now;
        self.dirty = true;
    }

    /// Bytes we have downloaded from this peer: its claim to preference.
    pub fn history(&self, peer_id: &[u8; 20]) -> u64 {
        self.entries
            .get(&peer_id_text(peer_id))
            .map_or(0, |e| e.downloaded)
    }

    /// Entries by preference: most downloaded from first, then most uploaded to.
    pub fn by_preference(&self) -> Vec<(String, LedgerEntry)> {
        let mut v: Vec<(String, LedgerEntry)> = self
            .entries
            .iter()
            .map(|(k, e)| (k.clone(), e.clone()))
            .collect();
        v.sort_by(|a, b| {
            b.1.downloaded
                .cmp(&a.1.downloaded)
                .then(b.1.uploaded.cmp(&a.1.uploaded))
                .then(a.0.cmp(&b.0))
        });
        v
    }

    pub fn save_if_dirty(&mut self) {
        if !self.dirty {
            return;
        }
        let json = serde_json::to_vec_pretty(&self.entries).expect("ledger serialises");
        match write_atomic(&self.path, &json) {
            Ok(()) => self.dirty = false,
            Err(e) => warn!("cannot save ledger {}: {e}", self.path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_restart_and_sorts_by_preference() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("ledger.json");
        let mut l = Ledger::load(&p);
        l.record(&[1; 20], "127.0.0.1:1", 10, 0);
        l.record(&[2; 20], "127.0.0.1:2", 500, 7);
        l.record(&[1; 20], "127.0.0.1:9", 5, 3);
        l.save_if_dirty();
        let l = Ledger::load(&p);
        assert_eq!(l.history(&[1; 20]), 15);
        let order = l.by_preference();
        assert_eq!(order[0].0, peer_id_text(&[2; 20]));
        assert_eq!(order[1].1.last_addr, "127.0.0.1:9");
    }

    #[test]
    fn damaged_file_is_set_aside() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("ledger.json");
        std::fs::write(&p, b"{not json").unwrap();
        let l = Ledger::load(&p);
        assert!(l.by_preference().is_empty());
        assert!(d.path().join("ledger.damaged").exists());
    }
}
