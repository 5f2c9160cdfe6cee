//! Where the peer's log lines go. A command run once writes them to stderr, as
//! it always has. The interactive modes (the line prompt and the full-screen
//! view) write every line to `HOME/.swarmshare/peer.log` and show only warnings
//! and errors, so the prompt and the tables stay readable. Either way the last
//! lines are kept in memory for the full-screen view's log pane, and every line
//! carries the time. `RUST_LOG` chooses the levels, as with env_logger; by
//! default `info`, under which a verified piece (debug) says nothing.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use log::{Level, LevelFilter, Log, Metadata, Record};

use super::startup::LOG_PORT;
use crate::common::units::civil_date;

/// Lines kept for `recent`: more than any log pane shows.
const KEPT: usize = 200;
/// Past this size `peer.log` is moved to `peer.log.old` at start, so it never fills a disk.
const LOG_FILE_LIMIT: u64 = 8 << 20;

/// Where the log goes, chosen once at start.
pub enum Mode<'a> {
    /// Every line to stderr.
    Plain,
    /// Every line to this file; warnings and errors also to the screen.
    Interactive { file: &'a Path },
}

/// Something that shows a screen line in place of stderr (the line prompt's
/// printer, which puts it above the prompt).
pub type ScreenSink = Box<dyn FnMut(&str) + Send>;

static RECENT: Mutex<VecDeque<String>> = Mutex::new(VecDeque::new());
static SCREEN: AtomicBool = AtomicBool::new(true);
static SINK: Mutex<Option<ScreenSink>> = Mutex::new(None);

/// Installs the logger; call once, before anything logs.
pub fn init(mode: Mode) {
    let filter =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).build();
    let mut file = None;
    if let Mode::Interactive { file: path } = mode {
        if std::fs::metadata(path).is_ok_and(|m| m.len() > LOG_FILE_LIMIT) {
            let _ = std::fs::rename(path, path.with_extension("log.old"));
        }
        let opened = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| OpenOptions::new().create(true).append(true).open(path));
        match opened {
            Ok(f) => file = Some(Mutex::new(f)),
            Err(e) => eprintln!(
                "peer: cannot write the log {}: {e}; logging to the screen",
                path.display()
            ),
        }
    }
    let logger = Logger {
        max: filter.filter(),
        filter,
        // Without a file the screen is the only place a line can go.
        screen_level: if file.is_some() {
            LevelFilter::Warn
        } else {
            LevelFilter::Trace
        },
        file,
        // On a terminal, a line first clears the progress line it would break.
        clear: if std::io::stderr().is_terminal() {
            "\r\x1b[K"
        } else {
            ""
        },
    };
    let max = logger.max;
    if log::set_boxed_logger(Box::new(logger)).is_ok() {
        log::set_max_level(max);
    }
}

/// The last `n` log lines (at most about 200 are kept), newest last.
pub fn recent(n: usize) -> Vec<String> {
    let kept = lock(&RECENT);
    kept.iter()
        .skip(kept.len().saturating_sub(n))
        .cloned()
        .collect()
}

/// Whether log lines may be written to the screen; false writes nothing to
/// stderr (the full-screen view owns the terminal and shows `recent` itself).
pub fn set_screen(on: bool) {
    SCREEN.store(on, Ordering::Relaxed);
}

/// Shows screen lines through `sink` instead of stderr; None goes back to stderr.
pub fn set_screen_sink(sink: Option<ScreenSink>) {
    *lock(&SINK) = sink;
}

struct Logger {
    filter: env_logger::Logger,
    max: LevelFilter,
    /// The most verbose level shown on the screen.
    screen_level: LevelFilter,
    file: Option<Mutex<File>>,
    clear: &'static str,
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        self.filter.enabled(metadata)
    }

    fn log(&self, record: &Record) {
        if !self.filter.matches(record) {
            return;
        }
        let now = unix_ms();
        let port = LOG_PORT.load(Ordering::Relaxed);
        let level = record.level();
        let msg = record.args().to_string();
        remember(&mut lock(&RECENT), memory_line(now, level, &msg), KEPT);
        if let Some(f) = &self.file {
            let _ = writeln!(lock(f), "{}", file_line(now, level, port, &msg));
        }
        if level <= self.screen_level && SCREEN.load(Ordering::Relaxed) {
            let line = screen_line(now, level, port, &msg);
            match lock(&SINK).as_mut() {
                Some(sink) => sink(&line),
                None => eprintln!("{}{line}", self.clear),
            }
        }
    }

    fn flush(&self) {
        if let Some(f) = &self.file {
            let _ = lock(f).flush();
        }
    }
}

/// A poisoned lock still holds good lines: a panic elsewhere must not silence the log.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

fn remember(kept: &mut VecDeque<String>, line: String, cap: usize) {
    while kept.len() >= cap {
        kept.pop_front();
    }
    kept.push_back(line);
}

/// A line on stderr: the time of day, as several peers often share a terminal.
fn screen_line(unix_ms: u64, level: Level, port: u16, msg: &str) -> String {
    format!("[{} {level} peer:{port}] {msg}", time_of_day(unix_ms))
}

/// A line in `peer.log`: the full date, as the file outlives the day.
fn file_line(unix_ms: u64, level: Level, port: u16, msg: &str) -> String {
    format!("{} {level:<5} peer:{port} {msg}", date_time(unix_ms))
}

/// A line for a log pane, which has no room to spare.
fn memory_line(unix_ms: u64, level: Level, msg: &str) -> String {
    format!("{} {level:<5} {msg}", time_of_day(unix_ms))
}

/// `HH:MM:SS` in UTC.
fn time_of_day(unix_ms: u64) -> String {
    let s = unix_ms / 1000;
    format!("{:02}:{:02}:{:02}", s / 3600 % 24, s / 60 % 60, s % 60)
}

/// `YYYY-MM-DD HH:MM:SS.mmmZ`.
fn date_time(unix_ms: u64) -> String {
    let (y, m, d) = civil_date((unix_ms / 86_400_000) as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {}.{:03}Z",
        time_of_day(unix_ms),
        unix_ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_calendar_dates_with_milliseconds() {
        assert_eq!(date_time(0), "1970-01-01 00:00:00.000Z");
        assert_eq!(date_time(1_796_286_542_123), "2026-12-03 08:29:02.123Z");
        assert_eq!(date_time(951_868_799_999), "2000-02-29 23:59:59.999Z");
    }

    #[test]
    fn each_place_gets_its_own_line_shape() {
        let t = 1_796_286_542_123;
        assert_eq!(
            screen_line(t, Level::Warn, 6881, "x"),
            "[08:29:02 WARN peer:6881] x"
        );
        assert_eq!(
            file_line(t, Level::Info, 6881, "x"),
            "2026-12-03 08:29:02.123Z INFO  peer:6881 x"
        );
        assert_eq!(memory_line(t, Level::Error, "x"), "08:29:02 ERROR x");
    }

    #[test]
    fn recent_gives_the_last_lines_newest_last() {
        for i in 0..KEPT + 5 {
            remember(&mut lock(&RECENT), i.to_string(), KEPT);
        }
        assert_eq!(recent(2), [(KEPT + 3).to_string(), (KEPT + 4).to_string()]);
        assert_eq!(recent(10_000).len(), KEPT);
    }

    #[test]
    fn memory_keeps_the_newest_lines_up_to_its_cap() {
        let mut kept = VecDeque::new();
        for i in 0..5 {
            remember(&mut kept, i.to_string(), 3);
        }
        assert_eq!(kept, ["2", "3", "4"]);
    }
}
