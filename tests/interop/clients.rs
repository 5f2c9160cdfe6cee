//! Stock BitTorrent clients as test oracles: aria2c, libtorrent (through
//! `lt_client.py`), transmission-cli and mktorrent. Each runs on 127.0.0.1
//! only, with DHT, LSD, UPnP, NAT-PMP and PEX off, writes its log into the
//! test's temporary folder, and is killed when dropped. A missing client
//! fails the test with the package to install: it is never skipped.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::support::{free_port, json, peer_cmd, wait_with_deadline};

pub const PYTHON: &str = "/usr/bin/python3";
const LT_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/lt_client.py");

/// Fails the test, naming the Debian package, when `program` cannot be started.
pub fn require(program: &str, package: &str) {
    let found = Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "interop: {program} is not installed: install the Debian package {package} \
         (scripts/setup.sh does), this test is not skipped"
    );
}

pub fn require_libtorrent() {
    let ok = Command::new(PYTHON)
        .args(["-c", "import libtorrent"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "interop: {PYTHON} cannot import libtorrent: install the Debian package \
         python3-libtorrent (scripts/setup.sh does), this test is not skipped"
    );
}

/// The last lines of a log, for failure messages.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).replace('\r', "\n"))
        .unwrap_or_default();
    let v: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

/// A port nobody listens on right now, for clients that must be told their port.
pub fn wait_port_open(port: u16, what: &str, timeout: Duration) {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    super::support::wait_until(what, timeout, || {
        TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
    });
}

/// A stock client process, logging to a file, killed on drop.
pub struct Stock {
    pub name: &'static str,
    pub child: Child,
    pub log: PathBuf,
}

impl Stock {
    fn spawn(name: &'static str, mut cmd: Command, log: PathBuf) -> Stock {
        let out = File::create(&log).expect("create client log");
        cmd.stdout(out.try_clone().expect("log handle"))
            .stderr(out)
            .stdin(Stdio::null());
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("interop: cannot start {name}: {e}"));
        Stock { name, child, log }
    }

    /// Waits for the client to exit by itself, successfully.
    pub fn wait_success(&mut self, timeout: Duration) {
        let status: Option<ExitStatus> = wait_with_deadline(&mut self.child, timeout);
        match status {
            Some(s) if s.success() => {}
            Some(s) => panic!(
                "{} exited with {s}; its log ends:\n{}",
                self.name,
                tail(&self.log, 25)
            ),
            None => panic!(
                "{} did not finish within {timeout:?}; its log ends:\n{}",
                self.name,
                tail(&self.log, 25)
            ),
        }
    }

    /// Fails with the log if the client has already exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(s)) = self.child.try_wait() {
            panic!(
                "{} exited early with {s}; its log ends:\n{}",
                self.name,
                tail(&self.log, 25)
            );
        }
    }
}

impl Drop for Stock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn aria2_base(dir: &Path, port: u16) -> Command {
    let mut cmd = Command::new("aria2c");
    cmd.args([
        "--enable-dht=false",
        "--enable-dht6=false",
        "--bt-enable-lpd=false",
        "--enable-peer-exchange=false",
        "--disable-ipv6=true",
        "--interface=127.0.0.1",
        "--check-certificate=false",
        "--summary-interval=0",
        "--console-log-level=notice",
        "--file-allocation=none",
        "--auto-save-interval=0",
        "--bt-save-metadata=false",
        // A leaked aria2c ends by itself.
        "--stop=180",
    ])
    .arg(format!("--listen-port={port}"))
    .arg(format!("--dir={}", dir.display()));
    cmd
}

/// aria2c downloading `torrent` into `dir` and exiting when done.
pub fn aria2_leech(torrent: &Path, dir: &Path, log: PathBuf, extra: &[&str]) -> Stock {
    let mut cmd = aria2_base(dir, free_port());
    cmd.arg("--seed-time=0").args(extra).arg(torrent);
    Stock::spawn("aria2c", cmd, log)
}

