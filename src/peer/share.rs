//! Shares everything under `upload/`: makes a `.torrent` for each file,
//! publishes it, and seeds it. Rescans every few seconds, so files added while
//! the peer runs are shared without a restart; files removed stop being shared.
//!
//! A folder registered with `share --folder` is shared whole, as one multi-file
//! torrent, and its files are not also shared one by one. Registrations live in
//! `.swarmshare/folders.json`, which the scanner re-reads on every pass, so a
//! running `serve` picks up a folder shared from another terminal.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use log::{debug, info, warn};
use serde::{Deserialize, Serialize};

use super::engine::Engine;
use super::error::PeerError;
use super::format;
use super::home::Layout;
use super::index_client::IndexClient;
use super::torrent_maker::{self, TorrentFormat};
use crate::common::metainfo::{InfoHash, Metainfo, is_safe_component};
use crate::sys::atomic_file::write_atomic;
use crate::sys::metainfo_file::MetainfoFile;

pub const RESCAN: Duration = Duration::from_secs(2);
/// Why a file or folder cannot go into a torrent under its own name.
const NAME_NOT_ALLOWED: &str =
    "its name is not UTF-8, holds a control character, or could escape the download folder";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Shared {
    size: u64,
    mtime_ns: u128,
    key: String,
    torrent: String,
    #[serde(default)]
    published: bool,
    /// Files in a shared folder; 0 for a single file.
    #[serde(default)]
    files: u64,
}

/// What a shared item looks like on disk; a change means its torrent must be made again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Signature {
    size: u64,
    mtime_ns: u128,
    files: u64,
}

pub struct Sharer {
    engine: Arc<Engine>,
    cache: BTreeMap<String, Shared>,
    cache_path: PathBuf,
}

fn mtime_ns(m: &std::fs::Metadata) -> u128 {
    m.modified()
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos())
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.to_str().is_none_or(|n| n.starts_with('.'))
}

/// Modified in the last second: it may still be being copied in.
fn settling(m: &std::fs::Metadata) -> bool {
    m.modified()
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age < Duration::from_secs(1))
}

/// Saves `bytes` as `torrents/<name>.torrent`, or under a key-suffixed name when
/// another content already holds that name. Returns the file's name.
pub fn save_torrent(home: &Layout, meta: &Metainfo, bytes: &[u8]) -> Result<String, PeerError> {
    let plain = format!("{}.torrent", meta.name);
    let taken = Metainfo::from_file(&home.torrent_path(&plain))
        .is_ok_and(|m| m.info_hash != meta.info_hash);
    let name = if taken {
        format!("{}.{}.torrent", meta.name, &meta.info_hash.hex()[..12])
    } else {
        plain
    };
    let path = home.torrent_path(&name);
    write_atomic(&path, bytes)
        .map_err(PeerError::io(format!("cannot write {}", path.display())))?;
    Ok(name)
}

/// Folders registered for sharing whole, as paths relative to `upload/` with `/`
/// between components. One inside another is ignored: a file goes in one torrent.
fn load_folders(home: &Layout) -> BTreeSet<String> {
    let all = read_folders(home);
    all.iter()
        .filter(|f| {
            !all.iter()
                .any(|other| other != *f && f.starts_with(&format!("{other}/")))
        })
        .cloned()
        .collect()
}

/// Every registration, nested ones included.
fn read_folders(home: &Layout) -> BTreeSet<String> {
    std::fs::read(home.folders_path())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// A folder's files in torrent order, as path components, and its signature.
struct FolderFiles {
    files: Vec<Vec<String>>,
    sig: Signature,
}

/// Sorted, with hidden entries and links left out; `None` while a file is settling.
fn folder_files(root: &Path) -> Result<Option<FolderFiles>, PeerError> {
    let mut files = Vec::new();
    let mut sig = Signature {
        size: 0,
        mtime_ns: 0,
        files: 0,
    };
    let walk = walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !is_hidden(e.file_name()));
    for entry in walk {
        let entry = entry.map_err(|e| PeerError::Io {
            context: format!("cannot read {}", root.display()),
            source: e.into(),
        })?;
        let md = entry.metadata().map_err(|e| PeerError::Io {
            context: format!("cannot read {}", entry.path().display()),
            source: e.into(),
        })?;
        // A renamed or removed file changes its folder's mtime.
        sig.mtime_ns = sig.mtime_ns.max(mtime_ns(&md));
        if !entry.file_type().is_file() {
            continue;
        }
        if settling(&md) {
            return Ok(None);
        }
        let rel = entry.path().strip_prefix(root).expect("under the root");
        let mut comps = Vec::new();
        for c in rel.components() {
            let c = c.as_os_str().to_str().filter(|c| is_safe_component(c));
            let Some(c) = c else {
                return Err(PeerError::Io {
                    context: format!("cannot share {}", entry.path().display()),
                    source: std::io::Error::other(NAME_NOT_ALLOWED),
                });
            };
            comps.push(c.to_owned());
        }
        sig.size += md.len();
        sig.files += 1;
        files.push(comps);
    }
    Ok(Some(FolderFiles { files, sig }))
}

