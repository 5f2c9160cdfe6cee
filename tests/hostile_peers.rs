//! Strangers that do not play along: peers that hold upload slots without using
//! them, connection floods, slow readers that keep many requests out, and
//! peers that send malformed or unasked-for data. In every case the peer stays
//! up, drops the bad connection, and an honest download completes byte for byte.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::*;
use swarmshare::common::metainfo::InfoHash;

const T: Duration = Duration::from_secs(60);

/// A tracker and a `serve` seeder of `len` random bytes named `name`; returns
/// the processes, the content and the info hash.
fn seeded_bytes(
    dir: &std::path::Path,
    name: &str,
    len: usize,
    extra: &[&str],
) -> (Proc, Proc, Vec<u8>, [u8; 20]) {
    let content = data(len, len as u64);
    let s = seeded(dir, name, &content, extra);
    let hash = InfoHash::from_hex(&s.found.key).unwrap().0;
    (s.tracker, s.seeder, content, hash)
}

fn download(tracker_port: u16, home: &std::path::Path, name: &str) -> (Duration, Vec<u8>) {
    let started = Instant::now();
    let out = peer_cmd(tracker_port, home, &["download", name, "--json"], T);
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "download failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        took,
        std::fs::read(home.join("downloads").join(name)).unwrap(),
    )
}

/// How many idle peers have been unchoked, and how many unchoked and choked again.
#[derive(Default)]
struct IdleCounts {
    unchoked: AtomicUsize,
    cycled: AtomicUsize,
}

