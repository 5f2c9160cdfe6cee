//! How every command that runs a peer starts one: signals, the torrent to fetch,
//! the engine, the downloads saved in the home, and the sharer for `upload/`.
//! `serve`, `download` and the interactive prompt differ only in the `Plan` they
//! pass, so a new way to start (a magnet link, whose metadata comes later)
//! changes this file, not three.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use crossbeam_channel::Receiver;
use sha2::{Digest, Sha256};

use super::announcer::announce_once;
use super::engine::{Engine, PeerConfig};
use super::error::PeerError;
use super::format;
use super::home::Layout;
use super::index_client::IndexClient;
use super::magnet_fetch;
use super::share::{Sharer, save_torrent};
use super::torrent::Torrent;
use super::torrent_core::Origin;

use crate::common::magnet::Magnet;
use crate::common::metainfo::{InfoHash, Metainfo};
use crate::common::tracker_proto::{Announce, SearchMatch};
use crate::sys::metainfo_file::MetainfoFile;
use crate::sys::resolve;

/// The listen port, for log lines: several peers often share one terminal.
pub static LOG_PORT: AtomicU16 = AtomicU16::new(0);

/// What every command starts from: the engine's configuration.
pub type Options = PeerConfig;

/// SIGINT and SIGTERM, delivered on a channel.
pub fn signals() -> Receiver<i32> {
    let (tx, rx) = crossbeam_channel::bounded(4);
    if let Ok(mut s) = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ]) {
        std::thread::spawn(move || {
            for sig in s.forever() {
                let _ = tx.send(sig);
            }
        });
    }
    rx
}

/// Where a download's torrent comes from.
pub enum Source {
    /// A `.torrent` file on disk.
    File(PathBuf),
    /// A name (or part of one) or a key, looked up on the tracker.
    Tracker(String),
    /// A magnet link: the info dictionary comes from peers, once the engine runs.
    Magnet(Magnet),
}

/// A torrent to download, fetched but not yet handed to the engine.
pub struct Wanted {
    pub meta: Metainfo,
    /// The `.torrent` as fetched, kept in `torrents/` byte for byte.
    pub bytes: Vec<u8>,
    /// Peers already known (a magnet's `x.pe`, those that sent metadata), and where from.
    pub peers: Vec<(SocketAddr, Origin)>,
    /// Peers that sent metadata not matching the magnet's info-hash.
    pub banned: Vec<SocketAddr>,
}

impl Source {
    /// The torrent, if it can be had before the engine starts: a magnet's
    /// only when an earlier run saved it.
    pub fn fetch(&self, tracker: &IndexClient, home: &Layout) -> Result<Option<Wanted>, PeerError> {
        match self {
            Source::File(path) => {
                let meta = open_torrent_file(path)?;
                let bytes = std::fs::read(path)
                    .map_err(PeerError::io(format!("cannot read {}", path.display())))?;
                Ok(Some(Wanted::new(meta, bytes)))
            }
            Source::Tracker(target) => resolve(tracker, target).map(Some),
            Source::Magnet(m) => Ok(saved_torrent(home, &m.info_hash).map(|(meta, bytes)| {
                let mut w = Wanted::new(meta, bytes);
                w.peers = magnet_peers(m);
                w
            })),
        }
    }
}

/// A magnet's `x.pe` peers that resolve.
fn magnet_peers(m: &Magnet) -> Vec<(SocketAddr, Origin)> {
    m.peers
        .iter()
        .filter_map(|(h, p)| resolve::resolve(h, *p).ok())
        .map(|a| (a, Origin::Magnet))
        .collect()
}

/// The `.torrent` an earlier run saved for `key`, and its bytes.
fn saved_torrent(home: &Layout, key: &InfoHash) -> Option<(Metainfo, Vec<u8>)> {
    std::fs::read_dir(&home.torrents)
        .ok()?
        .flatten()
        .find_map(|e| {
            let bytes = std::fs::read(e.path()).ok()?;
            let meta = Metainfo::from_bytes(&bytes).ok()?;
            (meta.info_hash == *key).then_some((meta, bytes))
        })
}

