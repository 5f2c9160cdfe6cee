//! `share --folder`: a folder shared whole, as one multi-file torrent, instead of
//! file by file; remembered for later runs; taken up by a peer already running.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use support::*;

const T: Duration = Duration::from_secs(60);

fn album(top: &Path) {
    write(&top.join("cover.jpg"), &data(70_001, 41));
    write(&top.join("cd1/01.flac"), &data(300_000, 42));
    write(&top.join("cd2/deep/02.flac"), &data(250_003, 43));
}

fn share(tracker_port: u16, home: &Path, folder: &Path) -> String {
    let out = peer_cmd(
        tracker_port,
        home,
        &["share", "--folder", folder.to_str().unwrap()],
        T,
    );
    assert!(
        out.status.success(),
        "share --folder failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn same_tree(got: &Path, want: &Path) {
    let files = |root: &Path| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = walkdir::WalkDir::new(root)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .map(|e| e.path().strip_prefix(root).unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(files(got), files(want));
    for rel in files(want) {
        assert!(
            std::fs::read(got.join(&rel)).unwrap() == std::fs::read(want.join(&rel)).unwrap(),
            "{} differs",
            rel.display()
        );
    }
}

#[test]
fn a_folder_in_upload_shared_while_serving_replaces_its_file_torrents() {
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("tracker"), 2);
    let a = home(dir.path(), "a");
    let folder = a.join("upload/album");
    album(&folder);
    let _seed = serve(tr.port, &a, &[]);
    wait_listed(tr.port, "cover", 1);

    let said = share(tr.port, &a, &folder);
    assert!(said.contains("seeds it within seconds"), "{said}");
    wait_listed(tr.port, "album", 1);
    // Its files, shared one by one before, are no longer seeded on their own.
    for name in ["cover", "01.flac", "02.flac"] {
        wait_listed(tr.port, name, 0);
    }

    let b = dir.path().join("b");
    let out = peer_cmd(tr.port, &b, &["download", "album", "--json"], T);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json(&out)["size"], 70_001 + 300_000 + 250_003);
    same_tree(&b.join("downloads/album"), &folder);
}

#[test]
fn a_folder_shared_while_the_tracker_is_down_is_published_and_seeded_by_serve() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("elsewhere/live-set");
    album(&outside);
    let a = home(dir.path(), "a");
    // No tracker yet: the folder is copied in and registered all the same.
    let said = share(1, &a, &outside);
    assert!(said.contains("not published yet"), "{said}");
    assert!(said.contains("run `serve`"), "{said}");
    same_tree(&a.join("upload/live-set"), &outside);

    let tr = tracker(&dir.path().join("tracker"), 2);
    let _seed = serve(tr.port, &a, &[]);
    wait_listed(tr.port, "live-set", 1);
    assert!(search(tr.port, "flac").results.is_empty());
    assert!(search(tr.port, "cover").results.is_empty());
    let b = dir.path().join("b");
    let out = peer_cmd(tr.port, &b, &["download", "live-set"], T);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    same_tree(&b.join("downloads/live-set"), &outside);
}

#[test]
fn share_folder_refuses_what_it_cannot_share_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let a = home(dir.path(), "a");
    let outside = dir.path().join("x/album");
    album(&outside);
    write(&a.join("upload/album/other.txt"), b"already here\n");
    let cases: [(PathBuf, &str); 4] = [
        (a.join("upload"), "name a folder inside it"),
        (dir.path().join("missing"), "cannot share"),
        (outside.join("cover.jpg"), "not a folder"),
        (outside.clone(), "upload/album already exists"),
    ];
    for (path, needle) in cases {
        let out = peer_cmd(1, &a, &["share", "--folder", path.to_str().unwrap()], T);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{path:?} should be refused");
        let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("peer:")).collect();
        assert_eq!(lines.len(), 1, "one error line: {err}");
        assert!(lines[0].contains(needle), "{needle:?} in {err}");
    }
    // Nothing was registered by the refusals.
    assert!(!a.join(".swarmshare/folders.json").exists());
}
