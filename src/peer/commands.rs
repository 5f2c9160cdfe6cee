//! What each `peer` command does, given parsed options. The binary only parses
//! arguments; everything a user can ask for lives here.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossbeam_channel::select;

use super::error::PeerError;
use super::format::{self, DownloadSummary, Progress, ProgressSnapshot, SourceSummary};
use super::home::Layout;
use super::ledger::Ledger;
use super::startup::{Listening, Options, Plan, Reopen, RunningPeer, Sharing, Source};
use super::torrent::Torrent;
use crate::common::magnet::Magnet;

/// `serve`: share `upload/` and finished downloads until SIGINT/SIGTERM.
pub fn serve(opts: &Options) -> Result<(), PeerError> {
    let running = RunningPeer::start(
        opts,
        Plan {
            listening: Listening::Stdout,
            sharing: Sharing::ScanFirst,
            reopen: Reopen::All,
            download: None,
        },
    )?;
    let _ = running.signals.recv();
    crate::say!("leaving: telling the tracker");
    running.engine.shutdown();
    Ok(())
}

/// `search WORDS`: a table, or the tracker's JSON.
pub fn search(opts: &Options, words: &[String], json: bool) -> Result<(), PeerError> {
    let query = words.join(" ");
    let reply = opts.tracker.search(&query)?;
    if json {
        crate::say!("{}", format::pretty_json(&reply));
        return Ok(());
    }
    if reply.results.is_empty() {
        return Err(PeerError::NoMatch(query));
    }
    crate::say_raw!("{}", format::matches_table(&reply.results));
    Ok(())
}

pub struct DownloadArgs {
    pub target: Option<String>,
    /// `target` as a magnet link, when it is one.
    pub magnet: Option<Magnet>,
    pub torrent: Option<PathBuf>,
    pub seed: bool,
    pub json: bool,
}

