//! How the line prompt reads its commands: on a terminal with line editing,
//! history kept in the home and Tab completion; from a pipe line by line, so
//! it can be scripted. Ctrl-C at the prompt, or SIGINT from outside, arrives
//! as an `Event::Interrupt` rather than ending the process. Text from
//! background work goes through a `Printer`, which puts it above the prompt.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, select};
use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::FileHistory;
use rustyline::validate::Validator;
use rustyline::{CompletionType, Config, Editor, ExternalPrinter, Helper};

/// Every command, for completion.
const COMMANDS: &[&str] = &[
    "download", "help", "pause", "peers", "quit", "resume", "search", "share", "show", "status",
];
/// Commands whose argument is a torrent's name.
const TAKE_A_NAME: &[&str] = &["download", "get", "pause", "resume", "show"];

/// What the person did at the prompt.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    Line(String),
    /// Ctrl-C, or SIGINT.
    Interrupt,
    /// Ctrl-D, or the end of the piped input.
    End,
}

/// The names Tab completes, asked for at each Tab.
pub type Names = Arc<dyn Fn() -> Vec<String> + Send + Sync>;

pub struct LineInput {
    source: Source,
    interrupts: Receiver<()>,
}

enum Source {
    Tty {
        editor: Box<Editor<Completion, FileHistory>>,
        history: PathBuf,
    },
    /// Lines read by a thread, so a wait can also watch for interrupts.
    Pipe(Receiver<String>),
}

impl LineInput {
    /// Reads the terminal when stdin is one, else stdin line by line.
    /// `interrupts` carries SIGINT.
    pub fn open(history: PathBuf, names: Names, interrupts: Receiver<()>) -> LineInput {
        use std::io::IsTerminal;
        if std::io::stdin().is_terminal() {
            let config = Config::builder()
                .completion_type(CompletionType::List)
                .auto_add_history(false)
                .max_history_size(1000)
                .and_then(|b| b.history_ignore_dups(true))
                .map(|b| b.build());
            if let Ok(config) = config
                && let Ok(mut editor) = Editor::<Completion, FileHistory>::with_config(config)
            {
                editor.set_helper(Some(Completion { names }));
                // No history yet on a first run.
                let _ = editor.load_history(&history);
                return LineInput {
                    source: Source::Tty {
                        editor: Box::new(editor),
                        history,
                    },
                    interrupts,
                };
            }
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        LineInput {
            source: Source::Pipe(rx),
            interrupts,
        }
    }

    pub fn is_tty(&self) -> bool {
        matches!(self.source, Source::Tty { .. })
    }

    /// Where background work prints: above the prompt on a terminal.
    pub fn printer(&mut self) -> Printer {
        match &mut self.source {
            Source::Tty { editor, .. } => match editor.create_external_printer() {
                Ok(p) => Printer(Some(Arc::new(Mutex::new(Box::new(p))))),
                Err(_) => Printer(None),
            },
            Source::Pipe(_) => Printer(None),
        }
    }

    /// The next command. A pipe shows no prompt, so a script's output is only answers.
    pub fn next(&mut self, prompt: &str) -> Event {
        self.read(prompt, true)
    }

    /// A yes/no question, kept out of the history; a piped one is printed as a line of its own.
    pub fn ask(&mut self, question: &str) -> Event {
        if !self.is_tty() {
            crate::say!("{question}");
            let _ = std::io::stdout().flush();
        }
        self.read(question, false)
    }

    fn read(&mut self, prompt: &str, remember: bool) -> Event {
        match &mut self.source {
            Source::Tty { editor, history } => {
                // A SIGINT that came while a command ran is not meant for this prompt.
                while self.interrupts.try_recv().is_ok() {}
                match editor.readline(prompt) {
                    Ok(line) => {
                        if remember
                            && !line.trim().is_empty()
                            && editor.add_history_entry(line.as_str()).is_ok()
                        {
                            let _ = editor.append_history(history);
                        }
                        Event::Line(line)
                    }
                    Err(ReadlineError::Interrupted) => Event::Interrupt,
                    Err(_) => Event::End,
                }
            }
            Source::Pipe(lines) => select! {
                recv(lines) -> l => l.map_or(Event::End, Event::Line),
                recv(self.interrupts) -> _ => Event::Interrupt,
            },
        }
    }

    /// Drops interrupts that arrived before now.
    pub fn drain_interrupts(&self) {
        while self.interrupts.try_recv().is_ok() {}
    }

    /// Waits up to `timeout` for a reason to stop watching: Enter (the line
    /// is used up), an interrupt, or the end of input.
    pub fn wait_stop(&mut self, timeout: Duration) -> bool {
        match &mut self.source {
            Source::Pipe(lines) => select! {
                recv(lines) -> _ => true,
                recv(self.interrupts) -> _ => true,
                default(timeout) => false,
            },
            Source::Tty { .. } => {
                let deadline = Instant::now() + timeout;
                loop {
                    if self.interrupts.try_recv().is_ok() {
                        return true;
                    }
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    if line_ready(left.min(Duration::from_millis(100))) {
                        let mut s = String::new();
                        let _ = std::io::stdin().read_line(&mut s);
                        return true;
                    }
                }
            }
        }
    }
}

/// Whether a whole line waits on the terminal (not in raw mode, a line is
/// readable only once Enter is pressed), waiting at most `wait`.
fn line_ready(wait: Duration) -> bool {
    let mut p = libc::pollfd {
        fd: libc::STDIN_FILENO,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd, owned here, for the duration of the call.
    let n = unsafe { libc::poll(&mut p, 1, wait.as_millis() as libc::c_int) };
    n > 0 && p.revents & (libc::POLLIN | libc::POLLHUP) != 0
}

/// Prints whole lines from any thread; on a terminal above the prompt being
/// edited, which is redrawn under them.
#[derive(Clone, Default)]
pub struct Printer(Option<Arc<Mutex<Box<dyn ExternalPrinter + Send>>>>);

impl Printer {
    pub fn say(&self, text: &str) {
        match &self.0 {
            Some(p) => {
                let mut p = p.lock().unwrap_or_else(|e| e.into_inner());
                let _ = p.print(format!("{text}\n"));
            }
            None => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{text}");
                let _ = out.flush();
            }
        }
    }
}

/// Tab: commands first, then a torrent's name after a command that takes one.
pub struct Completion {
    names: Names,
}

impl Completer for Completion {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let before = line.get(..pos).unwrap_or(line);
        Ok(completions(before, &(self.names)()))
    }
}

