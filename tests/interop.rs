//! Interop with stock BitTorrent clients, which nobody here wrote: aria2c,
//! libtorrent 2.0 (through tests/interop/lt_client.py), transmission-cli 3.00
//! and mktorrent. Each case is its own test. Everything runs on 127.0.0.1 with
//! DHT, LSD, UPnP, NAT-PMP and PEX off; every wait has a deadline; every file
//! is compared byte for byte; a missing client fails the test, never skips it.

#[path = "interop/clients.rs"]
mod clients;
#[path = "interop/scripted.rs"]
mod scripted;
mod support;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clients::*;
use serde_json::Value;
use support::*;
use swarmshare::common::bencode;
use swarmshare::common::http;
use swarmshare::common::metainfo::{InfoHash, Metainfo};
use swarmshare::peer::torrent_maker::create_single_file;
use swarmshare::sys::http_client;
use swarmshare::sys::metainfo_file::MetainfoFile;

const T: Duration = Duration::from_secs(90);

fn key_of(torrent: &Path) -> InfoHash {
    Metainfo::from_file(torrent)
        .unwrap_or_else(|e| panic!("{} does not parse: {e}", torrent.display()))
        .info_hash
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    complete: i64,
    incomplete: i64,
    downloaded: i64,
}

/// BEP 48 scrape of our tracker for one torrent.
fn scrape(port: u16, key: &InfoHash) -> Counts {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let target = format!("/scrape?info_hash={}", http::percent_encode(&key.0));
    let (status, body) = http_client::request(addr, "GET", &target, b"", Duration::from_secs(5))
        .expect("scrape request");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let v = bencode::decode(&body).expect("scrape reply is bencoded");
    let files = v
        .as_dict()
        .and_then(|d| d.get("files"))
        .and_then(|f| f.as_dict())
        .expect("scrape reply has files");
    let entry = files
        .entries
        .iter()
        .find(|(k, _)| *k == key.0.as_slice())
        .and_then(|(_, v)| v.as_dict())
        .expect("scrape reply has an entry for the info-hash");
    let n = |k: &str| entry.get(k).and_then(|v| v.as_int()).expect(k);
    Counts {
        complete: n("complete"),
        incomplete: n("incomplete"),
        downloaded: n("downloaded"),
    }
}

