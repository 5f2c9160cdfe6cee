//! BitTorrent v2 and hybrid torrents (BEP 52, BEP 47 pad files) with
//! libtorrent 2.0 as the oracle, both ways: libtorrent makes
//! (tests/interop/lt_make.py) and seeds v2-only and hybrid torrents, single-
//! and multi-file, and our peer downloads them; our peer makes them
//! (`--torrent-format hybrid|v2`) and libtorrent downloads them from us; a
//! hybrid swarm of ours and libtorrent trades pieces both ways; a v2 download
//! killed mid-way resumes; v2-only and hybrid magnet links (`urn:btmh`) work
//! both ways, a v2-only one's piece layers coming by BEP 52 hash requests.
//! Everything runs on 127.0.0.1 with DHT, LSD, UPnP, NAT-PMP and PEX off,
//! every wait has a deadline, every file is compared byte for byte, and no
//! pad file may ever reach a disk of ours.

#[path = "interop/clients.rs"]
#[allow(dead_code)]
mod clients;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use clients::*;
use support::*;
use swarmshare::common::metainfo::{Metainfo, PieceHashes};
use swarmshare::sys::metainfo_file::MetainfoFile;

const T: Duration = Duration::from_secs(90);
const LT_MAKE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/lt_make.py");
/// 32 KiB: the piece length of every torrent here.
const PIECE: u64 = 32 * 1024;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    V2,
    Hybrid,
}

impl Format {
    fn arg(self) -> &'static str {
        match self {
            Format::V2 => "v2",
            Format::Hybrid => "hybrid",
        }
    }
}

/// libtorrent's reading of a torrent it made.
struct LtMade {
    v1: Option<String>,
    v2: String,
    pieces: u64,
    pads: usize,
}

