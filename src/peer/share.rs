//! Shares everything under `upload/`: makes a `.torrent` for each file,
//! publishes it, and seeds it. Rescans every few seconds, so files added while
//! the peer runs are shared without a restart; files removed stop being shared.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use log::{debug, info, warn};
use serde::{Deserialize, Serialize};

use super::engine::Engine;
use super::error::PeerError;
use crate::common::atomic_file::write_atomic;
use crate::common::metainfo::{self, InfoHash, Metainfo};

pub const RESCAN: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Shared {
    size: u64,
    mtime_ns: u128,
    key: String,
    torrent: String,
    #[serde(default)]
    published: bool,
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

/// Saves `bytes` as `torrents/<name>.torrent`, or under a key-suffixed name when
/// another content already holds that name. Returns the file's name.
pub fn save_torrent(torrents: &Path, meta: &Metainfo, bytes: &[u8]) -> Result<String, PeerError> {
    let plain = format!("{}.torrent", meta.name);
    let taken =
        Metainfo::from_file(&torrents.join(&plain)).is_ok_and(|m| m.info_hash != meta.info_hash);
    let name = if taken {
        format!("{}.{}.torrent", meta.name, &meta.info_hash.hex()[..12])
    } else {
        plain
    };
    let path = torrents.join(&name);
    write_atomic(&path, bytes)
        .map_err(PeerError::io(format!("cannot write {}", path.display())))?;
    Ok(name)
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

    /// One pass over `upload/`. Returns how many files are shared.
    pub fn scan(&mut self) -> usize {
        let upload = self.engine.home.upload.clone();
        let mut seen = Vec::new();
        let mut changed = false;
        for entry in walkdir::WalkDir::new(&upload)
            .follow_links(false)
            .sort_by_file_name()
        {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    debug!("cannot read part of {}: {e}", upload.display());
                    continue;
                }
            };
            let hidden = entry
                .file_name()
                .to_str()
                .is_none_or(|n| n.starts_with('.'));
            if !entry.file_type().is_file() || hidden {
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
            // A file modified in the last second may still be being copied in.
            if md
                .modified()
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age < Duration::from_secs(1))
            {
                seen.push(rel);
                continue;
            }
            seen.push(rel.clone());
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
                info!("stopped sharing {rel}: it left upload/");
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
        let (size, mtime) = (md.len(), mtime_ns(md));
        let torrents = self.engine.home.torrents.clone();
        let cached = self
            .cache
            .get(rel)
            .filter(|s| s.size == size && s.mtime_ns == mtime)
            .cloned();
        let mut changed = false;
        let (meta, bytes, torrent) = match cached.as_ref().and_then(|c| load_cached(&torrents, c)) {
            Some((m, b)) => (m, b, cached.as_ref().expect("cached").torrent.clone()),
            None => {
                if let Some(old) = self
                    .cache
                    .remove(rel)
                    .and_then(|o| InfoHash::from_hex(&o.key))
                {
                    self.engine.remove_torrent(&old);
                }
                let name =
                    path.file_name()
                        .and_then(|n| n.to_str())
                        .ok_or_else(|| PeerError::Io {
                            context: format!("cannot share {}", path.display()),
                            source: std::io::Error::other("file name is not UTF-8"),
                        })?;
                let bytes =
                    metainfo::create_single_file(path, name, &self.engine.tracker.announce_url())?;
                let meta = Metainfo::from_bytes(&bytes)?;
                let torrent = save_torrent(&torrents, &meta, &bytes)?;
                info!(
                    "made {torrent} for upload/{rel}: {} bytes in {} parts, key {}",
                    meta.total_length,
                    meta.num_pieces(),
                    meta.info_hash
                );
                self.cache.insert(
                    rel.to_owned(),
                    Shared {
                        size,
                        mtime_ns: mtime,
                        key: meta.info_hash.hex(),
                        torrent: torrent.clone(),
                        published: false,
                    },
                );
                changed = true;
                (meta, bytes, torrent)
            }
        };
        if self.engine.torrent(&meta.info_hash).is_none() {
            self.engine
                .add_seed(meta.clone(), &[path.to_owned()], path.to_owned())?;
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

fn load_cached(torrents: &Path, c: &Shared) -> Option<(Metainfo, Vec<u8>)> {
    let bytes = std::fs::read(torrents.join(&c.torrent)).ok()?;
    let m = Metainfo::from_bytes(&bytes).ok()?;
    (m.info_hash.hex() == c.key).then_some((m, bytes))
}
