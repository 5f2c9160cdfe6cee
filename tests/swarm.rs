//! Swarm policy, end to end: the ledger's preferred peer is served first when
//! upload slots are scarce, the optimistic unchoke still serves the other, and
//! leechers feed each other.

mod support;

use std::process::Output;
use std::time::{Duration, Instant};

use support::*;

const T: Duration = Duration::from_secs(120);

fn finish(mut child: Spawned, what: &str) -> Output {
    let status =
        wait_with_deadline(&mut child, T).unwrap_or_else(|| panic!("{what} did not finish"));
    let mut stdout = Vec::new();
    std::io::Read::read_to_end(child.stdout.as_mut().unwrap(), &mut stdout).unwrap();
    let out = Output {
        status,
        stdout,
        stderr: Vec::new(),
    };
    assert!(out.status.success(), "{what} failed: {out:?}");
    out
}

fn peer_id_hex(home: &std::path::Path) -> String {
    let id = std::fs::read(home.join(".swarmshare/peer_id")).unwrap();
    id.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn preferred_peer_is_served_first_and_the_other_still_completes() {
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("t"), 5);
    let (s, p, q) = (
        home(dir.path(), "seeder"),
        home(dir.path(), "preferred"),
        home(dir.path(), "stranger"),
    );

    // P uploads to S first: S's ledger then prefers P.
    write(&p.join("upload/gift.bin"), &data(300_000, 20));
    let mut p_serve = serve(tr.port, &p, &[]);
    wait_listed(tr.port, "gift", 1);
    let out = peer_cmd(tr.port, &s, &["download", "gift.bin", "--json"], T);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    p_serve.terminate();

    // Slow enough that P is still downloading when S opens its optimistic slot
    // (10 to 20 s after the first request): 1.5 MiB at 64 KiB/s takes P 24 s alone.
    let content = data(3 << 19, 21);
    write(&s.join("upload/scarce.bin"), &content);
    let mut s_serve = serve(
        tr.port,
        &s,
        &["--upload-slots", "1", "--upload-rate", "64K"],
    );
    let s_addr = format!("127.0.0.1:{}", s_serve.port);
    wait_listed(tr.port, "scarce", 1);

    // Both ask at the same moment.
    let pc = spawn_peer(tr.port, &p, &["download", "scarce.bin", "--json"]);
    let qc = spawn_peer(tr.port, &q, &["download", "scarce.bin", "--json"]);
    let (po, qo) = (
        finish(pc, "preferred download"),
        finish(qc, "stranger download"),
    );
    let (pj, qj) = (json(&po), json(&qo));
    // Leechers also feed each other, so compare what each got from the seeder itself.
    let from_s = |j: &serde_json::Value| {
        j["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["addr"] == s_addr.as_str())
            .cloned()
    };
    let ps = from_s(&pj).expect("S served P");
    let qs =
        from_s(&qj).unwrap_or_else(|| panic!("S served Q too, by the optimistic unchoke: {qj}"));
    let (pf, qf) = (
        ps["first_piece_unix_ms"].as_u64().unwrap(),
        qs["first_piece_unix_ms"].as_u64().unwrap(),
    );
    assert!(
        pf < qf,
        "S served the preferred peer first: {pf} vs {qf}\nP: {pj}\nQ: {qj}"
    );
    assert_eq!(
        std::fs::read(p.join("downloads/scarce.bin")).unwrap(),
        content
    );
    assert_eq!(
        std::fs::read(q.join("downloads/scarce.bin")).unwrap(),
        content
    );

    // The ledger, read back from disk after S stopped (and restarted before), knows what happened.
    assert!(s_serve.terminate().success());
    let out = peer_cmd(tr.port, &s, &["peers", "--json"], T);
    let ledger = json(&out);
    let rows = ledger.as_array().unwrap();
    assert_eq!(
        rows[0]["peer_id"],
        peer_id_hex(&p),
        "P is first by preference: {ledger}"
    );
    assert!(rows[0]["downloaded"].as_u64().unwrap() >= 300_000);
    let q_row = rows
        .iter()
        .find(|r| r["peer_id"] == peer_id_hex(&q))
        .expect("S uploaded to Q");
    assert!(q_row["uploaded"].as_u64().unwrap() > 0);
}

#[test]
fn six_leechers_feed_each_other() {
    const N: usize = 6;
    const RATE: u64 = 512 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let tr = tracker(&dir.path().join("t"), 2);
    let seeder = home(dir.path(), "seeder");
    let size = 4usize << 20;
    let content = data(size, 30);
    write(&seeder.join("upload/crowd.bin"), &content);
    let s = serve(tr.port, &seeder, &["--upload-rate", "512K"]);
    wait_listed(tr.port, "crowd", 1);
    let seeder_addr = format!("127.0.0.1:{}", s.port);

    let started = Instant::now();
    let homes: Vec<_> = (0..N)
        .map(|i| dir.path().join(format!("leecher{i}")))
        .collect();
    // Fixed listen ports, so every source can be checked to be a listen address.
    let ports: Vec<u16> = (0..N).map(|_| free_port()).collect();
    let children: Vec<Spawned> = homes
        .iter()
        .zip(&ports)
        .map(|(h, port)| {
            let port = port.to_string();
            spawn_peer(
                tr.port,
                h,
                &[
                    "--listen",
                    &port,
                    "--upload-rate",
                    "512K",
                    "download",
                    "crowd.bin",
                    "--json",
                ],
            )
        })
        .collect();
    let outs: Vec<Output> = children.into_iter().map(|c| finish(c, "leecher")).collect();
    let elapsed = started.elapsed().as_secs_f64();

    for (h, out) in homes.iter().zip(&outs) {
        let j = json(out);
        let from_others: u64 = j["sources"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["addr"] != seeder_addr.as_str())
            .map(|s| s["bytes"].as_u64().unwrap())
            .sum();
        // Peers that dialled us are credited under their listen port (BEP 10 `p`).
        let listen: Vec<String> = ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .chain([seeder_addr.clone()])
            .collect();
        for src in j["sources"].as_array().unwrap() {
            assert!(
                listen.contains(&src["addr"].as_str().unwrap().to_owned()),
                "{src} is not a listen address: {j}"
            );
        }
        assert!(
            from_others > 0,
            "{} received only from the seeder: {j}",
            h.display()
        );
        assert_eq!(
            std::fs::read(h.join("downloads/crowd.bin")).unwrap(),
            content
        );
    }
    let f = size as f64;
    let bound = (f / RATE as f64).max(N as f64 * f / (RATE as f64 * (N + 1) as f64));
    println!(
        "swarm: {N} leechers of a {} MiB file done in {elapsed:.1} s; fluid lower bound {bound:.1} s ({:.2}x)",
        size >> 20,
        elapsed / bound
    );
}
