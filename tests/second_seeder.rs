//! Problem 9 of issue 12: a seeder that appears mid-download is used within
//! seconds, though the tracker's interval is a minute, because a download with
//! fewer than a handful of peers re-announces at the tracker's `min interval`.

mod support;

use std::time::Duration;

use support::*;

#[test]
fn a_seeder_started_mid_download_sends_bytes_before_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let content = data(3_000_000, 9);
    // The default interval: without the min interval, the next announce would
    // come after the download is over.
    let tracker = tracker(&dir.path().join("tracker"), 60);
    let first = home(dir.path(), "first");
    write(&first.join("upload/late.bin"), &content);
    let _first = serve(tracker.port, &first, &[]);
    wait_listed(tracker.port, "late", 1);

    let port = tracker.port;
    let leech = home(dir.path(), "leech");
    let download = std::thread::spawn(move || {
        // About 20 s at this rate, from however many peers.
        peer_cmd(
            port,
            &leech,
            &["--download-rate", "150K", "download", "late.bin", "--json"],
            Duration::from_secs(120),
        )
    });
    std::thread::sleep(Duration::from_secs(3));
    let second = home(dir.path(), "second");
    write(&second.join("upload/late.bin"), &content);
    let _second = serve(tracker.port, &second, &[]);

    let out = download.join().unwrap();
    let summary = json_ok(&out);
    let sources = summary["sources"].as_array().expect("sources");
    let with_bytes: Vec<&serde_json::Value> = sources
        .iter()
        .filter(|s| s["bytes"].as_u64().unwrap_or(0) > 0)
        .collect();
    assert_eq!(
        with_bytes.len(),
        2,
        "both seeders should have sent bytes: {sources:#?}"
    );
    assert_eq!(
        sources
            .iter()
            .map(|s| s["bytes"].as_u64().unwrap())
            .sum::<u64>(),
        content.len() as u64
    );
    let got = std::fs::read(dir.path().join("leech/downloads/late.bin")).unwrap();
    assert!(got == content, "downloaded bytes differ");
}
