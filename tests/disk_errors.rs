//! A disk that refuses writes stops a download cleanly: one clear error and a
//! non-zero exit for `download`, a paused torrent with its reason in `status`
//! for the interactive peer; every verified piece kept, the refused one never
//! marked and never fetched again; and the download resumes once there is room.
//!
//! The refusing disk is a file-size limit (RLIMIT_FSIZE, as `ulimit -f` sets):
//! past it every write fails with EFBIG, the same write path and the same
//! pause as ENOSPC on a full disk, and it needs no root. The download file is
//! created beforehand at full length, sparse, as a download that filled its
//! disk half way leaves it: extending a file takes no space, writing into it does.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

const T: Duration = Duration::from_secs(60);
const SIZE: usize = 16 << 20;
/// Offsets past this cannot be written: a bit over a third of the file fits.
const LIMIT: u64 = 6 << 20;

/// Lets the spawned process write regular files only below `limit` bytes.
/// Past the limit the kernel also sends SIGXFSZ, which kills unless ignored:
/// the peer ignores it itself, and `ignore_sigxfsz` ignores it from the start
/// too, so a peer that did not would still show what it does with EFBIG.
fn limit_file_size(cmd: &mut Command, limit: u64, ignore_sigxfsz: bool) {
    // SAFETY: setrlimit and signal are async-signal-safe and touch no memory of the parent.
    unsafe {
        cmd.pre_exec(move || {
            if ignore_sigxfsz {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            }
            let r = libc::rlimit {
                rlim_cur: limit,
                rlim_max: libc::RLIM_INFINITY,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &r) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn peer_command(tracker_port: u16, home: &Path, args: &[&str]) -> Command {
    let mut cmd = peer_bin();
    cmd.args(["127.0.0.1", &tracker_port.to_string(), "--home"])
        .arg(home)
        .args(args);
    cmd
}

/// The sparse, full-length file a download that ran out of room leaves behind.
fn presize(home: &Path, name: &str, len: usize) {
    std::fs::create_dir_all(home.join("downloads")).unwrap();
    std::fs::File::create(home.join("downloads").join(name))
        .unwrap()
        .set_len(len as u64)
        .unwrap();
}

/// Bytes in a home's ledger, summed over peers: (downloaded, uploaded).
fn ledger_bytes(tracker_port: u16, home: &Path) -> (u64, u64) {
    let out = peer_cmd(tracker_port, home, &["peers", "--json"], T);
    assert!(out.status.success());
    json(&out)
        .as_array()
        .expect("ledger rows")
        .iter()
        .fold((0, 0), |(d, u), r| {
            (
                d + r["downloaded"].as_u64().unwrap(),
                u + r["uploaded"].as_u64().unwrap(),
            )
        })
}

/// Pieces the resume state marks, each checked against the original bytes.
fn marked_pieces(home: &Path, key: &str, content: &[u8], piece: usize, name: &str) -> Vec<usize> {
    let p = home.join(".swarmshare/resume").join(format!("{key}.json"));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap())
        .unwrap_or_else(|e| panic!("resume state {} is not valid JSON: {e}", p.display()));
    let hex = v["have"].as_str().expect("have");
    let n = content.len().div_ceil(piece);
    assert_eq!(v["pieces"], n);
    assert_eq!(hex.len(), n.div_ceil(8) * 2);
    let on_disk = std::fs::read(home.join("downloads").join(name)).unwrap();
    let mut marked = Vec::new();
    for i in 0..n {
        let byte = u8::from_str_radix(&hex[i / 8 * 2..i / 8 * 2 + 2], 16).unwrap();
        if byte & (0x80 >> (i % 8)) != 0 {
            let r = i * piece..((i + 1) * piece).min(content.len());
            assert!(
                on_disk[r.clone()] == content[r],
                "piece {i} is marked but its bytes on disk are wrong"
            );
            marked.push(i);
        }
    }
    marked
}

#[test]
fn a_download_the_disk_refuses_stops_keeps_its_pieces_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let content = data(SIZE, 10);
    let Seeded {
        tracker: tr,
        mut seeder,
        home: a,
        found: m,
    } = seeded(dir.path(), "full.bin", &content, &[]);
    let (key, n) = (m.key.clone(), m.n_parts as usize);
    let piece = SIZE / n;

    let c = dir.path().join("c");
    presize(&c, "full.bin", SIZE);
    let mut cmd = peer_command(tr.port, &c, &["download", "full.bin", "--json"]);
    limit_file_size(&mut cmd, LIMIT, true);
    let out = run_bounded(cmd, T);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the download cannot have finished");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap_or("");
    assert!(
        last.starts_with("peer: cannot write piece") && last.contains("run the same command"),
        "the last line says what failed and what to do: {last:?}"
    );
    println!("refused run's stderr:\n{stderr}");
    let error_lines = stderr
        .lines()
        .filter(|l| l.contains("cannot write"))
        .count();
    assert!(
        error_lines <= 3,
        "{error_lines} error lines, not one clear one:\n{stderr}"
    );

    // Every marked piece is whole on disk, and none lies past the limit.
    let kept = marked_pieces(&c, &key, &content, piece, "full.bin");
    assert!(kept.len() < n);
    let past = kept.iter().filter(|&&i| ((i + 1) * piece) as u64 > LIMIT);
    assert_eq!(past.count(), 0, "a piece the disk refused is marked");
    let (first_down, _) = ledger_bytes(tr.port, &c);
    println!(
        "refused run: exit {:?}, {} of {n} pieces kept, {first_down} bytes received",
        out.status.code(),
        kept.len()
    );
    assert!(
        first_down <= SIZE as u64 / 2,
        "received {first_down} bytes for a {SIZE}-byte file before stopping"
    );

    // Room again: the same command keeps what it had and fetches only the rest.
    let out = peer_cmd(tr.port, &c, &["download", "full.bin", "--json"], T);
    let s = json_ok(&out);
    // More than was marked only if a piece in flight was written after the
    // state was saved: the next run then checks the file and finds it.
    let resumed = s["resumed_pieces"].as_u64().unwrap() as usize;
    assert!(
        resumed >= kept.len(),
        "resumed {resumed} of {} kept",
        kept.len()
    );
    assert_eq!(s["fetched_pieces"].as_u64().unwrap() as usize, n - resumed);
    assert!(std::fs::read(c.join("downloads/full.bin")).unwrap() == content);

    let (all_down, _) = ledger_bytes(tr.port, &c);
    let missing = content.len() - resumed * piece;
    println!(
        "resumed run: {} bytes received for {missing} missing bytes",
        all_down - first_down
    );
    // Exactly the missing bytes, but for a block fetched twice after a lost
    // connection, which a loaded machine may see.
    let again = all_down - first_down;
    assert!(
        again >= missing as u64 && again < (missing + 16 * piece) as u64,
        "{again} bytes received for {missing} missing: kept pieces were fetched again"
    );
    seeder.terminate();
    let (_, sent) = ledger_bytes(tr.port, &a);
    println!("seeder sent {sent} bytes in all for a {SIZE}-byte file");
    assert!(
        sent <= (SIZE + SIZE / 2) as u64,
        "the seeder sent {sent} bytes for a {SIZE}-byte file"
    );
}

/// An interactive peer pauses the download, says why in `status`, and picks it
/// up again on `resume` once the disk takes writes.
#[test]
fn the_interactive_peer_pauses_shows_why_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let content = data(SIZE, 11);
    let Seeded {
        tracker: tr,
        seeder: _seeder,
        ..
    } = seeded(dir.path(), "halt.bin", &content, &[]);

    let c = dir.path().join("c");
    presize(&c, "halt.bin", SIZE);
    // SIGXFSZ left at its default: the peer must not die of it.
    let mut cmd = peer_command(tr.port, &c, &[]);
    limit_file_size(&mut cmd, LIMIT, false);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("RUST_LOG", "warn");
    let mut child = Spawned(cmd.spawn().expect("spawn interactive peer"));
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel::<String>();
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let errors = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let e2 = errors.clone();
    let stderr_reader = std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            e2.lock().unwrap().push(l.clone());
            let _ = tx2.send(l);
        }
    });
    let mut say = |s: &str| writeln!(stdin, "{s}").unwrap();
    say("download halt.bin");
    let mut seen = Vec::new();
    let mut next_status = std::time::Instant::now();
    wait_until("status to show the pause and its reason", T, || {
        if std::time::Instant::now() >= next_status {
            say("status");
            next_status += Duration::from_millis(500);
        }
        seen.extend(lines.try_iter());
        seen.iter()
            .any(|l| l.contains("paused: cannot write piece"))
    });
    let row = seen
        .iter()
        .rfind(|l| l.starts_with("halt.bin "))
        .expect("status row");
    assert_eq!(row.split_whitespace().nth(1), Some("paused"), "{row}");

    // Room again (the limit lifted from outside), and `resume` retries.
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: prlimit only reads `unlimited` and writes nothing back (old is null).
    let r = unsafe {
        libc::prlimit(
            child.id() as libc::pid_t,
            libc::RLIMIT_FSIZE,
            &unlimited,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(r, 0, "prlimit: {}", std::io::Error::last_os_error());
    say("resume halt.bin");
    wait_until("the download to complete after resume", T, || {
        seen.extend(lines.try_iter());
        seen.iter()
            .any(|l| l.contains("download complete: halt.bin"))
    });
    assert!(std::fs::read(c.join("downloads/halt.bin")).unwrap() == content);
    say("quit");
    wait_with_deadline(&mut child, T).expect("quit ends the interactive peer");
    stderr_reader.join().unwrap();
    // Said once: the pause held, and nothing refused was asked for again.
    let errors = errors.lock().unwrap();
    let refused = errors.iter().filter(|l| l.contains("cannot write")).count();
    assert_eq!(refused, 1, "{errors:#?}");
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` at `dir`. Needs root, as CI has; without it the
    /// test fails here, saying so, rather than passing without having run.
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this test needs root to mount a small tmpfs (a really full disk); mount said: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(dir.to_owned())
    }

    fn resize(&self, size: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A really full disk: the download folder is a 6 MiB tmpfs, so writes fail
/// with ENOSPC. The same clean stop, and after the disk grows the same command
/// finishes the file.
#[test]
fn a_download_onto_a_full_disk_stops_and_resumes_when_there_is_room() {
    let dir = tempfile::tempdir().unwrap();
    let content = data(SIZE, 13);
    let Seeded {
        tracker: tr,
        mut seeder,
        home: a,
        found: m,
    } = seeded(dir.path(), "nospace.bin", &content, &[]);
    let (key, n) = (m.key.clone(), m.n_parts as usize);
    let piece = SIZE / n;

    let c = dir.path().join("c");
    let disk = Tmpfs::mount(&c.join("downloads"), "6m");
    let out = peer_cmd(tr.port, &c, &["download", "nospace.bin", "--json"], T);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap_or("");
    assert!(
        last.starts_with("peer: cannot write piece")
            && last.contains("No space left on device")
            && last.contains("the disk is full"),
        "{last:?}"
    );
    let error_lines = stderr
        .lines()
        .filter(|l| l.contains("cannot write"))
        .count();
    assert!(error_lines <= 3, "{error_lines} error lines:\n{stderr}");
    let kept = marked_pieces(&c, &key, &content, piece, "nospace.bin");
    assert!(!kept.is_empty() && kept.len() < n, "{} kept", kept.len());
    let (first_down, _) = ledger_bytes(tr.port, &c);
    println!(
        "full disk: {} of {n} pieces kept, {first_down} bytes received",
        kept.len()
    );
    // What fits (6 MiB) and at most one pipeline in flight when the disk filled.
    assert!(first_down <= SIZE as u64, "received {first_down} bytes");

    disk.resize("32m");
    let out = peer_cmd(tr.port, &c, &["download", "nospace.bin", "--json"], T);
    let s = json_ok(&out);
    let resumed = s["resumed_pieces"].as_u64().unwrap() as usize;
    assert!(
        resumed >= kept.len(),
        "resumed {resumed} of {} kept",
        kept.len()
    );
    assert_eq!(s["fetched_pieces"].as_u64().unwrap() as usize, n - resumed);
    assert!(std::fs::read(c.join("downloads/nospace.bin")).unwrap() == content);
    seeder.terminate();
    let (_, sent) = ledger_bytes(tr.port, &a);
    println!("seeder sent {sent} bytes in all for a {SIZE}-byte file");
    assert!(sent <= 2 * SIZE as u64, "the seeder sent {sent} bytes");
}

/// `serve` picks up a download the disk refused, pauses on the full disk with
/// one line, and goes on by itself once the disk has room: the piece it could
/// not write is offered again, and no traffic is spent finding out.
#[test]
fn serve_resumes_by_itself_when_the_disk_has_room_again() {
    let dir = tempfile::tempdir().unwrap();
    let content = data(SIZE, 14);
    let Seeded {
        tracker: tr,
        seeder: _seeder,
        found: m,
        ..
    } = seeded(dir.path(), "later.bin", &content, &[]);
    let (key, n) = (m.key.clone(), m.n_parts as usize);

    let c = dir.path().join("c");
    let disk = Tmpfs::mount(&c.join("downloads"), "6m");
    let out = peer_cmd(tr.port, &c, &["download", "later.bin"], T);
    assert_eq!(out.status.code(), Some(1));
    let kept = resumed_count(&c, &key);

    let mut cmd = peer_command(tr.port, &c, &["serve"]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .env("RUST_LOG", "info");
    let mut server = Spawned(cmd.spawn().expect("spawn serve"));
    let (tx, lines) = std::sync::mpsc::channel::<String>();
    let stderr = server.stderr.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let mut seen = Vec::new();
    wait_until("serve to pause on the full disk", T, || {
        seen.extend(lines.try_iter());
        seen.iter().any(|l| l.contains("later.bin is paused"))
    });

    disk.resize("32m");
    wait_until("the download to finish under serve", T, || {
        resumed_count(&c, &key) == n
    });
    seen.extend(lines.try_iter());
    assert!(
        seen.iter().any(|l| l.contains("downloading resumes")),
        "{seen:#?}"
    );
    let refused = seen.iter().filter(|l| l.contains("cannot write")).count();
    assert_eq!(refused, 1, "{seen:#?}");
    assert!(std::fs::read(c.join("downloads/later.bin")).unwrap() == content);
    println!("serve resumed from {kept} of {n} pieces once the disk had room");
    server.kill().unwrap();
    server.wait().unwrap();
}