fn wait_scrape(port: u16, key: &InfoHash, what: &str, pred: impl Fn(Counts) -> bool) -> Counts {
    let deadline = std::time::Instant::now() + T;
    loop {
        let c = scrape(port, key);
        if pred(c) {
            return c;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {T:?} waiting for scrape: {what}; last answer {c:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One of our peers serving `content` as `upload/NAME`; returns it and the `.torrent` it made.
fn our_seeder(tr: u16, root: &Path, name: &str, content: &[u8], extra: &[&str]) -> (Proc, PathBuf) {
    let h = home(root, "ours-seeder");
    write(&h.join("upload").join(name), content);
    let p = serve(tr, &h, extra);
    wait_listed(tr, name, 1);
    (p, h.join("torrents").join(format!("{name}.torrent")))
}

fn same_file(got: &Path, want: &[u8], who: &str) {
    let bytes = std::fs::read(got).unwrap_or_else(|e| panic!("{who}: {}: {e}", got.display()));
    assert!(
        bytes == want,
        "{who}: {} differs from the original ({} bytes, expected {})",
        got.display(),
        bytes.len(),
        want.len()
    );
}

/// Files of a folder, relative, sorted.
fn tree(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walk(root)
        .into_iter()
        .map(|p| p.strip_prefix(root).unwrap().to_owned())
        .collect();
    v.sort();
    v
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn same_tree(got: &Path, want: &Path, who: &str) {
    assert_eq!(
        tree(got),
        tree(want),
        "{who}: {} does not hold the same files as {}",
        got.display(),
        want.display()
    );
    for rel in tree(want) {
        same_file(
            &got.join(&rel),
            &std::fs::read(want.join(&rel)).unwrap(),
            who,
        );
    }
}

/// A folder with subfolders and sizes that make pieces span files.
fn album(root: &Path, name: &str) -> PathBuf {
    let top = root.join(name);
    write(&top.join("cover.jpg"), &data(100_001, 31));
    write(&top.join("cd1/01 intro.flac"), &data(700_000, 32));
    write(&top.join("cd1/02.flac"), &data(1_000_003, 33));
    write(&top.join("cd2/bonus/03.flac"), &data(524_288, 34));
    write(&top.join("notes.txt"), b"liner notes\n");
    top
}

// ---------------------------------------------------------------- ours → stock

/// Our handshake's reserved bytes: only BEP 10, the extension protocol (byte 5, 0x10).
const OUR_RESERVED: [u8; 8] = [0, 0, 0, 0, 0, 0x10, 0, 0x04];

#[test]
fn ours_to_aria2c() {
    require("aria2c", "aria2");
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("tracker"), 2);
    let content = data((3 << 20) + 12_345, 11);
    let (_seed, torrent) = our_seeder(tr.port, dir.path(), "to-aria2.bin", &content, &[]);

    let out = dir.path().join("aria2");
    let mut a = aria2_leech(&torrent, &out, dir.path().join("aria2.log"), &[]);
    a.wait_success(T);
    same_file(&out.join("to-aria2.bin"), &content, "aria2c");
}

#[test]
fn ours_to_libtorrent() {
    require_libtorrent();
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("tracker"), 2);
    let content = data((2 << 20) + 777, 12);
    let (_seed, torrent) = our_seeder(tr.port, dir.path(), "to-lt.bin", &content, &[]);

    let save = dir.path().join("lt");
    let mut lt = Lt::start(
        &torrent,
        &save,
        dir.path().join("lt.log"),
        LtOptions {
            exit_on_complete: true,
            ..Default::default()
        },
    );
    lt.wait_complete(T);
    same_file(&save.join("to-lt.bin"), &content, "libtorrent");
}

/// BEP 9: a client that knows only the info-hash gets the info dictionary
/// from our seeder, checks it, and downloads.
#[test]
fn libtorrent_fetches_the_metadata_from_our_seeder_by_magnet() {
    require_libtorrent();
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("tracker"), 2);
    let content = data((3 << 20) + 99, 21);
    let (seed, torrent) = our_seeder(tr.port, dir.path(), "by-magnet.bin", &content, &[]);
    let save = dir.path().join("lt");
    let mut lt = Lt::start(
        Path::new(""),
        &save,
        dir.path().join("lt.log"),
        LtOptions {
            exit_on_complete: true,
            magnet_hash: Some(key_of(&torrent).hex()),
            peer: Some(format!("127.0.0.1:{}", seed.port)),
            ..Default::default()
        },
    );
    lt.wait_event("metadata", T, |_| true);
    lt.wait_complete(T);
    same_file(&save.join("by-magnet.bin"), &content, "libtorrent");
}

/// BEP 9 through our tracker: aria2c, given only a magnet link, announces
/// `left=0` while it fetches the metadata; the tracker must still hand it our
/// seeder, which then serves the info dictionary and the data.
#[test]
fn aria2c_downloads_a_magnet_from_our_seeder_through_our_tracker() {
    require("aria2c", "aria2");
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("tracker"), 2);
    let content = data((2 << 20) + 4_321, 22);
    let (_seed, torrent) = our_seeder(tr.port, dir.path(), "aria-magnet.bin", &content, &[]);
    let magnet = format!(
        "magnet:?xt=urn:btih:{}&dn=aria-magnet.bin&tr={}",
        key_of(&torrent).hex(),
        announce_url(tr.port)
    );
    let out = dir.path().join("aria2");
    let mut a = aria2_leech(Path::new(&magnet), &out, dir.path().join("aria2.log"), &[]);
    a.wait_success(T);
    same_file(&out.join("aria-magnet.bin"), &content, "aria2c");
}

#[test]
fn ours_to_transmission() {
    require("transmission-cli", "transmission-cli");
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("tracker"), 2);
    let content = data((1 << 20) + 4_321, 13);
    // A first run makes and publishes the torrent transmission is given.
    let (mut first, torrent) = our_seeder(tr.port, dir.path(), "to-tr.bin", &content, &[]);
    first.terminate();

    // transmission-cli never dials 127.x peers from a tracker, so our seeder dials it.
    let port = free_port();
    let out = dir.path().join("transmission");
    let mut t = transmission_leech(&torrent, &out, &dir.path().join("tr-config"), port, &[]);
    wait_port_open(port, "transmission-cli listening", T);
    let connect = format!("127.0.0.1:{port}");
    let _seed = serve(
        tr.port,
        &dir.path().join("ours-seeder"),
        &["--connect", &connect],
    );
    t.wait_success(T);
    same_file(&out.join("to-tr.bin"), &content, "transmission-cli");
}