/// Fetches a magnet's info dictionary from peers that the link, its trackers
/// and ours name, until one sends it true or a signal comes.
pub fn fetch_magnet(
    engine: &Engine,
    m: &Magnet,
    signals: &Receiver<i32>,
) -> Result<Wanted, PeerError> {
    let mut trackers = m.trackers.clone();
    let ours = engine.tracker.announce_url();
    if !trackers.contains(&ours) {
        trackers.push(ours);
    }
    let me = magnet_fetch::Identity {
        peer_id: engine.peer_id,
        listen_port: engine.listen_port,
    };
    // The DHT walk takes seconds, so it runs beside the fetch and hands its
    // finds over; trackers answer in one round trip and are asked inline.
    let (dht_found, dht_rx) = crossbeam_channel::unbounded::<Vec<SocketAddr>>();
    let (stop_dht, dht_stopped) = crossbeam_channel::bounded::<()>(0);
    if let Some(dht) = engine.dht_node() {
        let info_hash = m.info_hash;
        let spawned = std::thread::Builder::new()
            .name("magnet-dht".into())
            .spawn(move || {
                loop {
                    let addrs = dht.get_peers(&info_hash, MAGNET_DHT_LOOKUP);
                    if !addrs.is_empty() && dht_found.send(addrs).is_err() {
                        return;
                    }
                    if !matches!(
                        dht_stopped.recv_timeout(MAGNET_REANNOUNCE),
                        Err(crossbeam_channel::RecvTimeoutError::Timeout)
                    ) {
                        return;
                    }
                }
            });
        if let Err(e) = spawned {
            log::warn!("no DHT lookup for the magnet's peers: {e}");
        }
    }
    let got = {
        let mut next_announce = std::time::Instant::now();
        let mut find_peers = || {
            let mut found = magnet_peers(m);
            for addrs in dht_rx.try_iter() {
                found.extend(addrs.into_iter().map(|a| (a, Origin::Dht)));
            }
            if std::time::Instant::now() >= next_announce {
                next_announce = std::time::Instant::now() + MAGNET_REANNOUNCE;
                for url in &trackers {
                    match announce_once(url, &magnet_announce(m, me)) {
                        Ok(reply) => {
                            found.extend(reply.peers.iter().map(|(a, _)| (*a, Origin::Tracker)))
                        }
                        Err(e) => log::debug!("no peers from {url}: {e}"),
                    }
                }
            }
            found.retain(|(a, _)| !(a.port() == me.listen_port && a.ip().is_loopback()));
            found
        };
        let got = magnet_fetch::fetch(m, me, &mut find_peers, signals);
        drop(stop_dht);
        got
    }
    .map_err(|magnet_fetch::Stopped::Signal| PeerError::Interrupted)?;
    // A v2 torrent's piece layers are not in its info dictionary.
    let (needed, required) = Metainfo::missing_piece_layers(&got.info)?;
    let layers = if needed.is_empty() {
        Vec::new()
    } else {
        // Hash messages belong to the v2 swarm: libtorrent drops a
        // connection that sends them under a hybrid's v1 key.
        let v2_key = InfoHash::of_v2(&Sha256::digest(&got.info).into()).0;
        magnet_fetch::piece_layers(&needed, required, v2_key, &got.peers, me, signals)
            .map_err(|magnet_fetch::Stopped::Signal| PeerError::Interrupted)?
            .unwrap_or_default()
    };
    let bytes = Metainfo::torrent_bytes(&got.info, &m.trackers, &layers);
    let meta = Metainfo::from_bytes(&bytes)?;
    // The metadata was checked against 20 bytes of a `btmh` key: all 32 must match.
    if m.info_hash_v2.is_some() && meta.info_hash_v2 != m.info_hash_v2 {
        return Err(crate::common::metainfo::MetainfoError::Invalid(
            "the metadata's v2 info-hash is not the magnet link's".into(),
        )
        .into());
    }
    Ok(Wanted {
        meta,
        bytes,
        peers: got.peers,
        banned: got.banned,
    })
}

/// How often a magnet's trackers are asked again while its metadata is awaited.
const MAGNET_REANNOUNCE: std::time::Duration = std::time::Duration::from_secs(15);

/// How long one DHT walk for a magnet's peers may take.
const MAGNET_DHT_LOOKUP: std::time::Duration = std::time::Duration::from_secs(10);

/// The announce of a peer that does not know the size yet: `left` 0, as
/// other clients send it (our tracker still gives such a peer seeders).
fn magnet_announce(m: &Magnet, me: magnet_fetch::Identity) -> Announce {
    Announce {
        numwant: Some(50),
        ..Announce::started(m.info_hash, me.peer_id, me.listen_port, 0)
    }
}

