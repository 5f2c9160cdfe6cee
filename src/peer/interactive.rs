//! The interactive interface: `peer IP PORT` with no command. The server half
//! stays online behind a prompt; downloads run in the background. Commands are
//! read with line editing and history on a terminal, and line by line from a
//! pipe, so the interface can be scripted.

use std::collections::BTreeSet;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::engine::Engine;
use super::error::PeerError;
use super::format;
use super::startup::{Listening, Options, Plan, Reopen, RunningPeer, Sharing, Source};
use super::status;
use crate::common::tracker_proto::SearchMatch;

const HELP: &str = "\
commands:
  search WORDS          find files on the tracker (numbered results)
  download N|NAME|KEY   download in the background (N from the last search)
  status [--watch]      every torrent: state, progress, rates, peers, piece map
  peers                 the ledger: peers we exchanged with, most preferred first
  share PATH            copy a file into upload/ and share it
  pause NAME | resume NAME
  show NAME|FILE        a torrent in the assignment's form
  help                  this text
  quit                  leave the network (the tracker is told) and exit";

enum Input {
    Tty(Box<rustyline::DefaultEditor>),
    Pipe(std::io::Lines<std::io::StdinLock<'static>>),
}

impl Input {
    fn open() -> Input {
        if std::io::stdin().is_terminal()
            && let Ok(ed) = rustyline::DefaultEditor::new()
        {
            return Input::Tty(Box::new(ed));
        }
        Input::Pipe(std::io::stdin().lock().lines())
    }

    /// The next line; None at end of input or Ctrl-D / Ctrl-C.
    fn line(&mut self, prompt: &str) -> Option<String> {
        match self {
            Input::Tty(ed) => match ed.readline(prompt) {
                Ok(l) => {
                    let _ = ed.add_history_entry(l.as_str());
                    Some(l)
                }
                Err(_) => None,
            },
            Input::Pipe(lines) => lines.next().and_then(Result::ok),
        }
    }
}

struct Ui {
    engine: Arc<Engine>,
    last_results: Vec<SearchMatch>,
    /// Downloads still being checked against what is on disk.
    checking: Arc<Mutex<BTreeSet<String>>>,
}

pub fn run(opts: &Options, resume_all: bool) -> Result<(), PeerError> {
    let mut input = Input::open();
    let tty = matches!(input, Input::Tty(_));
    let mut ask = || {
        resume_all
            || (tty
                && input
                    .line("resume them now? [Y/n] ")
                    .is_some_and(|a| !a.trim().to_lowercase().starts_with('n')))
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
    {
        // SIGTERM (or SIGINT outside the prompt) leaves as gracefully as `quit`.
        let engine = engine.clone();
        std::thread::spawn(move || {
            if sig.recv().is_ok() {
                engine.shutdown();
                std::process::exit(0);
            }
        });
    }
    println!("type `help` for commands");
    let mut ui = Ui {
        engine: engine.clone(),
        last_results: Vec::new(),
        checking: Arc::default(),
    };
    while let Some(line) = input.line("swarmshare> ") {
        match ui.exec(line.trim()) {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => println!("error: {e}"),
        }
        let _ = std::io::stdout().flush();
    }
    println!("leaving: telling the tracker");
    engine.shutdown();
    Ok(())
}

impl Ui {
    /// Runs one command; true means quit.
    fn exec(&mut self, line: &str) -> Result<bool, PeerError> {
        let (cmd, rest) = line
            .split_once(char::is_whitespace)
            .map_or((line, ""), |(c, r)| (c, r.trim()));
        match cmd {
            "" => {}
            "help" | "?" => println!("{HELP}"),
            "quit" | "exit" | "q" => return Ok(true),
            "search" if !rest.is_empty() => self.search(rest)?,
            "download" | "get" if !rest.is_empty() => self.download(rest)?,
            "status" => self.status(rest == "--watch" || rest == "-w"),
            "peers" => print!("{}", format::ledger(&self.engine.ledger_rows(), false)),
            "share" if !rest.is_empty() => self.share(rest)?,
            "pause" | "resume" if !rest.is_empty() => self.pause(rest, cmd == "pause")?,
            "show" if !rest.is_empty() => self.show(rest)?,
            _ => println!("unknown or incomplete command {line:?}; type `help`"),
        }
        Ok(false)
    }

    fn search(&mut self, words: &str) -> Result<(), PeerError> {
        let reply = self.engine.tracker.search(words)?;
        if reply.results.is_empty() {
            println!("no match for {words:?}");
        } else {
            print!("{}", format::matches_table(&reply.results));
            println!("`download N` fetches result N");
        }
        self.last_results = reply.results;
        Ok(())
    }

    fn download(&mut self, target: &str) -> Result<(), PeerError> {
        let target = match target.parse::<usize>() {
            Ok(n) if n >= 1 && n <= self.last_results.len() => self.last_results[n - 1].key.clone(),
            Ok(n) if n < 1000 => {
                println!("no result {n}: `search` first, then `download N`");
                return Ok(());
            }
            _ => target.to_owned(),
        };
        let wanted = Source::Tracker(target).fetch(&self.engine.tracker)?;
        if self.engine.torrent(wanted.key()).is_some() {
            println!("{} is already here; `status` shows it", wanted.name());
            return Ok(());
        }
        wanted.save(self.engine.home.layout())?;
        let (engine, checking, name) = (
            self.engine.clone(),
            self.checking.clone(),
            wanted.name().to_owned(),
        );
        checking.lock().expect("checking").insert(name.clone());
        println!(
            "{}",
            format::background_download_started(
                &name,
                wanted.meta.total_length,
                wanted.meta.num_pieces()
            )
        );
        std::thread::spawn(move || {
            let result = wanted.open(&engine);
            checking.lock().expect("checking").remove(&name);
            match result {
                Ok(t) => {
                    let resumed = t.lock().resumed_pieces;
                    if resumed > 0 {
                        println!("{}", format::background_download_resuming(&name, resumed));
                    }
                    if t.done_rx.recv().is_ok() {
                        let secs = t.started.elapsed().as_secs_f64();
                        let got: u64 = t.lock().sources.values().map(|s| s.bytes).sum();
                        println!(
                            "{}",
                            format::background_download_done(&name, secs, got, &t.storage.location)
                        );
                    }
                }
                Err(e) => println!("\nerror: {name}: {e}"),
            }
        });
        Ok(())
    }

    fn status(&self, watch: bool) {
        if !watch {
            print!(
                "{}",
                status::render(&self.engine, &self.checking.lock().expect("checking"))
            );
            return;
        }
        // Redraw once a second until Enter (or end of input).
        let (tx, rx) = crossbeam_channel::bounded::<()>(1);
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::stdin().read_line(&mut s);
            let _ = tx.send(());
        });
        let tty = std::io::stdout().is_terminal();
        loop {
            let view = status::render(&self.engine, &self.checking.lock().expect("checking"));
            if tty {
                println!("\x1b[H\x1b[2J{view}(press Enter to stop watching)");
            } else {
                println!("{view}");
            }
            let _ = std::io::stdout().flush();
            if rx.recv_timeout(Duration::from_secs(1)).is_ok() {
                break;
            }
        }
    }

