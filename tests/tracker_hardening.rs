//! The tracker against hostile clients: slow senders, smuggled requests,
//! forged search lines, racing locks and a SIGKILL in the middle of a publish.
//! Every test talks raw TCP to the real `tracker_server` on loopback.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::*;
use swarmshare::common::bencode::Encoder;
use swarmshare::common::http;
use swarmshare::common::metainfo::Metainfo;
use swarmshare::sys::http_client;

const T: Duration = Duration::from_secs(10);

/// A `.torrent` for `files` (None: one file) under `name`, with `pieces` piece hashes.
fn torrent(name: &str, files: Option<&[&[&str]]>, pieces: usize) -> Vec<u8> {
    let piece_length = 16384i64;
    let total = pieces as i64 * piece_length;
    let mut info = Vec::new();
    let mut e = Encoder::new(&mut info);
    e.begin_dict();
    match files {
        None => {
            e.str("length").int(total);
        }
        Some(list) => {
            e.str("files").begin_list();
            let each = total / list.len() as i64;
            for (i, path) in list.iter().enumerate() {
                let len = if i + 1 == list.len() {
                    total - each * (list.len() as i64 - 1)
                } else {
                    each
                };
                e.begin_dict()
                    .str("length")
                    .int(len)
                    .str("path")
                    .begin_list();
                for c in *path {
                    e.str(c);
                }
                e.end().end();
            }
            e.end();
        }
    }
    let hashes: Vec<u8> = (0..pieces * 20)
        .map(|i| (i * 7 + name.len()) as u8)
        .collect();
    e.str("name")
        .str(name)
        .str("piece length")
        .int(piece_length)
        .str("pieces")
        .bytes(&hashes)
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

fn publish(port: u16, body: &[u8]) -> Result<(u16, String), http::HttpError> {
    let addr = ([127, 0, 0, 1], port).into();
    http_client::request(addr, "POST", "/publish", body, T)
        .map(|(s, b)| (s, String::from_utf8_lossy(&b).into_owned()))
}

fn announce_request(peer: u8) -> String {
    format!(
        "GET /announce?info_hash={}&peer_id=-XX0000-0000000000{peer:02}&port={}&left=0&compact=1 HTTP/1.1\r\nConnection: close\r\n\r\n",
        "%01".repeat(20),
        6000 + peer as u16
    )
}

/// Connects from `src`, sends one whole request, and reads the reply to its end.
fn timed_request(src: Ipv4Addr, port: u16, req: &[u8]) -> Result<(Duration, String), String> {
    let t0 = Instant::now();
    let dst = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
    let mut s =
        connect_from(src, dst, Duration::from_secs(3)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.write_all(req).map_err(|e| format!("write: {e}"))?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).map_err(|e| format!("read: {e}"))?;
    Ok((t0.elapsed(), String::from_utf8_lossy(&out).into_owned()))
}

/// Clients that each send the start of a request, then one header line every
/// `every`, from 127.0.0.2 onwards (`per_ip` connections per address, as many
/// machines would). A connection the tracker closes is opened again at once.
struct SlowCrowd {
    stop: Arc<AtomicBool>,
    open: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SlowCrowd {
    fn start(port: u16, n: usize, per_ip: usize, every: Duration) -> SlowCrowd {
        let stop = Arc::new(AtomicBool::new(false));
        let open = Arc::new(AtomicUsize::new(0));
        let (s2, o2) = (stop.clone(), open.clone());
        let dst = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
        let src = move |i: usize| {
            Ipv4Addr::new(
                127,
                0,
                (2 + i / per_ip / 250) as u8,
                (2 + (i / per_ip) % 250) as u8,
            )
        };
        let dial = move |i: usize| -> Option<TcpStream> {
            let s = connect_from(src(i), dst, Duration::from_millis(200)).ok()?;
            s.set_nonblocking(true).ok()?;
            (&s).write_all(b"GET /announce?info_hash=slow HTTP/1.1\r\n")
                .ok()?;
            Some(s)
        };
        let thread = std::thread::spawn(move || {
            let mut conns: Vec<Option<TcpStream>> = (0..n).map(|_| None).collect();
            let mut buf = [0u8; 512];
            while !s2.load(Ordering::Relaxed) {
                let round = Instant::now();
                for (i, c) in conns.iter_mut().enumerate() {
                    if s2.load(Ordering::Relaxed) {
                        break;
                    }
                    let alive = match c {
                        Some(s) => {
                            let closed = match s.read(&mut buf) {
                                Ok(_) => true,
                                Err(e) => e.kind() != ErrorKind::WouldBlock,
                            };
                            !closed && s.write_all(b"X-Slow: 1\r\n").is_ok()
                        }
                        None => false,
                    };
                    if !alive {
                        *c = dial(i);
                    }
                }
                o2.store(
                    conns.iter().filter(|c| c.is_some()).count(),
                    Ordering::Relaxed,
                );
                while round.elapsed() < every && !s2.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        });
        SlowCrowd {
            stop,
            open,
            thread: Some(thread),
        }
    }
}

impl Drop for SlowCrowd {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Problem 3: 2,500 connections that each trickle a header line every two
/// seconds (more than the old pool of 1,024 threads plus its queue of 1,024)
/// neither starve announces and scrapes nor cost the tracker a thread each.
#[test]
fn slow_clients_do_not_starve_announce_or_scrape() {
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("t"), 60);
    let crowd = SlowCrowd::start(tr.port, 2500, 10, Duration::from_secs(2));
    wait_until(
        "2,500 slow connections open",
        Duration::from_secs(60),
        || crowd.open.load(Ordering::Relaxed) >= 2400,
    );
    let mut worst = Duration::ZERO;
    let scrape = format!(
        "GET /scrape?info_hash={} HTTP/1.1\r\nConnection: close\r\n\r\n",
        "%01".repeat(20)
    );
    let t0 = Instant::now();
    let mut i = 0u8;
    while t0.elapsed() < Duration::from_secs(8) {
        i = i.wrapping_add(1) % 90;
        for req in [announce_request(i), scrape.clone()] {
            let (took, reply) = timed_request(Ipv4Addr::LOCALHOST, tr.port, req.as_bytes())
                .unwrap_or_else(|e| panic!("no answer while slow clients are connected: {e}"));
            assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
            assert!(reply.contains("complete"), "{reply}");
            worst = worst.max(took);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let open = crowd.open.load(Ordering::Relaxed);
    let threads = thread_count(tr.child.id());
    drop(crowd);
    eprintln!(
        "slowest announce/scrape {worst:?} with {open} slow connections; tracker threads {threads}"
    );
    assert!(open >= 2000, "only {open} slow connections were open");
    assert!(
        worst < Duration::from_secs(2),
        "slowest answer took {worst:?}"
    );
    assert!(
        threads < 200,
        "slow clients cost the tracker threads: {threads}"
    );
}

/// Problem 3: a whole request must arrive within a few seconds, however
/// steadily its lines trickle in.
#[test]
fn a_request_trickled_line_by_line_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("t"), 60);
    let mut s = TcpStream::connect(("127.0.0.1", tr.port)).unwrap();
    s.write_all(b"GET /announce?info_hash=x HTTP/1.1\r\n")
        .unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let t0 = Instant::now();
    let mut buf = [0u8; 512];
    loop {
        assert!(
            t0.elapsed() < Duration::from_secs(14),
            "the tracker kept a trickling request open for {:?}",
            t0.elapsed()
        );
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
        if s.write_all(b"X-Slow: 1\r\n").is_err() {
            break;
        }
    }
    assert!(
        t0.elapsed() >= Duration::from_secs(2),
        "cut off too soon: {:?}",
        t0.elapsed()
    );
}

/// Problem 3: one address cannot hold more than its share of connections;
/// others are still served, and so is it once it lets go. (A one-shot
/// announce that arrives whole with its connection holds nothing, and is
/// answered whatever the count.)
#[test]
fn connections_per_address_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker_with(&dir.path().join("t"), 60, &["--max-conns-per-ip", "4"]);
    let dst = SocketAddrV4::new(Ipv4Addr::LOCALHOST, tr.port);
    let hog = Ipv4Addr::new(127, 0, 0, 7);
    let search = b"GET /search?q=x HTTP/1.1\r\nConnection: close\r\n\r\n";
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut s = connect_from(hog, dst, T).unwrap();
        s.write_all(b"GET /search?q=x HTTP/1.1\r\n").unwrap();
        held.push(s);
    }
    // The fifth from the same address is turned away at once, not queued.
    wait_until("the fifth connection refused", T, || {
        timed_request(hog, tr.port, search).is_ok_and(|(_, r)| r.starts_with("HTTP/1.1 503"))
    });
    let mut fifth = connect_from(hog, dst, T).unwrap();
    fifth.write_all(b"GET /search?q=x HTTP/1.1\r\n").unwrap();
    fifth.set_read_timeout(Some(T)).unwrap();
    let mut reply = String::new();
    fifth.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 503"), "{reply}");
    let (_, reply) = timed_request(hog, tr.port, announce_request(1).as_bytes()).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let (_, reply) = timed_request(Ipv4Addr::new(127, 0, 0, 8), tr.port, search).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    drop(held);
    wait_until("the address served again", T, || {
        timed_request(hog, tr.port, search).is_ok_and(|(_, r)| r.starts_with("HTTP/1.1 200"))
    });
}

/// Problem 6: framing the tracker cannot be sure of is refused with one 400,
/// the connection is closed, and nothing after it is run as a request.
#[test]
fn ambiguous_framing_is_refused_and_never_smuggled() {
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("t"), 60);
    let smuggled = announce_request(3);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "two different Content-Length",
            format!(
                "POST /publish HTTP/1.1\r\nContent-Length: {}\r\nContent-Length: 0\r\n\r\n{smuggled}",
                smuggled.len()
            )
            .into_bytes(),
        ),
        (
            "the same Content-Length twice",
            format!("GET /search?q=a HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n{smuggled}").into_bytes(),
        ),
        (
            "Transfer-Encoding with Content-Length",
            format!("POST /publish HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n{smuggled}").into_bytes(),
        ),
        (
            "a signed Content-Length",
            b"GET /search?q=a HTTP/1.1\r\nContent-Length: +0\r\n\r\n".to_vec(),
        ),
        (
            "a space before the colon",
            b"GET /search?q=a HTTP/1.1\r\nContent-Length : 0\r\n\r\n".to_vec(),
        ),
        (
            "a folded header line",
            b"GET /search?q=a HTTP/1.1\r\nX-A: b\r\n c\r\n\r\n".to_vec(),
        ),
        (
            "a header line past the limit",
            format!("GET /search?q=a HTTP/1.1\r\nX-Long: {}\r\n\r\n", "a".repeat(9000)).into_bytes(),
        ),
        (
            "too many header lines",
            format!("GET /search?q=a HTTP/1.1\r\n{}\r\n", "X-Many: 1\r\n".repeat(200)).into_bytes(),
        ),
        (
            "a header block past the limit",
            format!("GET /search?q=a HTTP/1.1\r\n{}\r\n", format!("X-Big: {}\r\n", "b".repeat(4000)).repeat(5)).into_bytes(),
        ),
    ];
    for (what, bytes) in cases {
        let out = raw_exchange(tr.port, &bytes, T).unwrap_or_else(|e| panic!("{what}: {e}"));
        let out = String::from_utf8_lossy(&out);
        assert!(out.starts_with("HTTP/1.1 400"), "{what}: {out}");
        assert_eq!(
            out.matches("HTTP/1.1 ").count(),
            1,
            "{what}: a second reply: {out}"
        );
        assert!(out.contains("Connection: close"), "{what}: {out}");
    }
    // The smuggled announce never reached the registry.
    let scrape = format!(
        "GET /scrape?info_hash={} HTTP/1.1\r\nConnection: close\r\n\r\n",
        "%01".repeat(20)
    );
    let out =
        String::from_utf8_lossy(&raw_exchange(tr.port, scrape.as_bytes(), T).unwrap()).into_owned();
    assert!(
        out.contains("8:completei0e"),
        "a smuggled announce was run: {out}"
    );
    // Honest pipelining on one connection still works.
    let two =
        b"GET /search?q=a HTTP/1.1\r\n\r\nGET /search?q=b HTTP/1.1\r\nConnection: close\r\n\r\n";
    let out = String::from_utf8_lossy(&raw_exchange(tr.port, two, T).unwrap()).into_owned();
    assert_eq!(out.matches("HTTP/1.1 200").count(), 2, "{out}");
}

