//! UDP trackers (BEP 15) and `announce-list` (BEP 12), with `opentracker`
//! (the Debian package) as the only tracker that answers: its UDP port is how
//! our seeder and our downloader meet, after a first tier that is dead.

mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use support::*;
use swarmshare::common::metainfo::Metainfo;
use swarmshare::peer::torrent_maker::create_single_file;
use swarmshare::sys::udp_tracker_client::UdpTrackerClient;

const T: Duration = Duration::from_secs(90);

/// opentracker on 127.0.0.1, UDP and TCP on `port`, serving only `key`
/// (Debian's build is whitelist-only, chroots to its folder, and refuses root
/// without `-u`).
fn opentracker(dir: &Path, port: u16, key: &str) -> Spawned {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("whitelist"), format!("{key}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = std::process::Command::new("opentracker");
    if unsafe_is_root() {
        cmd.args(["-u", "_opentracker"]);
    }
    cmd.args(["-i", "127.0.0.1", "-p", &port.to_string(), "-P"])
        .arg(port.to_string())
        .arg("-d")
        .arg(dir)
        .args(["-w", "/whitelist"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .stdin(Stdio::null());
    let p = Spawned(
        cmd.spawn()
            .expect("opentracker (Debian package) is installed"),
    );
    wait_until("opentracker listens", Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    p
}

fn unsafe_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
fn a_download_meets_its_seeder_through_opentracker_over_udp_after_a_dead_first_tier() {
    let dir = tempfile::tempdir().unwrap();
    let content = data((2 << 20) + 11, 21);
    let seeder = home(dir.path(), "seeder");
    let src = seeder.join("downloads/udp.bin");
    write(&src, &content);
    let info = {
        let bytes = create_single_file(&src, "udp.bin", "http://unused.invalid/announce").unwrap();
        Metainfo::from_bytes(&bytes).unwrap()
    };
    let key = info.info_hash.hex();
    let ot_port = free_port();
    let _ot = opentracker(&dir.path().join("opentracker"), ot_port, &key);
    // Tier 1 is dead twice over (a UDP port nobody answers, an HTTP port
    // nobody listens on); tier 2 is opentracker over UDP. Our own tracker (the
    // command line's) is a dead port as well.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let trackers = [
        format!("udp://{}/announce", silent.local_addr().unwrap()),
        format!("http://127.0.0.1:{}/announce", free_port()),
        format!("udp://127.0.0.1:{ot_port}/announce"),
    ];
    let torrent = dir.path().join("udp.torrent");
    std::fs::write(
        &torrent,
        Metainfo::torrent_bytes(&info.info_bytes, &trackers, &[]),
    )
    .unwrap();
    let reread = Metainfo::from_bytes(&std::fs::read(&torrent).unwrap()).unwrap();
    assert_eq!(reread.announce_list.len(), 3, "three tiers");
    let torrent = torrent.to_str().unwrap();
    let dead = free_port();

    let mut s = peer_bin();
    s.args(["127.0.0.1", &dead.to_string(), "--home"])
        .arg(&seeder)
        .args(["download", "--torrent", torrent, "--seed"])
        .env("SWARMSHARE_UDP_RETRY_BASE_MS", "300")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .stdin(Stdio::null());
    let _seed = Spawned(s.spawn().expect("spawn the seeder"));
    // Our own UDP client scrapes opentracker until the seeder is counted, so
    // the downloader's first announce already finds it.
    let ot = UdpTrackerClient::with_base(&trackers[2], 300).unwrap();
    wait_until("opentracker counts our seeder (UDP scrape)", T, || {
        ot.scrape(&[info.info_hash], Duration::from_secs(2))
            .is_ok_and(|r| r.files.iter().any(|(_, c)| c.complete >= 1))
    });

    let me = home(dir.path(), "me");
    let mut d = peer_bin();
    d.args(["127.0.0.1", &dead.to_string(), "--home"])
        .arg(&me)
        .args(["download", "--torrent", torrent, "--json"])
        .env("SWARMSHARE_UDP_RETRY_BASE_MS", "300");
    let out = run_bounded(d, T);
    let summary = json_ok(&out);
    assert_eq!(
        std::fs::read(me.join("downloads/udp.bin")).unwrap(),
        content
    );
    let sources = summary["sources"].as_array().expect("sources");
    assert!(
        sources.iter().any(|x| x["origin"] == "tracker"),
        "the seeder came from a tracker, and only opentracker answers: {summary}"
    );
}

/// BEP 12 order: while the first tier answers, the second is never announced
/// to. Two of our trackers, each a tier, over UDP; the seeder and the
/// downloader meet through the first, and the second never hears of them.
#[test]
fn the_second_tier_hears_nothing_while_the_first_answers() {
    let dir = tempfile::tempdir().unwrap();
    let first = tracker(&dir.path().join("first"), 5);
    let second = tracker(&dir.path().join("second"), 5);
    let content = data((1 << 20) + 3, 22);
    let seeder = home(dir.path(), "seeder");
    let src = seeder.join("downloads/tiers.bin");
    write(&src, &content);
    let info = {
        let bytes =
            create_single_file(&src, "tiers.bin", "http://unused.invalid/announce").unwrap();
        Metainfo::from_bytes(&bytes).unwrap()
    };
    let url = |p: u16| format!("udp://127.0.0.1:{p}/announce");
    let torrent = dir.path().join("tiers.torrent");
    std::fs::write(
        &torrent,
        Metainfo::torrent_bytes(&info.info_bytes, &[url(first.port), url(second.port)], &[]),
    )
    .unwrap();
    let torrent = torrent.to_str().unwrap();
    let dead = free_port().to_string();
    let _seed = seed_torrent(&seeder, torrent.as_ref(), &[]);
    let counts = |port: u16| {
        UdpTrackerClient::with_base(&url(port), 300)
            .unwrap()
            .scrape(&[info.info_hash], Duration::from_secs(2))
            .ok()
            .and_then(|r| r.files.first().map(|f| f.1))
            .unwrap_or_default()
    };
    wait_until("the first tier counts the seeder", T, || {
        counts(first.port).complete == 1
    });
    // A seeder whose first announce says `completed` is counted as a download
    // too: the leecher's is the one after it.
    let before = counts(first.port).downloaded;
    let me = home(dir.path(), "me");
    let mut d = peer_bin();
    d.args(["127.0.0.1", &dead, "--home"]).arg(&me).args([
        "download",
        "--torrent",
        torrent,
        "--json",
    ]);
    json_ok(&run_bounded(d, T));
    assert_eq!(
        std::fs::read(me.join("downloads/tiers.bin")).unwrap(),
        content
    );
    wait_until("the first tier counts the download", T, || {
        counts(first.port).downloaded > before
    });
    assert_eq!(
        counts(second.port),
        Default::default(),
        "the second tier was never announced to"
    );
}
