//! The `status` view: every torrent with its state, progress, rates, peers,
//! a piece map, and how many pieces came from each peer. This reads the engine;
//! `format::status_table` lays the text out.

use std::collections::BTreeSet;

use super::engine::Engine;
use super::format::{self, MAP_WIDTH, PeerStatus, TorrentStatus};

/// Renders the status table. `checking` names downloads still being verified.
/// `status` at most `width` columns wide.
pub fn render(engine: &Engine, checking: &BTreeSet<String>, width: usize) -> String {
    let torrents: Vec<TorrentStatus> = engine
        .torrents()
        .iter()
        .map(|t| {
            let st = t.lock();
            let have = st.picker.have();
            TorrentStatus {
                name: t.meta.name.clone(),
                left: st.left(),
                complete: have.is_complete(),
                paused: st.paused,
                pause_reason: st.pause_reason.clone(),
                have: have.count(),
                pieces: have.len(),
                map: have.map(MAP_WIDTH, &|i| st.picker.is_in_flight(i)),
                peers: st
                    .peers
                    .values()
                    .map(|p| PeerStatus {
                        addr: p.addr.to_string(),
                        pieces_from: p.pieces_from,
                        rate_from: p.rate_from,
                        rate_to: p.rate_to,
                        am_choking: p.am_choking,
                        peer_choking: p.peer_choking,
                    })
                    .collect(),
            }
        })
        .collect();
    format::status_table(
        &torrents,
        checking,
        super::torrent::DISK_RETRY.as_secs(),
        width,
    )
}
