//! The interactive interface: `peer IP PORT` with no command. The server half
//! stays online; downloads run in the background. `run` chooses how it is
//! shown; the line prompt here reads commands through `line_input` (line
//! editing, history and Tab on a terminal, line by line from a pipe, so it can
//! be scripted) and prints what background work says above the prompt.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use super::engine::Engine;
use super::error::PeerError;
use super::format;
use super::home::Layout;
use super::line_input::{Event, LineInput, Names, Printer};
use super::logging;
use super::startup::{
    Listening, Options, Plan, Reopen, RunningPeer, Sharing, Source, Wanted, fetch_magnet,
};
use super::status;
use super::torrent::Torrent;
use crate::common::magnet::Magnet;
use crate::common::metainfo::InfoHash;
use crate::common::tracker_proto::SearchMatch;
use crate::sys::terminal;

const HELP: &str = "\
commands:
  search WORDS          find files on the tracker (numbered results)
  download N|NAME|KEY   download in the background (N from the last search)
  status [--watch]      every torrent: state, progress, rates, peers, piece map
                        (--watch redraws each second until Enter or Ctrl-C)
  pause N|NAME|KEY      stop fetching a download (it keeps sharing what it has)
  resume N|NAME|KEY     go on with a paused download
  peers                 the ledger: peers we exchanged with, most preferred first
  share PATH            copy a file into upload/ and share it
  show NAME|FILE        a torrent in the assignment's form
  help                  this text
  quit                  leave the network (the tracker is told) and exit
Tab completes commands and names; the log is in HOME/.swarmshare/peer.log.";

/// Opens the interactive interface in the mode the terminal allows.
pub fn run(opts: &Options, resume_all: bool) -> Result<(), PeerError> {
    line_prompt(opts, resume_all)
}

/// The line prompt: for pipes, scripts and plain terminals.
pub fn line_prompt(opts: &Options, resume_all: bool) -> Result<(), PeerError> {
    let layout = Layout::new(&opts.home);
    let engine_cell: Arc<OnceLock<Arc<Engine>>> = Arc::default();
    let result_names: Arc<Mutex<Vec<String>>> = Arc::default();
    let names: Names = {
        let (engine, results) = (engine_cell.clone(), result_names.clone());
        Arc::new(move || {
            let mut v: Vec<String> = engine
                .get()
                .map(|e| e.torrents().iter().map(|t| t.meta.name.clone()).collect())
                .unwrap_or_default();
            v.extend(results.lock().expect("result names").iter().cloned());
            v
        })
    };
    let (interrupt_tx, interrupts) = crossbeam_channel::unbounded();
    let mut input = LineInput::open(layout.history_path(), names, interrupts);
    let tty = input.is_tty();
    let mut ask = || {
        resume_all
            || (tty
                && matches!(input.ask("resume them now? [Y/n] "),
                    Event::Line(a) if !a.trim().to_lowercase().starts_with('n')))
    };
    let RunningPeer {
        engine,
        signals: sig,
        ..
    } = RunningPeer::start(
        opts,
        Plan {
            listening: Listening::AfterReopen,
            sharing: Sharing::Background,
            reopen: Reopen::Ask(&mut ask),
            download: None,
        },
    )?;
    let _ = engine_cell.set(engine.clone());
    {
        // SIGTERM leaves as gracefully as `quit`; SIGINT is the prompt's to judge.
        let engine = engine.clone();
        let mode = terminal::SavedMode::save();
        std::thread::spawn(move || {
            for s in sig.iter() {
                if s == libc::SIGTERM {
                    // The editor may hold the terminal raw, and exit skips its restore.
                    if let Some(m) = &mode {
                        m.restore();
                    }
                    engine.shutdown();
                    std::process::exit(0);
                }
                let _ = interrupt_tx.send(());
            }
        });
    }
    let printer = input.printer();
    if tty {
        // Warnings too go above the prompt; from a pipe they stay on stderr.
        let p = printer.clone();
        logging::set_screen_sink(Some(Box::new(move |line| p.say(line))));
    }
    crate::say!("type `help` for commands");
    let mut ui = Ui {
        engine: engine.clone(),
        last_results: Vec::new(),
        result_names,
        checking: Arc::default(),
        watched: Arc::default(),
        printer,
    };
    // Downloads resumed (or left paused) at start say when they finish, like any other.
    for t in engine.torrents().into_iter().filter(|t| !t.is_complete()) {
        ui.watch_completion(t);
    }
    loop {
        let leave = match input.next("swarmshare> ") {
            Event::Line(line) => match ui.exec(line.trim(), &mut input) {
                Ok(Step::Quit) => ui.may_leave(&mut input, false),
                Ok(Step::Stay) => false,
                Err(e) => {
                    crate::say!("error: {e}");
                    false
                }
            },
            Event::Interrupt => ui.may_leave(&mut input, true),
            Event::End => ui.may_leave(&mut input, false),
        };
        let _ = std::io::stdout().flush();
        if leave {
            break;
        }
    }
    logging::set_screen_sink(None);
    crate::say!("leaving: telling the tracker");
    engine.shutdown();
    Ok(())
}

