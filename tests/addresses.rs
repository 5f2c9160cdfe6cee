//! Problem 6 of issue 12: addresses are taken strictly (a typo like `1.2.3` is
//! an error, not 1.2.0.3), the listener binds where `--bind` says, and a peer
//! whose tracker is not there says so once and keeps trying.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::*;

const T: Duration = Duration::from_secs(30);

/// `peer ARGS...` run to the end; (exit code, stdout, stderr).
fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = peer_bin();
    cmd.args(args);
    let out = run_bounded(cmd, T);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn short_dotted_addresses_are_a_usage_error_on_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().to_str().unwrap();
    for (args, named) in [
        (vec!["1.2.3", "6969", "--home", home, "peers"], "1.2.3"),
        (vec!["1.2", "6969", "--home", home, "peers"], "1.2"),
        (
            vec![
                "127.0.0.1",
                "6969",
                "--home",
                home,
                "--connect",
                "10.0.0:6881",
                "peers",
            ],
            "10.0.0",
        ),
        (
            vec![
                "127.0.0.1",
                "6969",
                "--home",
                home,
                "--bind",
                "127.1",
                "peers",
            ],
            "127.1",
        ),
    ] {
        let (code, stdout, stderr) = run(&args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert_eq!(stdout, "", "{args:?}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!("\"{named}\" is not a full IPv4 address")),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn a_host_name_and_a_full_dotted_quad_both_reach_the_tracker() {
    let dir = tempfile::tempdir().unwrap();
    let s = seeded(dir.path(), "named.bin", &data(5000, 6), &[]);
    let port = s.tracker.port.to_string();
    let home = home(dir.path(), "searcher");
    for host in ["localhost", "127.0.0.1"] {
        let (code, stdout, stderr) = run(&[
            host,
            &port,
            "--home",
            home.to_str().unwrap(),
            "search",
            "named",
            "--json",
        ]);
        assert_eq!(code, Some(0), "{host}: {stderr}");
        assert!(stdout.contains(&s.found.key), "{host}: {stdout}");
    }
}

#[test]
fn bind_chooses_the_listening_address_and_the_line_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = seeded(dir.path(), "bound.bin", &data(5000, 7), &[]);
    let mut serve2 = peer_bin()
        .args(["127.0.0.1", &s.tracker.port.to_string(), "--home"])
        .arg(home(dir.path(), "bound"))
        .args(["--bind", "127.0.0.1", "serve"])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    // Kept open: a peer whose stdout is closed fails at its next line.
    let mut out = BufReader::new(serve2.stdout.take().unwrap());
    out.read_line(&mut first).unwrap();
    let _serve2 = Spawned(serve2);
    assert!(
        first.starts_with("peer listening on 127.0.0.1:"),
        "{first:?}"
    );
    let port: u16 = first.trim().rsplit(':').next().unwrap().parse().unwrap();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
}

#[test]
fn a_missing_tracker_is_one_warning_and_is_retried_until_it_comes() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on now, where the tracker will start later.
    let port = free_port();
    let home = home(dir.path(), "early");
    write(&home.join("upload/early.bin"), &data(5000, 8));
    let mut child = peer_bin()
        .args(["127.0.0.1", &port.to_string(), "--home"])
        .arg(&home)
        .arg("serve")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = Arc::new(Mutex::new(Vec::<String>::new()));
    let lines = stderr.clone();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            lines.lock().unwrap().push(l);
        }
    });
    let _child = Spawned(child);
    wait_until("the warning", T, || !stderr.lock().unwrap().is_empty());
    // Several announces and publishes fail meanwhile; still one line.
    std::thread::sleep(Duration::from_secs(3));
    {
        let seen = stderr.lock().unwrap();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert!(seen[0].contains("WARN"), "{seen:?}");
        assert!(
            seen[0].contains(&format!("tracker 127.0.0.1:{port} is not reachable")),
            "{seen:?}"
        );
        assert!(
            seen[0].contains("trying again in the background"),
            "{seen:?}"
        );
    }
    let mut tracker = Command::new(TRACKER)
        .args([
            "--ip",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--interval",
            "5",
        ])
        .arg("--data-dir")
        .arg(dir.path().join("tracker"))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    // Kept open: a tracker whose stdout is closed fails at its next line.
    let mut out = BufReader::new(tracker.stdout.take().unwrap());
    out.read_line(&mut first).unwrap();
    let _tracker = Spawned(tracker);
    assert!(first.contains("listening on"), "{first:?}");
    // Published and announced without a restart.
    wait_listed(port, "early", 1);
    assert_eq!(stderr.lock().unwrap().len(), 1);
}