    fn share(&self, path: &str) -> Result<(), PeerError> {
        let src = std::path::Path::new(path);
        let meta = std::fs::metadata(src).map_err(PeerError::io(format!("cannot share {path}")))?;
        if !meta.is_file() {
            println!("{path} is not a file");
            return Ok(());
        }
        let name = src.file_name().ok_or_else(|| {
            PeerError::io(format!("cannot share {path}"))(std::io::Error::other("no file name"))
        })?;
        let dest = self.engine.home.upload_file(name);
        if dest.exists() {
            println!(
                "upload/{} exists already; it is shared",
                name.to_string_lossy()
            );
            return Ok(());
        }
        std::fs::copy(src, &dest)
            .map_err(PeerError::io(format!("cannot copy {path} into upload/")))?;
        println!(
            "copied to {}; it is shared within a few seconds",
            dest.display()
        );
        Ok(())
    }

    fn find(&self, name: &str) -> Option<Arc<super::torrent::Torrent>> {
        let all = self.engine.torrents();
        let lower = name.to_lowercase();
        let exact = all
            .iter()
            .find(|t| t.meta.name.eq_ignore_ascii_case(name) || t.meta.info_hash.hex() == lower)
            .cloned();
        exact.or_else(|| {
            let matches: Vec<_> = all
                .iter()
                .filter(|t| t.meta.name.to_lowercase().contains(&lower))
                .collect();
            (matches.len() == 1).then(|| matches[0].clone())
        })
    }

    fn pause(&self, name: &str, paused: bool) -> Result<(), PeerError> {
        match self.find(name) {
            Some(t) => {
                // Either way a person decides now: a disk error's reason is history.
                t.lock().pause_reason = None;
                self.engine.set_paused(&t.meta.info_hash, paused);
                println!(
                    "{} {}",
                    if paused { "paused" } else { "resumed" },
                    t.meta.name
                );
            }
            None => println!("no single torrent matches {name:?}; `status` lists them"),
        }
        Ok(())
    }

    fn show(&self, what: &str) -> Result<(), PeerError> {
        if let Some(t) = self.find(what) {
            print!("{}", t.meta.assignment_form());
            return Ok(());
        }
        let meta = super::startup::open_torrent_file(std::path::Path::new(what))?;
        print!("{}", meta.assignment_form());
        Ok(())
    }
}