/// libtorrent's create_torrent of `source` (a file or a folder) with 32 KiB pieces.
fn lt_make(source: &Path, out: &Path, format: Format, announce: &str) -> LtMade {
    let mut cmd = Command::new(PYTHON);
    cmd.arg(LT_MAKE)
        .arg("--source")
        .arg(source)
        .arg("--out")
        .arg(out)
        .args(["--format", format.arg()])
        .args(["--piece-length", &PIECE.to_string()])
        .args(["--announce", announce]);
    let o = run_bounded(cmd, T);
    assert!(
        o.status.success(),
        "lt_make.py failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v = json(&o);
    let made = LtMade {
        v1: v["v1"].as_str().map(str::to_owned),
        v2: v["v2"].as_str().expect("a v2 info-hash").to_owned(),
        pieces: v["pieces"].as_u64().expect("pieces"),
        pads: v["files"]
            .as_array()
            .expect("files")
            .iter()
            .filter(|f| f[2] == true)
            .count(),
    };
    assert_eq!(made.v1.is_some(), format == Format::Hybrid, "{v}");
    made
}

/// `peer show FILE.torrent`'s lines as (label, value).
fn show(home: &Path, torrent: &Path) -> Vec<(String, String)> {
    let out = peer_cmd(free_port(), home, &["show", torrent.to_str().unwrap()], T);
    assert!(
        out.status.success(),
        "show failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(" : "))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

fn field<'a>(lines: &'a [(String, String)], label: &str) -> Option<&'a str> {
    lines
        .iter()
        .find(|(k, _)| k == label)
        .map(|(_, v)| v.as_str())
}

/// Every path under `root`, folders included.
fn walk_all(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(root).unwrap_or_else(|e| panic!("{}: {e}", root.display())) {
        let p = e.unwrap().path();
        out.push(p.clone());
        if p.is_dir() {
            out.extend(walk_all(&p));
        }
    }
    out
}

/// Files under `root`, relative, sorted.
fn tree(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walk_all(root)
        .into_iter()
        .filter(|p| p.is_file())
        .map(|p| p.strip_prefix(root).unwrap().to_owned())
        .collect();
    v.sort();
    v
}

/// BEP 47 pad files are never written: no `.pad` anywhere under `root`.
fn no_pads(root: &Path, who: &str) {
    let pads: Vec<PathBuf> = walk_all(root)
        .into_iter()
        .filter(|p| p.components().any(|c| c.as_os_str() == ".pad"))
        .collect();
    assert!(
        pads.is_empty(),
        "{who}: pad files reached the disk under {}: {pads:?}",
        root.display()
    );
}

fn same_file(got: &Path, want: &Path, who: &str) {
    let g = std::fs::read(got).unwrap_or_else(|e| panic!("{who}: {}: {e}", got.display()));
    let w = std::fs::read(want).unwrap();
    assert!(
        g == w,
        "{who}: {} differs from {} ({} bytes, expected {})",
        got.display(),
        want.display(),
        g.len(),
        w.len()
    );
}

/// `got` holds exactly `want`'s files (a file or a folder), byte for byte, and no pad.
fn same_data(got: &Path, want: &Path, who: &str) {
    if want.is_file() {
        same_file(got, want, who);
    } else {
        assert_eq!(
            tree(got),
            tree(want),
            "{who}: {} does not hold the same files as {}",
            got.display(),
            want.display()
        );
        for rel in tree(want) {
            same_file(&got.join(&rel), &want.join(&rel), who);
        }
        no_pads(got, who);
    }
}

/// One file whose size is not a multiple of the piece length.
fn one_file(root: &Path, name: &str, len: usize, seed: u64) -> PathBuf {
    let p = root.join(name);
    write(&p, &data(len, seed));
    p
}

/// A folder with a subfolder, an empty file, and sizes that leave every file's
/// last piece short, so a hybrid needs pad files between them.
fn album(root: &Path, name: &str, seed: u64) -> PathBuf {
    let top = root.join(name);
    write(&top.join("a.bin"), &data(200_003, seed));
    write(&top.join("empty.txt"), b"");
    write(&top.join("sub/b.bin"), &data(150_007, seed + 1));
    write(&top.join("sub/deeper/c.dat"), &data(70_001, seed + 2));
    write(&top.join("z.txt"), b"the last file, 27 bytes\n..\n");
    top
}

fn sum_sizes(source: &Path) -> u64 {
    if source.is_file() {
        return source.metadata().unwrap().len();
    }
    tree(source)
        .iter()
        .map(|r| source.join(r).metadata().unwrap().len())
        .sum()
}

/// Pieces when every file starts a piece, as in a v2 or a padded hybrid torrent.
fn aligned_pieces(source: &Path) -> u64 {
    if source.is_file() {
        return source.metadata().unwrap().len().div_ceil(PIECE);
    }
    tree(source)
        .iter()
        .map(|r| source.join(r).metadata().unwrap().len().div_ceil(PIECE))
        .sum()
}

fn peer_id(home: &Path) -> String {
    hex(&std::fs::read(home.join(".swarmshare/peer_id")).expect("the peer's id"))
}

// ---------------------------------------------------------------- libtorrent makes, we download

/// libtorrent makes a torrent of `source` and seeds it through our tracker;
/// `show` prints libtorrent's info-hashes; our peer downloads it byte for byte.
fn lt_seeds_we_download(format: Format, multi: bool) {
    require_libtorrent();
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("tracker"), 2);
    let src = dir.path().join("lt-data");
    let source = if multi {
        album(&src, &format!("lt-{}-album", format.arg()), 60)
    } else {
        one_file(&src, &format!("lt-{}.bin", format.arg()), 300_001, 61)
    };
    let torrent = dir.path().join("lt.torrent");
    let made = lt_make(&source, &torrent, format, &announce_url(tr.port));
    assert_eq!(
        made.pieces,
        aligned_pieces(&source),
        "every file starts a piece"
    );
    if multi {
        assert!(
            made.pads > 0,
            "libtorrent pads the files of a {format:?} torrent"
        );
    }

    // Our reading of libtorrent's torrent: its keys, as `show` prints them.
    let lines = show(&dir.path().join("show"), &torrent);
    match &made.v1 {
        Some(v1) => {
            assert_eq!(field(&lines, "Key"), Some(v1.as_str()), "{lines:?}");
            assert_eq!(field(&lines, "Key v2"), Some(made.v2.as_str()), "{lines:?}");
            assert_eq!(field(&lines, "format"), Some("hybrid (v1 + v2)"));
        }
        None => {
            assert_eq!(field(&lines, "Key"), Some(made.v2.as_str()), "{lines:?}");
            assert_eq!(field(&lines, "Key v2"), None, "{lines:?}");
            assert_eq!(field(&lines, "format"), Some("v2"));
        }
    }
    assert_eq!(
        field(&lines, "n_parts"),
        Some(made.pieces.to_string().as_str())
    );

    let mut lt = Lt::seed(&torrent, &src, dir.path().join("lt.log"));
    lt.wait_event("tracker_reply", T, |_| true);
    let me = dir.path().join("ours");
    let s = our_download(tr.port, &me, &torrent);
    let name = source.file_name().unwrap();
    same_data(&me.join("downloads").join(name), &source, "our peer");
    no_pads(&me, "our peer");
    assert_eq!(s["size"], sum_sizes(&source), "{s}");
    assert_eq!(s["pieces"], made.pieces, "{s}");
    assert!(
        bytes_from(&s, &hex_prefix("-LT")) >= sum_sizes(&source),
        "every byte came from the libtorrent seeder: {s}"
    );
}

