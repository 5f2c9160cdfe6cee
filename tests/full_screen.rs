//! The full-screen view as a person meets it, and the line prompt (`--plain`)
//! on the same terminal: the real `peer` in a real terminal (tmux, on a
//! private socket), against a real tracker and seeder. The screen is read
//! with `capture-pane` and every step waits on what the screen shows, with a
//! deadline.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::*;

/// How long any one step may take to show on screen.
const STEP: Duration = Duration::from_secs(30);

/// A tmux server of its own running one program in one pane; killed on drop.
struct Tmux {
    socket: String,
    width: usize,
    height: usize,
    /// Every screen read, the last ones shown when a step fails.
    seen: Vec<String>,
    /// The full-screen view has been seen.
    view_up: bool,
}

impl Tmux {
    fn start(
        name: &str,
        width: usize,
        height: usize,
        program: &[&str],
        env: &[(&str, &str)],
    ) -> Tmux {
        let socket = format!("swarmshare-{name}-{}", std::process::id());
        let mut cmd = Command::new("tmux");
        cmd.args(["-u", "-L", &socket, "-f", "/dev/null", "new-session", "-d"])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .args(["-s", "t", "env"]);
        for (k, v) in env {
            cmd.arg(format!("{k}={v}"));
        }
        cmd.args(program);
        // The pane stays after the program exits, to read what it left.
        cmd.args([";", "set-option", "-g", "remain-on-exit", "on"]);
        let status = cmd.status().expect("tmux runs");
        assert!(status.success(), "tmux new-session failed");
        Tmux {
            socket,
            width,
            height,
            seen: Vec::new(),
            view_up: false,
        }
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-u", "-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The screen, wrapped lines joined: a line wider than the terminal
    /// comes back wider than the terminal.
    fn screen(&mut self) -> String {
        let s = self.tmux(&["capture-pane", "-p", "-J", "-t", "t"]);
        self.seen.push(s.clone());
        if self.seen.len() > 3 {
            self.seen.remove(0);
        }
        s
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "t", "-l", text]);
    }

    fn resize(&mut self, width: usize, height: usize) {
        self.tmux(&[
            "resize-window",
            "-t",
            "t",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
        ]);
        self.width = width;
        self.height = height;
    }

    fn pane_dead(&self) -> bool {
        self.tmux(&["display-message", "-p", "-t", "t", "#{pane_dead}"])
            .trim()
            == "1"
    }

    /// Waits until the screen satisfies `cond`; returns that screen.
    fn wait(&mut self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        self.wait_checked(what, cond, false)
    }

    /// Waits until the screen satisfies `cond`; with `whole`, every screen
    /// of the view on the way must pass `check_frame`.
    fn wait_checked(&mut self, what: &str, cond: impl Fn(&str) -> bool, whole: bool) -> String {
        let deadline = Instant::now() + STEP;
        loop {
            let s = self.screen();
            // Once the view is up, every screen must be the whole view.
            if whole && (self.view_up || is_view(&s)) {
                self.view_up = true;
                check_frame(&s, self.width, self.height);
            }
            if cond(&s) {
                return s;
            }
            if Instant::now() > deadline {
                panic!(
                    "{STEP:?} passed waiting for {what}; the last screens:\n{}",
                    self.seen.join("\n-----\n")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for a screen of the full-screen view showing `what`; every view
    /// on the way must be whole (see `check_frame`).
    fn wait_view(&mut self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        self.wait_checked(what, |s| is_view(s) && cond(s), true)
    }

    fn wait_dead(&self) {
        wait_until("the pane's program to end", STEP, || self.pane_dead());
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // The pane's program goes with the server (SIGHUP); kill it first in
        // case it ignores that.
        let pid = self.tmux(&["display-message", "-p", "-t", "t", "#{pane_pid}"]);
        if let Ok(pid) = pid.trim().parse::<u32>()
            && !self.pane_dead()
        {
            signal(pid, "KILL");
        }
        self.tmux(&["kill-server"]);
    }
}

/// Whether the screen is the full-screen view (not a shell or the line prompt).
fn is_view(s: &str) -> bool {
    s.lines()
        .nth(1)
        .is_some_and(|l| l.starts_with("┌ Torrents"))
}

/// The view is whole: as many rows as the terminal, none wider, the status
/// bar on top, keys at the bottom, and every log line inside the log pane.
fn check_frame(s: &str, width: usize, height: usize) {
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines.len(), height, "rows at {width}x{height}:\n{s}");
    for l in &lines {
        assert!(
            l.chars().count() <= width,
            "a line wider than {width} columns: {l:?}\n{s}"
        );
    }
    assert!(lines[0].starts_with(" ↓ "), "status bar on top:\n{s}");
    assert!(
        lines[1].starts_with("┌ Torrents"),
        "the list under it:\n{s}"
    );
    // A log line is `HH:MM:SS LEVEL ...` in the pane, `[HH:MM:SS LEVEL peer:PORT]`
    // when written to the screen: the second must never appear.
    for l in &lines {
        if [" INFO ", " WARN ", " ERROR "]
            .iter()
            .any(|lvl| l.contains(lvl))
        {
            assert!(
                l.starts_with('│') && !l.contains(" peer:"),
                "a log line outside the log pane: {l:?}\n{s}"
            );
        }
    }
}

/// The list row of the torrent called `name`.
fn row<'a>(s: &'a str, name: &str) -> Option<&'a str> {
    s.lines()
        .find(|l| l.starts_with('│') && l.contains(name) && l.contains('%'))
}

