//! What each `peer` command does, given parsed options. The binary only parses
//! arguments; everything a user can ask for lives here.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, select};
use serde::Serialize;

use super::engine::{Engine, PeerConfig};
use super::error::PeerError;
use super::index_client::IndexClient;
use super::ledger::Ledger;
use super::share::{Sharer, save_torrent};
use super::status;
use super::torrent::Torrent;
use crate::common::metainfo::{InfoHash, Metainfo, group_thousands};
use crate::common::tracker_proto::SearchMatch;
use crate::sys::metainfo_file::MetainfoFile;

/// The listen port, for log lines: several peers often share one terminal.
pub static LOG_PORT: AtomicU16 = AtomicU16::new(0);

/// What every command starts from: the engine's configuration.
pub type Options = PeerConfig;

/// Starts the engine and says where it listens (on stderr when stdout carries JSON).
pub fn start_engine(opts: &Options, quiet: bool) -> Result<Arc<Engine>, PeerError> {
    let engine = start_engine_silently(opts)?;
    let line = format!("peer listening on 0.0.0.0:{}", engine.listen_port);
    if quiet {
        eprintln!("{line}")
    } else {
        println!("{line}")
    }
    Ok(engine)
}

pub fn start_engine_silently(opts: &Options) -> Result<Arc<Engine>, PeerError> {
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

/// `serve`: share `upload/` and finished downloads until SIGINT/SIGTERM.
pub fn serve(opts: &Options) -> Result<(), PeerError> {
    let sig = signals();
    let engine = start_engine(opts, false)?;
    let mut sharer = Sharer::new(engine.clone());
    sharer.republish_all();
    let shared = sharer.scan();
    println!(
        "sharing {shared} files from {}",
        engine.home.upload.display()
    );
    let saved = saved_downloads(&engine);
    let unfinished = saved.iter().filter(|d| !d.is_finished()).count();
    let done = saved.len() - unfinished;
    reopen(&engine, saved);
    if done + unfinished > 0 {
        println!("seeding {done} finished downloads, resuming {unfinished} unfinished");
    }
    sharer.spawn();
    let _ = sig.recv();
    println!("leaving: telling the tracker");
    engine.shutdown();
    Ok(())
}

/// A download found on disk at start: its torrent, and how many parts the resume state claims.
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
pub fn saved_downloads(engine: &Engine) -> Vec<SavedDownload> {
    let mut by_key = std::collections::HashMap::new();
    if let Ok(dir) = std::fs::read_dir(&engine.home.torrents) {
        for e in dir.flatten() {
            if let Ok(m) = Metainfo::from_file(&e.path()) {
                by_key.insert(m.info_hash.hex(), m);
            }
        }
    }
    let mut found = Vec::new();
    if let Ok(dir) = std::fs::read_dir(engine.home.state.join("resume")) {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(meta) = name.strip_suffix(".json").and_then(|k| by_key.remove(k)) else {
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

/// `search WORDS`: a table, or the tracker's JSON.
pub fn search(opts: &Options, words: &[String], json: bool) -> Result<(), PeerError> {
    let query = words.join(" ");
    let reply = opts.tracker.search(&query)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&reply).expect("json"));
        return Ok(());
    }
    if reply.results.is_empty() {
        return Err(PeerError::NoMatch(query));
    }
    print_matches(&reply.results);
    Ok(())
}

pub fn print_matches(results: &[SearchMatch]) {
    println!(
        "{:<3} {:<24} {:<6} {:<28} {:>14} {:>6}  {:<40}  PEERS",
        "#", "NAME", "TYPE", "TORRENT", "SIZE", "PARTS", "KEY"
    );
    for (i, m) in results.iter().enumerate() {
        println!(
            "{:<3} {:<24} {:<6} {:<28} {:>14} {:>6}  {:<40}  {}",
            i + 1,
            m.name,
            m.kind,
            m.torrent,
            group_thousands(m.size),
            m.n_parts,
            m.key,
            if m.peers.is_empty() {
                "-".to_string()
            } else {
                m.peers.join(" ")
            }
        );
    }
}

/// Finds the one torrent a name or key means, and fetches it from the tracker.
pub fn resolve(tracker: &IndexClient, target: &str) -> Result<(Metainfo, Vec<u8>), PeerError> {
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
                    print_matches(&reply.results);
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
    Ok((meta, bytes))
}

fn full_name(m: &SearchMatch) -> String {
    if m.kind.is_empty() {
        m.name.clone()
    } else {
        format!("{}.{}", m.name, m.kind)
    }
}

#[derive(Serialize)]
struct SourceSummary {
    addr: String,
    peer_id: String,
    bytes: u64,
    first_piece_unix_ms: u64,
}

#[derive(Serialize)]
struct DownloadSummary {
    name: String,
    key: String,
    size: u64,
    pieces: usize,
    resumed_pieces: usize,
    fetched_pieces: usize,
    seconds: f64,
    /// When the first piece was verified (Unix milliseconds), to compare peers started together.
    first_piece_unix_ms: Option<u64>,
    path: String,
    sources: Vec<SourceSummary>,
}

pub struct DownloadArgs {
    pub target: Option<String>,
    pub torrent: Option<PathBuf>,
    pub seed: bool,
    pub json: bool,
}

/// `download NAME_OR_KEY`: fetch in verified pieces, resuming whatever is on disk.
pub fn download(opts: &Options, args: &DownloadArgs) -> Result<(), PeerError> {
    let sig = signals();
    let (meta, bytes) = match (&args.torrent, &args.target) {
        (Some(path), _) => {
            let meta = Metainfo::from_file(path).map_err(|source| PeerError::Torrent {
                path: path.clone(),
                source,
            })?;
            let bytes = std::fs::read(path)
                .map_err(PeerError::io(format!("cannot read {}", path.display())))?;
            (meta, bytes)
        }
        (None, Some(target)) => resolve(&opts.tracker, target)?,
        (None, None) => return Err(PeerError::NoMatch(String::new())),
    };
    let engine = start_engine(opts, args.json)?;
    save_torrent(&engine.home.torrents, &meta, &bytes)?;
    if args.seed {
        let mut sharer = Sharer::new(engine.clone());
        sharer.republish_all();
        sharer.spawn();
    }
    let torrent = engine.add_download(meta)?;
    let (resumed, n) = (torrent.lock().resumed_pieces, torrent.meta.num_pieces());
    let say = |s: String| {
        if args.json {
            eprintln!("{s}")
        } else {
            println!("{s}")
        }
    };
    say(format!(
        "downloading {} ({} bytes, {} parts, key {}) into {}",
        torrent.meta.name,
        group_thousands(torrent.meta.total_length),
        n,
        torrent.meta.info_hash,
        torrent.storage.location.display()
    ));
    if resumed > 0 {
        say(format!(
            "resuming: {resumed} of {n} parts already verified on disk"
        ));
    }
    let started = Instant::now();
    let mut progress = Progress::new();
    loop {
        progress.show(&torrent);
        select! {
            recv(torrent.done_rx) -> _ => break,
            recv(sig) -> _ => {
                progress.finish();
                engine.shutdown();
                let kept = torrent.lock().picker.have().count();
                eprintln!("peer: interrupted; {kept} of {n} parts are kept, run the same command to resume");
                return Err(PeerError::Interrupted);
            }
            default(Duration::from_millis(250)) => {}
        }
        let refused = torrent.lock().pause_reason.clone();
        if let Some(reason) = refused {
            progress.finish();
            engine.shutdown();
            let kept = torrent.lock().picker.have().count();
            return Err(PeerError::DiskRefused {
                reason,
                kept,
                pieces: n,
            });
        }
    }
    progress.show(&torrent);
    progress.finish();
    let seconds = started.elapsed().as_secs_f64();
    if let Err(e) = engine.announcer.announce_completed(&torrent) {
        log::warn!("could not tell the tracker about the completion: {e}");
    }
    torrent.save_resume(true);
    let summary = summarize(&torrent, seconds);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary).expect("json"));
    } else {
        println!(
            "done: {} in {:.1} s ({} parts fetched, {} resumed) from {} peers -> {}",
            summary.name,
            seconds,
            summary.fetched_pieces,
            summary.resumed_pieces,
            summary.sources.len(),
            summary.path
        );
        for s in &summary.sources {
            println!("  {:<22} {:>14} bytes", s.addr, group_thousands(s.bytes));
        }
    }
    if args.seed {
        println!("seeding until interrupted (Ctrl-C)");
        let _ = sig.recv();
    }
    engine.shutdown();
    Ok(())
}