fn folder_name(root: &Path) -> Result<&str, PeerError> {
    root.file_name()
        .and_then(|n| n.to_str())
        .filter(|n| is_safe_component(n))
        .ok_or_else(|| PeerError::Io {
            context: format!("cannot share {}", root.display()),
            source: std::io::Error::other(NAME_NOT_ALLOWED),
        })
}

impl Sharer {
    pub fn new(engine: Arc<Engine>) -> Sharer {
        let cache_path = engine.home.share_cache_path();
        let cache = std::fs::read(&cache_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Sharer {
            engine,
            cache,
            cache_path,
        }
    }

    /// Scans `upload/` forever on its own thread.
    pub fn spawn(mut self) {
        let _ = std::thread::Builder::new()
            .name("share".into())
            .spawn(move || {
                while !self.engine.is_shutting_down() {
                    self.scan();
                    std::thread::sleep(RESCAN);
                }
            });
    }

    /// One pass over `upload/`. Returns how many files and whole folders are shared.
    pub fn scan(&mut self) -> usize {
        let upload = self.engine.home.upload.clone();
        let folders = load_folders(self.engine.home.layout());
        let mut seen = Vec::new();
        let mut changed = false;
        for rel in &folders {
            let root = self.engine.home.upload_path(rel);
            if !root.is_dir() {
                continue;
            }
            // A folder's cache entry ends in `/`, so it never collides with a file's.
            seen.push(format!("{rel}/"));
            match self.share_folder(rel, &root) {
                Ok(c) => changed |= c,
                Err(e) => warn!("cannot share {}: {e}", root.display()),
            }
        }
        let walk = walkdir::WalkDir::new(&upload)
            .follow_links(false)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| {
                if e.depth() == 0 {
                    return true;
                }
                // Hidden folders hold copies in progress (and .git and the like).
                if is_hidden(e.file_name()) && e.file_type().is_dir() {
                    return false;
                }
                let rel = e.path().strip_prefix(&upload).map(|r| r.to_string_lossy());
                !(e.file_type().is_dir() && rel.is_ok_and(|r| folders.contains(r.as_ref())))
            });
        for entry in walk {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    debug!("cannot read part of {}: {e}", upload.display());
                    continue;
                }
            };
            if !entry.file_type().is_file() || is_hidden(entry.file_name()) {
                continue;
            }
            let Ok(rel) = entry
                .path()
                .strip_prefix(&upload)
                .map(|r| r.to_string_lossy().into_owned())
            else {
                continue;
            };
            let Ok(md) = entry.metadata() else { continue };
            if md.len() == 0 {
                continue;
            }
            seen.push(rel.clone());
            if settling(&md) {
                continue;
            }
            match self.share_file(&rel, entry.path(), &md) {
                Ok(c) => changed |= c,
                Err(e) => warn!("cannot share {}: {e}", entry.path().display()),
            }
        }
        let gone: Vec<String> = self
            .cache
            .keys()
            .filter(|k| !seen.contains(k))
            .cloned()
            .collect();
        for rel in gone {
            if let Some(s) = self.cache.remove(&rel) {
                if let Some(key) = InfoHash::from_hex(&s.key) {
                    self.engine.remove_torrent(&key);
                }
                info!("stopped sharing {rel}: it left upload/, or its folder is now shared whole");
                changed = true;
            }
        }
        if changed
            && let Err(e) = write_atomic(
                &self.cache_path,
                &serde_json::to_vec_pretty(&self.cache).expect("json"),
            )
        {
            warn!("cannot save {}: {e}", self.cache_path.display());
        }
        self.cache.len()
    }

    fn share_file(
        &mut self,
        rel: &str,
        path: &Path,
        md: &std::fs::Metadata,
    ) -> Result<bool, PeerError> {
        let sig = Signature {
            size: md.len(),
            mtime_ns: mtime_ns(md),
            files: 0,
        };
        let announce = self.engine.tracker.announce_url();
        let format = self.engine.torrent_format;
        self.share_item(rel, sig, &[path.to_owned()], path, || {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| PeerError::Io {
                    context: format!("cannot share {}", path.display()),
                    source: std::io::Error::other("file name is not UTF-8"),
                })?;
            Ok(torrent_maker::create_single_file_as(
                format, path, name, &announce,
            )?)
        })
    }

    fn share_folder(&mut self, rel: &str, root: &Path) -> Result<bool, PeerError> {
        let Some(FolderFiles { files, sig }) = folder_files(root)? else {
            return Ok(false);
        };
        if files.is_empty() {
            debug!("{} has no files to share yet", root.display());
            return Ok(false);
        }
        let name = folder_name(root)?.to_owned();
        let paths: Vec<PathBuf> = files
            .iter()
            .map(|f| f.iter().fold(root.to_path_buf(), |p, c| p.join(c)))
            .collect();
        let announce = self.engine.tracker.announce_url();
        let format = self.engine.torrent_format;
        self.share_item(&format!("{rel}/"), sig, &paths, root, || {
            Ok(torrent_maker::create_multi_file_as(
                format, root, &name, &files, &announce,
            )?)
        })
    }

    /// Makes (or finds in the cache) the torrent of one item, seeds it, publishes it.
    fn share_item(
        &mut self,
        rel: &str,
        sig: Signature,
        paths: &[PathBuf],
        location: &Path,
        make: impl FnOnce() -> Result<Vec<u8>, PeerError>,
    ) -> Result<bool, PeerError> {
        let engine = self.engine.clone();
        let home = engine.home.layout();
        let cached = self
            .cache
            .get(rel)
            .filter(|s| s.size == sig.size && s.mtime_ns == sig.mtime_ns && s.files == sig.files)
            .cloned();
        let mut changed = false;
        let (meta, bytes, torrent) = match cached.as_ref().and_then(|c| load_cached(home, c)) {
            Some((m, b)) => (m, b, cached.as_ref().expect("cached").torrent.clone()),
            None => {
                if let Some(old) = self
                    .cache
                    .remove(rel)
                    .and_then(|o| InfoHash::from_hex(&o.key))
                {
                    self.engine.remove_torrent(&old);
                }
                let bytes = make()?;
                let meta = Metainfo::from_bytes(&bytes)?;
                let torrent = save_torrent(home, &meta, &bytes)?;
                info!(
                    "made {torrent} for upload/{rel}: {} in {}, key {}",
                    format::human(meta.size()),
                    format::count(meta.num_pieces(), "part"),
                    meta.key()
                );
                self.cache.insert(
                    rel.to_owned(),
                    Shared {
                        size: sig.size,
                        mtime_ns: sig.mtime_ns,
                        key: meta.info_hash.hex(),
                        torrent: torrent.clone(),
                        published: false,
                        files: sig.files,
                    },
                );
                changed = true;
                (meta, bytes, torrent)
            }
        };
        if self.engine.torrent(&meta.info_hash).is_none() {
            self.engine
                .add_seed(meta.clone(), paths, location.to_owned())?;
        }
        let entry = self.cache.get_mut(rel).expect("cached above");
        if !entry.published {
            match self.engine.tracker.publish(&bytes) {
                Ok(reply) => {
                    entry.published = true;
                    changed = true;
                    info!("published {torrent} to the tracker as {}", reply.torrent);
                }
                Err(e) => debug!("publish of {torrent} failed, will retry: {e}"),
            }
        }
        Ok(changed)
    }

    /// Forgets that files were published, so the next scan publishes them again
    /// (a restarted tracker may have lost nothing, but publishing is idempotent).
    pub fn republish_all(&mut self) {
        for s in self.cache.values_mut() {
            s.published = false;
        }
    }
}

