//! The tracker and the peer, end to end: publish, search, download from
//! several seeders, resume after SIGKILL, survive a dying seeder, leave cleanly.

mod support;

use std::time::Duration;
use support::*;

const T: Duration = Duration::from_secs(60);

#[test]
fn publish_then_search_lists_fields_peers_and_index_lines() {
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("tracker"), 5);
    let a = home(dir.path(), "a");
    write(&a.join("upload/got5.mp4"), &data(100_000, 1));
    write(&a.join("upload/docs/deep/score.txt"), b"top score: 42\n");
    let mut seeder = serve(tr.port, &a, &[]);
    wait_listed(tr.port, "got5", 1);

    let r = search(tr.port, "GOT5");
    let m = &r.results[0];
    assert_eq!(
        (m.name.as_str(), m.kind.as_str(), m.torrent.as_str()),
        ("got5", "mp4", "got5.mp4.torrent")
    );
    assert_eq!((m.size, m.n_parts), (100_000, 7));
    assert_eq!(m.key.len(), 40);
    assert_eq!(m.peers, vec![format!("127.0.0.1:{}", seeder.port)]);
    wait_listed(tr.port, "score", 1);

    // `peer search --json` prints the tracker's answer.
    let out = peer_cmd(
        tr.port,
        &dir.path().join("x"),
        &["search", "score", "txt", "--json"],
        T,
    );
    assert!(out.status.success());
    assert_eq!(json(&out)["results"][0]["name"], "score");

    // Publishing again (a restart) adds no duplicate lines.
    seeder.terminate();
    let _again = serve(tr.port, &a, &[]);
    wait_listed(tr.port, "got5", 1);
    let index = std::fs::read_to_string(dir.path().join("tracker/search_content.txt")).unwrap();
    let mut lines: Vec<&str> = index.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        vec![
            "Name : got5 type: mp4 tor : got5.mp4.torrent",
            "Name : score type: txt tor : score.txt.torrent"
        ]
    );
}

#[test]
fn download_from_two_seeders_is_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("tracker"), 5);
    let content = data(5 << 20, 2);
    let (a, b) = (home(dir.path(), "a"), home(dir.path(), "b"));
    write(&a.join("upload/movie.mkv"), &content);
    write(&b.join("upload/films/movie.mkv"), &content);
    // Rate limits make sure one seeder cannot finish alone before the other joins in.
    let _sa = serve(tr.port, &a, &["--upload-rate", "2M"]);
    let _sb = serve(tr.port, &b, &["--upload-rate", "2M"]);
    wait_listed(tr.port, "movie", 2);

    let c = dir.path().join("c");
    let out = peer_cmd(tr.port, &c, &["download", "movie.mkv", "--json"], T);
    let s = json_ok(&out);
    assert_eq!(s["size"], 5 << 20);
    assert_eq!(s["resumed_pieces"], 0);
    assert_eq!(s["fetched_pieces"], s["pieces"]);
    let sources = s["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 2, "both seeders sent data: {s}");
    assert!(sources.iter().all(|x| x["bytes"].as_u64().unwrap() > 0));
    assert!(sources.iter().all(|x| x["origin"] == "tracker"), "{s}");
    assert_eq!(
        std::fs::read(c.join("downloads/movie.mkv")).unwrap(),
        content
    );
    assert!(c.join("torrents/movie.mkv.torrent").exists());
}

#[test]
fn download_killed_with_sigkill_resumes_from_verified_pieces() {
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("tracker"), 5);
    let content = data(4 << 20, 3);
    let a = home(dir.path(), "a");
    write(&a.join("upload/season.bin"), &content);
    let _seed = serve(tr.port, &a, &["--upload-rate", "1M"]);
    wait_listed(tr.port, "season", 1);
    let key = search(tr.port, "season").results[0].key.clone();
    let n = search(tr.port, "season").results[0].n_parts as usize;

    let c = dir.path().join("c");
    let mut first = spawn_peer(tr.port, &c, &["download", "season.bin", "--json"]);
    wait_until("some verified pieces on disk", T, || {
        resumed_count(&c, &key) >= n / 4
    });
    first.kill().unwrap();
    first.wait().unwrap();
    let kept = resumed_count(&c, &key);
    assert!(kept < n, "killed half way, not at the end");

    let out = peer_cmd(tr.port, &c, &["download", "season.bin", "--json"], T);
    let s = json_ok(&out);
    let resumed = s["resumed_pieces"].as_u64().unwrap() as usize;
    assert!(
        resumed >= kept && resumed > 0,
        "resumed {resumed}, resume state had {kept}"
    );
    assert_eq!(resumed + s["fetched_pieces"].as_u64().unwrap() as usize, n);
    assert_eq!(
        std::fs::read(c.join("downloads/season.bin")).unwrap(),
        content
    );
}

