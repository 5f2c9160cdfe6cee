//! Making v2 and hybrid torrents (BEP 52), checked by libtorrent 2.0: the
//! real `peer` binary makes them (`serve` for a file in upload/, `share
//! --folder` for a folder, both with `--torrent-format`), and libtorrent
//! (tests/interop/lt_v2_check.py, offline)
//! (a) reads them, with info-hashes that are the SHA-1 and SHA-256 of our info
//!     dictionary;
//! (b) force-rechecks the data under them to 100% and seeds: every v1 piece
//!     hash, v2 piece layer and pieces root is right (the controls at the end
//!     show it notices one wrong hash of either kind);
//! (c) makes the same files into its own torrent with the same piece length,
//!     which has the same pieces roots, and in fact the same info-hashes.
//!
//! Files above 16 MiB get 32 KiB pieces, so the piece layers sit one level
//! above the leaves and the last piece of a file is a partial subtree.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use sha1::{Digest, Sha1};
use sha2::Sha256;
use support::*;
use swarmshare::common::bencode;
use swarmshare::common::metainfo::{Metainfo, hex};
use swarmshare::peer::torrent_maker::{TorrentFormat, create_single_file_as};

const PYTHON: &str = "/usr/bin/python3";
const LT_CHECK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/lt_v2_check.py");
const T: Duration = Duration::from_secs(60);
/// 32 KiB pieces: above 1024 pieces of 16 KiB.
const BIG: usize = 20 * 1024 * 1024 + 12_345;

/// The folder's files: a big one in a subfolder, names whose bytewise order
/// differs from a naive one (`a/x.bin` before `a-b`), an empty file, a file of
/// exactly one piece (no pad, no piece layer), one of just over a block.
fn album_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("a/x.bin", data(17 * 1024 * 1024 + 1, 1)),
        ("a-b", data(100, 2)),
        ("a.b", Vec::new()),
        ("b", data(32_768, 3)),
        ("c", data(49_153, 4)),
        ("d/e", data(16_385, 5)),
    ]
}

/// The SHA-1 and SHA-256 of a torrent's info dictionary, in hex.
fn our_hashes(torrent: &[u8]) -> (String, String) {
    let v = bencode::decode(torrent).expect("bencode");
    let info = v
        .as_dict()
        .and_then(|d| d.get("info"))
        .and_then(|i| i.as_dict())
        .expect("an info dictionary")
        .raw;
    (hex(&Sha1::digest(info)), hex(&Sha256::digest(info)))
}