/// transmission-cli with a download limit keeps many requests out of a seeder
/// that answers slowly; it once stalled for over a minute at a time when the
/// seeder dropped requests past its queue without a word. 32 MiB at 4 MB/s
/// takes about 8 s; the deadline leaves no room for such a stall.
#[test]
fn ours_to_rate_limited_transmission_without_a_stall() {
    require("transmission-cli", "transmission-cli");
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("tracker"), 2);
    let content = data(32 << 20, 33);
    let (mut first, torrent) = our_seeder(tr.port, dir.path(), "limited.bin", &content, &[]);
    first.terminate();

    let port = free_port();
    let out = dir.path().join("transmission");
    let config = dir.path().join("tr-config");
    let mut t = transmission_leech(&torrent, &out, &config, port, &["-d", "4096"]);
    wait_port_open(port, "transmission-cli listening", T);
    let connect = format!("127.0.0.1:{port}");
    let started = std::time::Instant::now();
    let _seed = serve(
        tr.port,
        &dir.path().join("ours-seeder"),
        &["--connect", &connect],
    );
    t.wait_success(Duration::from_secs(60));
    println!(
        "transmission-cli -d 4096: 32 MiB from our seeder in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    same_file(&out.join("limited.bin"), &content, "transmission-cli");
}

// ---------------------------------------------------------------- stock → ours

#[test]
fn libtorrent_to_ours_with_a_mktorrent_torrent() {
    require_libtorrent();
    require("mktorrent", "mktorrent");
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("tracker"), 2);
    let content = data((3 << 20) + 99, 14);
    let src = dir.path().join("lt-data");
    write(&src.join("from-lt.bin"), &content);
    let torrent = dir.path().join("from-lt.torrent");
    mktorrent(
        &src.join("from-lt.bin"),
        &announce_url(tr.port),
        &torrent,
        16,
    );

    let mut lt = Lt::seed(&torrent, &src, dir.path().join("lt.log"));
    lt.wait_event("tracker_reply", T, |_| true);
    let me = dir.path().join("ours");
    let s = our_download(tr.port, &me, &torrent);
    same_file(&me.join("downloads/from-lt.bin"), &content, "our peer");
    let lt_id = hex_prefix("-LT");
    assert_eq!(
        bytes_from(&s, &lt_id),
        content.len() as u64,
        "every byte came from the libtorrent seeder: {s}"
    );
}

/// BEP 9 the other way: libtorrent seeds, and our peer, given only a magnet
/// link naming it in `x.pe` (its tracker argument a dead port), fetches the
/// info dictionary from libtorrent, saves the .torrent and downloads.
#[test]
fn ours_fetches_a_magnet_from_a_libtorrent_seeder() {
    require_libtorrent();
    require("mktorrent", "mktorrent");
    let dir = tempfile::tempdir().unwrap();
    let content = data((2 << 20) + 77, 19);
    let src = dir.path().join("lt-data");
    write(&src.join("lt-magnet.bin"), &content);
    let torrent = dir.path().join("lt-magnet.torrent");
    let dead = free_port();
    mktorrent(
        &src.join("lt-magnet.bin"),
        &announce_url(dead),
        &torrent,
        16,
    );
    let key = key_of(&torrent);
    let mut lt = Lt::seed(&torrent, &src, dir.path().join("lt.log"));
    lt.wait_event("checked", T, |_| true);
    let me = dir.path().join("ours");
    let link = format!(
        "magnet:?xt=urn:btih:{}&dn=lt-magnet.bin&x.pe=127.0.0.1:{}",
        key.hex(),
        lt.port
    );
    let out = peer_cmd(dead, &me, &["download", &link, "--json"], T);
    let s = ok(&out);
    same_file(&me.join("downloads/lt-magnet.bin"), &content, "our peer");
    assert!(
        me.join("torrents/lt-magnet.bin.torrent").exists(),
        "the fetched metadata is kept as a .torrent"
    );
    assert_eq!(
        bytes_from(&s, &hex_prefix("-LT")),
        content.len() as u64,
        "every byte came from the libtorrent seeder: {s}"
    );
}

#[test]
fn aria2c_to_ours_with_a_mktorrent_torrent() {
    require("aria2c", "aria2");
    require("mktorrent", "mktorrent");
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("tracker"), 2);
    let content = data((2 << 20) + 5, 15);
    let src = dir.path().join("aria2-data");
    write(&src.join("from-aria2.bin"), &content);
    let torrent = dir.path().join("from-aria2.torrent");
    mktorrent(
        &src.join("from-aria2.bin"),
        &announce_url(tr.port),
        &torrent,
        15,
    );
    let key = key_of(&torrent);

    let mut a = aria2_seed(&torrent, &src, dir.path().join("aria2.log"));
    wait_scrape(tr.port, &key, "aria2c announced as a seeder", |c| {
        c.complete == 1
    });
    a.assert_running();
    let me = dir.path().join("ours");
    let s = our_download(tr.port, &me, &torrent);
    same_file(&me.join("downloads/from-aria2.bin"), &content, "our peer");
    let aria_id = hex_prefix("A2-");
    assert_eq!(
        bytes_from(&s, &aria_id),
        content.len() as u64,
        "every byte came from the aria2c seeder: {s}"
    );
}