#[test]
fn libtorrent_v2_single_file_to_ours() {
    lt_seeds_we_download(Format::V2, false);
}

#[test]
fn libtorrent_v2_multi_file_to_ours() {
    lt_seeds_we_download(Format::V2, true);
}

#[test]
fn libtorrent_hybrid_single_file_to_ours() {
    lt_seeds_we_download(Format::Hybrid, false);
}

#[test]
fn libtorrent_hybrid_multi_file_to_ours() {
    lt_seeds_we_download(Format::Hybrid, true);
}

// ---------------------------------------------------------------- we make, libtorrent downloads

/// Our peer makes a `format` torrent of a file in upload/ and of a folder
/// (`share --folder`) and serves both; libtorrent downloads each from us.
fn we_seed_lt_downloads(format: Format) {
    require_libtorrent();
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("tracker"), 2);
    let f = ["--torrent-format", format.arg()];
    let h = home(dir.path(), "ours-seeder");
    let single_name = format!("ours-{}-one.bin", format.arg());
    let single = one_file(&h.join("upload"), &single_name, 333_333, 70);
    let folder_name = format!("ours-{}-album", format.arg());
    let folder = album(&dir.path().join("elsewhere"), &folder_name, 71);
    let out = peer_cmd(
        tr.port,
        &h,
        &[&f[..], &["share", "--folder", folder.to_str().unwrap()]].concat(),
        T,
    );
    assert!(
        out.status.success(),
        "share --folder failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _seed = serve(tr.port, &h, &f);
    wait_listed(tr.port, &format!("ours-{}-one", format.arg()), 1);
    wait_listed(tr.port, &folder_name, 1);
    no_pads(&h, "our seeder");

    let mut leechers = Vec::new();
    for (name, source) in [(&single_name, &single), (&folder_name, &folder)] {
        let torrent = h.join("torrents").join(format!("{name}.torrent"));
        let meta =
            Metainfo::from_file(&torrent).unwrap_or_else(|e| panic!("{}: {e}", torrent.display()));
        assert!(meta.info_hash_v2.is_some(), "{name}: a v2 half");
        assert_eq!(meta.has_v1(), format == Format::Hybrid, "{name}: a v1 half");
        assert!(
            !meta.multi_file || meta.files.iter().any(|f| f.pad),
            "{name}: BEP 47 pads align the files of a {format:?} folder"
        );
        let save = dir.path().join(format!("lt-{name}"));
        let lt = Lt::start(
            &torrent,
            &save,
            dir.path().join(format!("lt-{name}.log")),
            LtOptions {
                exit_on_complete: true,
                ..Default::default()
            },
        );
        leechers.push((lt, save.join(name), source.clone()));
    }
    for (lt, got, want) in &mut leechers {
        lt.wait_complete(T);
        same_data(got, want, "libtorrent");
    }
}