fn search_lines(data: &Path) -> Vec<String> {
    std::fs::read_to_string(data.join("search_content.txt"))
        .unwrap_or_default()
        .split('\n')
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Each line is `Name : N type: T tor : F` for a torrent F that exists, once.
fn assert_well_formed(data: &Path) {
    let lines = search_lines(data);
    let mut seen = std::collections::HashSet::new();
    for l in &lines {
        assert!(
            !l.bytes().any(|b| b < 0x20 || b == 0x7f),
            "control byte in {l:?}"
        );
        assert!(
            l.starts_with("Name : ") && l.contains(" type: "),
            "malformed {l:?}"
        );
        let tor = l
            .rsplit_once(" tor : ")
            .map(|(_, t)| t)
            .unwrap_or_else(|| panic!("{l:?}"));
        assert!(
            data.join("published").join(tor).is_file(),
            "{l:?} names no torrent"
        );
        assert!(seen.insert(tor.to_owned()), "{tor} listed twice");
    }
    let published = std::fs::read_dir(data.join("published")).unwrap().count();
    assert_eq!(
        lines.len(),
        published,
        "one line per published torrent: {lines:?}"
    );
}

/// Problem 4: control characters in a name or a path are refused at publish,
/// so no one can forge lines in search_content.txt.
#[test]
fn names_with_control_characters_are_refused_at_publish() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("t");
    let tr = tracker(&data, 60);
    let (status, _) = publish(tr.port, &torrent("honest.txt", None, 1)).unwrap();
    assert_eq!(status, 200);
    let forged = "x.txt tor : x.txt.torrent\nName : forged type: exe tor : honest.txt.torrent";
    for (what, body) in [
        ("newline in a name", torrent(forged, None, 1)),
        ("carriage return in a name", torrent("a\rb.txt", None, 1)),
        ("DEL in a name", torrent("a\x7fb.txt", None, 1)),
        ("tab in a name", torrent("a\tb.txt", None, 1)),
        (
            "newline in a path",
            torrent("dir", Some(&[&["ok.txt"], &["evil\n.txt"]]), 2),
        ),
        (
            "escape in a folder",
            torrent("dir", Some(&[&["sub\x1b", "f.txt"]]), 1),
        ),
    ] {
        let (status, reply) = publish(tr.port, &body).unwrap();
        assert_eq!(status, 400, "{what}: {reply}");
        assert!(reply.contains("control character"), "{what}: {reply}");
    }
    assert_eq!(
        search_lines(&data),
        vec!["Name : honest type: txt tor : honest.txt.torrent"]
    );
    assert_well_formed(&data);
}