// ---------------------------------------------------------------- multi-file

#[test]
fn multi_file_libtorrent_seeder_to_our_download() {
    require_libtorrent();
    require("mktorrent", "mktorrent");
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("tracker"), 2);
    let src = dir.path().join("lt-data");
    let folder = album(&src, "album");
    let torrent = dir.path().join("album.torrent");
    // 32 KiB pieces: many of them straddle two files.
    mktorrent(&folder, &announce_url(tr.port), &torrent, 15);
    assert!(Metainfo::from_file(&torrent).unwrap().multi_file);

    let mut lt = Lt::seed(&torrent, &src, dir.path().join("lt.log"));
    lt.wait_event("tracker_reply", T, |_| true);
    let me = dir.path().join("ours");
    let s = our_download(tr.port, &me, &torrent);
    assert_eq!(s["size"], 100_001 + 700_000 + 1_000_003 + 524_288 + 12);
    same_tree(&me.join("downloads/album"), &folder, "our peer");
}

#[test]
fn multi_file_our_shared_folder_to_aria2c() {
    require("aria2c", "aria2");
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("tracker"), 2);
    let folder = album(dir.path(), "concert");
    let h = home(dir.path(), "ours-seeder");
    write(&h.join("upload/loose.txt"), b"shared on its own\n");

    // Outside upload/: share --folder copies it in, makes one torrent and publishes it.
    let f = folder.to_str().unwrap();
    let out = peer_cmd(tr.port, &h, &["share", "--folder", f], T);
    assert!(
        out.status.success(),
        "share --folder failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = search(tr.port, "concert");
    assert_eq!(r.results.len(), 1, "published at once: {r:?}");
    let _seed = serve(tr.port, &h, &[]);
    wait_listed(tr.port, "concert", 1);
    wait_listed(tr.port, "loose", 1);
    // The folder's files are not also shared one by one.
    assert!(search(tr.port, "flac").results.is_empty());
    assert!(search(tr.port, "cover").results.is_empty());
    let index = std::fs::read_to_string(dir.path().join("tracker/search_content.txt")).unwrap();
    assert_eq!(index.lines().count(), 2, "{index}");

    let torrent = h.join("torrents/concert.torrent");
    assert!(Metainfo::from_file(&torrent).unwrap().multi_file);
    let got = dir.path().join("aria2");
    let mut a = aria2_leech(&torrent, &got, dir.path().join("aria2.log"), &[]);
    a.wait_success(T);
    same_tree(&got.join("concert"), &folder, "aria2c");
}

// ---------------------------------------------------------------- mixed swarm

#[test]
fn mixed_swarm_of_ours_and_libtorrent() {
    require_libtorrent();
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("tracker"), 2);
    let content = data(4 << 20, 16);
    // A slow seeder: the leechers must trade pieces among themselves to finish.
    let (_seed, torrent) = our_seeder(
        tr.port,
        dir.path(),
        "mixed.bin",
        &content,
        &["--upload-rate", "384K"],
    );

    let mut lts: Vec<Lt> = (0..2)
        .map(|i| {
            Lt::start(
                &torrent,
                &dir.path().join(format!("lt{i}")),
                dir.path().join(format!("lt{i}.log")),
                // Slowed a little, so they are still leeching when ours have pieces to give.
                LtOptions {
                    download_rate: 512 * 1024,
                    ..Default::default()
                },
            )
        })
        .collect();
    let homes: Vec<PathBuf> = (0..2)
        .map(|i| dir.path().join(format!("ours{i}")))
        .collect();
    let ours: Vec<_> = homes
        .iter()
        .map(|h| {
            let (port, h, t) = (tr.port, h.clone(), torrent.clone());
            std::thread::spawn(move || our_download(port, &h, &t))
        })
        .collect();
    let summaries: Vec<Value> = ours.into_iter().map(|t| t.join().unwrap()).collect();
    for lt in &mut lts {
        lt.wait_complete(T);
    }

    for (i, h) in homes.iter().enumerate() {
        same_file(&h.join("downloads/mixed.bin"), &content, "our leecher");
        same_file(
            &dir.path().join(format!("lt{i}/mixed.bin")),
            &content,
            "libtorrent leecher",
        );
    }
    let lt_id = hex_prefix("-LT");
    for (i, s) in summaries.iter().enumerate() {
        let from_lt = bytes_from(s, &lt_id);
        assert!(
            from_lt > 0,
            "our leecher {i} received nothing from a libtorrent leecher: {s}"
        );
    }
    // Our ledgers say what we sent to libtorrent; libtorrent's own counters confirm it.
    let our_ids: Vec<String> = homes
        .iter()
        .map(|h| {
            let id = std::fs::read(h.join(".swarmshare/peer_id")).unwrap();
            id.iter().map(|b| format!("{b:02x}")).collect()
        })
        .collect();
    for (i, h) in homes.iter().enumerate() {
        let ledger = ok(&peer_cmd(tr.port, h, &["peers", "--json"], T));
        let to_lt: u64 = ledger
            .as_array()
            .expect("ledger rows")
            .iter()
            .filter(|r| r["peer_id"].as_str().unwrap_or("").starts_with(&lt_id))
            .map(|r| r["uploaded"].as_u64().unwrap_or(0))
            .sum();
        assert!(
            to_lt > 0,
            "our leecher {i} uploaded nothing to libtorrent: {ledger}"
        );
    }
    let from_ours: u64 = lts
        .iter()
        .flat_map(|lt| {
            our_ids
                .iter()
                .map(|id| lt.last_peers["totals"][id]["down"].as_u64().unwrap_or(0))
        })
        .sum();
    assert!(
        from_ours > 0,
        "libtorrent counted no bytes from our leechers: {:?}",
        lts.iter()
            .map(|l| &l.last_peers["totals"])
            .collect::<Vec<_>>()
    );
}