/// An idle peer: handshakes, says `interested`, never requests anything.
fn idle_interested(
    addr: SocketAddr,
    hash: [u8; 20],
    n: usize,
    counts: Arc<IdleCounts>,
    stop: Arc<AtomicBool>,
) {
    std::thread::spawn(move || {
        let Ok(mut s) = TcpStream::connect(addr) else {
            return;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let id = format!("-ID0000-{n:012}");
        if s.write_all(&handshake(hash, id.as_bytes(), [0; 8]))
            .is_err()
        {
            return;
        }
        let mut hs = [0u8; 68];
        if s.read_exact(&mut hs).is_err() {
            return;
        }
        let _ = s.write_all(&[0, 0, 0, 1, 2]);
        let mut unchoked = false;
        let mut counted = false;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        while !stop.load(Ordering::Relaxed) {
            match s.read(&mut chunk) {
                Ok(0) => return,
                Ok(k) => buf.extend_from_slice(&chunk[..k]),
                Err(_) => continue,
            }
            while buf.len() >= 4 {
                let len = u32::from_be_bytes(buf[..4].try_into().unwrap()) as usize;
                if buf.len() < 4 + len {
                    break;
                }
                match buf.get(4) {
                    Some(1) if len == 1 => {
                        if !unchoked {
                            counts.unchoked.fetch_add(1, Ordering::Relaxed);
                        }
                        unchoked = true;
                    }
                    Some(0) if len == 1 && unchoked && !counted => {
                        counted = true;
                        counts.cycled.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {}
                }
                buf.drain(..4 + len);
            }
        }
    });
}

fn handshake(hash: [u8; 20], peer_id: &[u8], reserved: [u8; 8]) -> Vec<u8> {
    let mut h = vec![19u8];
    h.extend_from_slice(b"BitTorrent protocol");
    h.extend_from_slice(&reserved);
    h.extend_from_slice(&hash);
    h.extend_from_slice(&peer_id[..20]);
    h
}

/// Problem 1: peers that take an upload slot and never request lose it within
/// seconds, so an honest downloader is served at once, even with 20 of them
/// attached and 300 silent connections besides.
#[test]
fn idle_peers_do_not_starve_an_honest_download() {
    // The attack in place: every idle peer has been given a slot and lost it.
    honest_download_amid_idle_peers("every idle peer to be unchoked and choked again", |c| {
        c.cycled.load(Ordering::Relaxed) >= 20
    });
}

/// Problem 1, at its hardest: the honest peer arrives while the idle peers are
/// still on their first trial, holding every slot and waiting before it in line.
#[test]
fn an_honest_peer_arriving_amid_fresh_idle_peers_is_served_at_once() {
    // Four: the default --upload-slots, all held by idle peers.
    honest_download_amid_idle_peers("the upload slots to go to idle peers", |c| {
        c.unchoked.load(Ordering::Relaxed) >= 4
    });
}

fn honest_download_amid_idle_peers(attack: &str, in_place: fn(&IdleCounts) -> bool) {
    let dir = tempfile::tempdir().unwrap();
    let (tr, s, content, hash) = seeded_bytes(dir.path(), "slots.bin", 8 << 20, &[]);
    let addr: SocketAddr = ([127, 0, 0, 1], s.port).into();
    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(IdleCounts::default());
    for n in 0..20 {
        idle_interested(addr, hash, n, counts.clone(), stop.clone());
    }
    wait_until(attack, Duration::from_secs(90), || in_place(&counts));
    let mut silent = Vec::new();
    for n in 0..300 {
        let Ok(mut c) = TcpStream::connect(addr) else {
            continue;
        };
        if n % 2 == 0 {
            let id = format!("-SL0000-{n:012}");
            let _ = c.write_all(&handshake(hash, id.as_bytes(), [0; 8]));
        }
        silent.push(c);
    }
    let (took, got) = download(tr.port, &dir.path().join("honest"), "slots.bin");
    stop.store(true, Ordering::Relaxed);
    println!(
        "honest 8 MiB download with 20 idle and 300 silent peers attached ({attack}): {:.3} s",
        took.as_secs_f64()
    );
    assert!(got == content, "downloaded bytes differ");
    assert!(
        took < Duration::from_secs(3),
        "the honest download took {took:?} (target: under 3 s)"
    );
    drop(silent);
}

fn proc_threads(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn proc_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Problem 2: 500 connections at once, half silent and half handshaking, cost the seeder threads and descriptors bounded by --max-peers,
/// not by the number of connections; an honest download still completes.
#[test]
fn connection_floods_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let (tr, s, content, hash) =
        seeded_bytes(dir.path(), "flood.bin", 1 << 20, &["--max-peers", "30"]);
    let pid = s.child.id();
    let addr: SocketAddr = ([127, 0, 0, 1], s.port).into();
    let (base_threads, base_fds) = (proc_threads(pid), proc_fds(pid));
    let (mut max_threads, mut max_fds) = (0, 0);
    let mut held = Vec::new();
    for n in 0..500 {
        let Ok(mut c) = TcpStream::connect(addr) else {
            continue;
        };
        if n % 2 == 1 {
            let id = format!("-FL0000-{n:012}");
            let _ = c.write_all(&handshake(hash, id.as_bytes(), [0; 8]));
        }
        held.push(c);
        if n % 25 == 0 {
            max_threads = max_threads.max(proc_threads(pid));
            max_fds = max_fds.max(proc_fds(pid));
        }
    }
    // Hold them all while the seeder works through them.
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        max_threads = max_threads.max(proc_threads(pid));
        max_fds = max_fds.max(proc_fds(pid));
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, got) = download(tr.port, &dir.path().join("honest"), "flood.bin");
    max_threads = max_threads.max(proc_threads(pid));
    max_fds = max_fds.max(proc_fds(pid));
    println!(
        "500 connection attempts at --max-peers 30: threads {base_threads} -> at most {max_threads}, \
         descriptors {base_fds} -> at most {max_fds}"
    );
    assert!(got == content, "downloaded bytes differ");
    // The bound is configuration: at most 4 x --max-peers connections, each
    // two threads and three descriptors, plus 64 pending handshakes.
    let cap = 4 * 30;
    assert!(
        max_threads <= base_threads + 2 * cap + 16,
        "threads grew from {base_threads} to {max_threads}"
    );
    assert!(
        max_fds <= base_fds + 3 * cap + 64 + 16,
        "descriptors grew from {base_fds} to {max_fds}"
    );
    drop(held);
}

/// Connects to `addr` for `hash`, says interested and waits to be unchoked;
/// returns the stream and the seeder's reserved bytes.
fn unchoked_downloader(
    addr: SocketAddr,
    hash: [u8; 20],
    reserved: [u8; 8],
) -> (TcpStream, [u8; 8]) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(&handshake(hash, b"-SR0000-slow-reader0", reserved))
        .unwrap();
    let mut hs = [0u8; 68];
    s.read_exact(&mut hs).unwrap();
    s.write_all(&[0, 0, 0, 1, 2]).unwrap();
    loop {
        let body = read_msg(&mut s).expect("unchoke before the connection ends");
        if body == [1] {
            break;
        }
    }
    (s, hs[20..28].try_into().unwrap())
}

