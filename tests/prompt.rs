//! The line prompt as a script drives it through a pipe (issue 12): paused
//! downloads are listed and resumed by name or number, Ctrl-C (SIGINT) asks
//! before leaving and ends `status --watch` back at the prompt, a download
//! resumed at start says when it completes, and the log stays off the screen.

mod support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use support::*;

const T: Duration = Duration::from_secs(60);

/// A tracker, a slow seeder of `half.bin` (2 MiB), and a home `me` in which a
/// killed `download` left part of it.
struct HalfDone {
    tracker: Proc,
    _seeder: Proc,
    me: PathBuf,
    content: Vec<u8>,
}

fn half_done(dir: &Path) -> HalfDone {
    let tracker = tracker(&dir.join("t"), 5);
    let a = home(dir, "a");
    let content = data(2 << 20, 51);
    write(&a.join("upload/half.bin"), &content);
    let seeder = serve(tracker.port, &a, &["--upload-rate", "512K"]);
    wait_listed(tracker.port, "half", 1);
    let key = search(tracker.port, "half").results[0].key.clone();
    let me = dir.join("me");
    let mut first = spawn_peer(tracker.port, &me, &["download", "half.bin"]);
    wait_until("some parts on disk", T, || resumed_count(&me, &key) >= 10);
    first.kill().unwrap();
    first.wait().unwrap();
    HalfDone {
        tracker,
        _seeder: seeder,
        me,
        content,
    }
}

/// Problem 3: after declining the resume offer, `status` lists the download as
/// paused, `pause N` takes a search number, and `resume` finds it by part of its name.
#[test]
fn a_declined_download_is_listed_paused_and_resumed_by_number_or_name() {
    let dir = tempfile::tempdir().unwrap();
    let h = half_done(dir.path());
    // A pipe is not asked: the downloads are left paused.
    let mut s = Prompt::start(h.tracker.port, &h.me, &[], Some("warn"));
    s.expect("left paused");
    s.send("status");
    let header = s.expect("NAME");
    let row = s.expect("half.bin");
    assert_eq!(row.split_whitespace().nth(1), Some("paused"), "{row}");
    s.send("search half");
    let found = s.expect("half");
    s.expect("fetches result N");
    // Tables fit 80 columns when the width is unknown.
    for line in [header, row, found] {
        assert!(line.chars().count() <= 80, "{line:?}");
    }
    s.send("pause 1");
    s.expect("paused half.bin");
    s.send("resume hal");
    s.expect("resumed half.bin");
    // Problem 5 too: it says when it is done, above (not on) the prompt.
    let done = s.expect("download complete");
    assert!(done.starts_with("download complete: half.bin"), "{done}");
    assert_eq!(
        std::fs::read(h.me.join("downloads/half.bin")).unwrap(),
        h.content
    );
    s.send("quit");
    assert!(s.finish().0.success());
}

/// Problem 5: a download resumed at start-up says `download complete` when it finishes.
#[test]
fn a_download_resumed_at_start_says_when_it_completes() {
    let dir = tempfile::tempdir().unwrap();
    let h = half_done(dir.path());
    let mut s = Prompt::start(h.tracker.port, &h.me, &["--resume-all"], Some("warn"));
    s.expect("resuming 1 download");
    let done = s.expect("download complete");
    assert!(done.starts_with("download complete: half.bin"), "{done}");
    assert_eq!(
        std::fs::read(h.me.join("downloads/half.bin")).unwrap(),
        h.content
    );
    s.send("quit");
    assert!(s.finish().0.success());
}

/// Problem 4: SIGINT ends `status --watch` and the prompt goes on; SIGINT at
/// the prompt with a download running asks first; `quit` warns and leaves.
#[test]
fn ctrl_c_ends_a_watch_and_asks_before_leaving_a_running_download() {
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("t"), 5);
    let a = home(dir.path(), "a");
    write(&a.join("upload/slow.bin"), &data(8 << 20, 52));
    let _seed = serve(tr.port, &a, &["--upload-rate", "256K"]);
    wait_listed(tr.port, "slow", 1);
    let mut s = Prompt::start(tr.port, &dir.path().join("me"), &[], Some("warn"));
    s.expect("listening on");
    s.send("download slow.bin");
    s.expect("in the background");

    s.send("status --watch");
    s.expect("slow.bin");
    s.expect("slow.bin");
    s.interrupt();
    s.expect("stopped watching");
    s.send("help");
    s.expect("Tab completes");
    assert!(s.alive(), "Ctrl-C ended the watch, not the peer");

    s.interrupt();
    let asked = s.expect("Quit anyway?");
    assert!(
        asked.contains("1 download is still running (slow.bin)"),
        "{asked}"
    );
    s.send("n");
    s.expect("staying");
    s.send("status");
    s.expect("downloading");
    assert!(s.alive(), "answering n keeps the peer");

    s.send("quit");
    let warned = s.expect("warning:");
    assert!(warned.contains("slow.bin"), "{warned}");
    s.expect("leaving: telling the tracker");
    assert!(s.finish().0.success());
}

