//! The `status` view: every torrent with its state, progress, rates, peers,
//! a piece map, and how many pieces came from each peer.

use std::collections::BTreeSet;
use std::fmt::Write;

use super::engine::Engine;
use super::format::{MAP_WIDTH, human, truncate};

/// Renders the status table. `checking` names downloads still being verified.
pub fn render(engine: &Engine, checking: &BTreeSet<String>) -> String {
    let mut out = String::new();
    let torrents = engine.torrents();
    if torrents.is_empty() && checking.is_empty() {
        return "nothing shared or downloading yet: put files in upload/, or `search` and `download`\n".into();
    }
    let _ = writeln!(
        out,
        "{:<28} {:<11} {:>9} {:>6} {:>10} {:>10} {:>5}  MAP (# had, > in flight, - missing)",
        "NAME", "STATE", "PARTS", "DONE", "DOWN/s", "UP/s", "PEERS"
    );
    for name in checking {
        let _ = writeln!(out, "{name:<28} {:<11}", "checking");
    }
    for t in torrents {
        let st = t.lock();
        let have = st.picker.have();
        let state = if have.is_complete() {
            "seeding"
        } else if st.paused {
            "paused"
        } else {
            "downloading"
        };
        let down: u64 = st.peers.values().map(|p| p.rate_from).sum();
        let up: u64 = st.peers.values().map(|p| p.rate_to).sum();
        let pct = if have.is_empty() {
            100.0
        } else {
            have.count() as f64 * 100.0 / have.len() as f64
        };
        let map = have.map(MAP_WIDTH, &|i| st.picker.is_in_flight(i));
        let _ = writeln!(
            out,
            "{:<28} {:<11} {:>9} {:>5.1}% {:>10} {:>10} {:>5}  [{map}]",
            truncate(&t.meta.name, 28),
            state,
            format!("{}/{}", have.count(), have.len()),
            pct,
            human(down),
            human(up),
            st.peers.len()
        );
        if st.paused
            && let Some(reason) = &st.pause_reason
        {
            let _ = writeln!(
                out,
                "    paused: {reason}; tried again every {} s, or now with `resume {}`",
                super::verifier::RETRY.as_secs(),
                t.meta.name
            );
        }
        let mut peers: Vec<_> = st.peers.values().collect();
        peers.sort_by_key(|p| std::cmp::Reverse(p.pieces_from));
        for p in peers {
            let _ = writeln!(
                out,
                "    {:<22} {:>5} pieces from it  down {:>9}/s  up {:>9}/s  {}{}",
                p.addr.to_string(),
                p.pieces_from,
                human(p.rate_from),
                human(p.rate_to),
                if p.am_choking {
                    "choked by us"
                } else {
                    "unchoked by us"
                },
                if p.peer_choking { ", choking us" } else { "" }
            );
        }
    }
    out
}