/// Reads one whole message body; `None` at EOF or on a read timeout.
fn read_msg(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).ok()?;
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut body).ok()?;
    Some(body)
}

fn request(index: u32, begin: u32) -> Vec<u8> {
    let mut m = vec![0, 0, 0, 13, 6];
    m.extend_from_slice(&index.to_be_bytes());
    m.extend_from_slice(&begin.to_be_bytes());
    m.extend_from_slice(&16384u32.to_be_bytes());
    m
}

/// Problem 8: a downloader that keeps far more requests out than the seeder
/// queues, and reads slowly, gets an answer to every one of them (a piece or a
/// BEP 6 reject), so it never waits on a request that was dropped in silence.
#[test]
fn every_request_is_answered_for_a_slow_fast_peer() {
    let dir = tempfile::tempdir().unwrap();
    let (_tr, s, _content, hash) = seeded_bytes(dir.path(), "slow.bin", 4 << 20, &[]);
    let addr: SocketAddr = ([127, 0, 0, 1], s.port).into();
    let mut fast = [0u8; 8];
    fast[7] = 0x04;
    let (mut c, reserved) = unchoked_downloader(addr, hash, fast);
    assert_eq!(
        reserved[7] & 0x04,
        0x04,
        "the seeder speaks the Fast extension"
    );
    // 3000 requests of 16 KiB (47 MiB), well past the seeder's queue of 1024.
    const N: usize = 3000;
    // 4 MiB gets 16 KiB pieces: 256 of them.
    let blocks = (4 << 20) / 16384;
    let piece_len = 16384u32;
    let mut writer = c.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        for i in 0..N {
            let index = (i % blocks) as u32;
            if writer.write_all(&request(index, 0)).is_err() {
                return;
            }
        }
    });
    let (mut pieces, mut rejects) = (0usize, 0usize);
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = Instant::now();
    while pieces + rejects < N {
        let Some(body) = read_msg(&mut c) else {
            panic!(
                "stalled: no message for 10 s after {pieces} pieces and {rejects} rejects of {N} requests"
            );
        };
        match body.first() {
            Some(7) => {
                assert_eq!(body.len(), 9 + piece_len as usize);
                pieces += 1;
                // Read slowly: about 8 MiB/s.
                if pieces.is_multiple_of(64) {
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            Some(16) => rejects += 1,
            _ => {}
        }
    }
    sender.join().unwrap();
    println!(
        "{N} requests from a slow reader: {pieces} pieces, {rejects} rejects in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        rejects > 0,
        "more requests than the seeder queues are rejected"
    );
    assert!(pieces >= 1024, "the queue is served: {pieces}");
}

/// Problem 8, for a peer without the Fast extension: past the queue it is
/// choked (which tells a BEP 3 peer its requests are gone), never left waiting.
#[test]
fn a_slow_plain_peer_past_the_queue_is_choked_not_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let (_tr, s, _content, hash) = seeded_bytes(dir.path(), "plain.bin", 4 << 20, &[]);
    let addr: SocketAddr = ([127, 0, 0, 1], s.port).into();
    let (mut c, _) = unchoked_downloader(addr, hash, [0; 8]);
    const N: usize = 3000;
    let mut writer = c.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        for i in 0..N {
            if writer.write_all(&request((i % 256) as u32, 0)).is_err() {
                return;
            }
        }
    });
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut pieces = 0usize;
    let choked = loop {
        let Some(body) = read_msg(&mut c) else {
            panic!("stalled: no message for 10 s after {pieces} pieces of {N} requests");
        };
        match body.first() {
            Some(7) => {
                pieces += 1;
                if pieces.is_multiple_of(64) {
                    std::thread::sleep(Duration::from_millis(100));
                }
                if pieces == N {
                    break false;
                }
            }
            Some(0) => break true,
            _ => {}
        }
    };
    println!("plain slow reader: {pieces} pieces, then choked: {choked}");
    assert!(choked, "requests past the queue are announced by a choke");
    sender.join().unwrap();
}

/// What a hostile seeder does once handshakes are exchanged.
#[derive(Clone, Copy, Debug)]
enum Hostility {
    /// Nothing at all, not even a handshake.
    Silent,
    /// A message whose length prefix says 4 GiB.
    HugeLength,
    /// A bitfield three bytes too long.
    WrongBitfield,
    /// Blocks nobody asked for, one after another.
    Unasked,
    /// Half a message, then silence.
    CutShort,
}