enum Step {
    Stay,
    Quit,
}

/// What a command's argument names.
enum Lookup {
    Torrent(Arc<Torrent>),
    /// A search result that is not here yet.
    Result(usize, SearchMatch),
    NoResult(usize),
    Several(Vec<String>),
    Nothing,
}

struct Ui {
    engine: Arc<Engine>,
    last_results: Vec<SearchMatch>,
    /// The last results' names, for Tab.
    result_names: Arc<Mutex<Vec<String>>>,
    /// Downloads still being checked against what is on disk.
    checking: Arc<Mutex<BTreeSet<String>>>,
    /// Downloads whose completion is awaited, so it is said once.
    watched: Arc<Mutex<BTreeSet<InfoHash>>>,
    printer: Printer,
}

impl Ui {
    /// Runs one command.
    fn exec(&mut self, line: &str, input: &mut LineInput) -> Result<Step, PeerError> {
        let (cmd, rest) = line
            .split_once(char::is_whitespace)
            .map_or((line, ""), |(c, r)| (c, r.trim()));
        match cmd {
            "" => {}
            "help" | "?" => crate::say!("{HELP}"),
            "quit" | "exit" | "q" => return Ok(Step::Quit),
            "search" if !rest.is_empty() => self.search(rest)?,
            "download" | "get" if !rest.is_empty() => self.download(rest)?,
            "status" if rest == "--watch" || rest == "-w" => self.watch(input),
            "status" => crate::say_raw!("{}", self.status_text()),
            "peers" => crate::say_raw!(
                "{}",
                format::ledger_table(&self.engine.ledger_rows(), terminal::width())
            ),
            "share" if !rest.is_empty() => self.share(rest)?,
            "pause" | "resume" if !rest.is_empty() => self.pause(rest, cmd == "pause"),
            "show" if !rest.is_empty() => self.show(rest)?,
            _ => crate::say!("unknown or incomplete command {line:?}; type `help`"),
        }
        Ok(Step::Stay)
    }

    /// Downloads that would stop if the peer left now.
    fn running(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .checking
            .lock()
            .expect("checking")
            .iter()
            .cloned()
            .collect();
        names.extend(
            self.engine
                .torrents()
                .iter()
                .filter(|t| !t.is_complete() && !t.lock().paused)
                .map(|t| t.meta.name.clone()),
        );
        names
    }

    /// Whether to leave: at once when nothing is downloading; otherwise a
    /// question on a terminal or after Ctrl-C, and a warning from a script's `quit`.
    fn may_leave(&self, input: &mut LineInput, interrupted: bool) -> bool {
        let running = self.running();
        if running.is_empty() {
            return true;
        }
        if !interrupted && !input.is_tty() {
            crate::say!("{}", format::leaving_unfinished(&running));
            return true;
        }
        match input.ask(&format::quit_question(&running)) {
            Event::Line(a) if a.trim().to_lowercase().starts_with('y') => true,
            Event::Line(_) => {
                crate::say!("staying; `pause NAME` stops one download, `quit` leaves");
                false
            }
            // A second Ctrl-C, or no one left to answer.
            Event::Interrupt | Event::End => true,
        }
    }

    fn status_text(&self) -> String {
        status::render(
            &self.engine,
            &self.checking.lock().expect("checking"),
            terminal::width(),
        )
    }

    /// Redraws `status` each second until Enter, Ctrl-C or the end of input.
    fn watch(&self, input: &mut LineInput) {
        input.drain_interrupts();
        let tty = std::io::stdout().is_terminal();
        loop {
            let view = self.status_text();
            if tty {
                crate::say_raw!("\x1b[H\x1b[2J{view}(Enter or Ctrl-C stops watching)");
            } else {
                crate::say!("{view}");
            }
            let _ = std::io::stdout().flush();
            if input.wait_stop(Duration::from_secs(1)) {
                break;
            }
        }
        // Ctrl-C's `^C` is left where the cursor was; the prompt starts a line of its own.
        // A script gets a line to wait on, so what it sends next is not taken
        // for the Enter that stops the watch.
        if tty {
            crate::say!();
        } else {
            crate::say!("stopped watching");
        }
    }