#[test]
fn ours_hybrid_to_libtorrent() {
    we_seed_lt_downloads(Format::Hybrid);
}

#[test]
fn ours_v2_to_libtorrent() {
    we_seed_lt_downloads(Format::V2);
}

// ---------------------------------------------------------------- mixed swarm

/// A hybrid folder: our slow seeder, a libtorrent leecher and one of ours,
/// all through our tracker. Both finish, and libtorrent trades with ours.
#[test]
fn mixed_hybrid_swarm_of_ours_and_libtorrent() {
    require_libtorrent();
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("tracker"), 2);
    let h = home(dir.path(), "ours-seeder");
    let top = h.join("upload/mixed-hybrid");
    write(&top.join("one.bin"), &data(1_000_003, 80));
    write(&top.join("two/two.bin"), &data(1_500_001, 81));
    write(&top.join("three.bin"), &data(777_777, 82));
    let fmt = ["--torrent-format", "hybrid"];
    let out = peer_cmd(
        tr.port,
        &h,
        &[&fmt[..], &["share", "--folder", top.to_str().unwrap()]].concat(),
        T,
    );
    assert!(
        out.status.success(),
        "share --folder failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A slow (so super-seeding) seeder: the leechers must trade to finish.
    let _seed = serve(
        tr.port,
        &h,
        &[&fmt[..], &["--upload-rate", "384K"]].concat(),
    );
    wait_listed(tr.port, "mixed-hybrid", 1);
    let torrent = h.join("torrents/mixed-hybrid.torrent");
    let meta = Metainfo::from_file(&torrent).unwrap();
    assert!(meta.has_v1() && meta.info_hash_v2.is_some());

    let save = dir.path().join("lt");
    let mut lt = Lt::start(
        &torrent,
        &save,
        dir.path().join("lt.log"),
        LtOptions {
            download_rate: 512 * 1024,
            ..Default::default()
        },
    );
    let me = dir.path().join("ours-leecher");
    let s = our_download(tr.port, &me, &torrent);
    lt.wait_complete(T);
    same_data(&me.join("downloads/mixed-hybrid"), &top, "our leecher");
    same_data(&save.join("mixed-hybrid"), &top, "libtorrent leecher");
    no_pads(&me, "our leecher");
    no_pads(&h, "our seeder");

    let from_lt = bytes_from(&s, &hex_prefix("-LT"));
    assert!(
        from_lt > 0,
        "our leecher received nothing from libtorrent: {s}"
    );
    let (seeder_id, leecher_id) = (peer_id(&h), peer_id(&me));
    // libtorrent's own per-peer counters (kept after a connection closes).
    let report = lt.wait_event("peers", T, |v| {
        let t = &v["totals"];
        t[&seeder_id]["down"].as_u64().unwrap_or(0) > 0
            && t[&leecher_id]["up"].as_u64().unwrap_or(0) > 0
    });
    let t = &report["totals"];
    println!(
        "libtorrent: {} bytes from our seeder, {} from and {} to our leecher; our leecher {} bytes from libtorrent",
        t[&seeder_id]["down"], t[&leecher_id]["down"], t[&leecher_id]["up"], from_lt
    );
}

// ---------------------------------------------------------------- resume