/// A raw seeder that claims every one of `pieces` pieces and then misbehaves;
/// sets `dropped` once our peer closes a connection to it.
fn hostile_seeder(
    how: Hostility,
    hash: [u8; 20],
    pieces: usize,
    dropped: Arc<AtomicBool>,
) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { continue };
            let dropped = dropped.clone();
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(120)));
                let mut hs = [0u8; 68];
                if s.read_exact(&mut hs).is_err() {
                    return;
                }
                let mut out = Vec::new();
                if !matches!(how, Hostility::Silent) {
                    let id = format!("-HS0000-{:>12}", format!("{how:?}"));
                    out = handshake(hash, id.as_bytes(), [0; 8]);
                    let mut bits = vec![0xffu8; pieces.div_ceil(8)];
                    if matches!(how, Hostility::WrongBitfield) {
                        bits.extend_from_slice(&[0xff; 3]);
                    }
                    out.extend_from_slice(&(1 + bits.len() as u32).to_be_bytes());
                    out.push(5);
                    out.extend_from_slice(&bits);
                    out.extend_from_slice(&[0, 0, 0, 1, 1]);
                }
                match how {
                    Hostility::HugeLength => out.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 7]),
                    Hostility::CutShort => {
                        out.extend_from_slice(&(9 + 16384u32).to_be_bytes());
                        out.extend_from_slice(&[7, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3]);
                    }
                    Hostility::Unasked => {
                        for i in 0..1000u32 {
                            out.extend_from_slice(&(9 + 16384u32).to_be_bytes());
                            out.push(7);
                            out.extend_from_slice(&(i % pieces as u32).to_be_bytes());
                            // Never a block boundary: nobody asks for these.
                            out.extend_from_slice(&1u32.to_be_bytes());
                            out.extend_from_slice(&[0x5a; 16384]);
                        }
                    }
                    _ => {}
                }
                let _ = s.write_all(&out);
                let mut sink = [0u8; 4096];
                loop {
                    match s.read(&mut sink) {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                        Err(_) => break,
                    }
                }
                dropped.store(true, Ordering::Relaxed);
            });
        }
    });
    addr
}

/// Problem 5: next to an honest seeder, five hostile ones. The downloader
/// drops each of them, stays up, and the file arrives byte for byte.
#[test]
fn hostile_seeders_are_dropped_and_the_download_completes() {
    let dir = tempfile::tempdir().unwrap();
    let (tr, _s, content, hash) = seeded_bytes(dir.path(), "target.bin", 2 << 20, &[]);
    let pieces = (2 << 20) / 16384;
    let kinds = [
        Hostility::Silent,
        Hostility::HugeLength,
        Hostility::WrongBitfield,
        Hostility::Unasked,
        Hostility::CutShort,
    ];
    let mut args: Vec<String> = Vec::new();
    let mut flags = Vec::new();
    for how in kinds {
        let dropped = Arc::new(AtomicBool::new(false));
        let addr = hostile_seeder(how, hash, pieces, dropped.clone());
        args.extend(["--connect".into(), addr.to_string()]);
        flags.push((how, dropped));
    }
    args.extend(["download".into(), "target.bin".into(), "--seed".into()]);
    let h = dir.path().join("victim");
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut victim = spawn_peer(tr.port, &h, &argv);
    let path = h.join("downloads/target.bin");
    wait_until("the download to complete", T, || {
        std::fs::read(&path).is_ok_and(|b| b == content)
    });
    // Silence is noticed by timeouts: 10 s for a handshake, 20 s mid-message.
    for (how, dropped) in &flags {
        wait_until(
            &format!("the {how:?} seeder to be dropped"),
            Duration::from_secs(45),
            || dropped.load(Ordering::Relaxed),
        );
    }
    assert!(
        victim.try_wait().unwrap().is_none(),
        "the downloader is still running"
    );
}