#[test]
fn download_completes_when_one_seeder_dies() {
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("tracker"), 5);
    let content = data(4 << 20, 4);
    let (a, b) = (home(dir.path(), "a"), home(dir.path(), "b"));
    write(&a.join("upload/x.iso"), &content);
    write(&b.join("upload/x.iso"), &content);
    let mut sa = serve(tr.port, &a, &["--upload-rate", "1M"]);
    let _sb = serve(tr.port, &b, &["--upload-rate", "1M"]);
    wait_listed(tr.port, "x.iso", 2);
    let key = search(tr.port, "x.iso").results[0].key.clone();

    let c = dir.path().join("c");
    let mut dl = spawn_peer(tr.port, &c, &["download", "x.iso", "--json"]);
    wait_until("download under way", T, || resumed_count(&c, &key) >= 10);
    sa.kill9();
    let status = wait_with_deadline(&mut dl, T).expect("download finished");
    assert!(status.success());
    assert_eq!(std::fs::read(c.join("downloads/x.iso")).unwrap(), content);
}

#[test]
fn serve_stopped_with_sigterm_leaves_the_tracker() {
    let dir = tempfile::tempdir().unwrap();
    // A long interval: only the `stopped` announce can explain the peer vanishing.
    let tr = tracker(&dir.path().join("tracker"), 600);
    let a = home(dir.path(), "a");
    write(&a.join("upload/leave.txt"), b"bye");
    let mut s = serve(tr.port, &a, &[]);
    wait_listed(tr.port, "leave", 1);
    let status = s.terminate();
    assert!(status.success(), "serve exits 0 on SIGTERM: {status:?}");
    wait_listed(tr.port, "leave", 0);
}

#[test]
fn tracker_restart_keeps_published_torrents() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("tracker");
    let mut tr = tracker(&data_dir, 5);
    let a = home(dir.path(), "a");
    write(&a.join("upload/keep.pdf"), &data(70_000, 5));
    let mut s = serve(tr.port, &a, &[]);
    wait_listed(tr.port, "keep", 1);
    s.terminate();
    assert!(tr.terminate().success());

    let tr2 = tracker(&data_dir, 5);
    let r = search(tr2.port, "keep");
    assert_eq!(r.results.len(), 1);
    assert_eq!(r.results[0].torrent, "keep.pdf.torrent");
    assert!(
        r.results[0].peers.is_empty(),
        "peer lists refill from announces only"
    );
    // The stored torrent can still be fetched by key, and the index has one line.
    let c = dir.path().join("c");
    let _s = serve(tr2.port, &a, &[]);
    wait_listed(tr2.port, "keep", 1);
    let out = peer_cmd(tr2.port, &c, &["download", &r.results[0].key, "--json"], T);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let index = std::fs::read_to_string(data_dir.join("search_content.txt")).unwrap();
    assert_eq!(index.lines().count(), 1, "{index}");
}

#[test]
fn a_finished_download_whose_file_changed_is_checked_and_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("tracker"), 5);
    let content = data(1 << 20, 6);
    let a = home(dir.path(), "a");
    write(&a.join("upload/fix.bin"), &content);
    let _seed = serve(tr.port, &a, &[]);
    wait_listed(tr.port, "fix", 1);
    let c = dir.path().join("c");
    let out = peer_cmd(tr.port, &c, &["download", "fix.bin", "--json"], T);
    assert!(out.status.success());

    // Damage the file behind the peer's back, keeping its size.
    let mut damaged = content.clone();
    damaged[100_000..100_100].fill(0xAA);
    std::fs::write(c.join("downloads/fix.bin"), &damaged).unwrap();

    let out = peer_cmd(tr.port, &c, &["download", "fix.bin", "--json"], T);
    let s = json_ok(&out);
    assert_eq!(
        s["fetched_pieces"], 1,
        "only the damaged piece is fetched again: {s}"
    );
    assert_eq!(std::fs::read(c.join("downloads/fix.bin")).unwrap(), content);
}

#[test]
fn a_download_that_finds_no_peer_asks_again_soon() {
    let dir = tempfile::tempdir().unwrap();
    // A long interval: only an early re-announce can find the seeder in time.
    let tr = tracker(&dir.path().join("tracker"), 600);
    let a = home(dir.path(), "a");
    let content = data(300_000, 7);
    write(&a.join("upload/later.bin"), &content);
    let mut first = serve(tr.port, &a, &[]);
    wait_listed(tr.port, "later", 1);
    assert!(first.terminate().success());
    wait_listed(tr.port, "later", 0);

    // The download starts with nobody to ask; the seeder comes back afterwards.
    let c = dir.path().join("c");
    let started = std::time::Instant::now();
    let mut dl = spawn_peer(tr.port, &c, &["download", "later.bin", "--json"]);
    wait_listed(tr.port, "later", 1);
    let _again = serve(tr.port, &a, &[]);
    let status = wait_with_deadline(&mut dl, Duration::from_secs(40))
        .expect("download finished long before the 600 s interval");
    assert!(status.success());
    assert_eq!(
        std::fs::read(c.join("downloads/later.bin")).unwrap(),
        content
    );
    assert!(started.elapsed() < Duration::from_secs(40));
}