// ---------------------------------------------------------------- tracker

#[test]
fn scrape_counts_stock_clients_and_ours() {
    require_libtorrent();
    require("aria2c", "aria2");
    require("mktorrent", "mktorrent");
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("tracker"), 2);
    let content = data(1 << 20, 17);
    let src = dir.path().join("lt-data");
    write(&src.join("scraped.bin"), &content);
    let torrent = dir.path().join("scraped.torrent");
    mktorrent(
        &src.join("scraped.bin"),
        &announce_url(tr.port),
        &torrent,
        15,
    );
    let key = key_of(&torrent);
    assert_eq!(
        scrape(tr.port, &key),
        Counts {
            complete: 0,
            incomplete: 0,
            downloaded: 0
        }
    );

    // A libtorrent seeder, which scrapes the tracker after every announce.
    let mut lt = Lt::start(
        &torrent,
        &src,
        dir.path().join("lt.log"),
        LtOptions {
            seed: true,
            scrape: true,
            ..Default::default()
        },
    );
    wait_scrape(tr.port, &key, "the libtorrent seeder", |c| {
        c == Counts {
            complete: 1,
            incomplete: 0,
            downloaded: 0,
        }
    });
    lt.wait_event("scrape", T, |v| v["complete"] == 1);

    // aria2c, slowed down so the tracker sees it incomplete first, then completed and gone.
    let got = dir.path().join("aria2");
    let mut a = aria2_leech(
        &torrent,
        &got,
        dir.path().join("aria2.log"),
        &["--max-overall-download-limit=256K"],
    );
    wait_scrape(tr.port, &key, "aria2c leeching", |c| c.incomplete == 1);
    a.wait_success(T);
    same_file(&got.join("scraped.bin"), &content, "aria2c");
    wait_scrape(tr.port, &key, "aria2c's completion counted once", |c| {
        c == Counts {
            complete: 1,
            incomplete: 0,
            downloaded: 1,
        }
    });

    // Our peer downloads and stays to seed: two seeders, two completed downloads.
    let me = dir.path().join("ours");
    let t = torrent.to_str().unwrap();
    let mut ours = spawn_peer(tr.port, &me, &["download", "--torrent", t, "--seed"]);
    wait_scrape(tr.port, &key, "our peer seeding", |c| {
        c == Counts {
            complete: 2,
            incomplete: 0,
            downloaded: 2,
        }
    });
    same_file(&me.join("downloads/scraped.bin"), &content, "our peer");
    lt.wait_event("scrape", T, |v| v["complete"] == 2 && v["incomplete"] == 0);
    // Leaving is counted at once.
    signal(ours.id(), "TERM");
    wait_with_deadline(&mut ours, T).expect("our peer left");
    wait_scrape(tr.port, &key, "our peer gone", |c| c.complete == 1);
}

#[test]
fn tracker_failure_reason_reaches_libtorrent() {
    require_libtorrent();
    require("mktorrent", "mktorrent");
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("tracker"), 2);
    let src = dir.path().join("lt-data");
    write(&src.join("refused.bin"), &data(100_000, 18));
    let torrent = dir.path().join("refused.torrent");
    // Clients append their parameters after this query, so the tracker sees port=0 first.
    let url = format!("{}?port=0", announce_url(tr.port));
    mktorrent(&src.join("refused.bin"), &url, &torrent, 15);
    let mut lt = Lt::seed(&torrent, &src, dir.path().join("lt.log"));
    let ev = lt.wait_event("tracker_error", T, |_| true);
    let msg = ev["message"].as_str().unwrap_or("");
    assert!(
        msg.contains("port out of range"),
        "libtorrent shows the tracker's failure reason: {msg}"
    );
}

