//! Shared harness for integration tests: starts the real binaries on 127.0.0.1
//! in temporary folders, waits on conditions with deadlines, and kills every
//! process it started when the test ends, pass or fail.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use swarmshare::common::http;
use swarmshare::common::tracker_proto::{SearchMatch, SearchReply};
use swarmshare::sys::http_client;

pub const TRACKER: &str = env!("CARGO_BIN_EXE_tracker_server");
pub const PEER: &str = env!("CARGO_BIN_EXE_peer");

/// The peer binary, kept off the Mainline DHT: tests never touch the public
/// one; a test that wants the DHT starts `Command::new(PEER)` with a loopback
/// `--dht-bootstrap`.
pub fn peer_bin() -> Command {
    let mut cmd = Command::new(PEER);
    cmd.arg("--no-dht");
    cmd
}

/// A child process that is killed when dropped.
pub struct Proc {
    pub child: Child,
    pub port: u16,
    pub lines: mpsc::Receiver<String>,
}

impl Proc {
    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        signal(self.child.id(), "TERM");
        wait_with_deadline(&mut self.child, Duration::from_secs(20))
            .expect("process did not exit after SIGTERM")
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for a stdout line containing `needle`.
    pub fn wait_line(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return l,
                Ok(_) => {}
                Err(_) => panic!("no line containing {needle:?} within {timeout:?}"),
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

pub fn wait_with_deadline(
    child: &mut Child,
    timeout: Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Polls `cond` until it holds, failing the test with `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Spawns a process whose stdout lines arrive on a channel, then waits for the
/// line with "listening on" and reads the port from it.
pub fn spawn_listening(mut cmd: Command) -> Proc {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::null())
        .stdin(Stdio::null());
    let mut child = cmd.spawn().expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut p = Proc {
        child,
        port: 0,
        lines: rx,
    };
    let line = p.wait_line("listening on", Duration::from_secs(20));
    p.port = line
        .rsplit(':')
        .next()
        .and_then(|s| s.trim().parse().ok())
        .expect("port in listening line");
    p
}

pub fn tracker(data: &Path, interval: u32) -> Proc {
    tracker_with(data, interval, &[])
}

/// What most download tests start from: a tracker, and a `serve` seeder
/// (home `DIR/seeder`) sharing `content` as `name`, listed on the tracker.
pub struct Seeded {
    pub tracker: Proc,
    pub seeder: Proc,
    pub home: PathBuf,
    pub found: SearchMatch,
}

pub fn seeded(dir: &Path, name: &str, content: &[u8], extra: &[&str]) -> Seeded {
    let tracker = tracker(&dir.join("tracker"), 5);
    let home = home(dir, "seeder");
    write(&home.join("upload").join(name), content);
    let seeder = serve(tracker.port, &home, extra);
    let stem = name.split('.').next().expect("a name");
    wait_listed(tracker.port, stem, 1);
    let found = search(tracker.port, stem).results.swap_remove(0);
    Seeded {
        tracker,
        seeder,
        home,
        found,
    }
}

/// `peer 127.0.0.1 PORT --home HOME [extra] serve`.
pub fn serve(tracker_port: u16, home: &Path, extra: &[&str]) -> Proc {
    let mut cmd = peer_bin();
    cmd.args(["127.0.0.1", &tracker_port.to_string(), "--home"])
        .arg(home)
        .args(extra)
        .arg("serve");
    cmd.env("RUST_LOG", "warn");
    spawn_listening(cmd)
}

/// Our peer seeding `torrent` from `HOME/downloads/`, quietly, with a dead port
/// as its command line's tracker: others find it only through the torrent's
/// own trackers (or however `extra` says).
pub fn seed_torrent(home: &Path, torrent: &Path, extra: &[&str]) -> Spawned {
    let mut s = peer_bin();
    s.args(["127.0.0.1", &free_port().to_string(), "--home"])
        .arg(home)
        .args(extra)
        .args(["download", "--torrent"])
        .arg(torrent)
        .arg("--seed")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .stdin(Stdio::null());
    Spawned(s.spawn().expect("spawn our seeder"))
}

/// A peer command with output captured; bounded by `timeout`.
pub fn peer_cmd(tracker_port: u16, home: &Path, args: &[&str], timeout: Duration) -> Output {
    let mut cmd = peer_bin();
    cmd.args(["127.0.0.1", &tracker_port.to_string(), "--home"])
        .arg(home)
        .args(args);
    run_bounded(cmd, timeout)
}

pub fn run_bounded(mut cmd: Command, timeout: Duration) -> Output {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null())
        .env("RUST_LOG", "warn");
    let mut child = cmd.spawn().expect("spawn");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let status = match wait_with_deadline(&mut child, timeout) {
        Some(s) => s,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("command {cmd:?} did not finish within {timeout:?}");
        }
    };
    Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    }
}

/// A child process that is killed when dropped, so a failing test leaks nothing.
pub struct Spawned(pub Child);

impl std::ops::Deref for Spawned {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Spawned {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A spawned peer command running in the background, killed on drop.
pub fn spawn_peer(tracker_port: u16, home: &Path, args: &[&str]) -> Spawned {
    let mut cmd = peer_bin();
    cmd.args(["127.0.0.1", &tracker_port.to_string(), "--home"])
        .arg(home)
        .args(args);
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .env("RUST_LOG", "warn");
    Spawned(cmd.spawn().expect("spawn peer"))
}

pub fn search(tracker_port: u16, q: &str) -> SearchReply {
    let addr: SocketAddr = ([127, 0, 0, 1], tracker_port).into();
    let target = format!("/search?q={}", http::percent_encode(q.as_bytes()));
    let (status, body) = http_client::request(addr, "GET", &target, b"", Duration::from_secs(5))
        .expect("search request");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).expect("search json")
}

/// Waits until the tracker lists `n` peers for the single match of `q`.
pub fn wait_listed(tracker_port: u16, q: &str, n: usize) {
    wait_until(
        &format!("{n} peers listed for {q:?}"),
        Duration::from_secs(30),
        || {
            let r = search(tracker_port, q);
            r.results.len() == 1 && r.results[0].peers.len() == n
        },
    );
}

/// Deterministic pseudo-random bytes, so failures reproduce.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.u8(..)).collect()
}

pub fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
    // Make the file look settled, so the sharer does not wait a second for it.
    let old = std::time::SystemTime::now() - Duration::from_secs(10);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(old)
        .unwrap();
}

/// The JSON a successful command printed; a failed one fails the test with its stderr.
pub fn json_ok(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json(out)
}

pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

pub fn home(root: &Path, name: &str) -> PathBuf {
    let h = root.join(name);
    std::fs::create_dir_all(h.join("upload")).unwrap();
    h
}

/// Verified pieces recorded in a home's resume state for `key`.
pub fn resumed_count(home: &Path, key: &str) -> usize {
    let p = home.join(".swarmshare/resume").join(format!("{key}.json"));
    let Ok(bytes) = std::fs::read(p) else {
        return 0;
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return 0;
    };
    let hex = v["have"].as_str().unwrap_or("");
    (0..hex.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .map(|b| b.count_ones() as usize)
        .sum()
}

/// `tracker_server` on 127.0.0.1 with extra flags.
pub fn tracker_with(data: &Path, interval: u32, extra: &[&str]) -> Proc {
    let mut cmd = Command::new(TRACKER);
    cmd.args([
        "--ip",
        "127.0.0.1",
        "--port",
        "0",
        "--interval",
        &interval.to_string(),
        "--data-dir",
    ])
    .arg(data)
    .args(extra);
    cmd.env("RUST_LOG", "warn");
    spawn_listening(cmd)
}

/// A TCP connection to `dst` from the loopback address `src` (any of 127.0.0.0/8),
/// so a test can play many clients at once. Gives up after `timeout`.
pub fn connect_from(
    src: std::net::Ipv4Addr,
    dst: std::net::SocketAddrV4,
    timeout: Duration,
) -> std::io::Result<std::net::TcpStream> {
    use std::os::fd::FromRawFd;
    fn sockaddr(a: std::net::SocketAddrV4) -> libc::sockaddr_in {
        // SAFETY: sockaddr_in is plain data; all zeroes is a valid value.
        let mut s: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        s.sin_family = libc::AF_INET as libc::sa_family_t;
        s.sin_port = a.port().to_be();
        s.sin_addr.s_addr = u32::from(*a.ip()).to_be();
        s
    }
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: plain socket calls on a descriptor this function owns; the
    // TcpStream takes it over (and closes it on every error path).
    unsafe {
        let fd = libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        );
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let stream = std::net::TcpStream::from_raw_fd(fd);
        let from = sockaddr(std::net::SocketAddrV4::new(src, 0));
        if libc::bind(fd, (&from as *const libc::sockaddr_in).cast(), len) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let to = sockaddr(dst);
        if libc::connect(fd, (&to as *const libc::sockaddr_in).cast(), len) != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINPROGRESS) {
                return Err(e);
            }
            let mut p = libc::pollfd {
                fd,
                events: libc::POLLOUT,
                revents: 0,
            };
            if libc::poll(&mut p, 1, timeout.as_millis() as libc::c_int) != 1 {
                return Err(std::io::ErrorKind::TimedOut.into());
            }
            if let Some(e) = stream.take_error()? {
                return Err(e);
            }
        }
        stream.set_nonblocking(false)?;
        Ok(stream)
    }
}

/// Sends raw bytes on a fresh connection and reads until the tracker closes it.
pub fn raw_exchange(port: u16, bytes: &[u8], timeout: Duration) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(timeout))?;
    s.write_all(bytes)?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(out)
}

/// Threads in a process, from /proc.
pub fn thread_count(pid: u32) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// How long a prompt's answer or exit may take.
const PROMPT_WAIT: Duration = Duration::from_secs(60);

/// An interactive peer (the line prompt, through a pipe): commands go in on stdin, stdout lines come back on a
/// channel; stderr is kept whole. Killed when dropped.
pub struct Prompt {
    pub child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    pub seen: Vec<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Prompt {
    /// `log`: RUST_LOG, or None to leave the peer at its default levels.
    pub fn start(tracker_port: u16, home: &Path, extra: &[&str], log: Option<&str>) -> Prompt {
        let mut cmd = peer_bin();
        cmd.args(["127.0.0.1", &tracker_port.to_string(), "--home"])
            .arg(home)
            .args(extra)
            .env_remove("COLUMNS")
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(level) = log {
            cmd.env("RUST_LOG", level);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        Prompt {
            stdin: child.stdin.take(),
            child,
            lines: rx,
            seen: Vec::new(),
            stderr: Some(stderr),
        }
    }

    pub fn send(&mut self, cmd: &str) {
        writeln!(self.stdin.as_mut().unwrap(), "{cmd}").unwrap();
    }

    pub fn interrupt(&self) {
        signal(self.child.id(), "INT");
    }

    /// Waits for an output line containing `needle`, keeping every line seen.
    pub fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + PROMPT_WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.contains(needle) {
                        return l;
                    }
                }
                Err(_) => panic!("no line with {needle:?}; saw:\n{}", self.seen.join("\n")),
            }
        }
    }

    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits for the exit, then gives the status and everything said on stderr.
    pub fn finish(&mut self) -> (std::process::ExitStatus, String) {
        let status = wait_with_deadline(&mut self.child, PROMPT_WAIT).expect("the peer exits");
        let err = self.stderr.take().unwrap().join().unwrap();
        (status, err)
    }
}

impl Drop for Prompt {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port on 127.0.0.1 that was free a moment ago: nothing listens on it,
/// and a test may start something there.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}