/// `download NAME_OR_KEY`: fetch in verified pieces, resuming whatever is on disk.
pub fn download(opts: &Options, args: &DownloadArgs) -> Result<(), PeerError> {
    let source = match (&args.torrent, &args.target) {
        (Some(path), _) => Source::File(path.clone()),
        (None, Some(_)) if args.magnet.is_some() => {
            Source::Magnet(args.magnet.clone().expect("a magnet"))
        }
        (None, Some(target)) => Source::Tracker(target.clone()),
        (None, None) => return Err(PeerError::NoMatch(String::new())),
    };
    let running = RunningPeer::start(
        opts,
        Plan {
            listening: if args.json {
                Listening::Stderr
            } else {
                Listening::Stdout
            },
            sharing: if args.seed {
                Sharing::Background
            } else {
                Sharing::Off
            },
            reopen: Reopen::Nothing,
            download: Some(source),
        },
    )?;
    let RunningPeer {
        engine,
        signals: sig,
        download,
    } = running;
    let torrent = download.expect("the plan has a download");
    let (resumed, n) = (torrent.lock().resumed_pieces, torrent.meta.num_pieces());
    let say = |s: String| {
        if args.json {
            eprintln!("{s}")
        } else {
            crate::say!("{s}")
        }
    };
    say(format::download_started(
        &torrent.meta.name,
        torrent.meta.size(),
        n,
        &torrent.meta.key(),
        &torrent.storage.location,
    ));
    if resumed > 0 {
        say(format::download_resuming(resumed, n));
    }
    let started = Instant::now();
    let mut progress = ProgressOnStderr::new();
    let mut alone_since = Some(started);
    loop {
        progress.show(&torrent);
        // Waiting with no peer at all says why, once, after a while.
        if torrent.lock().peers.is_empty() {
            if let Some(since) = alone_since
                && since.elapsed() >= NO_PEERS_HINT_AFTER
            {
                progress.finish();
                eprintln!(
                    "{}",
                    format::no_peers_hint(&torrent.meta.name, since.elapsed().as_secs())
                );
                alone_since = None;
            }
        } else if alone_since.is_some() {
            alone_since = Some(Instant::now());
        }
        select! {
            recv(torrent.done_rx) -> _ => break,
            recv(sig) -> _ => {
                progress.finish();
                engine.shutdown();
                let kept = torrent.lock().picker.have().count();
                eprintln!("{}", format::download_interrupted(kept, n));
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
    progress.show_final(&torrent);
    progress.finish();
    let seconds = started.elapsed().as_secs_f64();
    if let Err(e) = engine.announcer.announce_completed(&torrent) {
        log::warn!("could not tell the tracker about the completion: {e}");
    }
    torrent.save_resume(true);
    let summary = summarize(&torrent, seconds);
    if args.json {
        crate::say!("{}", format::pretty_json(&summary));
    } else {
        crate::say_raw!("{}", format::download_done(&summary, seconds));
    }
    if args.seed {
        crate::say!("seeding until interrupted (Ctrl-C)");
        let _ = sig.recv();
    }
    engine.shutdown();
    Ok(())
}

fn summarize(t: &Torrent, seconds: f64) -> DownloadSummary {
    let st = t.lock();
    DownloadSummary {
        name: t.meta.name.clone(),
        key: t.meta.key(),
        size: t.meta.size(),
        pieces: t.meta.num_pieces(),
        resumed_pieces: st.resumed_pieces,
        fetched_pieces: st.fetched_pieces,
        seconds: DownloadSummary::round_seconds(seconds),
        first_piece_unix_ms: st.first_piece_unix_ms,
        path: t.storage.location.display().to_string(),
        sources: st
            .sources
            .iter()
            .map(|(addr, s)| SourceSummary {
                addr: addr.clone(),
                peer_id: s.peer_id.clone(),
                origin: s.origin.as_str().to_string(),
                bytes: s.bytes,
                first_piece_unix_ms: s.first_piece_unix_ms,
            })
            .collect(),
    }
}

/// How long a download waits with no peer before saying why.
const NO_PEERS_HINT_AFTER: Duration = Duration::from_secs(20);

/// The progress line on stderr, drawn in place on a terminal.
struct ProgressOnStderr {
    progress: Progress,
    clock: Instant,
    tty: bool,
}

impl ProgressOnStderr {
    fn new() -> Self {
        ProgressOnStderr {
            progress: Progress::new(),
            clock: Instant::now(),
            tty: std::io::stderr().is_terminal(),
        }
    }

    fn show(&mut self, t: &Torrent) {
        let line = self
            .progress
            .line(self.clock.elapsed(), || Self::snapshot(t));
        if let Some(line) = line {
            self.print(line);
        }
    }

    /// Draws a line; on a terminal it is cut to the width, since a line wider
    /// than the terminal wraps and each redraw would add a row.
    fn print(&self, mut line: String) {
        if self.tty {
            line = format::truncate(&line, crate::sys::terminal::stderr_width() - 1);
        }
        eprint!("{}", format::progress_output(&line, self.tty));
    }

    /// The line at 100%, however soon after the last one.
    fn show_final(&mut self, t: &Torrent) {
        let line = self
            .progress
            .final_line(self.clock.elapsed(), || Self::snapshot(t));
        self.print(line);
    }

    fn snapshot(t: &Torrent) -> ProgressSnapshot<'_> {
        let st = t.lock();
        let h = st.picker.have();
        ProgressSnapshot {
            name: &t.meta.name,
            have: h.count(),
            pieces: h.len(),
            peers: st.peers.len(),
            map: h.map(format::MAP_WIDTH, &|i| st.picker.is_in_flight(i)),
            total_length: t.meta.total_length,
            piece_length: t.meta.piece_length,
        }
    }

    fn finish(&self) {
        if self.tty {
            eprintln!();
        }
    }
}

/// `share --folder PATH`: the folder becomes one torrent, published now and seeded by `serve`.
pub fn share(opts: &Options, folder: &Path) -> Result<(), PeerError> {
    let done = super::share::share_folder(
        &Layout::new(&opts.home),
        &opts.tracker,
        folder,
        opts.torrent_format,
    )?;
    for line in done.lines {
        crate::say!("{line}");
    }
    Ok(())
}

/// `show FILE.torrent`: the assignment's form.
pub fn show(path: &Path) -> Result<(), PeerError> {
    let meta = super::startup::open_torrent_file(path)?;
    crate::say_raw!(
        "{}magnet : {}\n",
        meta.assignment_form(),
        Magnet::of(&meta).to_uri()
    );
    Ok(())
}

/// `peers`: the ledger, most preferred first. Reads the file, so it works beside a running peer.
pub fn peers(home: &Path, json: bool) -> Result<(), PeerError> {
    let ledger = Ledger::load(&Layout::new(home).ledger_path());
    crate::say_raw!("{}", format::ledger(&ledger.by_preference(), json));
    Ok(())
}