    fn search(&mut self, words: &str) -> Result<(), PeerError> {
        let reply = self.engine.tracker.search(words)?;
        if reply.results.is_empty() {
            crate::say!("no match for {words:?}");
        } else {
            crate::say_raw!(
                "{}",
                format::search_results(&reply.results, terminal::width())
            );
            crate::say!("`download N` fetches result N");
        }
        *self.result_names.lock().expect("result names") =
            reply.results.iter().map(full_name).collect();
        self.last_results = reply.results;
        Ok(())
    }

    /// A search number (from the last search), a key, or a name or part of one.
    fn lookup(&self, target: &str) -> Lookup {
        if let Ok(n) = target.parse::<usize>()
            && target.len() < 40
        {
            let Some(m) = n.checked_sub(1).and_then(|i| self.last_results.get(i)) else {
                return Lookup::NoResult(n);
            };
            return match InfoHash::from_hex(&m.key.to_lowercase())
                .and_then(|k| self.engine.torrent(&k))
            {
                Some(t) => Lookup::Torrent(t),
                None => Lookup::Result(n, m.clone()),
            };
        }
        if let Some(t) =
            InfoHash::from_hex(&target.to_lowercase()).and_then(|k| self.engine.torrent(&k))
        {
            return Lookup::Torrent(t);
        }
        let all = self.engine.torrents();
        if let Some(t) = all
            .iter()
            .find(|t| t.meta.name.eq_ignore_ascii_case(target))
        {
            return Lookup::Torrent(t.clone());
        }
        let lower = target.to_lowercase();
        let mut matches: Vec<&Arc<Torrent>> = all
            .iter()
            .filter(|t| t.meta.name.to_lowercase().contains(&lower))
            .collect();
        match matches.len() {
            0 => Lookup::Nothing,
            1 => Lookup::Torrent(matches.remove(0).clone()),
            _ => Lookup::Several(matches.iter().map(|t| t.meta.name.clone()).collect()),
        }
    }

    fn download(&mut self, target: &str) -> Result<(), PeerError> {
        let target = match self.lookup(target) {
            Lookup::Torrent(t) => {
                if !t.is_complete() && t.lock().paused {
                    self.set_paused(&t, false);
                } else {
                    crate::say!("{} is already here; `status` shows it", t.meta.name);
                }
                return Ok(());
            }
            Lookup::Result(_, m) => m.key,
            Lookup::NoResult(n) => {
                crate::say!("no result {n}: `search` first, then `download N`");
                return Ok(());
            }
            // Not here yet: the tracker knows what the name means.
            Lookup::Several(_) | Lookup::Nothing => target.to_owned(),
        };
        let source = if target
            .get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("magnet:"))
        {
            match Magnet::parse(&target) {
                Ok(m) => Source::Magnet(m),
                Err(e) => {
                    crate::say!("error: invalid magnet link: {e}");
                    return Ok(());
                }
            }
        } else {
            Source::Tracker(target)
        };
        let background = Background {
            engine: self.engine.clone(),
            checking: self.checking.clone(),
            watched: self.watched.clone(),
            printer: self.printer.clone(),
        };
        match source.fetch(&self.engine.tracker, self.engine.home.layout())? {
            Some(wanted) => background.open(wanted),
            None => {
                let Source::Magnet(m) = source else {
                    unreachable!("only a magnet link waits for the engine")
                };
                crate::say!(
                    "fetching the metadata of {} from peers in the background",
                    m.display_name()
                );
                std::thread::spawn(move || {
                    // Nothing stops the fetch but the peer's exit.
                    let (_keep, never) = crossbeam_channel::bounded::<i32>(0);
                    match fetch_magnet(&background.engine, &m, &never) {
                        Ok(wanted) => background.open(wanted),
                        Err(e) => background
                            .printer
                            .say(&format!("error: {}: {e}", m.display_name())),
                    }
                });
            }
        }
        Ok(())
    }

    fn watch_completion(&self, t: Arc<Torrent>) {
        watch_completion(&self.watched, &self.printer, t);
    }

    fn set_paused(&self, t: &Arc<Torrent>, paused: bool) {
        // Either way a person decides now: a disk error's reason is history.
        t.lock().pause_reason = None;
        self.engine.set_paused(&t.meta.info_hash, paused);
        crate::say!(
            "{} {}",
            if paused { "paused" } else { "resumed" },
            t.meta.name
        );
        if !paused && !t.is_complete() {
            self.watch_completion(t.clone());
        }
    }

    fn pause(&self, target: &str, paused: bool) {
        match self.lookup(target) {
            Lookup::Torrent(t) => self.set_paused(&t, paused),
            Lookup::Result(n, m) => crate::say!(
                "result {n} ({}) is not downloading; `download {n}` starts it",
                full_name(&m)
            ),
            Lookup::NoResult(n) => crate::say!("no result {n}: `search` first, or give a name"),
            Lookup::Several(names) => crate::say!(
                "{} torrents match {target:?} ({}); give more of the name, or the key",
                names.len(),
                names.join(", ")
            ),
            Lookup::Nothing => crate::say!("no torrent matches {target:?}; `status` lists them"),
        }
    }

    fn share(&self, path: &str) -> Result<(), PeerError> {
        let src = std::path::Path::new(path);
        let meta = std::fs::metadata(src).map_err(PeerError::io(format!("cannot share {path}")))?;
        if !meta.is_file() {
            crate::say!("{path} is not a file");
            return Ok(());
        }
        let name = src.file_name().ok_or_else(|| {
            PeerError::io(format!("cannot share {path}"))(std::io::Error::other("no file name"))
        })?;
        let dest = self.engine.home.upload_file(name);
        if dest.exists() {
            crate::say!(
                "upload/{} exists already; it is shared",
                name.to_string_lossy()
            );
            return Ok(());
        }
        std::fs::copy(src, &dest)
            .map_err(PeerError::io(format!("cannot copy {path} into upload/")))?;
        crate::say!(
            "copied to {}; it is shared within a few seconds",
            dest.display()
        );
        Ok(())
    }

    fn show(&self, what: &str) -> Result<(), PeerError> {
        if let Lookup::Torrent(t) = self.lookup(what) {
            crate::say_raw!("{}", t.meta.assignment_form());
            return Ok(());
        }
        let meta = super::startup::open_torrent_file(std::path::Path::new(what))?;
        crate::say_raw!("{}", meta.assignment_form());
        Ok(())
    }
}