/// Pieces the resume state of `home` records, over all its torrents.
fn recorded_pieces(home: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(home.join(".swarmshare/resume")) else {
        return 0;
    };
    rd.filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".json").map(str::to_owned)
        })
        .map(|key| resumed_count(home, &key))
        .sum()
}

/// A v2 download from a throttled libtorrent seeder, SIGKILLed with part of
/// the pieces on disk, restarted: it finishes, having kept what it had.
#[test]
fn v2_download_from_libtorrent_resumes_after_sigkill() {
    require_libtorrent();
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("tracker"), 2);
    let src = dir.path().join("lt-data");
    let top = src.join("resume-v2");
    write(&top.join("first.bin"), &data(700_001, 90));
    write(&top.join("sub/second.bin"), &data(500_003, 91));
    let torrent = dir.path().join("resume-v2.torrent");
    let made = lt_make(&top, &torrent, Format::V2, &announce_url(tr.port));
    let mut lt = Lt::start(
        &torrent,
        &src,
        dir.path().join("lt.log"),
        LtOptions {
            seed: true,
            upload_rate: 256 * 1024,
            ..Default::default()
        },
    );
    lt.wait_event("tracker_reply", T, |_| true);

    let me = dir.path().join("ours");
    let t = torrent.to_str().unwrap();
    let mut first = spawn_peer(tr.port, &me, &["download", "--torrent", t, "--json"]);
    let deadline = Instant::now() + T;
    let at_kill = loop {
        let n = recorded_pieces(&me);
        if n >= 8 {
            break n;
        }
        if let Ok(Some(s)) = first.try_wait() {
            panic!("the first download exited ({s}) before it could be killed mid-way");
        }
        assert!(
            Instant::now() < deadline,
            "no 8 pieces recorded within {T:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(
        (at_kill as u64) < made.pieces,
        "killed mid-way: {at_kill} of {} pieces",
        made.pieces
    );

    let s = our_download(tr.port, &me, &torrent);
    same_data(&me.join("downloads/resume-v2"), &top, "our peer");
    no_pads(&me, "our peer");
    let resumed = s["resumed_pieces"].as_u64().expect("resumed_pieces");
    println!(
        "killed with {at_kill} of {} pieces recorded; the restart resumed {resumed}, fetched {}",
        made.pieces, s["fetched_pieces"]
    );
    assert!(resumed > 0, "the restart kept nothing: {s}");
    assert!(
        resumed >= at_kill as u64,
        "{resumed} < {at_kill} recorded at the kill: {s}"
    );
    assert_eq!(
        resumed + s["fetched_pieces"].as_u64().unwrap(),
        made.pieces,
        "{s}"
    );
}

// ---------------------------------------------------------------- magnet links

/// A folder whose files need piece layers: `big.bin` has 545 pieces, more
/// than the 512 hashes one request may ask for, so its layer comes in two
/// answers; `sub/mid.bin` has four; `tiny.txt` fits in one piece, which its
/// root checks alone; `empty.txt` has no root at all.
fn layered_album(root: &Path, name: &str, seed: u64) -> PathBuf {
    let top = root.join(name);
    write(&top.join("big.bin"), &data(17 * (1 << 20) + 5, seed));
    write(&top.join("sub/mid.bin"), &data(100_003, seed + 1));
    write(&top.join("tiny.txt"), &data(1_000, seed + 2));
    write(&top.join("empty.txt"), b"");
    top
}

fn kind(h: &PieceHashes) -> &'static str {
    match h {
        PieceHashes::Sha1(_) => "SHA-1 only",
        PieceHashes::Merkle(..) => "piece layers only",
        PieceHashes::Both(..) => "SHA-1 and piece layers",
    }
}

/// No libtorrent piece ever failed its hash check: every hash we sent it was true.
fn lt_saw_no_hash_failure(log: &Path) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    assert!(
        !text.contains("\"hash_failed\""),
        "libtorrent had pieces fail their hash check:\n{}",
        tail(log, 30)
    );
}