fn row_has(s: &str, name: &str, words: &[&str]) -> bool {
    row(s, name).is_some_and(|r| words.iter().all(|w| r.contains(w)))
}

struct Swarm {
    seeded: Seeded,
    content: Vec<u8>,
    dl: std::path::PathBuf,
}

/// A tracker and a seeder sharing `NAME.bin`, and an empty home to download into.
fn swarm(dir: &Path, name: &str, size: usize) -> Swarm {
    let content = data(size, 12);
    let seeded = seeded(dir, &format!("{name}.bin"), &content, &[]);
    Swarm {
        seeded,
        content,
        dl: home(dir, "viewer"),
    }
}

/// The view of a peer downloading at `rate` into `s.dl`.
fn open_view(name: &str, s: &Swarm, w: usize, h: usize, log: &str, rate: &str) -> Tmux {
    let port = s.seeded.tracker.port.to_string();
    let home = s.dl.to_str().unwrap();
    Tmux::start(
        name,
        w,
        h,
        &[
            PEER,
            "--no-dht",
            "127.0.0.1",
            &port,
            "--home",
            home,
            "--download-rate",
            rate,
        ],
        &[("RUST_LOG", log)],
    )
}

/// `/`, the words, Enter, and the result picked with Enter.
fn search_and_download(t: &mut Tmux, stem: &str) {
    t.wait_view("the empty view", |s| s.contains("press / to search"));
    t.keys(&["/"]);
    t.type_text(stem);
    t.wait_view("the search typed in the footer", |s| {
        s.contains(&format!("search: {stem}"))
    });
    t.keys(&["Enter"]);
    let results = t.wait_view("the search results", |s| s.contains("1 result for"));
    assert!(results.contains(&format!("{stem}.bin")), "{results}");
    t.keys(&["Enter"]);
}

