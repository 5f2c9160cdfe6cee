//! Our tracker over UDP (BEP 15) and IPv6 (BEP 7), from outside: peers meet
//! through a `udp://` announce URL alone; hostile datagrams get an error or
//! nothing while honest clients keep getting answers; IPv6 clients get
//! 18-byte entries over UDP and `peers6` over HTTP; `--no-udp` and
//! `--udp-port` do what they say.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use support::*;
use swarmshare::common::http::percent_encode;
use swarmshare::common::metainfo::{InfoHash, Metainfo};
use swarmshare::common::tracker_http::HttpAnnounceReply;
use swarmshare::common::tracker_proto::{Announce, AnnounceReply};
use swarmshare::common::tracker_udp::{self, Family, UdpTrackerError};
use swarmshare::peer::torrent_maker::create_single_file;
use swarmshare::sys::udp_tracker_client::UdpTrackerClient;

const T: Duration = Duration::from_secs(90);

fn tracker_on(ip: &str, extra: &[&str]) -> Proc {
    let dir = tempfile::tempdir().unwrap().keep();
    let mut cmd = Command::new(TRACKER);
    cmd.args(["--ip", ip, "--port", "0", "--interval", "5", "--data-dir"])
        .arg(&dir)
        .args(extra)
        .env("RUST_LOG", "warn");
    spawn_listening(cmd)
}

fn announce(id: u8, port: u16, left: u64) -> Announce {
    Announce::started(InfoHash([7; 20]), [id; 20], port, left)
}

/// A raw BEP 15 client on one socket.
struct Raw {
    socket: UdpSocket,
    to: SocketAddr,
}

impl Raw {
    fn new(from: &str, to: SocketAddr) -> Raw {
        let socket = UdpSocket::bind(from).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        Raw { socket, to }
    }

    /// The answer to one datagram, or None after half a second of silence.
    fn ask(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        self.socket.send_to(bytes, self.to).unwrap();
        let mut buf = [0u8; 4096];
        let (n, _) = self.socket.recv_from(&mut buf).ok()?;
        Some(buf[..n].to_vec())
    }

    fn connect(&self) -> u64 {
        let reply = self
            .ask(&tracker_udp::encode_connect(1))
            .expect("a connect reply");
        tracker_udp::decode_connect_reply(&reply, 1).unwrap()
    }
}

#[test]
fn peers_meet_through_our_tracker_over_udp_alone() {
    let dir = tempfile::tempdir().unwrap();
    let tracker = tracker_on("127.0.0.1", &[]);
    let content = data((3 << 20) + 5, 41);
    let seeder = home(dir.path(), "seeder");
    let src = seeder.join("downloads/over-udp.bin");
    write(&src, &content);
    let url = format!("udp://127.0.0.1:{}/announce", tracker.port);
    let bytes = create_single_file(&src, "over-udp.bin", &url).unwrap();
    let info = Metainfo::from_bytes(&bytes).unwrap();
    let torrent = dir.path().join("over-udp.torrent");
    std::fs::write(&torrent, &bytes).unwrap();
    let torrent = torrent.to_str().unwrap();
    // The peers' own tracker (the command line's) is a dead port: only UDP works.
    let dead = free_port().to_string();
    let _seed = seed_torrent(&seeder, torrent.as_ref(), &[]);
    let udp = UdpTrackerClient::with_base(&url, 300).unwrap();
    wait_until("our tracker counts the seeder (UDP scrape)", T, || {
        udp.scrape(&[info.info_hash], Duration::from_secs(1))
            .is_ok_and(|r| r.files.iter().any(|(_, c)| c.complete == 1))
    });
    let me = home(dir.path(), "me");
    let mut d = peer_bin();
    d.args(["127.0.0.1", &dead, "--home"]).arg(&me).args([
        "download",
        "--torrent",
        torrent,
        "--json",
    ]);
    let summary = json_ok(&run_bounded(d, T));
    assert_eq!(
        std::fs::read(me.join("downloads/over-udp.bin")).unwrap(),
        content
    );
    let sources = summary["sources"].as_array().expect("sources");
    assert!(
        sources.iter().any(|x| x["origin"] == "tracker"),
        "{summary}"
    );
    wait_until("the finished download is counted", T, || {
        udp.scrape(&[info.info_hash], Duration::from_secs(1))
            .is_ok_and(|r| r.files.iter().any(|(_, c)| c.downloaded >= 1))
    });
}