/// A raw seeder on 127.0.0.1: for each connection it reads the handshake,
/// sends `opening()` (handshake, bitfield or have-all), unchokes whoever is
/// interested, and answers each request with what `answerer()`'s closure returns.
fn scripted_seeder<A: FnMut(&[u8]) -> Vec<u8> + Send + 'static>(
    opening: impl Fn() -> Vec<u8> + Send + 'static,
    answerer: impl Fn() -> A + Send + 'static,
) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { continue };
            let out = opening();
            let mut answer = answerer();
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(60)));
                let mut hs = [0u8; 68];
                if s.read_exact(&mut hs).is_err() || s.write_all(&out).is_err() {
                    return;
                }
                while let Some(body) = read_msg(&mut s) {
                    let reply = match body.first() {
                        Some(2) => vec![0, 0, 0, 1, 1],
                        Some(6) if body.len() == 13 => answer(&body),
                        _ => continue,
                    };
                    if s.write_all(&reply).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// Problem 9: a peer banned for bad pieces is never dialled again.
#[test]
fn a_banned_peer_is_never_dialled_again() {
    let dir = tempfile::tempdir().unwrap();
    let (tr, _s, content, hash) =
        seeded_bytes(dir.path(), "banme.bin", 2 << 20, &["--upload-rate", "256K"]);
    let pieces = (2 << 20) / 16384;
    let accepted = Arc::new(AtomicUsize::new(0));
    let dialled = accepted.clone();
    let liar = scripted_seeder(
        move || {
            accepted.fetch_add(1, Ordering::Relaxed);
            let mut opening = handshake(hash, b"-LI0000-liar-liar-00", [0; 8]);
            opening.extend_from_slice(&(1 + pieces as u32 / 8).to_be_bytes());
            opening.push(5);
            opening.extend(std::iter::repeat_n(0xffu8, pieces / 8));
            opening
        },
        || {
            // Every block served as zeros.
            |body: &[u8]| {
                let n = u32::from_be_bytes(body[9..13].try_into().unwrap());
                let mut m = (9 + n).to_be_bytes().to_vec();
                m.push(7);
                m.extend_from_slice(&body[1..9]);
                m.extend(std::iter::repeat_n(0u8, n as usize));
                m
            }
        },
    );
    let h = dir.path().join("victim");
    let started = Instant::now();
    let out = peer_cmd(
        tr.port,
        &h,
        &["--connect", &liar.to_string(), "download", "banme.bin"],
        T,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::read(h.join("downloads/banme.bin")).unwrap() == content);
    let n = dialled.load(Ordering::Relaxed);
    println!(
        "liar dialled {n} time(s) during a {:.1} s download",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(n, 1, "the banned liar was dialled again");
}

/// Problem 8, the other side: a fast seeder that rejects the first request
/// for every block (and serves it when asked again). Each reject frees its
/// piece at once, so the download does not wait out a 20 s request timeout.
#[test]
fn a_rejected_request_is_asked_again_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (tr, mut s, content, hash) = seeded_bytes(dir.path(), "picky.bin", 1 << 20, &[]);
    s.terminate();
    let rejected = Arc::new(AtomicUsize::new(0));
    let counter = rejected.clone();
    let picky = scripted_seeder(
        move || {
            let mut fast = [0u8; 8];
            fast[7] = 0x04;
            let mut opening = handshake(hash, b"-PK0000-picky-seeder", fast);
            // have all
            opening.extend_from_slice(&[0, 0, 0, 1, 14]);
            opening
        },
        move || {
            let (content, rejected) = (content.clone(), counter.clone());
            let mut asked = std::collections::HashSet::new();
            move |body: &[u8]| {
                let at = |i: usize| u32::from_be_bytes(body[i..i + 4].try_into().unwrap());
                let (index, begin, len) = (at(1), at(5), at(9));
                if asked.insert((index, begin)) {
                    rejected.fetch_add(1, Ordering::Relaxed);
                    let mut m = vec![0, 0, 0, 13, 16];
                    m.extend_from_slice(&body[1..13]);
                    m
                } else {
                    let from = index as usize * 16384 + begin as usize;
                    let mut m = (9 + len).to_be_bytes().to_vec();
                    m.push(7);
                    m.extend_from_slice(&body[1..9]);
                    m.extend_from_slice(&content[from..from + len as usize]);
                    m
                }
            }
        },
    );
    let h = dir.path().join("victim");
    let started = Instant::now();
    let out = peer_cmd(
        tr.port,
        &h,
        &["--connect", &picky.to_string(), "download", "picky.bin"],
        T,
    );
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let n = rejected.load(Ordering::Relaxed);
    println!(
        "{n} requests rejected once each; 1 MiB downloaded in {:.1} s",
        took.as_secs_f64()
    );
    assert!(n >= 64, "every block was rejected once: {n}");
    assert!(
        took < Duration::from_secs(5),
        "rejected requests waited for a timeout: {took:?}"
    );
}
