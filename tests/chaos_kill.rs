//! One download SIGKILLed at 20 random moments and started again each time:
//! it ends byte-identical, every resume state left behind marks only pieces
//! whose bytes are right, and the test prints how many bytes the seeder sent
//! in all against the file's size. The moments come from a seed printed at
//! the start; `CHAOS_SEED=N cargo test --release --test chaos_kill` replays one.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::*;

const T: Duration = Duration::from_secs(60);
const SIZE: usize = 64 << 20;
const KILLS: usize = 20;
/// The downloader's limit: 64 MiB take 21 s at least, so 20 kills a fraction of
/// a second apart land while it is still fetching.
const RATE: &str = "3M";

/// Pieces a resume state marks, each checked against the original bytes.
fn check_resume_state(home: &Path, key: &str, content: &[u8], n: usize) -> usize {
    let p = home.join(".swarmshare/resume").join(format!("{key}.json"));
    let Ok(bytes) = std::fs::read(&p) else {
        return 0; // killed before it was first written
    };
    let v: serde_json::Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("resume state {} is torn: {e}", p.display()));
    let hex = v["have"].as_str().expect("have");
    assert_eq!(hex.len(), n.div_ceil(8) * 2);
    let piece = content.len().div_ceil(n);
    let on_disk = std::fs::read(home.join("downloads/chaos.bin")).unwrap();
    let mut marked = 0;
    for i in 0..n {
        let byte = u8::from_str_radix(&hex[i / 8 * 2..i / 8 * 2 + 2], 16).unwrap();
        if byte & (0x80 >> (i % 8)) != 0 {
            let r = i * piece..((i + 1) * piece).min(content.len());
            assert!(
                on_disk[r.clone()] == content[r],
                "piece {i} is marked but its bytes on disk are wrong"
            );
            marked += 1;
        }
    }
    marked
}

#[test]
fn a_download_killed_twenty_times_ends_byte_identical() {
    let seed = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_203u64);
    println!("chaos seed {seed} (CHAOS_SEED={seed} replays these kill moments)");
    let mut rng = fastrand::Rng::with_seed(seed);
    let started = Instant::now();

    let dir = tempfile::tempdir().unwrap();
    let content = data(SIZE, 12);
    let Seeded {
        tracker: tr,
        mut seeder,
        home: a,
        found: m,
    } = seeded(dir.path(), "chaos.bin", &content, &[]);
    let (key, n) = (m.key.clone(), m.n_parts as usize);

    let c = dir.path().join("c");
    let args = ["--download-rate", RATE, "download", "chaos.bin", "--json"];
    let mut finished_early = 0;
    for round in 1..=KILLS {
        let wait = Duration::from_millis(rng.u64(100..800));
        let mut dl = spawn_peer(tr.port, &c, &args);
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline && dl.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(5));
        }
        if dl.try_wait().unwrap().is_some() {
            finished_early += 1;
        }
        dl.kill().unwrap();
        dl.wait().unwrap();
        let marked = check_resume_state(&c, &key, &content, n);
        println!(
            "kill {round:>2} after {:>3} ms: resume state marks {marked} of {n} pieces",
            wait.as_millis()
        );
    }
    assert_eq!(
        finished_early, 0,
        "the download ended before a kill: the kills did not all land mid-download"
    );

    let out = peer_cmd(tr.port, &c, &["download", "chaos.bin", "--json"], T);
    let s = json_ok(&out);
    assert!(
        s["resumed_pieces"].as_u64().unwrap() > 0,
        "the last run kept nothing from the killed ones: {s}"
    );
    assert!(std::fs::read(c.join("downloads/chaos.bin")).unwrap() == content);

    seeder.terminate();
    let out = peer_cmd(tr.port, &a, &["peers", "--json"], T);
    let sent: u64 = json(&out)
        .as_array()
        .expect("ledger rows")
        .iter()
        .map(|r| r["uploaded"].as_u64().unwrap())
        .sum();
    println!(
        "fetched {sent} bytes in all for a {SIZE}-byte file ({:.2}x) over {KILLS} kills; last run resumed {} of {n} pieces; {:.1} s",
        sent as f64 / SIZE as f64,
        s["resumed_pieces"],
        started.elapsed().as_secs_f64()
    );
    // Each kill may lose what was in flight (about 1 MiB a kill here), never
    // the pieces already verified, which would cost a large part of a file a kill.
    assert!(
        sent < 2 * SIZE as u64,
        "the seeder sent {sent} bytes for a {SIZE}-byte file"
    );
}
