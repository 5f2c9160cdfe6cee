//! A peer's home folder: `upload/` (shared), `downloads/`, `torrents/`, and the
//! hidden `.swarmshare/` state folder (peer id, resume state, ledger, share
//! cache, folder registrations). Every path inside a home is computed here.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use super::error::PeerError;
use crate::common::metainfo::InfoHash;
use crate::common::peer_id;
use crate::sys::atomic_file::write_atomic;

const STATE_DIR: &str = ".swarmshare";
const RESUME_SUFFIX: &str = ".json";

/// Where everything in a home lives. Computing a path touches no disk, so
/// commands that run beside a peer holding the home (`peers`, `share --folder`)
/// use this without opening, and locking, the home.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub root: PathBuf,
    pub upload: PathBuf,
    pub downloads: PathBuf,
    pub torrents: PathBuf,
    pub state: PathBuf,
}

impl Layout {
    pub fn new(root: &Path) -> Layout {
        let root = if root.as_os_str().is_empty() {
            Path::new(".")
        } else {
            root
        };
        Layout {
            root: root.to_owned(),
            upload: root.join("upload"),
            downloads: root.join("downloads"),
            torrents: root.join("torrents"),
            state: root.join(STATE_DIR),
        }
    }

    pub fn resume_dir(&self) -> PathBuf {
        self.state.join("resume")
    }

    pub fn resume_path(&self, key: &InfoHash) -> PathBuf {
        self.resume_dir()
            .join(format!("{}{RESUME_SUFFIX}", key.hex()))
    }

    /// The key (hex) a file in `resume_dir()` holds the state of, from its name.
    pub fn resume_key(file_name: &str) -> Option<&str> {
        file_name.strip_suffix(RESUME_SUFFIX)
    }

    /// The DHT routing table, one `ip:port` a line, read at the next start.
    pub fn dht_nodes_path(&self) -> PathBuf {
        self.state.join("dht_nodes")
    }

    pub fn ledger_path(&self) -> PathBuf {
        self.state.join("ledger.json")
    }

    pub fn share_cache_path(&self) -> PathBuf {
        self.state.join("shared.json")
    }

    /// Folders registered with `share --folder`, shared whole.
    pub fn folders_path(&self) -> PathBuf {
        self.state.join("folders.json")
    }

    /// The interactive modes' log, so the screen keeps only warnings and errors.
    pub fn log_path(&self) -> PathBuf {
        self.state.join("peer.log")
    }

    /// The line prompt's command history, kept between runs.
    pub fn history_path(&self) -> PathBuf {
        self.state.join("history")
    }

    pub fn peer_id_path(&self) -> PathBuf {
        self.state.join("peer_id")
    }

    /// Locked by the peer running on this home.
    pub fn lock_path(&self) -> PathBuf {
        self.state.join("lock")
    }

    fn probe_path(&self) -> PathBuf {
        self.state.join("probe")
    }

    /// A `.torrent` kept in `torrents/`, by file name.
    pub fn torrent_path(&self, file_name: &str) -> PathBuf {
        self.torrents.join(file_name)
    }

    /// A download's file or folder under `downloads/`, by torrent name.
    pub fn download_path(&self, name: &str) -> PathBuf {
        self.downloads.join(name)
    }

    /// An item under `upload/`, by its path relative to `upload/` with `/` between components.
    pub fn upload_path(&self, rel: &str) -> PathBuf {
        rel.split('/').fold(self.upload.clone(), |p, c| p.join(c))
    }

    /// A file put straight into `upload/`, by its file name.
    pub fn upload_file(&self, file_name: &OsStr) -> PathBuf {
        self.upload.join(file_name)
    }

    /// Where a folder is copied before it is renamed into `upload/`: hidden, so
    /// the scanner never shares a half-made copy, and unique to this process.
    pub fn upload_partial_path(&self, name: &str, pid: u32) -> PathBuf {
        self.upload.join(format!(".{name}.partial{pid}"))
    }
}

/// An open home: its layout, and the lock that makes this the one peer running on it.
pub struct Home {
    layout: Layout,
    /// Held for the life of the peer: one running peer per home.
    _lock: File,
}

/// A home is used through its paths; the lock only has to live as long.
impl Deref for Home {
    type Target = Layout;

    fn deref(&self) -> &Layout {
        &self.layout
    }
}