impl Wanted {
    fn new(meta: Metainfo, bytes: Vec<u8>) -> Wanted {
        Wanted {
            meta,
            bytes,
            peers: Vec::new(),
            banned: Vec::new(),
        }
    }

    pub fn key(&self) -> &InfoHash {
        &self.meta.info_hash
    }

    pub fn name(&self) -> &str {
        &self.meta.name
    }

    /// Keeps the torrent in `torrents/`, where the next start finds it.
    pub fn save(&self, home: &Layout) -> Result<(), PeerError> {
        save_torrent(home, &self.meta, &self.bytes).map(drop)
    }

    /// Hands the download to the engine, which keeps every piece already
    /// verified on disk (checking them first if the last run was killed).
    pub fn open(self, engine: &Engine) -> Result<Arc<Torrent>, PeerError> {
        let t = engine.add_download(self.meta)?;
        for a in &self.banned {
            t.ban_addr(*a);
        }
        for (a, origin) in &self.peers {
            t.add_addrs(&[*a], *origin);
        }
        engine.redial_now();
        Ok(t)
    }
}

pub fn open_torrent_file(path: &Path) -> Result<Metainfo, PeerError> {
    Metainfo::from_file(path).map_err(|source| PeerError::Torrent {
        path: path.to_owned(),
        source,
    })
}

/// Finds the one torrent a name or key means, and fetches it from the tracker.
/// Several matches print the table, so the person can pick a key.
fn resolve(tracker: &IndexClient, target: &str) -> Result<Wanted, PeerError> {
    let key = match InfoHash::from_hex(&target.to_lowercase()) {
        Some(k) => k,
        None => {
            let reply = tracker.search(target)?;
            let exact: Vec<&SearchMatch> = reply
                .results
                .iter()
                .filter(|m| {
                    full_name(m).eq_ignore_ascii_case(target) || m.name.eq_ignore_ascii_case(target)
                })
                .collect();
            let chosen = match (reply.results.len(), exact.len()) {
                (0, _) => return Err(PeerError::NoMatch(target.to_owned())),
                (1, _) => &reply.results[0],
                (_, 1) => exact[0],
                (n, _) => {
                    crate::say_raw!("{}", format::matches_table(&reply.results));
                    return Err(PeerError::Ambiguous(format!(
                        "{n} files match {target:?}; run download again with the KEY of the one you want"
                    )));
                }
            };
            InfoHash::from_hex(&chosen.key).ok_or_else(|| PeerError::TrackerBadReply {
                addr: tracker.addr,
                reason: "bad key".into(),
            })?
        }
    };
    let bytes = tracker.fetch(&key).map_err(|e| match e {
        PeerError::TrackerBadReply { .. } => PeerError::NoMatch(target.to_owned()),
        other => other,
    })?;
    let meta = Metainfo::from_bytes(&bytes)?;
    if meta.info_hash != key {
        return Err(PeerError::TrackerBadReply {
            addr: tracker.addr,
            reason: "torrent does not match its key".into(),
        });
    }
    Ok(Wanted::new(meta, bytes))
}

fn full_name(m: &SearchMatch) -> String {
    if m.kind.is_empty() {
        m.name.clone()
    } else {
        format!("{}.{}", m.name, m.kind)
    }
}

/// A download found in the home at start: its torrent, and how many parts the resume state claims.
pub struct SavedDownload {
    pub meta: Metainfo,
    pub have: usize,
}

impl SavedDownload {
    pub fn is_finished(&self) -> bool {
        self.have == self.meta.num_pieces()
    }
}

/// Every download with resume state and a `.torrent` in `torrents/`, by name.
pub fn saved_downloads(home: &Layout) -> Vec<SavedDownload> {
    let mut by_key = std::collections::HashMap::new();
    if let Ok(dir) = std::fs::read_dir(&home.torrents) {
        for e in dir.flatten() {
            if let Ok(m) = Metainfo::from_file(&e.path()) {
                by_key.insert(m.info_hash.hex(), m);
            }
        }
    }
    let mut found = Vec::new();
    if let Ok(dir) = std::fs::read_dir(home.resume_dir()) {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(meta) = Layout::resume_key(&name).and_then(|k| by_key.remove(k)) else {
                continue;
            };
            let n = meta.num_pieces();
            let have = super::resume::load(&e.path(), &meta.info_hash.hex(), n)
                .map_or(0, |r| r.have.count());
            found.push(SavedDownload { meta, have });
        }
    }
    found.sort_by(|a, b| a.meta.name.cmp(&b.meta.name));
    found
}

