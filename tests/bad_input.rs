//! Bad input never crashes anything and never loses data: each case gets one
//! clear error line and a non-zero exit code, and the servers keep serving.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use support::*;
use swarmshare::common::bencode::Encoder;
use swarmshare::common::metainfo::InfoHash;

const T: Duration = Duration::from_secs(30);

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The error is one line (logs are silenced by RUST_LOG=warn in the harness).
fn one_error_line(o: &std::process::Output, needle: &str) {
    assert!(!o.status.success(), "should fail: {o:?}");
    let err = stderr(o);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("peer:") || l.starts_with("error"))
        .collect();
    assert_eq!(lines.len(), 1, "one error line, got: {err}");
    assert!(lines[0].contains(needle), "expected {needle:?} in {err}");
    assert!(!err.contains("panicked"), "{err}");
}

fn torrent_named(name: &str, files: Option<&[&[&str]]>) -> Vec<u8> {
    let mut info = Vec::new();
    let mut e = Encoder::new(&mut info);
    e.begin_dict();
    match files {
        None => {
            e.str("length").int(5);
        }
        Some(list) => {
            e.str("files").begin_list();
            for path in list {
                e.begin_dict().str("length").int(5).str("path").begin_list();
                for c in *path {
                    e.str(c);
                }
                e.end().end();
            }
            e.end();
        }
    }
    e.str("name")
        .str(name)
        .str("piece length")
        .int(16384)
        .str("pieces")
        .bytes(&[7u8; 20])
        .end();
    let mut out = Vec::new();
    Encoder::new(&mut out)
        .begin_dict()
        .str("announce")
        .str("http://127.0.0.1:1/announce")
        .str("info")
        .raw(&info)
        .end();
    out
}

#[test]
fn unknown_name_is_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("t"), 5);
    let out = peer_cmd(
        tr.port,
        &dir.path().join("h"),
        &["download", "no-such-file"],
        T,
    );
    one_error_line(&out, "no match");
    assert_eq!(out.status.code(), Some(1));
    let out = peer_cmd(
        tr.port,
        &dir.path().join("h"),
        &["search", "nothing", "here"],
        T,
    );
    one_error_line(&out, "no match");
}

#[test]
fn no_tracker_listening_is_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    // Bind then drop, so the port is almost surely closed.
    let port = free_port();
    for args in [&["search", "x"][..], &["download", "x"]] {
        let out = peer_cmd(port, &dir.path().join("h"), args, T);
        one_error_line(&out, "tracker unreachable");
        assert!(stderr(&out).contains("tracker_server running"));
    }
}

#[test]
fn malformed_torrent_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.torrent");
    std::fs::write(&bad, b"d8:announce3:url4:infod4:name").unwrap();
    let out = peer_cmd(
        1,
        &dir.path().join("h"),
        &["show", bad.to_str().unwrap()],
        T,
    );
    one_error_line(&out, "not a valid torrent");
    let out = peer_cmd(
        1,
        &dir.path().join("h"),
        &["download", "--torrent", bad.to_str().unwrap()],
        T,
    );
    one_error_line(&out, "not a valid torrent");
    let missing = dir.path().join("missing.torrent");
    let out = peer_cmd(
        1,
        &dir.path().join("h"),
        &["show", missing.to_str().unwrap()],
        T,
    );
    one_error_line(&out, "missing.torrent");
}

#[test]
fn names_that_escape_the_download_folder_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("t"), 5);
    let h = dir.path().join("h");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("dotdot", torrent_named("../x", None)),
        ("absolute", torrent_named("/tmp/swarmshare-escape", None)),
        ("parent", torrent_named("..", None)),
        (
            "component",
            torrent_named("dir", Some(&[&["..", "..", "evil"]])),
        ),
        (
            "absolute component",
            torrent_named("dir", Some(&[&["/etc", "passwd"]])),
        ),
    ];
    for (what, bytes) in cases {
        let f = dir.path().join(format!("{what}.torrent"));
        std::fs::write(&f, &bytes).unwrap();
        let out = peer_cmd(
            tr.port,
            &h,
            &["download", "--torrent", f.to_str().unwrap()],
            T,
        );
        one_error_line(&out, "unsafe");
        // The tracker refuses to publish it too.
        let addr = ([127, 0, 0, 1], tr.port).into();
        let (status, body) =
            swarmshare::sys::http_client::request(addr, "POST", "/publish", &bytes, T).unwrap();
        assert_eq!(status, 400, "{what}: {}", String::from_utf8_lossy(&body));
    }
    assert!(!dir.path().join("x").exists() && !Path::new("/tmp/swarmshare-escape").exists());
    assert!(!dir.path().join("evil").exists());
}