impl Home {
    pub fn open(root: &Path) -> Result<Home, PeerError> {
        let err = |source| PeerError::Home {
            path: root.to_owned(),
            source,
        };
        let layout = Layout::new(root);
        for d in [
            layout.upload.clone(),
            layout.downloads.clone(),
            layout.torrents.clone(),
            layout.resume_dir(),
        ] {
            fs::create_dir_all(&d).map_err(err)?;
        }
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(layout.lock_path())
            .map_err(err)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(PeerError::HomeLocked(layout.root.clone()));
            }
            Err(fs::TryLockError::Error(e)) => return Err(err(e)),
        }
        // Prove the state folder is writable now rather than at the first verified piece.
        let probe = layout.probe_path();
        File::create(&probe)
            .and_then(|mut f| f.write_all(b"ok"))
            .map_err(err)?;
        let _ = fs::remove_file(probe);
        Ok(Home {
            layout,
            _lock: lock,
        })
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// This peer's id: made once, kept across restarts so other peers' ledgers recognise it.
    pub fn peer_id(&self) -> Result<[u8; 20], PeerError> {
        let path = self.peer_id_path();
        let kept = fs::read_to_string(&path)
            .ok()
            .and_then(|text| <[u8; 20]>::try_from(text.trim().as_bytes()).ok());
        let mut id = [0u8; 20];
        match kept {
            Some(old) if !old.starts_with(peer_id::FORMER) => return Ok(old),
            // The former client code was another client's: keep the random
            // part, so only the name changes.
            Some(old) => id = old,
            None => {
                const ALPHABET: &[u8] =
                    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
                for b in &mut id[8..] {
                    *b = ALPHABET[fastrand::usize(..ALPHABET.len())];
                }
            }
        }
        id[..8].copy_from_slice(peer_id::OURS);
        write_atomic(&path, &id)
            .map_err(PeerError::io(format!("cannot write {}", path.display())))?;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_is_under_the_root_in_its_folder() {
        let l = Layout::new(Path::new("/h"));
        let key = InfoHash([0xab; 20]);
        assert_eq!(l.upload, Path::new("/h/upload"));
        assert_eq!(l.downloads, Path::new("/h/downloads"));
        assert_eq!(l.torrents, Path::new("/h/torrents"));
        assert_eq!(l.state, Path::new("/h/.swarmshare"));
        assert_eq!(
            l.resume_path(&key),
            Path::new("/h/.swarmshare/resume").join(format!("{}.json", key.hex()))
        );
        assert_eq!(l.ledger_path(), Path::new("/h/.swarmshare/ledger.json"));
        assert_eq!(
            l.share_cache_path(),
            Path::new("/h/.swarmshare/shared.json")
        );
        assert_eq!(l.folders_path(), Path::new("/h/.swarmshare/folders.json"));
        assert_eq!(l.peer_id_path(), Path::new("/h/.swarmshare/peer_id"));
        assert_eq!(l.log_path(), Path::new("/h/.swarmshare/peer.log"));
        assert_eq!(l.history_path(), Path::new("/h/.swarmshare/history"));
        assert_eq!(l.lock_path(), Path::new("/h/.swarmshare/lock"));
        assert_eq!(
            l.torrent_path("a.torrent"),
            Path::new("/h/torrents/a.torrent")
        );
        assert_eq!(l.download_path("a"), Path::new("/h/downloads/a"));
        assert_eq!(l.upload_path("a/b c/d"), Path::new("/h/upload/a/b c/d"));
        assert_eq!(
            l.upload_file(OsStr::new("f.txt")),
            Path::new("/h/upload/f.txt")
        );
        assert_eq!(
            l.upload_partial_path("f", 7),
            Path::new("/h/upload/.f.partial7")
        );
    }

    #[test]
    fn an_empty_root_is_the_current_folder() {
        assert_eq!(Layout::new(Path::new("")).root, Path::new("."));
        assert_eq!(Layout::new(Path::new("")).upload, Path::new("./upload"));
    }

    #[test]
    fn a_resume_file_name_gives_back_its_key() {
        let l = Layout::new(Path::new("/h"));
        let key = InfoHash([0x12; 20]);
        let path = l.resume_path(&key);
        let name = path.file_name().unwrap().to_str().unwrap();
        assert_eq!(Layout::resume_key(name), Some(key.hex().as_str()));
        assert_eq!(Layout::resume_key("notes.txt"), None);
    }

    #[test]
    fn the_peer_id_carries_our_code_and_a_former_one_is_renamed_keeping_its_tail() {
        let d = tempfile::tempdir().unwrap();
        let home = Home::open(d.path()).unwrap();
        let made = home.peer_id().unwrap();
        assert!(made.starts_with(peer_id::OURS));
        assert_eq!(home.peer_id().unwrap(), made, "kept across calls");
        fs::write(home.peer_id_path(), b"-SS0100-abcdefghijkl").unwrap();
        assert_eq!(&home.peer_id().unwrap(), b"-SW0100-abcdefghijkl");
        assert_eq!(
            fs::read(home.peer_id_path()).unwrap(),
            b"-SW0100-abcdefghijkl"
        );
    }
}