impl Hinter for Completion {
    type Hint = String;
}
impl Highlighter for Completion {}
impl Validator for Completion {}
impl Helper for Completion {}

/// Where completion starts in `before` (the line up to the cursor), and the
/// candidates: commands for the first word, names after a command that takes
/// one (the whole rest of the line, since names may hold spaces).
pub fn completions(before: &str, names: &[String]) -> (usize, Vec<String>) {
    let word = before.trim_start();
    match word.split_once(char::is_whitespace) {
        None => (
            before.len() - word.len(),
            COMMANDS
                .iter()
                .filter(|c| c.starts_with(word))
                .map(|c| c.to_string())
                .collect(),
        ),
        Some((cmd, rest)) if TAKE_A_NAME.contains(&cmd) => {
            let rest = rest.trim_start();
            let lower = rest.to_lowercase();
            let mut found: Vec<String> = names
                .iter()
                .filter(|n| n.to_lowercase().starts_with(&lower))
                .cloned()
                .collect();
            found.sort();
            found.dedup();
            (before.len() - rest.len(), found)
        }
        Some(_) => (before.len(), Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        [
            "lecture.mp4",
            "Lecture notes.pdf",
            "other.bin",
            "lecture.mp4",
        ]
        .map(String::from)
        .to_vec()
    }

    #[test]
    fn the_first_word_completes_to_commands() {
        assert_eq!(
            completions("s", &names()),
            (
                0,
                vec![
                    "search".into(),
                    "share".into(),
                    "show".into(),
                    "status".into()
                ]
            )
        );
        assert_eq!(completions("  pa", &names()), (2, vec!["pause".into()]));
    }

    #[test]
    fn a_name_completes_after_a_command_that_takes_one_spaces_and_case_aside() {
        assert_eq!(
            completions("resume lec", &names()),
            (7, vec!["Lecture notes.pdf".into(), "lecture.mp4".into()])
        );
        assert_eq!(
            completions("download  Lecture n", &names()),
            (10, vec!["Lecture notes.pdf".into()])
        );
        assert_eq!(completions("search lec", &names()), (10, vec![]));
    }
}
