//! The Mainline DHT (BEP 5) on 127.0.0.1 only: a `mainline::Testnet` stands in
//! for the public routers, which no test ever contacts.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use mainline::Testnet;
use support::*;

const T: Duration = Duration::from_secs(90);

/// `peer 127.0.0.1 DEAD_TRACKER --home HOME --dht-bootstrap B [args]`: the
/// tracker port has nothing on it, so only the DHT can introduce peers.
fn dht_peer(dead: u16, home: &Path, bootstrap: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(PEER);
    cmd.args(["127.0.0.1", &dead.to_string(), "--home"])
        .arg(home)
        .args(["--dht-bootstrap", bootstrap])
        .args(args);
    cmd
}

fn only_torrent(home: &Path) -> Option<std::path::PathBuf> {
    std::fs::read_dir(home.join("torrents"))
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "torrent"))
}

#[test]
fn a_download_finds_its_seeder_through_the_dht_alone() {
    let testnet = Testnet::builder(3).build().expect("testnet on 127.0.0.1");
    let bootstrap = testnet.bootstrap[0].clone();
    let dir = tempfile::tempdir().unwrap();
    let dead = free_port();
    let content = data(300_000, 13);
    let seeder = home(dir.path(), "seeder");
    write(&seeder.join("upload/dht.bin"), &content);
    let mut cmd = dht_peer(dead, &seeder, &bootstrap, &["serve"]);
    cmd.env("RUST_LOG", "warn");
    let mut seed = spawn_listening(cmd);
    let mut file = None;
    wait_until("the seeder writes its .torrent", T, || {
        file = only_torrent(&seeder);
        file.is_some()
    });
    let file = file.unwrap();

    let leech = home(dir.path(), "leech");
    let out = run_bounded(
        dht_peer(
            dead,
            &leech,
            &bootstrap,
            &["download", "--torrent", file.to_str().unwrap(), "--json"],
        ),
        T,
    );
    let summary = json_ok(&out);
    assert_eq!(
        std::fs::read(leech.join("downloads/dht.bin")).unwrap(),
        content
    );
    let sources = summary["sources"].as_array().expect("sources");
    assert!(
        sources.iter().any(|s| s["origin"] == "dht"),
        "no source from the DHT: {summary}"
    );

    // The routing table outlives the process, for the next start.
    seed.terminate();
    let nodes = std::fs::read_to_string(seeder.join(".swarmshare/dht_nodes")).unwrap();
    assert!(
        nodes.lines().any(|l| l.starts_with("127.0.0.1:")),
        "{nodes}"
    );
}