/// aria2c checking the data already in `dir` and seeding it until killed.
pub fn aria2_seed(torrent: &Path, dir: &Path, log: PathBuf) -> Stock {
    let mut cmd = aria2_base(dir, free_port());
    cmd.args([
        "--check-integrity=true",
        "--bt-hash-check-seed=true",
        "--seed-ratio=0.0",
    ])
    .arg(torrent);
    Stock::spawn("aria2c", cmd, log)
}

/// transmission-cli downloading into `dir`, listening on `port`, with `extra`
/// arguments; it exits when done.
pub fn transmission_leech(
    torrent: &Path,
    dir: &Path,
    config: &Path,
    port: u16,
    extra: &[&str],
) -> Stock {
    std::fs::create_dir_all(config).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let settings = serde_json::json!({
        "dht-enabled": false,
        "lpd-enabled": false,
        "pex-enabled": false,
        "utp-enabled": false,
        "port-forwarding-enabled": false,
        "bind-address-ipv4": "127.0.0.1",
        "bind-address-ipv6": "::1",
        "rpc-enabled": false,
        "blocklist-enabled": false,
        "peer-port": port,
        "peer-port-random-on-start": false,
        // transmission-cli 3.00 exits on completion only when seeding is over at once.
        "ratio-limit-enabled": true,
        "ratio-limit": 0,
        "speed-limit-down-enabled": false,
        "speed-limit-up-enabled": false,
        "message-level": 2,
    });
    std::fs::write(
        config.join("settings.json"),
        serde_json::to_vec_pretty(&settings).unwrap(),
    )
    .unwrap();
    let mut cmd = Command::new("transmission-cli");
    cmd.arg("-g")
        .arg(config)
        .arg("-w")
        .arg(dir)
        .args(["-p", &port.to_string(), "-M"])
        .args(extra)
        .arg(torrent);
    Stock::spawn("transmission-cli", cmd, config.join("transmission.log"))
}

