//! The thin shell around the full-screen view: it starts the peer, takes the
//! terminal (raw mode, alternate screen) and always gives it back, on quit,
//! on an error and after a panic; it polls keys with a timeout and redraws
//! about four times a second from a fresh snapshot of the engine; and it
//! carries out the view's effects (search, download, pause) on threads of
//! their own, so a slow tracker never freezes the screen.

use std::collections::BTreeMap;
use std::io::Stdout;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::crossterm::{cursor, execute};

use super::app::{App, Effect, Key};
use super::reader;
use super::render;
use crate::common::magnet::Magnet;
use crate::common::metainfo::{InfoHash, Metainfo};
use crate::common::tracker_proto::SearchMatch;
use crate::peer::engine::Engine;
use crate::peer::error::PeerError;
use crate::peer::logging;
use crate::peer::startup::{
    self, Listening, Options, Plan, Reopen, RunningPeer, Sharing, Source, fetch_magnet,
};

/// Time between redraws when nothing happens: about four a second.
const REDRAW: Duration = Duration::from_millis(250);

const SETUP: &str = "cannot set up the terminal";
const DRAW: &str = "cannot draw on the terminal";

/// What background work reports to the view.
enum Note {
    Message(String),
    SearchDone(String, Result<Vec<SearchMatch>, String>),
}

/// Downloads being opened (their pieces on disk checked), key to name.
type Checking = Arc<Mutex<BTreeMap<String, String>>>;

/// Runs the peer behind the full-screen view until the person quits or a
/// signal (SIGTERM, SIGINT from `kill`) arrives. Needs a terminal on stdin
/// and stdout.
pub fn run(opts: &Options, resume_all: bool) -> Result<(), PeerError> {
    let RunningPeer {
        engine, signals, ..
    } = RunningPeer::start(
        opts,
        Plan {
            listening: Listening::Stdout,
            sharing: Sharing::Background,
            reopen: Reopen::Nothing,
            download: None,
        },
    )?;
    let (notes_tx, notes_rx) = crossbeam_channel::unbounded();
    let checking: Checking = Arc::default();
    let mut app = App::new();
    let (finished, unfinished): (Vec<_>, Vec<_>) = startup::saved_downloads(engine.home.layout())
        .into_iter()
        .partition(|d| d.is_finished());
    open_in_background(
        &engine,
        finished.into_iter().map(|d| d.meta).collect(),
        false,
        &checking,
        &notes_tx,
    );
    let mut unfinished: Vec<Metainfo> = unfinished.into_iter().map(|d| d.meta).collect();
    if resume_all {
        open_in_background(
            &engine,
            std::mem::take(&mut unfinished),
            false,
            &checking,
            &notes_tx,
        );
    } else {
        app.ask_resume(unfinished.iter().map(|m| m.name.clone()).collect());
    }

    let mut shell = Shell {
        engine: engine.clone(),
        checking,
        notes_tx,
        unfinished,
    };
    let result = with_terminal(|term| shell.event_loop(term, &mut app, &notes_rx, &signals));
    crate::say!("leaving: telling the tracker");
    engine.shutdown();
    result
}

/// Sets the terminal up for the view, runs `f`, and restores the terminal
/// however `f` ends; a panic on this thread restores it before its message.
fn with_terminal<T>(
    f: impl FnOnce(&mut Terminal<CrosstermBackend<Stdout>>) -> Result<T, PeerError>,
) -> Result<T, PeerError> {
    let ui_thread = std::thread::current().id();
    let previous = Arc::new(std::panic::take_hook());
    {
        let previous = previous.clone();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().id() == ui_thread {
                restore();
            }
            previous(info);
        }));
    }
    logging::set_screen(false);
    let _restore = Restore;
    TAKEN.store(true, Ordering::SeqCst);
    enable_raw_mode().map_err(PeerError::io(SETUP))?;
    execute!(std::io::stdout(), EnterAlternateScreen, cursor::Hide)
        .map_err(PeerError::io(SETUP))?;
    let mut term =
        Terminal::new(CrosstermBackend::new(std::io::stdout())).map_err(PeerError::io(SETUP))?;
    f(&mut term)
}

