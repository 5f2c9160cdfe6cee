//! The DHT with a stock client: aria2c seeds a torrent and announces it on a
//! DHT of nodes on 127.0.0.1 (the mainline crate's Testnet; never the public
//! one), and our peer, whose trackers are dead ports, finds it there alone.
//! libtorrent cannot take this part: it starts no DHT node on a loopback
//! socket (arvidn/libtorrent#4220).

#[path = "interop/clients.rs"]
#[allow(dead_code)]
mod clients;
mod support;

use std::time::Duration;

use clients::*;
use support::*;

const T: Duration = Duration::from_secs(60);

#[test]
fn ours_finds_an_aria2c_seeder_through_the_dht_alone() {
    require("aria2c", "aria2");
    require("mktorrent", "mktorrent");
    let testnet = mainline::Testnet::builder(4)
        .build()
        .expect("a DHT testnet on 127.0.0.1");
    let node = testnet.bootstrap[0].clone();
    let dir = tempfile::tempdir().unwrap();
    let content = data((1 << 20) + 77, 31);
    let seed_dir = dir.path().join("aria2-data");
    write(&seed_dir.join("dht.bin"), &content);
    let torrent = dir.path().join("dht.torrent");
    let dead = free_port();
    mktorrent(
        &seed_dir.join("dht.bin"),
        &format!("http://127.0.0.1:{dead}/announce"),
        &torrent,
        16,
    );
    // aria2c seeding, with its DHT (and nothing else) on, bootstrapped from
    // the loopback node only.
    let mut cmd = std::process::Command::new("aria2c");
    cmd.args([
        "--enable-dht=true",
        "--enable-dht6=false",
        "--bt-enable-lpd=false",
        "--enable-peer-exchange=false",
        "--disable-ipv6=true",
        "--summary-interval=0",
        "--console-log-level=notice",
        "--log-level=debug",
        "--check-integrity=true",
        "--bt-hash-check-seed=true",
        "--seed-ratio=0.0",
        "--stop=180",
    ])
    .arg(format!("--listen-port={}", free_port()))
    .arg(format!("--dht-listen-port={}", free_port()))
    .arg(format!("--dht-entry-point={node}"))
    .arg(format!(
        "--dht-file-path={}",
        dir.path().join("dht.dat").display()
    ))
    .arg(format!(
        "--log={}",
        dir.path().join("aria2-debug.log").display()
    ))
    .arg(format!("--dir={}", seed_dir.display()))
    .arg(&torrent);
    let log = std::fs::File::create(dir.path().join("aria2.log")).unwrap();
    cmd.stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(std::process::Stdio::null());
    let _seeder = Spawned(
        cmd.spawn()
            .expect("aria2c (Debian package aria2) is installed"),
    );
    // aria2c looks the torrent up first and announces itself some seconds
    // later: our peer starts once it has, so that its own lookup finds aria2c
    // (rather than aria2c finding our peer's announce and dialling in).
    let debug_log = dir.path().join("aria2-debug.log");
    wait_until("aria2c announces itself on the DHT", T, || {
        std::fs::read_to_string(&debug_log).is_ok_and(|l| l.contains("dht query announce_peer"))
    });
    let me = dir.path().join("ours");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_peer"));
    cmd.args(["127.0.0.1", &dead.to_string(), "--home"])
        .arg(&me)
        .args(["--dht-bootstrap", &node])
        .args(["download", "--torrent", torrent.to_str().unwrap(), "--json"]);
    let out = run_bounded(cmd, T);
    let s = json_ok(&out);
    assert_eq!(
        std::fs::read(me.join("downloads/dht.bin")).unwrap(),
        content
    );
    let sources = s["sources"].as_array().expect("sources");
    let aria2c = sources
        .iter()
        .find(|x| {
            x["peer_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("41322d"))
        }) // "A2-"
        .unwrap_or_else(|| panic!("aria2c sent data: {s}"));
    assert_eq!(
        aria2c["origin"], "dht",
        "we found aria2c through the DHT: {s}"
    );
    assert_eq!(aria2c["bytes"], content.len() as u64, "{s}");
}