#[test]
fn hostile_datagrams_get_an_error_or_nothing_and_honest_clients_keep_answers() {
    let tracker = tracker_on("127.0.0.1", &["--udp-rate-limit", "200"]);
    let to: SocketAddr = format!("127.0.0.1:{}", tracker.port).parse().unwrap();
    let raw = Raw::new("127.0.0.1:0", to);
    let id = raw.connect();
    let good = tracker_udp::encode_announce(id, 4, &announce(1, 6881, 5));
    let mut wrong_id = good.clone();
    wrong_id[7] ^= 1;
    let mut unknown = good.clone();
    unknown[11] = 9;
    let mut many = tracker_udp::encode_scrape(id, 4, &[]).unwrap();
    many.extend_from_slice(&[3; 20 * 75]);
    let mut no_magic = tracker_udp::encode_connect(4);
    no_magic[0] ^= 0xff;
    let is_error = |r: &[u8]| r.len() >= 8 && r[..8] == [0, 0, 0, 3, 0, 0, 0, 4];
    for (what, bytes, answered) in [
        ("wrong connection id", &wrong_id[..], true),
        ("unknown action", &unknown[..], true),
        ("75 info-hashes", &many[..], true),
        ("a torn announce", &good[..50], true),
        ("too short for a transaction id", &good[..12], false),
        ("a connect without the magic", &no_magic[..], false),
        ("longer than any request", &[0u8; 3000][..], false),
    ] {
        let reply = raw.ask(bytes);
        match (answered, reply) {
            (true, Some(r)) => {
                assert!(is_error(&r), "{what}: {r:?}");
                assert!(r.len() <= bytes.len(), "{what}: amplified");
            }
            (false, None) => {}
            (_, r) => panic!("{what}: answered {r:?}"),
        }
    }
    // One address floods; another keeps getting answers, and so does the
    // flooder at its rate, once it slows down.
    let flooder = Raw::new("127.0.0.2:0", to);
    flooder.socket.set_nonblocking(true).unwrap();
    for _ in 0..20_000 {
        let _ = flooder.socket.send_to(&tracker_udp::encode_connect(9), to);
    }
    let reply = raw
        .ask(&good)
        .expect("the honest client is answered during the flood");
    let reply = tracker_udp::decode_announce_reply(&reply, 4, Family::V4).unwrap();
    assert_eq!(reply.incomplete, 1);
    let mut answers = 0;
    let mut buf = [0u8; 64];
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        match flooder.socket.recv_from(&mut buf) {
            Ok(_) => answers += 1,
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    assert!(
        (1..=1000).contains(&answers),
        "the flooder got {answers} answers to 20000 connects at 200/s"
    );
    // And HTTP is still answered.
    let scrape = raw_exchange(
        tracker.port,
        b"GET /scrape HTTP/1.0\r\n\r\n",
        Duration::from_secs(5),
    )
    .unwrap();
    assert!(
        scrape.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&scrape)
    );
}