/// `mktorrent` with 2^`piece_exp`-byte pieces: a torrent no code of ours made.
pub fn mktorrent(target: &Path, announce: &str, out: &Path, piece_exp: u32) {
    let o = Command::new("mktorrent")
        .args(["-a", announce, "-l", &piece_exp.to_string(), "-o"])
        .arg(out)
        .arg(target)
        .output()
        .unwrap_or_else(|e| panic!("interop: cannot run mktorrent: {e}"));
    assert!(
        o.status.success(),
        "mktorrent failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A libtorrent 2.0 session running `lt_client.py`, reporting JSON events.
pub struct Lt {
    pub child: Child,
    pub port: u16,
    events: mpsc::Receiver<Value>,
    log: PathBuf,
    /// The latest `peers` report.
    pub last_peers: Value,
}

#[derive(Default)]
pub struct LtOptions {
    pub seed: bool,
    pub upload_rate: u64,
    pub download_rate: u64,
    pub exit_on_complete: bool,
    pub scrape: bool,
    /// Join by info-hash alone and fetch the metadata from `peer` (BEP 9).
    pub magnet_hash: Option<String>,
    /// A peer to connect to at once.
    pub peer: Option<String>,
    /// Listen and dial on ::1 too.
    pub ipv6: bool,
    /// Peer exchange (ut_pex) on.
    pub pex: bool,
}

impl Lt {
    /// A seeder of `torrent` whose data is under `save`, with the default options.
    pub fn seed(torrent: &Path, save: &Path, log: PathBuf) -> Lt {
        Lt::start(
            torrent,
            save,
            log,
            LtOptions {
                seed: true,
                ..Default::default()
            },
        )
    }

    pub fn start(torrent: &Path, save: &Path, log: PathBuf, o: LtOptions) -> Lt {
        std::fs::create_dir_all(save).unwrap();
        let mut cmd = Command::new(PYTHON);
        cmd.arg(LT_SCRIPT);
        match &o.magnet_hash {
            Some(hash) => cmd.args(["--magnet-hash", hash]),
            None => cmd.arg("--torrent").arg(torrent),
        };
        if let Some(peer) = &o.peer {
            cmd.args(["--peer", peer]);
        }
        cmd.arg("--save")
            .arg(save)
            .args(["--timeout", "180"])
            .args(["--upload-rate", &o.upload_rate.to_string()])
            .args(["--download-rate", &o.download_rate.to_string()]);
        if o.seed {
            cmd.arg("--seed");
        }
        if o.exit_on_complete {
            cmd.arg("--exit-on-complete");
        }
        if o.scrape {
            cmd.arg("--scrape");
        }
        if o.ipv6 {
            cmd.arg("--ipv6");
        }
        if o.pex {
            cmd.arg("--pex");
        }
        cmd.stdout(Stdio::piped())
            .stderr(File::create(&log).expect("create lt log"))
            .stdin(Stdio::null());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("interop: cannot start {PYTHON}: {e}"));
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        let log_copy = log.clone();
        std::thread::spawn(move || {
            let mut keep = std::fs::OpenOptions::new()
                .append(true)
                .open(&log_copy)
                .ok();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // Peer reports come twice a second: the log keeps only the events.
                if let Some(f) = keep.as_mut().filter(|_| !line.contains("\"peers\"")) {
                    use std::io::Write;
                    let _ = writeln!(f, "{line}");
                }
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && tx.send(v).is_err()
                {
                    break;
                }
            }
        });
        let mut lt = Lt {
            child,
            port: 0,
            events: rx,
            log,
            last_peers: Value::Null,
        };
        let ev = lt.wait_event("listening", Duration::from_secs(30), |_| true);
        lt.port = ev["port"].as_u64().expect("port") as u16;
        lt
    }

    /// Reads events until one named `name` satisfies `pred`; fails with the log otherwise.
    pub fn wait_event(
        &mut self,
        name: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(v) => {
                    if v["event"] == "peers" {
                        self.last_peers = v.clone();
                    }
                    if v["event"] == name && pred(&v) {
                        return v;
                    }
                }
                Err(e) => panic!(
                    "libtorrent: no {name:?} event matching the condition within {timeout:?} ({e}); \
                     its log ends:\n{}",
                    tail(&self.log, 30)
                ),
            }
        }
    }

    pub fn wait_complete(&mut self, timeout: Duration) {
        self.wait_event("complete", timeout, |_| true);
    }
}

impl Drop for Lt {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------- our peer, as both suites drive it

pub fn announce_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}/announce")
}

/// A peer id prefix as `download --json` shows ids: hex.
pub fn hex_prefix(ascii: &str) -> String {
    ascii.bytes().map(|b| format!("{b:02x}")).collect()
}

/// Each source of a download summary: its peer id (hex) and bytes.
pub fn source_ids(summary: &Value) -> Vec<(String, u64)> {
    summary["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .map(|s| {
            (
                s["peer_id"].as_str().unwrap_or("").to_owned(),
                s["bytes"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// Bytes a download received from peers whose id starts with `prefix` (hex), over
/// all their connections: a client that dials us while we dial it may send on both.
pub fn bytes_from(summary: &Value, prefix: &str) -> u64 {
    source_ids(summary)
        .iter()
        .filter(|(id, _)| id.starts_with(prefix))
        .map(|(_, b)| b)
        .sum()
}

/// A peer command's JSON, which must have succeeded.
pub fn ok(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "peer failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    json(out)
}

/// `peer download --torrent FILE --json` into `home`, which must succeed.
pub fn our_download(tr: u16, home: &Path, torrent: &Path) -> Value {
    let t = torrent.to_str().expect("UTF-8 path");
    ok(&peer_cmd(
        tr,
        home,
        &["download", "--torrent", t, "--json"],
        Duration::from_secs(90),
    ))
}