// ---------------------------------------------------------------- wire tolerance

/// The next `piece` (or `unchoke` when `id` is 1), skipping what comes before it.
fn next_of(s: &mut TcpStream, id: u8, who: &str) -> Vec<u8> {
    loop {
        match scripted::read_msg(s) {
            Some(Some((got, payload))) if got == id => return payload,
            Some(_) => {}
            None => panic!(
                "{who} closed the connection, or sent nothing for {:?}",
                scripted::TIMEOUT
            ),
        }
    }
}

#[test]
fn our_seeder_serves_a_peer_speaking_every_common_extension() {
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("tracker"), 2);
    let content = data(300_001, 19);
    let (seed, torrent) = our_seeder(tr.port, dir.path(), "chatty.bin", &content, &[]);
    let meta = Metainfo::from_file(&torrent).unwrap();

    let mut s = TcpStream::connect(("127.0.0.1", seed.port)).unwrap();
    s.set_read_timeout(Some(scripted::TIMEOUT)).unwrap();
    scripted::send(
        &mut s,
        &scripted::handshake(&meta.info_hash.0, b"-XX0100-scriptedpeer"),
    );
    let (reserved, info_hash) = scripted::read_handshake(&mut s);
    assert_eq!(info_hash, meta.info_hash.0);
    assert_eq!(
        reserved, OUR_RESERVED,
        "our handshake claims only the extension protocol (for listen ports) and the Fast extension"
    );
    scripted::send(&mut s, &scripted::chatter());
    scripted::send(&mut s, &scripted::msg(2, &[]));
    next_of(&mut s, 1, "our seeder");

    let last = meta.num_pieces() as u32 - 1;
    let last_len = meta.piece_len(last) as u32;
    let tail_begin = (last_len - 1) / 16_384 * 16_384;
    for (index, begin, len) in [(0, 0, 16_384), (last, tail_begin, last_len - tail_begin)] {
        scripted::send(&mut s, &scripted::request(index, begin, len));
        // More chatter while a request is out: it must not cost the block.
        scripted::send(&mut s, &scripted::chatter());
        let block = next_of(&mut s, 7, "our seeder");
        assert_eq!(
            (scripted::u32_at(&block, 0), scripted::u32_at(&block, 4)),
            (index, begin)
        );
        let at = (index as u64 * meta.piece_length + begin as u64) as usize;
        assert!(
            block[8..] == content[at..at + len as usize],
            "block {index}/{begin} differs"
        );
    }
}

#[test]
fn our_download_takes_a_lazy_bitfield_and_chatter_from_a_seeder() {
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("tracker"), 2);
    let content = data(200_123, 20);
    let src = dir.path().join("src/lazy.bin");
    write(&src, &content);
    let bytes = create_single_file(&src, "lazy.bin", &announce_url(tr.port)).unwrap();
    let meta = Metainfo::from_bytes(&bytes).unwrap();
    let torrent = dir.path().join("lazy.torrent");
    std::fs::write(&torrent, &bytes).unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (info_hash, n, piece_length) = (meta.info_hash.0, meta.num_pieces(), meta.piece_length);
    let data = content.clone();
    let seeder = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(scripted::TIMEOUT)).unwrap();
        let (reserved, got) = scripted::read_handshake(&mut s);
        assert_eq!((reserved, got), (OUR_RESERVED, info_hash));
        scripted::send(
            &mut s,
            &scripted::handshake(&info_hash, b"-XX0100-scriptedseed"),
        );
        scripted::send(&mut s, &scripted::chatter());
        // A lazy bitfield: the first and last pieces held back, then sent as haves.
        let mut bits = vec![0u8; n.div_ceil(8)];
        for i in 1..n - 1 {
            bits[i / 8] |= 0x80 >> (i % 8);
        }
        scripted::send(&mut s, &scripted::msg(5, &bits));
        scripted::send(&mut s, &scripted::msg(4, &0u32.to_be_bytes()));
        scripted::send(&mut s, &scripted::KEEP_ALIVE);
        scripted::send(&mut s, &scripted::msg(4, &(n as u32 - 1).to_be_bytes()));
        scripted::send(&mut s, &scripted::msg(1, &[]));
        let mut served = 0usize;
        while let Some(m) = scripted::read_msg(&mut s) {
            let Some((6, p)) = m else { continue };
            let (index, begin, len) = (
                scripted::u32_at(&p, 0),
                scripted::u32_at(&p, 4),
                scripted::u32_at(&p, 8),
            );
            let at = (index as u64 * piece_length + begin as u64) as usize;
            let mut payload = p[..8].to_vec();
            payload.extend_from_slice(&data[at..at + len as usize]);
            scripted::send(&mut s, &scripted::msg(7, &payload));
            if served == 0 {
                scripted::send(&mut s, &scripted::chatter());
            }
            served += len as usize;
        }
        served
    });

    let me = dir.path().join("ours");
    let connect = format!("127.0.0.1:{port}");
    let t = torrent.to_str().unwrap();
    let s = ok(&peer_cmd(
        tr.port,
        &me,
        &["--connect", &connect, "download", "--torrent", t, "--json"],
        T,
    ));
    same_file(&me.join("downloads/lazy.bin"), &content, "our peer");
    assert_eq!(s["fetched_pieces"], n);
    assert!(seeder.join().unwrap() >= content.len());
}