#[test]
fn garbage_to_the_tracker_gets_400_and_it_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("t"), 5);
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], tr.port).into();
    let send = |bytes: &[u8]| -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(T)).unwrap();
        let _ = s.write_all(bytes);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    assert!(send(b"\x00\x01\x02garbage\r\n\r\n").starts_with("HTTP/1.1 400"));
    assert!(send(&data(100_000, 9)).starts_with("HTTP/1.1 4"));
    assert!(
        send(b"GET /announce?info_hash=short&port=1 HTTP/1.1\r\n\r\n").contains("failure reason")
    );
    assert!(send(b"GET /announce?info_hash=%zz HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 400"));
    assert!(
        send(b"POST /publish HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")
            .starts_with("HTTP/1.1 400")
    );
    assert!(send(b"GET /torrent/nothex HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 400"));
    assert!(
        send(b"POST /publish HTTP/1.1\r\nContent-Length: 999999999999\r\n\r\n")
            .starts_with("HTTP/1.1 413")
    );
    // Still alive and answering.
    assert!(search(tr.port, "anything").results.is_empty());
    assert!(
        std::fs::read_to_string(dir.path().join("t/search_content.txt"))
            .unwrap_or_default()
            .is_empty()
    );
}

#[test]
fn garbage_to_a_peer_is_dropped_and_it_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("t"), 5);
    let a = home(dir.path(), "a");
    let content = data(300_000, 10);
    write(&a.join("upload/solid.dat"), &content);
    let s = serve(tr.port, &a, &[]);
    wait_listed(tr.port, "solid", 1);
    let key = search(tr.port, "solid").results[0].key.clone();
    let hash = InfoHash::from_hex(&key).unwrap().0;
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], s.port).into();
    let mut handshake = vec![19u8];
    handshake.extend_from_slice(b"BitTorrent protocol");
    handshake.extend_from_slice(&[0; 8]);
    handshake.extend_from_slice(&hash);
    handshake.extend_from_slice(b"-XX0000-hostile-peer");
    let attacks: Vec<Vec<u8>> = vec![
        data(5000, 11),
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        [&handshake[..], &[0xff, 0xff, 0xff, 0xff, 7]].concat(),
        [
            &handshake[..],
            &[
                0, 0, 0, 13, 6, 0, 0, 0, 99, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,
            ],
        ]
        .concat(),
        [&handshake[..], &[0, 0, 0, 5, 4, 0xff, 0xff, 0xff, 0xff]].concat(),
        [&handshake[..], &[0, 0, 0, 3, 5, 0xff, 0xff]].concat(),
    ];
    for bytes in attacks {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let _ = c.write_all(&bytes);
        let mut sink = Vec::new();
        let _ = c.read_to_end(&mut sink);
    }
    let out = peer_cmd(
        tr.port,
        &dir.path().join("c"),
        &["download", "solid.dat", "--json"],
        T,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(dir.path().join("c/downloads/solid.dat")).unwrap(),
        content
    );
}

#[test]
fn wrong_arguments_and_busy_resources_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let h = dir.path().join("h");
    let mut cmd = peer_bin();
    cmd.args(["127.0.0.1", "notaport", "search", "x"]);
    let out = run_bounded(cmd, T);
    assert_eq!(out.status.code(), Some(2));
    let out = peer_cmd(1, &h, &["--upload-rate", "fast", "serve"], T);
    assert!(!out.status.success() && stderr(&out).contains("invalid rate"));
    // A cap of no peers at all could never download anything.
    let out = peer_cmd(1, &h, &["--max-peers", "0", "serve"], T);
    assert!(!out.status.success() && stderr(&out).contains("--max-peers"));
    let mut cmd = std::process::Command::new(TRACKER);
    cmd.args(["--port", "0", "--max-conns-per-ip", "0"]);
    let out = run_bounded(cmd, T);
    assert!(!out.status.success() && stderr(&out).contains("--max-conns-per-ip"));
    let taken = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = peer_cmd(1, &h, &["--listen", &port, "serve"], T);
    one_error_line(&out, "cannot listen");
    let tr = tracker(&dir.path().join("t"), 5);
    let _first = serve(tr.port, &h, &[]);
    let out = peer_cmd(tr.port, &h, &["serve"], T);
    one_error_line(&out, "in use by another running peer");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port().to_string();
    let mut cmd = std::process::Command::new(TRACKER);
    cmd.args(["--ip", "127.0.0.1", "--port", &busy_port]);
    let out = run_bounded(cmd, T);
    assert!(
        !out.status.success() && stderr(&out).contains("cannot listen"),
        "{}",
        stderr(&out)
    );
}