/// The terminal is the view's (raw, alternate screen), to give back once.
static TAKEN: AtomicBool = AtomicBool::new(false);

/// Gives the terminal back as it was, and log lines their place on it. Only
/// once: leaving the alternate screen again would move the cursor back up,
/// over a panic's message.
fn restore() {
    if !TAKEN.swap(false, Ordering::SeqCst) {
        return;
    }
    let _ = disable_raw_mode();
    let _ = execute!(std::io::stdout(), LeaveAlternateScreen, cursor::Show);
    logging::set_screen(true);
}

/// Restores the terminal when dropped: on return, on `?`, and on unwinding.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        restore();
    }
}

struct Shell {
    engine: Arc<Engine>,
    checking: Checking,
    notes_tx: Sender<Note>,
    /// Unfinished downloads of an earlier run, until the person answers.
    unfinished: Vec<Metainfo>,
}

impl Shell {
    fn event_loop(
        &mut self,
        term: &mut Terminal<CrosstermBackend<Stdout>>,
        app: &mut App,
        notes: &Receiver<Note>,
        signals: &Receiver<i32>,
    ) -> Result<(), PeerError> {
        let started = Instant::now();
        loop {
            while let Ok(note) = notes.try_recv() {
                match note {
                    Note::Message(m) => app.note(m),
                    Note::SearchDone(q, r) => app.search_done(q, r),
                }
            }
            if signals.try_recv().is_ok() {
                return Ok(());
            }
            let checking = self
                .checking
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            let snap = reader::read(&self.engine, &checking, reader::log_lines());
            app.observe(&snap, started.elapsed().as_secs());
            // Draw sizes the buffer to the terminal first: a resize redraws all.
            term.draw(|f| render::draw(f, app, &snap))
                .map_err(PeerError::io(DRAW))?;
            let deadline = Instant::now() + REDRAW;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                if !event::poll(left).map_err(PeerError::io(DRAW))? {
                    break;
                }
                match event::read().map_err(PeerError::io(DRAW))? {
                    Event::Key(k) if k.kind != KeyEventKind::Release => {
                        let Some(key) = key_of(k) else { continue };
                        if let Some(effect) = app.on_key(key, &snap)
                            && self.carry_out(effect)
                        {
                            return Ok(());
                        }
                        break;
                    }
                    Event::Resize(..) => break,
                    _ => {}
                }
            }
        }
    }

    /// Does what the view asked; true means quit.
    fn carry_out(&mut self, effect: Effect) -> bool {
        match effect {
            Effect::Quit => return true,
            Effect::Search(query) => {
                let (engine, tx) = (self.engine.clone(), self.notes_tx.clone());
                std::thread::spawn(move || {
                    let result = engine
                        .tracker
                        .search(&query)
                        .map(|r| r.results)
                        .map_err(|e| e.to_string());
                    let _ = tx.send(Note::SearchDone(query, result));
                });
            }
            Effect::Download { key, name } => self.download(key, name),
            Effect::SetPaused { key, paused } => {
                if let Some(k) = InfoHash::from_hex(&key)
                    && let Some(t) = self.engine.torrent(&k)
                {
                    // Either way a person decides now: a disk error's reason is history.
                    t.lock().pause_reason = None;
                    self.engine.set_paused(&k, paused);
                }
            }
            Effect::ResumeSaved(resume) => {
                let saved = std::mem::take(&mut self.unfinished);
                // Declined ones are listed, paused, so `p` resumes one later.
                open_in_background(&self.engine, saved, !resume, &self.checking, &self.notes_tx);
            }
        }
        false
    }

    fn download(&self, key: String, name: String) {
        if InfoHash::from_hex(&key).is_some_and(|k| self.engine.torrent(&k).is_some()) {
            let _ = self
                .notes_tx
                .send(Note::Message(format!("{name} is already in the list")));
            return;
        }
        let (engine, tx, checking) = (
            self.engine.clone(),
            self.notes_tx.clone(),
            self.checking.clone(),
        );
        lock(&checking).insert(key.clone(), name.clone());
        std::thread::spawn(move || {
            let source = match Magnet::parse(&key) {
                Ok(m) => Source::Magnet(m),
                Err(_) => Source::Tracker(key.clone()),
            };
            let opened = source
                .fetch(&engine.tracker, engine.home.layout())
                .and_then(|w| match (w, &source) {
                    (Some(w), _) => Ok(w),
                    (None, Source::Magnet(m)) => {
                        // Nothing stops the fetch but the peer's exit.
                        let (_keep, never) = crossbeam_channel::bounded::<i32>(0);
                        fetch_magnet(&engine, m, &never)
                    }
                    (None, _) => unreachable!("only a magnet link waits for the engine"),
                })
                .and_then(|w| {
                    w.save(engine.home.layout())?;
                    w.open(&engine)
                });
            lock(&checking).remove(&key);
            let _ = tx.send(Note::Message(match opened {
                Ok(t) if t.is_complete() => format!("{name} is complete already"),
                Ok(_) => format!("downloading {name}"),
                Err(e) => format!("cannot download {name}: {e}"),
            }));
        });
    }
}