/// libtorrent makes a `format` torrent of a layered folder and seeds it,
/// reachable only as the `x.pe` of a magnet link (our peer's tracker is a
/// dead port); our peer fetches the info dictionary by ut_metadata and, for a
/// v2-only torrent, the piece layers by hash request, then the data. The
/// kept .torrent holds libtorrent's info dictionary and, v2-only, its piece
/// layers.
fn ours_fetches_a_magnet_from_lt(format: Format) {
    require_libtorrent();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("lt-data");
    let name = format!("lt-{}-magnet", format.arg());
    let top = layered_album(&src, &name, 100);
    let torrent = dir.path().join("lt.torrent");
    let dead = free_port();
    let made = lt_make(&top, &torrent, format, &announce_url(dead));
    let theirs = Metainfo::from_file(&torrent).unwrap();
    let mut lt = Lt::seed(&torrent, &src, dir.path().join("lt.log"));
    lt.wait_event("checked", T, |_| true);

    let xt = match &made.v1 {
        Some(v1) => format!("xt=urn:btih:{v1}&xt=urn:btmh:1220{}", made.v2),
        None => format!("xt=urn:btmh:1220{}", made.v2),
    };
    let link = format!("magnet:?{xt}&dn={name}&x.pe=127.0.0.1:{}", lt.port);
    let me = dir.path().join("ours");
    let started = Instant::now();
    let out = peer_cmd(dead, &me, &["download", &link, "--json"], T);
    let s = ok(&out);
    println!(
        "{format:?} magnet from libtorrent: {} bytes in {:?}",
        s["size"],
        started.elapsed()
    );
    same_data(&me.join("downloads").join(&name), &top, "our peer");
    no_pads(&me, "our peer");
    assert_eq!(s["size"], sum_sizes(&top), "{s}");
    assert_eq!(s["pieces"], made.pieces, "{s}");
    assert_eq!(
        s["key"].as_str(),
        Some(made.v1.as_deref().unwrap_or(&made.v2)),
        "{s}"
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!log.contains("failed its hash"), "{log}");
    assert!(
        bytes_from(&s, &hex_prefix("-LT")) >= sum_sizes(&top),
        "every byte came from the libtorrent seeder: {s}"
    );

    // The kept torrent: libtorrent's info dictionary and libtorrent's piece
    // layers, fetched by hash request (a hybrid's too, though its v1 half
    // could check the pieces without them).
    let kept = me.join("torrents").join(format!("{name}.torrent"));
    let ours = Metainfo::from_file(&kept).unwrap_or_else(|e| panic!("{}: {e}", kept.display()));
    assert!(
        ours.info_bytes == theirs.info_bytes,
        "the kept info dictionary is libtorrent's"
    );
    assert_eq!(ours.info_hash, theirs.info_hash);
    assert_eq!(ours.info_hash_v2, theirs.info_hash_v2);
    assert!(
        ours.piece_hashes == theirs.piece_hashes,
        "the kept torrent's piece hashes ({}) are libtorrent's ({})",
        kind(&ours.piece_hashes),
        kind(&theirs.piece_hashes)
    );
    let lines = show(&dir.path().join("show"), &kept);
    let magnet = field(&lines, "magnet").unwrap_or_else(|| panic!("{lines:?}"));
    match &made.v1 {
        Some(v1) => {
            assert_eq!(field(&lines, "Key"), Some(v1.as_str()), "{lines:?}");
            assert_eq!(field(&lines, "Key v2"), Some(made.v2.as_str()), "{lines:?}");
        }
        None => {
            assert_eq!(field(&lines, "Key"), Some(made.v2.as_str()), "{lines:?}");
            assert_eq!(field(&lines, "format"), Some("v2"), "{lines:?}");
        }
    }
    assert!(
        magnet.starts_with(&format!("magnet:?{xt}")),
        "show's magnet names libtorrent's info-hashes: {magnet}"
    );
}

