//! IPv6 end to end (BEP 7): the tracker on `::` takes IPv4 and IPv6 clients on
//! one socket per transport; peers that reach it over IPv6 are listed at their
//! IPv6 address, dialled there, and shown so in `download --json`. A peer
//! listens on both families by default.

mod support;

use std::process::Command;
use std::time::Duration;

use support::*;

const T: Duration = Duration::from_secs(90);

#[test]
fn peers_that_meet_over_ipv6_exchange_data_over_ipv6() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(TRACKER);
    cmd.args(["--ip", "::", "--port", "0", "--interval", "5", "--data-dir"])
        .arg(dir.path().join("tracker"))
        .env("RUST_LOG", "warn");
    let tr = spawn_listening(cmd);
    let port = tr.port.to_string();
    let content = data((2 << 20) + 99, 61);
    // Two seeders so that the download has more than one source: one reaches
    // the tracker over IPv6, the other over IPv4, both listening on `::`.
    let (six, four) = (home(dir.path(), "six"), home(dir.path(), "four"));
    write(&six.join("upload/dual.bin"), &content);
    write(&four.join("upload/dual.bin"), &content);
    let serve_via = |tracker_ip: &str, h: &std::path::Path| {
        let mut cmd = peer_bin();
        cmd.args([tracker_ip, &port, "--home"])
            .arg(h)
            .args(["--upload-rate", "1M", "serve"])
            .env("RUST_LOG", "warn");
        spawn_listening(cmd)
    };
    let s6 = serve_via("::1", &six);
    let s4 = serve_via("127.0.0.1", &four);
    assert!(
        s6.port != 0 && s4.port != 0,
        "both print their listening line"
    );
    wait_listed(tr.port, "dual", 2);
    let found = search(tr.port, "dual").results.swap_remove(0);
    let mut peers = found.peers.clone();
    peers.sort();
    assert_eq!(
        peers,
        vec![
            format!("127.0.0.1:{}", s4.port),
            format!("[::1]:{}", s6.port)
        ],
        "each listed at the address it announced from"
    );
    let me = home(dir.path(), "me");
    let mut cmd = peer_bin();
    cmd.args(["::1", &port, "--home"])
        .arg(&me)
        .args(["download", "dual.bin", "--json"]);
    let s = json_ok(&run_bounded(cmd, T));
    assert_eq!(
        std::fs::read(me.join("downloads/dual.bin")).unwrap(),
        content
    );
    let sources = s["sources"].as_array().expect("sources");
    let from = |addr: String| {
        sources
            .iter()
            .find(|x| x["addr"] == addr.as_str())
            .and_then(|x| x["bytes"].as_u64())
            .unwrap_or(0)
    };
    assert!(
        from(format!("[::1]:{}", s6.port)) > 0,
        "data came over IPv6: {s}"
    );
    assert!(
        from(format!("127.0.0.1:{}", s4.port)) > 0,
        "and over IPv4 in the same swarm: {s}"
    );
}

#[test]
fn the_default_listener_takes_both_families() {
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("tracker"), 5);
    let p = serve(tr.port, &home(dir.path(), "p"), &[]);
    for target in [format!("127.0.0.1:{}", p.port), format!("[::1]:{}", p.port)] {
        std::net::TcpStream::connect(&target).unwrap_or_else(|e| panic!("{target}: {e}"));
    }
}
