//! Issue 12's tracker items, end to end: the tracker prints its page's URL,
//! the page links a magnet per torrent through the Host the browser used, and
//! `/torrent/KEY` is saved under the torrent's name.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

#[test]
fn the_tracker_prints_its_page_url_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Spawned(
        Command::new(TRACKER)
            .args(["--ip", "localhost", "--port", "0", "--data-dir"])
            .arg(dir.path())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let (mut first, mut second) = (String::new(), String::new());
    out.read_line(&mut first).unwrap();
    out.read_line(&mut second).unwrap();
    assert!(
        first.starts_with("tracker listening on 127.0.0.1:"),
        "{first}"
    );
    let port = first.trim().rsplit(':').next().unwrap();
    assert_eq!(
        second.trim(),
        format!("tracker page: http://127.0.0.1:{port}/")
    );
}

#[test]
fn the_tracker_ip_is_strict_too() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(TRACKER);
    cmd.args(["--ip", "127.1", "--port", "0", "--data-dir"])
        .arg(dir.path());
    let out = run_bounded(cmd, Duration::from_secs(10));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("\"127.1\" is not a full IPv4 address"),
        "{err}"
    );
}

#[test]
fn torrents_download_under_their_name_and_the_page_has_magnets() {
    let dir = tempfile::tempdir().unwrap();
    let s = seeded(dir.path(), "clip.mp4", &data(40_000, 3), &[]);
    let reply = raw_exchange(
        s.tracker.port,
        format!(
            "GET /torrent/{} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
            s.found.key
        )
        .as_bytes(),
        Duration::from_secs(5),
    )
    .unwrap();
    let head =
        String::from_utf8_lossy(&reply[..reply.windows(4).position(|w| w == b"\r\n\r\n").unwrap()])
            .into_owned();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.contains("\r\nContent-Disposition: attachment; filename=\"clip.mp4.torrent\""),
        "{head}"
    );

    let page = raw_exchange(
        s.tracker.port,
        b"GET /?q=clip HTTP/1.1\r\nHost: tracker.example:6969\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    )
    .unwrap();
    let page = String::from_utf8_lossy(&page);
    assert!(
        page.contains(&format!(
            "magnet:?xt=urn:btih:{}&amp;dn=clip.mp4&amp;tr=http%3A%2F%2Ftracker.example%3A6969%2Fannounce",
            s.found.key
        )),
        "{page}"
    );
    assert!(page.contains(">40.0 kB<"), "{page}");
    let none = raw_exchange(
        s.tracker.port,
        b"GET /?q=nothing-like-it HTTP/1.1\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    )
    .unwrap();
    assert!(String::from_utf8_lossy(&none).contains("No results for"));
}