/// Our tracker bound to `ip`, answering UDP on its port's number, and a
/// torrent (made by mktorrent) whose only tracker is its `udp://` URL on
/// `url_host`: whoever meets through it announced over UDP.
struct UdpTracked {
    tracker: Proc,
    torrent: PathBuf,
    key: InfoHash,
    home: PathBuf,
    /// Downloads counted once our seeder is in (its own first announce may
    /// say `completed`, which counts as one).
    downloaded_before: std::cell::Cell<i64>,
}

fn udp_tracked(dir: &Path, ip: &str, url_host: &str, name: &str, content: &[u8]) -> UdpTracked {
    require("mktorrent", "mktorrent");
    let mut cmd = std::process::Command::new(TRACKER);
    cmd.args(["--ip", ip, "--port", "0", "--interval", "2", "--data-dir"])
        .arg(dir.join("tracker"))
        .env("RUST_LOG", "warn");
    let tracker = spawn_listening(cmd);
    let home = home(dir, "ours-seeder");
    let src = home.join("downloads").join(name);
    write(&src, content);
    let torrent = dir.join(format!("{name}.torrent"));
    let url = format!("udp://{url_host}:{}/announce", tracker.port);
    mktorrent(&src, &url, &torrent, 16);
    let key = key_of(&torrent);
    UdpTracked {
        tracker,
        torrent,
        key,
        home,
        downloaded_before: std::cell::Cell::new(0),
    }
}

impl UdpTracked {
    /// Our seeder of it, whose own (HTTP) tracker is a dead port: it is found
    /// through the torrent's UDP tracker alone.
    fn seed(&self, extra: &[&str]) -> Spawned {
        let p = seed_torrent(&self.home, &self.torrent, extra);
        let c = wait_scrape(
            self.tracker.port,
            &self.key,
            "our seeder announced over UDP",
            |c| c.complete >= 1,
        );
        self.downloaded_before.set(c.downloaded);
        p
    }

    /// The stock client announced too (over UDP: the torrent names no other tracker).
    fn wait_client_counted(&self) {
        wait_scrape(
            self.tracker.port,
            &self.key,
            "the stock client announced over UDP",
            |c| c.complete + c.incomplete >= 2 || c.downloaded > self.downloaded_before.get(),
        );
    }
}

#[test]
fn libtorrent_announces_to_our_tracker_over_udp() {
    require_libtorrent();
    let dir = tempfile::tempdir().unwrap();
    let content = data((2 << 20) + 5, 51);
    let swarm = udp_tracked(dir.path(), "127.0.0.1", "127.0.0.1", "lt-udp.bin", &content);
    let _seed = swarm.seed(&[]);
    let save = dir.path().join("lt");
    let mut lt = Lt::start(
        &swarm.torrent,
        &save,
        dir.path().join("lt.log"),
        LtOptions::default(),
    );
    lt.wait_complete(T);
    same_file(&save.join("lt-udp.bin"), &content, "libtorrent");
    swarm.wait_client_counted();
}

#[test]
fn aria2c_announces_to_our_tracker_over_udp() {
    require("aria2c", "aria2");
    let dir = tempfile::tempdir().unwrap();
    let content = data((2 << 20) + 7, 52);
    let swarm = udp_tracked(
        dir.path(),
        "127.0.0.1",
        "127.0.0.1",
        "aria-udp.bin",
        &content,
    );
    let _seed = swarm.seed(&[]);
    let out = dir.path().join("aria2");
    // aria2c sends UDP tracker requests through its DHT socket, so the DHT is
    // on, with an empty routing table and no entry point: it knows no node.
    let dht_port = format!("--dht-listen-port={}", free_port());
    let dht_file = format!("--dht-file-path={}", dir.path().join("dht.dat").display());
    let mut a = aria2_leech(
        &swarm.torrent,
        &out,
        dir.path().join("aria2.log"),
        &["--enable-dht=true", &dht_port, &dht_file],
    );
    a.wait_success(T);
    same_file(&out.join("aria-udp.bin"), &content, "aria2c");
    swarm.wait_client_counted();
}