fn summarize(t: &Torrent, seconds: f64) -> DownloadSummary {
    let st = t.lock();
    DownloadSummary {
        name: t.meta.name.clone(),
        key: t.meta.info_hash.hex(),
        size: t.meta.total_length,
        pieces: t.meta.num_pieces(),
        resumed_pieces: st.resumed_pieces,
        fetched_pieces: st.fetched_pieces,
        seconds: (seconds * 1000.0).round() / 1000.0,
        first_piece_unix_ms: st.first_piece_unix_ms,
        path: t.storage.location.display().to_string(),
        sources: st
            .sources
            .iter()
            .map(|(addr, s)| SourceSummary {
                addr: addr.clone(),
                peer_id: s.peer_id.clone(),
                bytes: s.bytes,
                first_piece_unix_ms: s.first_piece_unix_ms,
            })
            .collect(),
    }
}

/// Progress on stderr: at most one plain line a second, so logs stay readable.
struct Progress {
    last: Option<Instant>,
    last_bytes: u64,
    rate: f64,
    tty: bool,
}

impl Progress {
    fn new() -> Self {
        Progress {
            last: None,
            last_bytes: 0,
            rate: 0.0,
            tty: std::io::stderr().is_terminal(),
        }
    }

    fn show(&mut self, t: &Torrent) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|l| now.duration_since(l) < Duration::from_secs(1))
        {
            return;
        }
        let elapsed = self
            .last
            .map_or(1.0, |l| now.duration_since(l).as_secs_f64());
        let (have, n, peers, map) = {
            let st = t.lock();
            let h = st.picker.have();
            let map = h.map(status::MAP_WIDTH, &|i| st.picker.is_in_flight(i));
            (h.count(), h.len(), st.peers.len(), map)
        };
        // Verified bytes, not bytes on the wire: what the user will actually keep.
        let total = t.meta.total_length;
        let bytes = (have as u64 * t.meta.piece_length).min(total);
        let now_rate = bytes.saturating_sub(self.last_bytes) as f64 / elapsed;
        self.rate = if self.last.is_none() {
            0.0
        } else {
            0.5 * self.rate + 0.5 * now_rate
        };
        self.last_bytes = bytes;
        self.last = Some(now);
        let pct = if n == 0 {
            100.0
        } else {
            have as f64 * 100.0 / n as f64
        };
        let eta = if self.rate >= 1.0 {
            let secs = (total - bytes) as f64 / self.rate;
            format!("{}:{:02}", (secs / 60.0) as u64, secs as u64 % 60)
        } else {
            "-:--".to_owned()
        };
        let line = format!(
            "{} [{map}] {have}/{n} parts {pct:5.1}% {}/{} {:>9}/s ETA {eta} {peers} peers",
            t.meta.name,
            human(bytes),
            human(total),
            human(self.rate as u64)
        );
        if self.tty {
            eprint!("\r{line}\x1b[K");
        } else {
            eprintln!("progress: {line}");
        }
    }

    fn finish(&self) {
        if self.tty {
            eprintln!();
        }
    }
}

pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{bytes} B")
    }
}

/// `share --folder PATH`: the folder becomes one torrent, published now and seeded by `serve`.
pub fn share(opts: &Options, folder: &Path) -> Result<(), PeerError> {
    let done = super::share::share_folder(&opts.home, &opts.tracker, folder)?;
    for line in done.lines {
        println!("{line}");
    }
    Ok(())
}

/// `show FILE.torrent`: the assignment's form.
pub fn show(path: &Path) -> Result<(), PeerError> {
    let meta = Metainfo::from_file(path).map_err(|source| PeerError::Torrent {
        path: path.to_owned(),
        source,
    })?;
    print!("{}", meta.assignment_form());
    Ok(())
}

/// `peers`: the ledger, most preferred first. Reads the file, so it works beside a running peer.
pub fn peers(home: &Path, json: bool) -> Result<(), PeerError> {
    let ledger = Ledger::load(&home.join(super::home::STATE_DIR).join("ledger.json"));
    print_ledger(&ledger.by_preference(), json);
    Ok(())
}

pub fn print_ledger(rows: &[(String, super::ledger::LedgerEntry)], json: bool) {
    if json {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|(id, e)| serde_json::json!({"peer_id": id, "downloaded": e.downloaded, "uploaded": e.uploaded, "last_addr": e.last_addr, "last_seen": e.last_seen}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&v).expect("json"));
        return;
    }
    if rows.is_empty() {
        println!("no peers yet: the ledger fills as this peer downloads and uploads");
        return;
    }
    println!(
        "{:<4} {:<40} {:<22} {:>14} {:>14}",
        "RANK", "PEER ID", "LAST ADDRESS", "DOWNLOADED", "UPLOADED"
    );
    for (i, (id, e)) in rows.iter().enumerate() {
        println!(
            "{:<4} {:<40} {:<22} {:>14} {:>14}",
            i + 1,
            id,
            e.last_addr,
            group_thousands(e.downloaded),
            group_thousands(e.uploaded)
        );
    }
}