/// Opens saved downloads on a thread: each may need its pieces checked.
fn open_in_background(
    engine: &Arc<Engine>,
    metas: Vec<Metainfo>,
    paused: bool,
    checking: &Checking,
    notes: &Sender<Note>,
) {
    if metas.is_empty() {
        return;
    }
    {
        let mut c = lock(checking);
        for m in &metas {
            c.insert(m.info_hash.hex(), m.name.clone());
        }
    }
    let (engine, checking, notes) = (engine.clone(), checking.clone(), notes.clone());
    std::thread::spawn(move || {
        for m in metas {
            let (key, name) = (m.info_hash, m.name.clone());
            match engine.add_download(m) {
                Ok(_) if paused => {
                    engine.set_paused(&key, true);
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = notes.send(Note::Message(format!("cannot reopen {name}: {e}")));
                }
            }
            lock(&checking).remove(&key.hex());
        }
    });
}

fn lock(c: &Checking) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
    c.lock().unwrap_or_else(|e| e.into_inner())
}

/// A key press as the view knows it; None for keys it has no use for.
fn key_of(k: KeyEvent) -> Option<Key> {
    if k.modifiers.contains(KeyModifiers::CONTROL) {
        return matches!(k.code, KeyCode::Char('c')).then_some(Key::CtrlC);
    }
    Some(match k.code {
        KeyCode::Char(c) => Key::Char(c),
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        KeyCode::Backspace => Key::Backspace,
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::Left => Key::Left,
        KeyCode::Right => Key::Right,
        KeyCode::Tab => Key::Tab,
        KeyCode::BackTab => Key::BackTab,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_the_views_keys_and_ctrl_c_alone_among_control_keys() {
        let k = |code, mods| key_of(KeyEvent::new(code, mods));
        assert_eq!(
            k(KeyCode::Char('p'), KeyModifiers::NONE),
            Some(Key::Char('p'))
        );
        assert_eq!(
            k(KeyCode::Char('P'), KeyModifiers::SHIFT),
            Some(Key::Char('P'))
        );
        assert_eq!(
            k(KeyCode::Char('c'), KeyModifiers::CONTROL),
            Some(Key::CtrlC)
        );
        assert_eq!(k(KeyCode::Char('d'), KeyModifiers::CONTROL), None);
        assert_eq!(k(KeyCode::BackTab, KeyModifiers::SHIFT), Some(Key::BackTab));
        assert_eq!(k(KeyCode::F(1), KeyModifiers::NONE), None);
    }
}
