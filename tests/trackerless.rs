//! A swarm that outlives its tracker: once the tracker is gone, a newcomer
//! given only a magnet link finds the seeder through the DHT (bootstrapped on
//! 127.0.0.1, never the public one), and a newcomer with the DHT off finds a
//! third peer through peer exchange alone.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use mainline::Testnet;
use support::*;

const T: Duration = Duration::from_secs(120);

/// A peer on the loopback DHT, with a short ut_pex interval so the test need
/// not wait BEP 11's minute.
fn dht_peer(tracker_port: u16, home: &Path, bootstrap: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(PEER);
    cmd.args(["127.0.0.1", &tracker_port.to_string(), "--home"])
        .arg(home)
        .args(["--dht-bootstrap", bootstrap])
        .args(args)
        .env("SWARMSHARE_PEX_INTERVAL_MS", "500")
        .env("RUST_LOG", "warn");
    cmd
}

#[test]
fn a_magnet_finishes_through_the_dht_after_the_tracker_dies_and_pex_finds_a_third_peer() {
    let testnet = Testnet::builder(3).build().expect("testnet on 127.0.0.1");
    let bootstrap = testnet.bootstrap[0].clone();
    let dir = tempfile::tempdir().unwrap();
    let content = data(3 << 20, 17);

    // A shares and publishes the file through our tracker, and joins the DHT.
    let mut tr = tracker(&dir.path().join("tracker"), 5);
    let a = home(dir.path(), "a");
    write(&a.join("upload/nomad.bin"), &content);
    let seeder = spawn_listening(dht_peer(tr.port, &a, &bootstrap, &["serve"]));
    let a_addr = format!("127.0.0.1:{}", seeder.port);
    wait_listed(tr.port, "nomad", 1);
    let key = search(tr.port, "nomad").results.swap_remove(0).key;
    let link = format!("magnet:?xt=urn:btih:{key}&dn=nomad.bin");
    tr.kill9();

    // B has the magnet link and the DHT, nothing else: the tracker is dead.
    // It downloads slowly (about 20 s) and stays, so C meets it mid-download.
    let b = home(dir.path(), "b");
    let b_port = free_port();
    let mut b_cmd = dht_peer(
        tr.port,
        &b,
        &bootstrap,
        &[
            "--listen",
            &b_port.to_string(),
            "--download-rate",
            "150K",
            "download",
            &link,
            "--seed",
        ],
    );
    b_cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .stdin(Stdio::null());
    let _b = Spawned(b_cmd.spawn().expect("spawn B"));
    wait_until("B fetched the metadata through the DHT", T, || {
        b.join("torrents/nomad.bin.torrent").exists()
    });

    // C has the DHT off and a link naming A only: B can reach it through
    // A's ut_pex alone.
    let c = home(dir.path(), "c");
    let c_link = format!("{link}&x.pe={a_addr}");
    let mut c_cmd = peer_bin();
    c_cmd
        .args(["127.0.0.1", &tr.port.to_string(), "--home"])
        .arg(&c)
        // Slow enough (about 10 s) that A's ut_pex arrives before the end.
        .args(["--download-rate", "300K", "download", &c_link, "--json"])
        .env("SWARMSHARE_PEX_INTERVAL_MS", "500");
    let out = run_bounded(c_cmd, T);
    let summary = json_ok(&out);
    assert_eq!(
        std::fs::read(c.join("downloads/nomad.bin")).unwrap(),
        content
    );
    let sources = summary["sources"].as_array().expect("sources");
    let b_addr = format!("127.0.0.1:{b_port}");
    assert!(
        sources
            .iter()
            .any(|s| s["addr"] == b_addr.as_str() && s["origin"] == "pex"),
        "B ({b_addr}) should be a source learnt through A's ut_pex: {summary}"
    );

    // B finishes from the DHT's seeder, byte for byte.
    wait_until("B has the whole file", T, || {
        std::fs::read(b.join("downloads/nomad.bin")).is_ok_and(|got| got == content)
    });
}