/// Problem 4: at start-up search_content.txt is checked, not trusted: forged,
/// torn and repeated lines are reported and dropped, missing ones written, and
/// a second restart changes nothing.
#[test]
fn search_content_is_checked_at_start_up_and_never_grows_by_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("t");
    std::fs::create_dir_all(data.join("published")).unwrap();
    for name in ["one.txt", "two.mp4", "three.iso"] {
        std::fs::write(
            data.join("published").join(format!("{name}.torrent")),
            torrent(name, None, 1),
        )
        .unwrap();
    }
    std::fs::write(
        data.join("search_content.txt"),
        "Name : one type: txt tor : one.txt.torrent\n\
         Name : forged type: exe tor : one.txt.torrent\n\
         Name : one type: txt tor : one.txt.torrent\n\
         garbage without form\n\
         Name : ghost type: txt tor : ghost.txt.torrent\n\
         Name : two type: mp4 tor : two.mp4.tor",
    )
    .unwrap();
    let log = dir.path().join("tracker.log");
    let start = || {
        let mut cmd = std::process::Command::new(TRACKER);
        cmd.args(["--ip", "127.0.0.1", "--port", "0", "--data-dir"])
            .arg(&data)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap());
        let mut child = Spawned(cmd.spawn().unwrap());
        let mut line = String::new();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        assert!(line.contains("listening on"), "{line}");
        child
    };
    drop(start());
    let mut lines = search_lines(&data);
    lines.sort();
    assert_eq!(
        lines,
        vec![
            "Name : one type: txt tor : one.txt.torrent",
            "Name : three type: iso tor : three.iso.torrent",
            "Name : two type: mp4 tor : two.mp4.torrent",
        ]
    );
    let warned = std::fs::read_to_string(&log).unwrap();
    assert!(
        warned.contains("search_content.txt"),
        "no warning: {warned}"
    );
    assert!(
        warned.contains("forged"),
        "the forged line is not reported: {warned}"
    );
    let before = std::fs::read(data.join("search_content.txt")).unwrap();
    drop(start());
    drop(start());
    assert_eq!(
        std::fs::read(data.join("search_content.txt")).unwrap(),
        before
    );
    assert!(
        std::fs::read_to_string(&log).unwrap().trim().is_empty(),
        "a clean file is not reported"
    );
}