#[test]
fn transmission_announces_to_our_tracker_over_udp() {
    require("transmission-cli", "transmission-cli");
    let dir = tempfile::tempdir().unwrap();
    let content = data((1 << 20) + 9, 53);
    let swarm = udp_tracked(dir.path(), "127.0.0.1", "127.0.0.1", "tr-udp.bin", &content);
    // transmission-cli never dials 127.x peers from a tracker, so our seeder
    // dials it; transmission still announces to the UDP tracker.
    let port = free_port();
    let out = dir.path().join("transmission");
    let mut t = transmission_leech(
        &swarm.torrent,
        &out,
        &dir.path().join("tr-config"),
        port,
        &[],
    );
    wait_port_open(port, "transmission-cli listening", T);
    let connect = format!("127.0.0.1:{port}");
    let _seed = swarm.seed(&["--connect", &connect]);
    t.wait_success(T);
    same_file(&out.join("tr-udp.bin"), &content, "transmission-cli");
    swarm.wait_client_counted();
}

/// IPv6 end to end with a stock client: our tracker on `::`, the torrent's
/// only tracker `udp://[::1]:PORT`, so both sides announce over IPv6 and each
/// learns only the other's IPv6 address (18-byte entries); libtorrent, with its
/// DHT, PEX and LSD off, can meet our seeder nowhere else.
#[test]
fn libtorrent_meets_our_seeder_over_ipv6_through_our_udp_tracker() {
    require_libtorrent();
    let dir = tempfile::tempdir().unwrap();
    let content = data((2 << 20) + 11, 54);
    let swarm = udp_tracked(dir.path(), "::", "[::1]", "lt-v6.bin", &content);
    let _seed = swarm.seed(&[]);
    let save = dir.path().join("lt");
    let mut lt = Lt::start(
        &swarm.torrent,
        &save,
        dir.path().join("lt.log"),
        LtOptions {
            ipv6: true,
            ..Default::default()
        },
    );
    let report = lt.wait_event("peers", T, |v| {
        v["peers"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["ip"] == "::1"))
    });
    assert!(
        report["peers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["ip"] == "::1"),
        "our tracker gave libtorrent our seeder's IPv6 address only: {report}"
    );
    lt.wait_complete(T);
    same_file(&save.join("lt-v6.bin"), &content, "libtorrent");
    swarm.wait_client_counted();
}

/// BEP 11 with a stock client: libtorrent is connected to our seeder; our
/// downloader, with no tracker and no DHT, is given libtorrent's address
/// alone; libtorrent's ut_pex names our seeder, which the downloader dials.
#[test]
fn libtorrent_tells_our_peer_about_another_over_ut_pex() {
    require_libtorrent();
    let dir = tempfile::tempdir().unwrap();
    let mut tr = tracker(&dir.path().join("tracker"), 2);
    let content = data((4 << 20) + 13, 55);
    let (seed, torrent) = our_seeder(tr.port, dir.path(), "pex-lt.bin", &content, &[]);
    // The torrent's tracker goes: from here on, peers meet only as told.
    tr.terminate();
    let save = dir.path().join("lt");
    // libtorrent leeches slowly from our seeder, so the swarm lasts while
    // its once-a-minute ut_pex message goes out.
    let mut lt = Lt::start(
        &torrent,
        &save,
        dir.path().join("lt.log"),
        LtOptions {
            pex: true,
            peer: Some(format!("127.0.0.1:{}", seed.port)),
            download_rate: 50_000,
            ..Default::default()
        },
    );
    lt.wait_event("peers", T, |v| {
        v["peers"].as_array().is_some_and(|p| !p.is_empty())
    });
    let me = home(dir.path(), "me");
    let dead = free_port().to_string();
    let connect = format!("127.0.0.1:{}", lt.port);
    let mut cmd = peer_bin();
    cmd.args(["127.0.0.1", &dead, "--home"])
        .arg(&me)
        .args(["--connect", &connect])
        .args(["download", "--torrent", torrent.to_str().unwrap(), "--json"]);
    let s = ok(&run_bounded(cmd, Duration::from_secs(150)));
    same_file(&me.join("downloads/pex-lt.bin"), &content, "our downloader");
    let ours = format!("127.0.0.1:{}", seed.port);
    let from_seed = s["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .find(|x| x["addr"] == ours.as_str())
        .unwrap_or_else(|| panic!("our seeder sent data: {s}"));
    assert_eq!(
        from_seed["origin"], "pex",
        "heard of through libtorrent's ut_pex: {s}"
    );
}