/// Re-opens saved downloads; each is checked again if the last run was killed.
pub fn reopen(engine: &Engine, saved: Vec<SavedDownload>) -> usize {
    let mut opened = 0;
    for d in saved {
        let name = d.meta.name.clone();
        match engine.add_download(d.meta) {
            Ok(_) => opened += 1,
            Err(e) => log::warn!("cannot reopen {name}: {e}"),
        }
    }
    opened
}

/// Where the "peer listening" line goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listening {
    Stdout,
    /// When stdout carries JSON.
    Stderr,
    /// On stdout, once saved downloads are dealt with (after the interactive question).
    AfterReopen,
}

/// Whether the session shares `upload/` (and republishes it to the tracker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    Off,
    /// In the background, from its first pass.
    Background,
    /// One pass first, whose count is shown, then in the background.
    ScanFirst,
}

/// What the session does with downloads saved in the home by earlier runs.
pub enum Reopen<'a> {
    Nothing,
    /// Every one, saying how many were finished and unfinished.
    All,
    /// Finished ones always; unfinished ones are listed, and reopened if
    /// `ask` says so.
    Ask(&'a mut dyn FnMut() -> bool),
}

/// How a command's session starts.
pub struct Plan<'a> {
    pub listening: Listening,
    pub sharing: Sharing,
    pub reopen: Reopen<'a>,
    /// A download to start, fetched before the engine starts so a wrong name
    /// fails without touching the home.
    pub download: Option<Source>,
}

/// A running peer, as a command holds it.
pub struct RunningPeer {
    pub engine: Arc<Engine>,
    /// SIGINT and SIGTERM, listened for from the very start.
    pub signals: Receiver<i32>,
    /// The plan's download, opened and resumed from whatever is on disk.
    pub download: Option<Arc<Torrent>>,
}

impl RunningPeer {
    pub fn start(opts: &Options, plan: Plan) -> Result<RunningPeer, PeerError> {
        let signals = signals();
        let layout = Layout::new(&opts.home);
        let mut wanted = match &plan.download {
            Some(source) => source.fetch(&opts.tracker, &layout)?,
            None => None,
        };
        let engine = start_engine(opts)?;
        let line = format::listening(engine.listen_addr);
        // A download named on the tracker has just reached it; anything else
        // checks, so a missing tracker is said once and not left silent.
        if !matches!(plan.download, Some(Source::Tracker(_)))
            && let Err(e) = opts.tracker.probe()
            && engine.announcer.mark_down(&opts.tracker.announce_url())
        {
            log::warn!(
                "{}",
                format::tracker_unreachable_at_start(opts.tracker.addr, &e.to_string())
            );
        }
        match plan.listening {
            Listening::Stdout => crate::say!("{line}"),
            Listening::Stderr => eprintln!("{line}"),
            Listening::AfterReopen => {}
        }
        if let (None, Some(Source::Magnet(m))) = (&wanted, &plan.download) {
            let line = format!("fetching the metadata of {} from peers", m.display_name());
            // Beside the listening line: on stderr when stdout carries JSON.
            match plan.listening {
                Listening::Stderr => eprintln!("{line}"),
                _ => crate::say!("{line}"),
            }
            wanted = Some(fetch_magnet(&engine, m, &signals)?);
        }
        if let Some(w) = &wanted {
            w.save(engine.home.layout())?;
        }
        let mut sharer = (plan.sharing != Sharing::Off).then(|| {
            let mut s = Sharer::new(engine.clone());
            s.republish_all();
            s
        });
        if plan.sharing == Sharing::ScanFirst
            && let Some(s) = &mut sharer
        {
            let shared = s.scan();
            crate::say!("{}", format::sharing(shared, &engine.home.upload));
        }
        // The interactive start has always reopened finished downloads after its listening line.
        let mut reopen_later = Vec::new();
        let saved = match plan.reopen {
            Reopen::Nothing => Vec::new(),
            _ => saved_downloads(engine.home.layout()),
        };
        match plan.reopen {
            Reopen::Nothing => {}
            Reopen::All => {
                let unfinished = saved.iter().filter(|d| !d.is_finished()).count();
                let finished = saved.len() - unfinished;
                reopen(&engine, saved);
                if finished + unfinished > 0 {
                    crate::say!("{}", format::reopened(finished, unfinished));
                }
            }
            Reopen::Ask(ask) => {
                let (finished, unfinished): (Vec<_>, Vec<_>) =
                    saved.into_iter().partition(|d| d.is_finished());
                if !unfinished.is_empty() {
                    let rows: Vec<_> = unfinished
                        .iter()
                        .map(|d| (d.meta.name.as_str(), d.have, d.meta.num_pieces()))
                        .collect();
                    crate::say_raw!("{}", format::unfinished_list(&rows));
                    if ask() {
                        crate::say!("{}", format::saved_resumed(reopen(&engine, unfinished)));
                    } else {
                        // Opened but paused, so `status` lists them and `resume NAME` finds them.
                        for d in unfinished {
                            let key = d.meta.info_hash;
                            reopen(&engine, vec![d]);
                            if let Some(t) = engine.torrent(&key) {
                                t.set_paused(true);
                            }
                        }
                        crate::say!("left paused; `status` lists them, `resume NAME` resumes one");
                    }
                }
                reopen_later = finished;
            }
        }
        if plan.listening == Listening::AfterReopen {
            crate::say!("{line}");
        }
        reopen(&engine, reopen_later);
        if let Some(s) = sharer {
            s.spawn();
        }
        let download = match wanted {
            Some(w) => Some(w.open(&engine)?),
            None => None,
        };
        Ok(RunningPeer {
            engine,
            signals,
            download,
        })
    }
}