/// A seeder that claims every piece and answers every request with zeros.
fn lying_seeder(
    info_hash: [u8; 20],
    served: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { continue };
            let served = served.clone();
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
                let mut hs = [0u8; 68];
                if s.read_exact(&mut hs).is_err() {
                    return;
                }
                let mut reply = vec![19u8];
                reply.extend_from_slice(b"BitTorrent protocol");
                reply.extend_from_slice(&[0; 8]);
                reply.extend_from_slice(&info_hash);
                reply.extend_from_slice(b"-XX0000-liar-liar-00");
                // A bitfield of every piece (64 pieces: 8 bytes of ones).
                reply.extend_from_slice(&[0, 0, 0, 9, 5]);
                reply.extend_from_slice(&[0xff; 8]);
                if s.write_all(&reply).is_err() {
                    return;
                }
                loop {
                    let mut len = [0u8; 4];
                    if s.read_exact(&mut len).is_err() {
                        return;
                    }
                    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
                    if s.read_exact(&mut body).is_err() {
                        return;
                    }
                    let answer = match body.first() {
                        Some(2) => vec![0, 0, 0, 1, 1],
                        Some(6) if body.len() == 13 => {
                            let n = u32::from_be_bytes(body[9..13].try_into().unwrap());
                            let mut m = (9 + n).to_be_bytes().to_vec();
                            m.push(7);
                            m.extend_from_slice(&body[1..9]);
                            m.extend(std::iter::repeat_n(0u8, n as usize));
                            served.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            m
                        }
                        _ => continue,
                    };
                    if s.write_all(&answer).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

#[test]
fn bad_pieces_are_refetched_and_their_sender_banned() {
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("t"), 5);
    let a = home(dir.path(), "a");
    let content = data(1 << 20, 12);
    write(&a.join("upload/honest.bin"), &content);
    // The honest seeder is slow, so the liar gets asked for many pieces.
    let _s = serve(tr.port, &a, &["--upload-rate", "256K"]);
    wait_listed(tr.port, "honest", 1);
    let key = search(tr.port, "honest").results[0].key.clone();
    let hash = InfoHash::from_hex(&key).unwrap().0;
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let liar = lying_seeder(hash, served.clone());

    let liar_addr = format!("127.0.0.1:{liar}");
    let c = dir.path().join("c");
    let out = peer_cmd(
        tr.port,
        &c,
        &["--connect", &liar_addr, "download", "honest.bin", "--json"],
        T,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(c.join("downloads/honest.bin")).unwrap(),
        content,
        "no bad piece kept"
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let from_liar: u64 = summary["sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["addr"] == liar_addr.as_str())
        .map(|s| s["bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(from_liar, 0, "nothing from the liar counts: {summary}");
    let lies = served.load(std::sync::atomic::Ordering::Relaxed);
    assert!(lies >= 3, "the liar was asked ({lies} blocks) and refused");
    // Banned after three bad pieces: it cannot have been asked for much more
    // than three pieces plus what was in flight when the third failed.
    assert!(lies < 64, "the liar kept being asked: {lies} blocks");
}

/// Clients that connect and dawdle (half a request, nothing at all, an idle
/// keep-alive connection) hold a thread each, never the tracker: an announce
/// and a search from someone else are still answered at once.
#[test]
fn dawdling_clients_do_not_hold_up_the_tracker() {
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("t"), 5);
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], tr.port).into();
    let mut held = Vec::new();
    for start in [
        &b"GET /announce?info_hash="[..],
        b"",
        b"GET /search?q=x HTTP/1.1\r\n\r\n",
    ] {
        for _ in 0..20 {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(start).unwrap();
            held.push(s);
        }
    }
    let hash = "%01".repeat(20);
    let mut s = TcpStream::connect(addr).unwrap();
    // Well inside the tracker's 15 s idle timeout, which would free a stuck acceptor.
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET /announce?info_hash={hash}&peer_id=-XX0000-000000000000&port=6881&left=0&compact=1 HTTP/1.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply)
        .expect("the announce was answered while other clients dawdled");
    assert!(
        reply.starts_with("HTTP/1.1 200") && reply.contains("interval"),
        "{reply}"
    );
    assert!(search(tr.port, "anything").results.is_empty());
    drop(held);
}