#[test]
fn ipv6_clients_get_18_byte_entries_over_udp_and_peers6_over_http() {
    let tracker = tracker_on("::", &[]);
    let port = tracker.port;
    // Over UDP: a v6 seeder, an IPv4 leecher over the same dual-stack socket,
    // and a v6 leecher that sees only the v6 seeder in its 18-byte layout.
    let v6 = UdpTrackerClient::with_base(&format!("udp://[::1]:{port}/announce"), 300).unwrap();
    v6.announce(&announce(1, 7001, 0), Duration::from_secs(2))
        .unwrap();
    let v4 = UdpTrackerClient::with_base(&format!("udp://127.0.0.1:{port}/announce"), 300).unwrap();
    let reply = v4
        .announce(&announce(2, 7002, 9), Duration::from_secs(2))
        .unwrap();
    assert!(
        reply.peers.is_empty(),
        "IPv4 layout, no IPv4 peer yet: {:?}",
        reply.peers
    );
    let reply = v6
        .announce(&announce(3, 7003, 9), Duration::from_secs(2))
        .unwrap();
    let addrs: Vec<SocketAddr> = reply.peers.iter().map(|p| p.0).collect();
    assert_eq!(addrs, ["[::1]:7001".parse().unwrap()]);
    assert_eq!((reply.complete, reply.incomplete), (1, 2));
    // Over HTTP to [::1]: IPv4 peers in `peers`, IPv6 ones in `peers6`; an
    // IPv4 client's BEP 7 `ipv6=` lists it at both addresses.
    let q = format!(
        "/announce?info_hash={}&peer_id={}&port=7004&left=9&compact=1&ipv6=%5B2001%3Adb8%3A%3A4%5D%3A7004",
        percent_encode(&[7; 20]),
        "D".repeat(20)
    );
    let body = http_get_v4(port, &q);
    let reply = AnnounceReply::decode(&body).unwrap();
    let mut addrs: Vec<SocketAddr> = reply.peers.iter().map(|p| p.0).collect();
    addrs.sort();
    assert_eq!(
        addrs,
        vec![
            "127.0.0.1:7002".parse::<SocketAddr>().unwrap(),
            "[::1]:7001".parse().unwrap(),
            "[::1]:7003".parse().unwrap(),
        ]
    );
    assert!(
        String::from_utf8_lossy(&body).contains("6:peers6"),
        "IPv6 peers come in peers6"
    );
    let q = format!(
        "/announce?info_hash={}&peer_id={}&port=7005&left=9&compact=1",
        percent_encode(&[7; 20]),
        "E".repeat(20)
    );
    let reply = AnnounceReply::decode(&http_get_v4(port, &q)).unwrap();
    assert!(
        reply
            .peers
            .iter()
            .any(|p| p.0 == "[2001:db8::4]:7004".parse().unwrap()),
        "listed at its ipv6= address too: {:?}",
        reply.peers
    );
}

/// A GET over IPv4 (the dual-stack listener takes it) returning the body.
fn http_get_v4(port: u16, target: &str) -> Vec<u8> {
    let req = format!("GET {target} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    let resp = raw_exchange(port, req.as_bytes(), Duration::from_secs(5)).unwrap();
    let at = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header");
    resp[at + 4..].to_vec()
}

#[test]
fn no_udp_turns_it_off_and_udp_port_moves_it() {
    let off = tracker_on("127.0.0.1", &["--no-udp"]);
    let raw = Raw::new(
        "127.0.0.1:0",
        format!("127.0.0.1:{}", off.port).parse().unwrap(),
    );
    assert_eq!(raw.ask(&tracker_udp::encode_connect(1)), None);
    let udp_port = free_port();
    let moved = tracker_on("127.0.0.1", &["--udp-port", &udp_port.to_string()]);
    let line = moved.wait_line("UDP announce", Duration::from_secs(10));
    assert_eq!(
        line,
        format!("tracker UDP announce: udp://127.0.0.1:{udp_port}/announce")
    );
    let raw = Raw::new(
        "127.0.0.1:0",
        format!("127.0.0.1:{udp_port}").parse().unwrap(),
    );
    raw.connect();
    // A UDP port in use is one clear error line and a failure.
    let mut cmd = Command::new(TRACKER);
    let dir = tempfile::tempdir().unwrap();
    cmd.args([
        "--ip",
        "127.0.0.1",
        "--port",
        "0",
        "--udp-port",
        &udp_port.to_string(),
    ])
    .arg("--data-dir")
    .arg(dir.path());
    let out = run_bounded(cmd, Duration::from_secs(10));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("cannot listen for UDP announces"), "{err}");
    let _ = UdpTrackerError::NotBep15;
}