fn load_cached(home: &Layout, c: &Shared) -> Option<(Metainfo, Vec<u8>)> {
    let bytes = std::fs::read(home.torrent_path(&c.torrent)).ok()?;
    let m = Metainfo::from_bytes(&bytes).ok()?;
    (m.info_hash.hex() == c.key).then_some((m, bytes))
}

/// What `share --folder` did, for the person at the terminal.
pub struct FolderShared {
    pub lines: Vec<String>,
}

fn io_err(context: String, msg: &str) -> PeerError {
    PeerError::Io {
        context,
        source: std::io::Error::other(msg.to_owned()),
    }
}

/// Copies a folder tree (regular files and folders; links are left out).
fn copy_tree(from: &Path, to: &Path) -> Result<(), PeerError> {
    std::fs::create_dir_all(to)
        .map_err(PeerError::io(format!("cannot create {}", to.display())))?;
    for entry in walkdir::WalkDir::new(from).follow_links(false).min_depth(1) {
        let entry = entry.map_err(|e| PeerError::Io {
            context: format!("cannot read {}", from.display()),
            source: e.into(),
        })?;
        let dest = to.join(entry.path().strip_prefix(from).expect("under the root"));
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest)
                .map_err(PeerError::io(format!("cannot create {}", dest.display())))?;
        } else if entry.file_type().is_file() {
            std::fs::copy(entry.path(), &dest).map_err(PeerError::io(format!(
                "cannot copy {}",
                entry.path().display()
            )))?;
        }
    }
    Ok(())
}