fn lt_check(torrent: &Path, save: &Path, source: Option<&Path>) -> Value {
    let mut cmd = Command::new(PYTHON);
    cmd.arg(LT_CHECK)
        .arg("--torrent")
        .arg(torrent)
        .arg("--save")
        .arg(save);
    if let Some(s) = source {
        cmd.arg("--source").arg(s);
    }
    cmd.stdin(Stdio::null());
    let out = run_bounded(cmd, Duration::from_secs(120));
    assert!(
        out.status.success(),
        "lt_v2_check failed ({}); python3-libtorrent is needed (scripts/setup.sh installs it): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "lt_v2_check printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// (a), (b) and (c) for one torrent we made.
fn assert_libtorrent_agrees(torrent: &Path, save: &Path, source: &Path, format: TorrentFormat) {
    let bytes = std::fs::read(torrent).unwrap();
    let got = lt_check(torrent, save, Some(source));
    assert!(got.get("error").is_none(), "libtorrent refused it: {got}");
    // (a) It reads the halves we made, under the hashes of our info dictionary.
    let (sha1, sha256) = our_hashes(&bytes);
    let parsed = &got["parsed"];
    assert_eq!(parsed["hashes"]["v2"], sha256.as_str(), "{got}");
    match format {
        TorrentFormat::Hybrid => assert_eq!(parsed["hashes"]["v1"], sha1.as_str(), "{got}"),
        _ => assert!(parsed["hashes"]["v1"].is_null(), "{got}"),
    }
    // (b) Every piece checks, by both halves for a hybrid.
    let checked = &got["checked"];
    assert_eq!(checked["progress"], 1.0, "{got}");
    assert_eq!(checked["state"], "seeding", "{got}");
    assert_eq!(checked["pieces"], parsed["num_pieces"], "{got}");
    // (c) libtorrent's own torrent of the same files: the same roots, and the
    // same info dictionary, byte for byte.
    let made = &got["made"];
    assert_eq!(made["roots"], parsed["roots"], "{got}");
    assert_eq!(made["hashes"], parsed["hashes"], "{got}");
    // Our own reader agrees about the key.
    let meta = Metainfo::from_bytes(&bytes).unwrap();
    assert_eq!(meta.info_hash_v2.map(|h| hex(&h)), Some(sha256));
    assert_eq!(meta.has_v1(), format == TorrentFormat::Hybrid);
}

fn flag(format: TorrentFormat) -> &'static str {
    match format {
        TorrentFormat::V1 => "v1",
        TorrentFormat::Hybrid => "hybrid",
        TorrentFormat::V2 => "v2",
    }
}

/// `peer serve` with upload/NAME, until it has written torrents/NAME.torrent.
fn made_by_serve(home: &Path, name: &str, content: &[u8], args: &[&str]) -> PathBuf {
    write(&home.join("upload").join(name), content);
    let _seeder = serve(free_port(), home, args);
    let torrent = home.join("torrents").join(format!("{name}.torrent"));
    wait_until("serve to write the torrent", T, || torrent.exists());
    torrent
}

/// `peer share --folder HOME/upload/album`, which writes torrents/album.torrent.
fn made_by_share_folder(home: &Path, args: &[&str]) -> (PathBuf, PathBuf) {
    let folder = home.join("upload/album");
    for (path, content) in album_files() {
        write(&folder.join(path), &content);
    }
    let mut all = args.to_vec();
    all.extend(["share", "--folder", folder.to_str().unwrap()]);
    let out = peer_cmd(free_port(), home, &all, T);
    assert!(
        out.status.success(),
        "share --folder failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (folder, home.join("torrents/album.torrent"))
}

fn single_file(format: TorrentFormat) {
    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path(), "maker");
    let torrent = made_by_serve(
        &home,
        "big.bin",
        &data(BIG, 7),
        &["--torrent-format", flag(format)],
    );
    let upload = home.join("upload");
    assert_libtorrent_agrees(&torrent, &upload, &upload.join("big.bin"), format);
}

fn folder(format: TorrentFormat) {
    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path(), "maker");
    let (folder, torrent) = made_by_share_folder(&home, &["--torrent-format", flag(format)]);
    assert_libtorrent_agrees(&torrent, &home.join("upload"), &folder, format);
    if format == TorrentFormat::Hybrid {
        // The v1 half as libtorrent reads it: file-tree order, a pad after every
        // file that does not end on a piece boundary, the last one too.
        let got = lt_check(&torrent, &home.join("upload"), None);
        let files: Vec<(String, u64, bool)> = got["parsed"]["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f[0].as_str().unwrap().to_owned(),
                    f[1].as_u64().unwrap(),
                    f[2].as_bool().unwrap(),
                )
            })
            .collect();
        let shown: Vec<String> = files
            .iter()
            .map(|(p, len, pad)| {
                if *pad {
                    format!("pad {len}")
                } else {
                    format!("{p} {len}")
                }
            })
            .collect();
        assert_eq!(
            shown,
            [
                "album/a/x.bin 17825793",
                "pad 32767",
                "album/a-b 100",
                "pad 32668",
                "album/a.b 0",
                "album/b 32768",
                "album/c 49153",
                "pad 16383",
                "album/d/e 16385",
                "pad 16383",
            ]
        );
    }
}

#[test]
fn a_hybrid_file_made_by_serve_checks_out_in_libtorrent() {
    single_file(TorrentFormat::Hybrid);
}