/// Drives the view at one size and then another: search, download, pause
/// and resume, resize, the y/n question (declined), 100%, quit.
fn drive(name: &str, (w, h): (usize, usize), (w2, h2): (usize, usize)) {
    let dir = tempfile::tempdir().unwrap();
    let stem = format!("film{w}");
    // 5 MB at 400 kB/s: over ten seconds, time enough to pause it, resume
    // it, resize and be asked before it ends.
    let s = swarm(dir.path(), &stem, 5_000_000);
    let file = format!("{stem}.bin");
    let mut t = open_view(name, &s, w, h, "info", "400K");
    search_and_download(&mut t, &stem);
    t.wait_view("the row downloading", |s| {
        row_has(s, &file, &["downloading"])
    });

    t.keys(&["p"]);
    let paused = t.wait_view("the row paused", |s| row_has(s, &file, &["paused"]));
    assert!(paused.contains(&format!("paused {file}")), "{paused}");
    t.keys(&["p"]);
    t.wait_view("the row downloading again", |s| {
        row_has(s, &file, &["downloading"]) || row_has(s, &file, &["seeding"])
    });

    // The screens between the resize and the redraw are tmux's, not ours.
    t.resize(w2, h2);
    let resized = t.wait("the view redrawn at the new size", |s| {
        is_view(s) && s.lines().count() == h2 && s.lines().all(|l| l.chars().count() == w2)
    });
    check_frame(&resized, w2, h2);

    t.keys(&["q"]);
    let asked = t.wait_view("the quit question", |s| s.contains("Quit anyway? (y/n)"));
    assert!(asked.contains("y yes  n no"), "{asked}");
    t.keys(&["n"]);
    t.wait_view("the question gone", |s| !s.contains("Quit anyway?"));

    let done = t.wait_view("the row at 100%", |s| {
        row_has(s, &file, &["100%", "seeding"]) && s.contains(&format!("download complete: {file}"))
    });
    assert!(row_has(&done, &file, &["done"]), "{done}");
    assert_eq!(
        std::fs::read(s.dl.join("downloads").join(&file)).unwrap(),
        s.content
    );

    // Nothing downloads now: q quits without asking, and the terminal is back.
    t.keys(&["q"]);
    t.wait("the peer gone and the shell screen back", |s| {
        s.contains("leaving: telling the tracker") && !is_view(s)
    });
    t.wait_dead();
}

#[test]
fn the_full_screen_view_at_80x24_then_120x40() {
    drive("small", (80, 24), (120, 40));
}

#[test]
fn the_full_screen_view_at_120x40_then_80x24() {
    drive("large", (120, 40), (80, 24));
}

/// Log lines at info never draw over the view and no line is wider than the
/// terminal, at any moment of a download; Ctrl-C with the download running
/// asks, and y leaves with the terminal restored. The next start asks about
/// the unfinished download, lists it paused when told no, and p resumes it.
#[test]
fn nothing_is_wider_than_80_columns_while_a_download_logs_at_info() {
    let dir = tempfile::tempdir().unwrap();
    let s = swarm(dir.path(), "logged", 3_000_000);
    let file = "logged.bin";
    let mut t = open_view("wide", &s, 80, 24, "info", "300K");
    search_and_download(&mut t, "logged");
    t.wait_view("the row downloading", |s| {
        row_has(s, file, &["downloading"])
    });
    // Every screen until info lines (a join; pieces log at debug) reach the
    // log pane is checked whole.
    let logged = t.wait_view("info log lines in the log pane", |s| {
        s.lines().any(|l| {
            let l = l.trim_start_matches('│');
            l.len() > 14 && l.as_bytes()[2] == b':' && l[8..].starts_with(" INFO")
        })
    });
    assert!(row_has(&logged, file, &["downloading"]), "{logged}");

    t.keys(&["C-c"]);
    t.wait_view("the quit question", |s| s.contains("Quit anyway? (y/n)"));
    t.keys(&["y"]);
    t.wait("the shell screen back", |s| {
        s.contains("leaving: telling the tracker") && !is_view(s)
    });
    t.wait_dead();
    drop(t);

    // The next start offers to resume it; declined, it is listed paused, and
    // p resumes it to the end.
    let mut t = open_view("wide-again", &s, 80, 24, "info", "2M");
    t.wait_view("the resume question", |s| {
        s.contains("Resume 1 download left unfinished last time? (y/n)") && s.contains(file)
    });
    t.keys(&["n"]);
    t.wait_view("the download listed paused", |s| {
        row_has(s, file, &["paused"])
    });
    t.keys(&["p"]);
    t.wait_view("the row at 100%", |s| {
        row_has(s, file, &["100%", "seeding"])
    });
    assert_eq!(
        std::fs::read(s.dl.join("downloads").join(file)).unwrap(),
        s.content
    );
    t.keys(&["q"]);
    t.wait("the shell screen back", |s| {
        s.contains("leaving: telling the tracker") && !is_view(s)
    });
    t.wait_dead();
}

