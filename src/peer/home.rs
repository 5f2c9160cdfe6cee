//! A peer's home folder: `upload/` (shared), `downloads/`, `torrents/`, and the
//! hidden `.swarmshare/` state folder (peer id, resume state, ledger).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::error::PeerError;
use crate::common::metainfo::InfoHash;
use crate::sys::atomic_file::write_atomic;

pub const STATE_DIR: &str = ".swarmshare";

pub struct Home {
    pub root: PathBuf,
    pub upload: PathBuf,
    pub downloads: PathBuf,
    pub torrents: PathBuf,
    pub state: PathBuf,
    /// Held for the life of the peer: one running peer per home.
    _lock: File,
}

impl Home {
    pub fn open(root: &Path) -> Result<Home, PeerError> {
        let err = |source| PeerError::Home {
            path: root.to_owned(),
            source,
        };
        let root = if root.as_os_str().is_empty() {
            Path::new(".")
        } else {
            root
        };
        let state = root.join(STATE_DIR);
        for d in ["upload", "downloads", "torrents"]
            .iter()
            .map(|d| root.join(d))
            .chain([state.join("resume")])
        {
            fs::create_dir_all(&d).map_err(err)?;
        }
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(state.join("lock"))
            .map_err(err)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(PeerError::HomeLocked(root.to_owned()));
            }
            Err(fs::TryLockError::Error(e)) => return Err(err(e)),
        }
        // Prove the state folder is writable now rather than at the first verified piece.
        let probe = state.join("probe");
        File::create(&probe)
            .and_then(|mut f| f.write_all(b"ok"))
            .map_err(err)?;
        let _ = fs::remove_file(probe);
        Ok(Home {
            root: root.to_owned(),
            upload: root.join("upload"),
            downloads: root.join("downloads"),
            torrents: root.join("torrents"),
            state,
            _lock: lock,
        })
    }

    /// This peer's id: made once, kept across restarts so other peers' ledgers recognise it.
    pub fn peer_id(&self) -> Result<[u8; 20], PeerError> {
        let path = self.state.join("peer_id");
        if let Ok(text) = fs::read_to_string(&path)
            && let Ok(id) = <[u8; 20]>::try_from(text.trim().as_bytes())
        {
            return Ok(id);
        }
        let mut id = *b"-SS0100-000000000000";
        const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        for b in &mut id[8..] {
            *b = ALPHABET[fastrand::usize(..ALPHABET.len())];
        }
        write_atomic(&path, &id)
            .map_err(PeerError::io(format!("cannot write {}", path.display())))?;
        Ok(id)
    }

    pub fn resume_path(&self, key: &InfoHash) -> PathBuf {
        self.state
            .join("resume")
            .join(format!("{}.json", key.hex()))
    }

    pub fn ledger_path(&self) -> PathBuf {
        self.state.join("ledger.json")
    }

    pub fn share_cache_path(&self) -> PathBuf {
        self.state.join("shared.json")
    }
}