#[test]
fn a_v2_file_made_by_serve_checks_out_in_libtorrent() {
    single_file(TorrentFormat::V2);
}

#[test]
fn a_hybrid_folder_made_by_share_checks_out_in_libtorrent() {
    folder(TorrentFormat::Hybrid);
}

#[test]
fn a_v2_folder_made_by_share_checks_out_in_libtorrent() {
    folder(TorrentFormat::V2);
}

/// Flips the first byte of the first bencoded string at or after `from`.
fn corrupt_string_from(bytes: &mut [u8], from: usize) {
    let colon = from + bytes[from..].iter().position(|&b| b == b':').unwrap();
    bytes[colon + 1] ^= 0xff;
}

fn find(bytes: &[u8], key: &[u8]) -> usize {
    bytes
        .windows(key.len())
        .position(|w| w == key)
        .expect("key present")
        + key.len()
}

/// The controls: libtorrent does check what (b) says it checks. One wrong v1
/// piece hash in a hybrid and it stops short of 100%; one wrong piece-layer
/// hash in a v2 torrent and it refuses to add it; one byte of the data
/// changed under a good v2 torrent and it stops short of 100%.
#[test]
fn libtorrent_notices_one_wrong_hash_of_either_kind() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("big.bin");
    write(&src, &data(BIG, 9));
    for (format, key) in [
        (TorrentFormat::Hybrid, &b"6:pieces"[..]),
        (TorrentFormat::V2, &b"12:piece layersd32:"[..]),
    ] {
        let mut bytes = create_single_file_as(format, &src, "big.bin", "http://x/a").unwrap();
        let good = dir.path().join(format!("{}.torrent", flag(format)));
        std::fs::write(&good, &bytes).unwrap();
        assert_eq!(
            lt_check(&good, dir.path(), None)["checked"]["progress"],
            1.0
        );
        // The v1 pieces string, or past the layer's 32-byte key into the layer itself.
        let mut from = find(&bytes, key);
        if format == TorrentFormat::V2 {
            from += 32;
        }
        corrupt_string_from(&mut bytes, from);
        let bad = dir.path().join(format!("{}-bad.torrent", flag(format)));
        std::fs::write(&bad, &bytes).unwrap();
        let got = lt_check(&bad, dir.path(), None);
        let refused = got.get("error").is_some();
        assert!(
            refused || got["checked"]["progress"].as_f64() < Some(1.0),
            "{format:?} with one wrong hash: {got}"
        );
        eprintln!("{format:?} with one wrong hash: {got}");
    }
    // And the data is checked against the v2 hashes: one byte changed after
    // the v2 torrent was made, and a piece fails.
    let v2 = dir.path().join("v2.torrent");
    let other = dir.path().join("changed");
    let mut changed = data(BIG, 9);
    changed[BIG / 2] ^= 1;
    write(&other.join("big.bin"), &changed);
    let got = lt_check(&v2, &other, None);
    assert!(got.get("error").is_none(), "{got}");
    let progress = got["checked"]["progress"].as_f64().unwrap();
    assert!(progress < 1.0, "one byte changed: {got}");
    eprintln!("V2 over data with one byte changed: {}", got["checked"]);
}

/// Without --torrent-format, and with v1 named, the torrents are BEP 3 only.
#[test]
fn the_default_format_stays_v1() {
    let dir = tempfile::tempdir().unwrap();
    for args in [&[][..], &["--torrent-format", "v1"]] {
        let home = home(dir.path(), &format!("maker{}", args.len()));
        let file = made_by_serve(&home, "f.bin", &data(100_000, 1), args);
        let (_, folder) = made_by_share_folder(&home, args);
        for t in [file, folder] {
            let bytes = std::fs::read(&t).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains("meta version"), "{}", t.display());
            assert!(!text.contains("file tree"), "{}", t.display());
            let meta = Metainfo::from_bytes(&bytes).unwrap();
            assert!(meta.info_hash_v2.is_none() && meta.has_v1());
        }
    }
}
