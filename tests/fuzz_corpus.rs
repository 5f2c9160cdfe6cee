//! Replays every saved fuzz input in `fuzz/corpus/<target>/` through the same
//! check its fuzz target runs, so crashes once found stay fixed and CI needs
//! no nightly toolchain. New inputs come from `scripts/fuzz.sh`.

mod fuzz_checks;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .collect();
    files.sort();
    // An empty folder would make this test pass without checking anything.
    assert!(
        files.len() >= 5,
        "{}: only {} inputs",
        dir.display(),
        files.len()
    );
    let mut failed = Vec::new();
    for f in &files {
        let data = std::fs::read(f).expect("read corpus file");
        if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
            failed.push(f.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} {target} inputs fail:\n{}",
        failed.len(),
        files.len(),
        failed.join("\n")
    );
}

#[test]
fn bencode_corpus() {
    replay("bencode", fuzz_checks::bencode);
}

#[test]
fn metainfo_corpus() {
    replay("metainfo", fuzz_checks::metainfo);
}

#[test]
fn wire_stream_corpus() {
    replay("wire_stream", fuzz_checks::wire_stream);
}

#[test]
fn udp_tracker_corpus() {
    replay("udp_tracker", fuzz_checks::udp_tracker);
}

#[test]
fn http_announce_corpus() {
    replay("http_announce", fuzz_checks::http_announce);
}

#[test]
fn tracker_publish_corpus() {
    replay("tracker_publish", fuzz_checks::tracker_publish);
}

/// Every fuzz target has its corpus replayed above, and nothing else sits in `fuzz/corpus`.
#[test]
fn every_target_has_a_corpus() {
    let mut on_disk: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus"))
            .expect("fuzz/corpus")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
    on_disk.sort();
    let mut targets: Vec<String> = fuzz_checks::TARGETS
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    targets.sort();
    assert_eq!(on_disk, targets);
}
