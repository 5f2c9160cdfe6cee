//! The interface a person sees: the interactive prompt driven through a pipe,
//! progress output when stderr is not a terminal, and the tracker's web page.

mod support;

use std::time::{Duration, Instant};

use support::*;

const T: Duration = Duration::from_secs(60);

#[test]
fn interactive_search_download_status_quit() {
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("t"), 600);
    let a = home(dir.path(), "a");
    let content = data(1 << 20, 40);
    write(&a.join("upload/lecture.mp4"), &content);
    let _seed = serve(tr.port, &a, &[]);
    wait_listed(tr.port, "lecture", 1);

    let me = dir.path().join("me");
    let mut s = Prompt::start(tr.port, &me, &[], Some("warn"));
    let port: u16 = s
        .expect("listening on")
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    s.send("help");
    s.expect("quit");
    s.send("search lecture");
    let row = s.expect("lecture");
    // Fitted to 80 columns when the width is unknown: the key stays, the torrent's file name goes.
    let key = search(tr.port, "lecture").results[0].key.clone();
    assert!(
        row.contains("mp4") && row.contains(&key) && row.chars().count() <= 80,
        "{row}"
    );
    s.send("download 1");
    s.expect("in the background");
    s.expect("download complete: lecture.mp4");
    s.send("status");
    let line = s.expect("lecture.mp4");
    assert!(
        line.contains("seeding") && line.contains("100.0%"),
        "{line}"
    );
    s.expect("pieces from it");
    s.send("peers");
    s.expect("DOWNLOADED");
    s.send("frobnicate");
    s.expect("type `help`");
    assert_eq!(
        std::fs::read(me.join("downloads/lecture.mp4")).unwrap(),
        content
    );
    // It was seeding: the tracker lists it, until `quit` tells the tracker it left.
    let mine = format!("127.0.0.1:{port}");
    wait_until("the tracker lists the interactive peer", T, || {
        search(tr.port, "lecture").results[0].peers.contains(&mine)
    });
    s.send("quit");
    let status = wait_with_deadline(&mut s.child, T).expect("quit exits");
    assert!(status.success());
    assert!(
        !search(tr.port, "lecture").results[0].peers.contains(&mine),
        "quit removed the peer from the tracker"
    );
}

#[test]
fn unfinished_downloads_are_offered_first_and_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("t"), 5);
    let a = home(dir.path(), "a");
    let content = data(2 << 20, 41);
    write(&a.join("upload/half.bin"), &content);
    let _seed = serve(tr.port, &a, &["--upload-rate", "512K"]);
    wait_listed(tr.port, "half", 1);
    let key = search(tr.port, "half").results[0].key.clone();
    let me = dir.path().join("me");
    let mut first = spawn_peer(tr.port, &me, &["download", "half.bin"]);
    wait_until("some parts on disk", T, || resumed_count(&me, &key) >= 10);
    first.kill().unwrap();
    first.wait().unwrap();

    let mut s = Prompt::start(tr.port, &me, &["--resume-all"], Some("warn"));
    let first_line = s.expect("");
    assert!(
        first_line.contains("unfinished download"),
        "said before anything else: {first_line}"
    );
    s.expect("half.bin");
    s.expect("resuming 1 download");
    wait_until("the resumed download completes", T, || {
        std::fs::read(me.join("downloads/half.bin")).is_ok_and(|b| b == content)
    });
    s.send("quit");
    assert!(
        wait_with_deadline(&mut s.child, T)
            .expect("quit exits")
            .success()
    );
}

#[test]
fn progress_without_a_terminal_is_plain_and_at_most_once_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("t"), 5);
    let a = home(dir.path(), "a");
    write(&a.join("upload/slow.bin"), &data(3 << 20, 42));
    let _seed = serve(tr.port, &a, &["--upload-rate", "1M"]);
    wait_listed(tr.port, "slow", 1);
    let started = Instant::now();
    let out = peer_cmd(
        tr.port,
        &dir.path().join("me"),
        &["download", "slow.bin"],
        T,
    );
    let elapsed = started.elapsed().as_secs_f64();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains('\x1b') && !err.contains('\r'),
        "no escape codes when stderr is not a terminal: {err:?}"
    );
    let progress: Vec<&str> = err.lines().filter(|l| l.starts_with("progress:")).collect();
    assert!(progress.len() >= 2, "shows progress: {err}");
    // At most one a second, and the line at 100% at the end, however soon.
    assert!(
        progress.len() as f64 <= elapsed + 2.0,
        "{} progress lines in {elapsed:.1} s",
        progress.len()
    );
    let last = progress.last().unwrap();
    assert!(last.contains("ETA") && last.contains(" peer"), "{last}");
    assert!(last.contains("100.0%"), "the last line is at 100%: {last}");
}

#[test]
fn tracker_page_lists_torrents_and_its_search_narrows() {
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("t"), 5);
    let a = home(dir.path(), "a");
    write(&a.join("upload/alpha<b>.txt"), b"alpha");
    write(&a.join("upload/beta.txt"), b"beta");
    let _seed = serve(tr.port, &a, &[]);
    wait_listed(tr.port, "beta", 1);
    wait_listed(tr.port, "alpha", 1);
    let addr = ([127, 0, 0, 1], tr.port).into();
    let get = |target: &str| {
        let (status, body) =
            swarmshare::sys::http_client::request(addr, "GET", target, b"", T).unwrap();
        assert_eq!(status, 200);
        String::from_utf8(body).unwrap()
    };
    let page = get("/");
    assert!(page.starts_with("<!doctype html>"));
    assert!(
        page.contains("beta") && page.contains("alpha&lt;b&gt;"),
        "lists both, escaped: {page}"
    );
    assert!(page.contains("<form") && page.contains("name=\"q\""));
    let key = search(tr.port, "beta").results[0].key.clone();
    assert!(page.contains(&format!("href=\"/torrent/{key}\"")));
    let narrowed = get("/?q=beta");
    assert!(
        narrowed.contains("beta") && !narrowed.contains("alpha"),
        "{narrowed}"
    );
    // The link serves the torrent itself.
    let (status, body) =
        swarmshare::sys::http_client::request(addr, "GET", &format!("/torrent/{key}"), b"", T)
            .unwrap();
    assert_eq!(status, 200);
    assert!(swarmshare::common::metainfo::Metainfo::from_bytes(&body).is_ok());
}