/// `share --folder PATH`: registers a folder under `upload/` (copying it in when it is
/// elsewhere) to be shared whole, makes its torrent and publishes it when the tracker
/// answers. It needs no running peer and works beside one: the folder is seeded by
/// the next `serve`, or within seconds by one already running on this home.
pub fn share_folder(
    home: &Layout,
    tracker: &IndexClient,
    folder: &Path,
    format: TorrentFormat,
) -> Result<FolderShared, PeerError> {
    let upload = &home.upload;
    for d in [&home.upload, &home.state, &home.torrents] {
        std::fs::create_dir_all(d)
            .map_err(PeerError::io(format!("cannot create {}", d.display())))?;
    }
    let shown = folder.display().to_string();
    let src = folder
        .canonicalize()
        .map_err(PeerError::io(format!("cannot share {shown}")))?;
    if !src.is_dir() {
        return Err(io_err(format!("cannot share {shown}"), "not a folder"));
    }
    let upload_abs = upload
        .canonicalize()
        .map_err(PeerError::io(format!("cannot read {}", upload.display())))?;
    let name = folder_name(&src)?.to_owned();
    let mut lines = Vec::new();
    let (rel, root, copy_from) = match src.strip_prefix(&upload_abs) {
        Ok(r) if r.as_os_str().is_empty() => {
            return Err(io_err(
                format!("cannot share {shown} as one torrent"),
                "it is upload/ itself; name a folder inside it",
            ));
        }
        Ok(r) => {
            let mut comps = Vec::new();
            for c in r.components() {
                let c = c.as_os_str();
                if is_hidden(c) {
                    return Err(io_err(
                        format!("cannot share {shown}"),
                        "hidden folders in upload/ are never shared",
                    ));
                }
                comps.push(c.to_string_lossy().into_owned());
            }
            (comps.join("/"), src.clone(), None)
        }
        Err(_) if upload_abs.starts_with(&src) => {
            // Copying it into upload/ would copy the copy, forever.
            return Err(io_err(
                format!("cannot share {shown}"),
                "it holds this peer's upload/ folder; name a folder that does not",
            ));
        }
        Err(_) => {
            let dest = home.upload_path(&name);
            if dest.exists() {
                return Err(io_err(
                    format!("cannot copy {shown} into upload/"),
                    &format!("upload/{name} already exists; rename one, or share that one"),
                ));
            }
            (name.clone(), dest, Some(src.clone()))
        }
    };

    // Registered before any file appears in upload/, so a running scanner never
    // shares them one by one; copied under a hidden name, which it skips.
    let mut folders = read_folders(home);
    folders.insert(rel.clone());
    let folders_path = home.folders_path();
    write_atomic(
        &folders_path,
        &serde_json::to_vec_pretty(&folders).expect("json"),
    )
    .map_err(PeerError::io(format!(
        "cannot write {}",
        folders_path.display()
    )))?;
    if let Some(from) = copy_from {
        let partial = home.upload_partial_path(&name, std::process::id());
        let copied = copy_tree(&from, &partial).and_then(|()| {
            std::fs::rename(&partial, &root).map_err(PeerError::io(format!(
                "cannot move the copy to {}",
                root.display()
            )))
        });
        if let Err(e) = copied {
            let _ = std::fs::remove_dir_all(&partial);
            return Err(e);
        }
        lines.push(format!("copied {shown} to {}", root.display()));
    }

    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let FolderFiles { files, sig } = loop {
        // Just-copied files count as settling for a second; their contents are final.
        match folder_files(&root)? {
            Some(x) => break x,
            None if std::time::Instant::now() > deadline => {
                return Err(io_err(
                    format!("cannot share {shown} yet"),
                    "files in it are still changing; run share again when they are complete",
                ));
            }
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    if files.is_empty() {
        return Err(io_err(format!("cannot share {shown}"), "it holds no files"));
    }
    let bytes =
        torrent_maker::create_multi_file_as(format, &root, &name, &files, &tracker.announce_url())?;
    let meta = Metainfo::from_bytes(&bytes)?;
    let torrent = save_torrent(home, &meta, &bytes)?;
    lines.push(format::folder_shared(
        &rel,
        &torrent,
        files.len(),
        meta.size(),
        meta.num_pieces(),
        &meta.key(),
    ));
    let published = match tracker.publish(&bytes) {
        Ok(reply) => {
            lines.push(format!("published to the tracker as {}", reply.torrent));
            true
        }
        Err(e) => {
            lines.push(format!("not published yet ({e}); serve publishes it"));
            false
        }
    };

    // With no peer running on this home, leave the torrent in the share cache so
    // the next serve need not hash the folder again; a running one makes its own.
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(home.lock_path())
        .map_err(PeerError::io(format!(
            "cannot open {}",
            home.state.display()
        )))?;
    if lock.try_lock().is_ok() {
        let cache_path = home.share_cache_path();
        let mut cache: BTreeMap<String, Shared> = std::fs::read(&cache_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        cache.insert(
            format!("{rel}/"),
            Shared {
                size: sig.size,
                mtime_ns: sig.mtime_ns,
                key: meta.info_hash.hex(),
                torrent,
                published,
                files: sig.files,
            },
        );
        write_atomic(
            &cache_path,
            &serde_json::to_vec_pretty(&cache).expect("json"),
        )
        .map_err(PeerError::io(format!(
            "cannot write {}",
            cache_path.display()
        )))?;
        lines.push("run `serve` on this home to seed it".into());
    } else {
        lines.push("the peer running on this home seeds it within seconds".into());
    }
    Ok(FolderShared { lines })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder's files come in file-tree order (paths sorted component by
    /// component, bytewise), the one order a v2 torrent has, so v1, v2 and
    /// hybrid torrents of a folder list its files alike: `a/x` before `a-b`.
    #[test]
    fn folder_files_come_in_file_tree_order() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("album");
        for p in ["b", "a.b", "a-b", "a/y/z", "a/x", "B", "a/.hidden"] {
            let p = root.join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, b"x").unwrap();
            // Older than a second: not a file still being copied in.
            let f = std::fs::File::options().write(true).open(&p).unwrap();
            f.set_modified(SystemTime::now() - Duration::from_secs(10))
                .unwrap();
        }
        let files = folder_files(&root).unwrap().expect("settled").files;
        let shown: Vec<String> = files.iter().map(|f| f.join("/")).collect();
        assert_eq!(shown, ["B", "a/x", "a/y/z", "a-b", "a.b", "b"]);
        assert!(crate::common::metainfo_v2_encode::in_tree_order(&files));
    }

    #[test]
    fn a_folder_named_with_a_control_character_is_refused_clearly() {
        let err = folder_name(Path::new("/tmp/bad\nname")).unwrap_err();
        assert!(err.to_string().contains("control character"), "{err}");
        assert_eq!(
            folder_name(Path::new("/tmp/good name")).unwrap(),
            "good name"
        );
    }
}