fn start_engine(opts: &Options) -> Result<Arc<Engine>, PeerError> {
    // Past a file-size limit (ulimit -f) the kernel kills the writer with
    // SIGXFSZ; ignored, the write fails with EFBIG instead, and the download
    // pauses with what it has rather than dying mid-piece.
    // SAFETY: setting a signal's disposition to SIG_IGN has no handler to race with.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let engine = Engine::start(opts.clone())?;
    LOG_PORT.store(engine.listen_port, Ordering::Relaxed);
    Ok(engine)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::bitfield::Bitfield;
    use crate::peer::resume;

    /// A one-piece torrent of a 5-byte file, as bytes.
    fn torrent(name: &str) -> Vec<u8> {
        let mut b = format!(
            "d8:announce1:x4:infod6:lengthi5e4:name{}:{name}12:piece lengthi16384e6:pieces20:",
            name.len()
        )
        .into_bytes();
        b.extend_from_slice(&[7; 20]);
        b.extend_from_slice(b"ee");
        b
    }

    #[test]
    fn saved_downloads_are_those_with_both_a_torrent_and_resume_state() {
        let d = tempfile::tempdir().unwrap();
        let home = Layout::new(d.path());
        std::fs::create_dir_all(home.resume_dir()).unwrap();
        std::fs::create_dir_all(&home.torrents).unwrap();
        let mut keys = Vec::new();
        for name in ["b", "a", "no-resume"] {
            let bytes = torrent(name);
            let meta = Metainfo::from_bytes(&bytes).unwrap();
            save_torrent(&home, &meta, &bytes).unwrap();
            keys.push(meta.info_hash);
        }
        let mut have = Bitfield::new(1);
        resume::save(
            &home.resume_path(&keys[0]),
            &keys[0].hex(),
            &have,
            true,
            vec![],
        )
        .unwrap();
        have.set(0);
        resume::save(
            &home.resume_path(&keys[1]),
            &keys[1].hex(),
            &have,
            true,
            vec![],
        )
        .unwrap();
        // State left by a torrent that is gone from torrents/.
        let orphan = InfoHash([9; 20]);
        resume::save(
            &home.resume_path(&orphan),
            &orphan.hex(),
            &have,
            true,
            vec![],
        )
        .unwrap();

        let saved = saved_downloads(&home);
        let found: Vec<(&str, usize, bool)> = saved
            .iter()
            .map(|s| (s.meta.name.as_str(), s.have, s.is_finished()))
            .collect();
        assert_eq!(found, [("a", 1, true), ("b", 0, false)]);
    }
}