/// Problem 7: scrape (all torrents) and search take the same locks; hammered
/// together, both keep answering.
#[test]
fn scrape_and_search_together_never_deadlock() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("t");
    let tr = tracker(&data, 60);
    for i in 0..20 {
        assert_eq!(
            publish(tr.port, &torrent(&format!("file{i}.bin"), None, 1))
                .unwrap()
                .0,
            200
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let failure = Arc::new(Mutex::new(None::<String>));
    let port = tr.port;
    let workers: Vec<_> = (0..8)
        .map(|k| {
            let (stop, done, failure) = (stop.clone(), done.clone(), failure.clone());
            std::thread::spawn(move || {
                let target = if k % 2 == 0 {
                    "/scrape".to_owned()
                } else {
                    format!("/search?q=file{k}")
                };
                let addr = ([127, 0, 0, 1], port).into();
                while !stop.load(Ordering::Relaxed) {
                    match http_client::request(addr, "GET", &target, b"", Duration::from_secs(5)) {
                        Ok((200, _)) => {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        other => {
                            *failure.lock().unwrap() = Some(format!("{target}: {other:?}"));
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(6) && failure.lock().unwrap().is_none() {
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(
        *failure.lock().unwrap(),
        None,
        "after {} answers",
        done.load(Ordering::Relaxed)
    );
    assert!(done.load(Ordering::Relaxed) > 100);
}

/// Problems 9 and 4: SIGKILLed again and again while publishing, the tracker
/// keeps every publish it acknowledged, never tears or repeats a line in
/// search_content.txt, and leaves no temporary file behind.
#[test]
fn sigkill_during_publish_loses_nothing_acknowledged_and_leaves_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("t");
    let acked = Arc::new(Mutex::new(Vec::<(String, Vec<u8>)>::new()));
    let mut rng = fastrand::Rng::with_seed(10);
    let mut leftovers = 0;
    for round in 0..16 {
        let mut tr = tracker(&data, 60);
        let stop = Arc::new(AtomicBool::new(false));
        let publishers: Vec<_> = (0..3)
            .map(|k| {
                let (stop, acked, port) = (stop.clone(), acked.clone(), tr.port);
                std::thread::spawn(move || {
                    for i in 0.. {
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        let name = format!("r{round}-p{k}-{i}.bin");
                        let body = torrent(&name, None, 20_000);
                        match publish(port, &body) {
                            Ok((200, _)) => acked.lock().unwrap().push((name, body)),
                            Ok((status, reply)) => panic!("{name}: {status} {reply}"),
                            Err(_) => return,
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(rng.u64(30..250)));
        tr.kill9();
        stop.store(true, Ordering::Relaxed);
        for p in publishers {
            p.join().unwrap();
        }
        leftovers += std::fs::read_dir(data.join("published"))
            .unwrap()
            .filter(|e| {
                !e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".torrent")
            })
            .count();
    }
    let tr = tracker(&data, 60);
    let acked = acked.lock().unwrap();
    assert!(
        acked.len() >= 16,
        "only {} publishes acknowledged",
        acked.len()
    );
    for (name, body) in acked.iter() {
        let key = Metainfo::from_bytes(body).unwrap().info_hash.hex();
        let (status, bytes) = http_client::request(
            ([127, 0, 0, 1], tr.port).into(),
            "GET",
            &format!("/torrent/{key}"),
            b"",
            T,
        )
        .unwrap();
        assert_eq!(status, 200, "{name} was acknowledged and lost");
        assert!(bytes == *body, "{name} changed");
        assert_eq!(
            search(tr.port, name).results.len(),
            1,
            "{name} not searchable"
        );
    }
    eprintln!(
        "{} acknowledged publishes; temporary files seen after kills: {leftovers}",
        acked.len()
    );
    let stray: Vec<_> = std::fs::read_dir(data.join("published"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".torrent"))
        .collect();
    assert!(stray.is_empty(), "temporary files left: {stray:?}");
    assert_well_formed(&data);
}