/// BEP 52 both ways on the wire, libtorrent answering: the piece layers a
/// v2-only magnet lacks are asked in libtorrent's format, and its answers
/// prove against each file's root.
#[test]
fn ours_fetches_a_v2_magnet_from_a_libtorrent_seeder() {
    ours_fetches_a_magnet_from_lt(Format::V2);
}

/// A hybrid's magnet names both info-hashes; its v1 half checks the pieces.
#[test]
fn ours_fetches_a_hybrid_magnet_from_a_libtorrent_seeder() {
    ours_fetches_a_magnet_from_lt(Format::Hybrid);
}

/// Our `serve` shares a `format` file of 545 pieces through our tracker;
/// libtorrent, given only the info-hash(es) of the tracker's magnet link and
/// our address, fetches the info dictionary from us and, for a v2-only
/// torrent, sends us hash requests for the piece layers: it finishes byte for
/// byte with no piece failing its check, so our answers are what it accepts.
fn lt_fetches_a_magnet_from_ours(format: Format) {
    require_libtorrent();
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("tracker"), 2);
    let h = home(dir.path(), "ours-seeder");
    let stem = format!("ours-{}-magnet", format.arg());
    let name = format!("{stem}.bin");
    let source = one_file(&h.join("upload"), &name, 17 * (1 << 20) + 3, 110);
    let seed = serve(tr.port, &h, &["--torrent-format", format.arg()]);
    wait_listed(tr.port, &stem, 1);
    let found = search(tr.port, &stem).results.swap_remove(0);
    let meta = Metainfo::from_file(&h.join("torrents").join(format!("{name}.torrent"))).unwrap();
    assert!(
        meta.files.iter().any(|f| f.length > meta.piece_length),
        "a file longer than a piece, so a v2 magnet needs piece layers"
    );
    let v2 = hex(&meta.info_hash_v2.expect("a v2 half"));
    let (hashes, xt) = match format {
        Format::V2 => {
            assert_eq!(found.key, v2, "a v2-only torrent is listed by its v2 key");
            (v2.clone(), format!("xt=urn:btmh:1220{v2}"))
        }
        Format::Hybrid => {
            let v1 = meta.info_hash.hex();
            assert_eq!(found.key, v1);
            (
                format!("{v1},{v2}"),
                format!("xt=urn:btih:{v1}&xt=urn:btmh:1220{v2}"),
            )
        }
    };
    assert!(
        found
            .magnet
            .starts_with(&format!("magnet:?{xt}&dn={name}&tr=")),
        "the tracker's magnet link: {}",
        found.magnet
    );

    let save = dir.path().join("lt");
    let log = dir.path().join("lt.log");
    let started = Instant::now();
    let mut lt = Lt::start(
        Path::new(""),
        &save,
        log.clone(),
        LtOptions {
            exit_on_complete: true,
            magnet_hash: Some(hashes),
            peer: Some(format!("127.0.0.1:{}", seed.port)),
            ..Default::default()
        },
    );
    lt.wait_event("metadata", T, |_| true);
    let metadata = started.elapsed();
    lt.wait_complete(T);
    println!(
        "{format:?} magnet to libtorrent: metadata after {metadata:?}, {} bytes ({} pieces of {}) after {:?}",
        meta.total_length,
        meta.num_pieces(),
        meta.piece_length,
        started.elapsed()
    );
    same_data(&save.join(&name), &source, "libtorrent");
    lt_saw_no_hash_failure(&log);
}

#[test]
fn libtorrent_fetches_a_v2_magnet_from_our_seeder() {
    lt_fetches_a_magnet_from_ours(Format::V2);
}

#[test]
fn libtorrent_fetches_a_hybrid_magnet_from_our_seeder() {
    lt_fetches_a_magnet_from_ours(Format::Hybrid);
}
