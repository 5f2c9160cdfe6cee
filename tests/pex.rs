//! Peer exchange (BEP 11) between our own peers: A seeds, B downloads from A
//! slowly, and C, which knows only B (its tracker knows nobody), must learn A
//! from B's ut_pex messages to finish; with `--no-pex` it never hears of A.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

const T: Duration = Duration::from_secs(90);

/// A peer command with a short ut_pex interval, so the test need not wait a minute.
fn pex_cmd(tracker_port: u16, home: &Path, args: &[&str]) -> Command {
    let mut cmd = peer_bin();
    cmd.args(["127.0.0.1", &tracker_port.to_string(), "--home"])
        .arg(home)
        .args(args)
        .env("SWARMSHARE_PEX_INTERVAL_MS", "500");
    cmd
}

/// The .torrent with its `announce` replaced by `url` (the info-hash stays:
/// `announce` is outside the info dictionary), so C asks only `url`.
fn with_announce(torrent: &[u8], url: &str) -> Vec<u8> {
    let key = b"8:announce";
    let at = torrent
        .windows(key.len())
        .position(|w| w == key)
        .expect("an announce")
        + key.len();
    let colon = at + torrent[at..].iter().position(|&c| c == b':').unwrap();
    let len: usize = std::str::from_utf8(&torrent[at..colon])
        .unwrap()
        .parse()
        .unwrap();
    let mut out = torrent[..at].to_vec();
    out.extend_from_slice(format!("{}:{url}", url.len()).as_bytes());
    out.extend_from_slice(&torrent[colon + 1 + len..]);
    out
}

/// C's sources: (address, origin, bytes).
fn sources(s: &serde_json::Value) -> Vec<(String, String, u64)> {
    s["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["addr"].as_str().unwrap_or_default().to_owned(),
                x["origin"].as_str().unwrap_or_default().to_owned(),
                x["bytes"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

#[test]
fn a_peer_known_only_through_another_is_found_by_pex_and_not_with_no_pex() {
    let dir = tempfile::tempdir().unwrap();
    let content = data(3 << 20, 11);
    let seeded = seeded(dir.path(), "pexfile.bin", &content, &[]);
    let a_addr = format!("127.0.0.1:{}", seeded.seeder.port);
    // C's tracker: one that knows nobody, so A can come to C only through B.
    let empty = tracker(&dir.path().join("empty"), 5);

    // B fetches from A at 150 KB/s (20 s for the file), and stays to seed.
    let b = home(dir.path(), "b");
    let b_port = free_port();
    let mut b_cmd = pex_cmd(
        seeded.tracker.port,
        &b,
        &[
            "--listen",
            &b_port.to_string(),
            "--download-rate",
            "150K",
            "download",
            "pexfile",
            "--seed",
        ],
    );
    b_cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .env("RUST_LOG", "warn");
    let _b = Spawned(b_cmd.spawn().expect("spawn B"));
    let torrent = seeded.home.join("torrents/pexfile.bin.torrent");
    assert!(torrent.exists(), "the seeder's .torrent: {torrent:?}");
    let b_addr = format!("127.0.0.1:{b_port}");
    wait_until("B is downloading from A", T, || {
        std::fs::read_dir(b.join("downloads")).is_ok_and(|mut d| d.next().is_some())
    });

    let url = format!("http://127.0.0.1:{}/announce", empty.port);
    let rewritten = dir.path().join("pexfile.torrent");
    std::fs::write(
        &rewritten,
        with_announce(&std::fs::read(&torrent).unwrap(), &url),
    )
    .unwrap();
    let torrent = rewritten.to_str().unwrap();
    let c_args = |extra: &'static [&'static str]| {
        let mut v = vec![
            "--connect",
            &b_addr,
            "download",
            "--torrent",
            torrent,
            "--json",
        ];
        v.extend_from_slice(extra);
        v
    };
    let c = home(dir.path(), "c");
    let out = run_bounded(pex_cmd(empty.port, &c, &c_args(&[])), T);
    let s = json_ok(&out);
    assert_eq!(
        std::fs::read(c.join("downloads/pexfile.bin")).unwrap(),
        content
    );
    let got = sources(&s);
    assert!(
        got.iter()
            .any(|(addr, origin, bytes)| *addr == a_addr && origin == "pex" && *bytes > 0),
        "A ({a_addr}) should be a source learnt by pex: {got:?}"
    );

    // With --no-pex, C hears of nobody but B.
    let c2 = home(dir.path(), "c2");
    let mut args = vec!["--no-pex"];
    args.extend(c_args(&[]));
    let out = run_bounded(pex_cmd(empty.port, &c2, &args), T);
    let s = json_ok(&out);
    let got = sources(&s);
    assert!(
        got.iter()
            .all(|(addr, origin, _)| origin != "pex" && *addr != a_addr),
        "no pex source with --no-pex: {got:?}"
    );
    assert_eq!(
        std::fs::read(c2.join("downloads/pexfile.bin")).unwrap(),
        content
    );
}