/// The last line with anything on it (where the prompt is), without its
/// trailing spaces: a bare prompt is `swarmshare>`.
fn last_line(s: &str) -> &str {
    s.lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim_end()
}

/// `--plain` on a terminal (issue 12): a download that completes while a
/// command is half typed says so on a line of its own above the prompt, the
/// prompt is redrawn under it with the half-typed text intact, and the line
/// goes on being edited and runs on Enter.
#[test]
fn plain_prompt_keeps_a_half_typed_line_intact_when_a_download_completes() {
    let dir = tempfile::tempdir().unwrap();
    // 2 MB at 400 kB/s: about five seconds in the background, time enough
    // to type a few letters before it ends.
    let s = swarm(dir.path(), "plain", 2_000_000);
    let file = "plain.bin";
    let port = s.seeded.tracker.port.to_string();
    let home = s.dl.to_str().unwrap();
    let mut t = Tmux::start(
        "plain",
        100,
        30,
        &[
            PEER,
            "--no-dht",
            "127.0.0.1",
            &port,
            "--home",
            home,
            "--download-rate",
            "400K",
            "--plain",
        ],
        &[("RUST_LOG", "warn")],
    );
    t.wait("the prompt", |s| {
        s.contains("type `help` for commands") && last_line(s) == "swarmshare>"
    });
    t.type_text(&format!("download {file}"));
    t.keys(&["Enter"]);
    t.wait("the download started, and the prompt back", |s| {
        s.contains(&format!("downloading {file} (")) && last_line(s) == "swarmshare>"
    });

    // Half a command, no Enter, while the download runs.
    t.type_text("stat");
    let typed = t.wait("the half-typed command", |s| {
        last_line(s) == "swarmshare> stat"
    });
    assert!(
        !typed.contains("download complete"),
        "the download ended before the command was half typed; nothing was tested:\n{typed}"
    );

    let done = t.wait("the completion line and the prompt redrawn under it", |s| {
        s.contains("download complete:") && last_line(s).starts_with("swarmshare>")
    });
    let lines: Vec<&str> = done.lines().collect();
    let said: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains("download complete"))
        .collect();
    assert_eq!(said.len(), 1, "said once:\n{done}");
    let line = lines[said[0]];
    // (a) The whole line is the message: nothing before it, nothing after.
    assert!(
        line.starts_with(&format!("download complete: {file} in "))
            && line.ends_with(&format!("/downloads/{file}")),
        "the completion on a line of its own: {line:?}\n{done}"
    );
    // (b) The prompt with the half-typed text is redrawn below it, and the
    // one it replaced is gone rather than left above.
    assert_eq!(last_line(&done), "swarmshare> stat", "{done}");
    let prompts: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains("swarmshare> stat"))
        .collect();
    assert_eq!(prompts.len(), 1, "one half-typed line on screen:\n{done}");
    assert!(
        said[0] < prompts[0],
        "the message above the prompt:\n{done}"
    );

    // (c) The editor kept the text too, not just the screen: the rest of the
    // word goes after it and Enter runs the whole command.
    t.type_text("us");
    t.wait("the command finished", |s| {
        last_line(s) == "swarmshare> status"
    });
    t.keys(&["Enter"]);
    let status = t.wait("the status table, and the prompt back", |s| {
        s.lines()
            .any(|l| l.starts_with(file) && l.contains("seeding"))
            && last_line(s) == "swarmshare>"
    });
    assert!(
        !status.contains("unknown or incomplete command"),
        "{status}"
    );
    assert_eq!(
        std::fs::read(s.dl.join("downloads").join(file)).unwrap(),
        s.content
    );

    // Nothing downloads now: quit leaves without asking.
    t.type_text("quit");
    t.keys(&["Enter"]);
    t.wait("the peer leaving", |s| {
        s.contains("leaving: telling the tracker")
    });
    t.wait_dead();
}