/// Says `download complete` when `t` finishes (at once if it has), once however
/// often it is asked.
/// What a download started from the prompt needs once its torrent is in hand.
struct Background {
    engine: Arc<Engine>,
    checking: Arc<Mutex<BTreeSet<String>>>,
    watched: Arc<Mutex<BTreeSet<InfoHash>>>,
    printer: Printer,
}

impl Background {
    /// Saves the torrent and opens it on a thread of its own: checking the
    /// pieces already on disk can take a while.
    fn open(self, wanted: Wanted) {
        let say = |line: &str| self.printer.say(line);
        if let Some(t) = self.engine.torrent(wanted.key()) {
            say(&format!(
                "{} is already here; `status` shows it",
                t.meta.name
            ));
            return;
        }
        if let Err(e) = wanted.save(self.engine.home.layout()) {
            say(&format!("error: {e}"));
            return;
        }
        let name = wanted.name().to_owned();
        self.checking.lock().expect("checking").insert(name.clone());
        say(&format::background_download_started(
            &name,
            wanted.meta.total_length,
            wanted.meta.num_pieces(),
        ));
        std::thread::spawn(move || {
            let result = wanted.open(&self.engine);
            self.checking.lock().expect("checking").remove(&name);
            match result {
                Ok(t) => {
                    let resumed = t.lock().resumed_pieces;
                    if resumed > 0 {
                        self.printer
                            .say(&format::background_download_resuming(&name, resumed));
                    }
                    watch_completion(&self.watched, &self.printer, t);
                }
                Err(e) => self.printer.say(&format!("error: {name}: {e}")),
            }
        });
    }
}

fn watch_completion(watched: &Mutex<BTreeSet<InfoHash>>, printer: &Printer, t: Arc<Torrent>) {
    if !watched.lock().expect("watched").insert(t.meta.info_hash) {
        return;
    }
    let printer = printer.clone();
    std::thread::spawn(move || {
        if t.done_rx.recv().is_ok() {
            let secs = t.started.elapsed().as_secs_f64();
            let got: u64 = t.lock().sources.values().map(|s| s.bytes).sum();
            let done =
                format::background_download_done(&t.meta.name, secs, got, &t.storage.location);
            // The printer starts its own line; the blank line was for a bare prompt.
            printer.say(done.trim_start());
        }
    });
}

fn full_name(m: &SearchMatch) -> String {
    if m.kind.is_empty() {
        m.name.clone()
    } else {
        format!("{}.{}", m.name, m.kind)
    }
}