/// Problem 1: at the default level a download prints no line per piece.
#[test]
fn at_the_default_level_a_download_prints_no_line_per_piece() {
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("t"), 5);
    let a = home(dir.path(), "a");
    write(&a.join("upload/quiet.bin"), &data(1 << 20, 53));
    let _seed = serve(tr.port, &a, &[]);
    wait_listed(tr.port, "quiet", 1);
    let mut cmd = peer_bin();
    cmd.args(["127.0.0.1", &tr.port.to_string(), "--home"])
        .arg(dir.path().join("me"))
        .args(["download", "quiet.bin"])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = Spawned(cmd.spawn().unwrap());
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let status = wait_with_deadline(&mut child, T).expect("the download finishes");
    let err = reader.join().unwrap();
    assert!(status.success(), "{err}");
    assert!(err.contains("progress:"), "the progress still shows: {err}");
    assert!(
        !err.contains("verified"),
        "no line per verified piece at the default level:\n{err}"
    );
}

/// Problem 1: the interactive peer logs to HOME/.swarmshare/peer.log at info,
/// each line with its date and time, and shows no info line on the screen.
#[test]
fn the_interactive_log_goes_to_a_file_with_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("t"), 5);
    let a = home(dir.path(), "a");
    write(&a.join("upload/logged.bin"), &data(1 << 20, 54));
    let _seed = serve(tr.port, &a, &[]);
    wait_listed(tr.port, "logged", 1);
    let me = dir.path().join("me");
    let mut s = Prompt::start(tr.port, &me, &[], None);
    s.send("download logged.bin");
    s.expect("download complete: logged.bin");
    s.send("quit");
    let (status, err) = s.finish();
    assert!(status.success());
    assert!(!err.contains("INFO"), "info stays off the screen: {err}");
    let log = std::fs::read_to_string(me.join(".swarmshare/peer.log")).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains(" INFO ") && l.contains("completed logged.bin")),
        "{log}"
    );
    for line in log.lines() {
        // `2026-12-03 08:29:02.123Z`
        let stamp: Vec<char> = line.chars().take(24).collect();
        let shape: String = stamp
            .iter()
            .map(|c| if c.is_ascii_digit() { '9' } else { *c })
            .collect();
        assert_eq!(shape, "9999-99-99 99:99:99.999Z", "{line}");
    }
}

/// A download whose every piece is already on disk says it is complete at once.
#[test]
fn a_download_already_on_disk_says_it_is_complete() {
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("t"), 5);
    let a = home(dir.path(), "a");
    let content = data(1 << 20, 55);
    write(&a.join("upload/here.bin"), &content);
    let _seed = serve(tr.port, &a, &[]);
    wait_listed(tr.port, "here", 1);
    let me = dir.path().join("me");
    write(&me.join("downloads/here.bin"), &content);
    let mut s = Prompt::start(tr.port, &me, &[], Some("warn"));
    s.send("download here.bin");
    s.expect("download complete: here.bin");
    s.send("quit");
    assert!(s.finish().0.success());
}

/// A reader that goes away (`peer … | head -1`) costs its output, not the
/// peer: the prompt answers the next commands and leaves cleanly.
#[test]
fn a_closed_stdout_does_not_take_the_peer_down() {
    use std::io::{BufRead, BufReader, Write};
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("t"), 5);
    let mut child = peer_bin()
        .args(["127.0.0.1", &tr.port.to_string(), "--home"])
        .arg(dir.path().join("me"))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    out.read_line(&mut first).unwrap();
    assert!(first.starts_with("peer listening on"), "{first:?}");
    // The reading end closes: every later write to stdout fails with EPIPE.
    drop(out);
    let mut stdin = child.stdin.take().unwrap();
    for cmd in ["help", "status", "peers", "help", "quit"] {
        // The peer may be gone already if it died; that is what is checked below.
        let _ = writeln!(stdin, "{cmd}");
    }
    let status = wait_with_deadline(&mut child, T).expect("the peer exits");
    let mut err = String::new();
    let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err);
    assert!(status.success(), "{status:?}\n{err}");
    assert!(!err.contains("panicked"), "{err}");
}
