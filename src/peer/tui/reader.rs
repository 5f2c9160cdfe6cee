//! Copies what the view shows out of the running engine into a [`Snapshot`]:
//! one torrent lock at a time, held only while its fields are copied.

use std::collections::BTreeMap;

use super::snapshot::{FileRow, PeerRow, Snapshot, State, TorrentRow, file_progress};
use crate::common::peer_id::client_name;
use crate::peer::engine::Engine;
use crate::peer::torrent::Torrent;

/// Log lines copied per redraw: more than any log pane is tall.
const LOG_LINES: usize = 100;

/// Reads the engine. `checking` holds (key, name) of downloads still being
/// verified against the disk, which the engine lists only once that is done.
pub fn read(engine: &Engine, checking: &BTreeMap<String, String>, log: Vec<String>) -> Snapshot {
    let mut torrents: Vec<TorrentRow> = engine.torrents().iter().map(|t| torrent_row(t)).collect();
    for (key, name) in checking {
        if !torrents.iter().any(|t| &t.key == key) {
            torrents.push(TorrentRow::checking(key.clone(), name.clone()));
        }
    }
    Snapshot {
        torrents,
        listen_port: engine.listen_port,
        tracker: engine.tracker.addr.to_string(),
        log,
    }
}

/// The log lines for the log pane.
pub fn log_lines() -> Vec<String> {
    crate::peer::logging::recent(LOG_LINES)
}

fn torrent_row(t: &Torrent) -> TorrentRow {
    let core = t.lock();
    let have = core.picker.have().clone();
    let complete = have.is_complete();
    let state = match (&core.pause_reason, core.paused, complete) {
        (Some(reason), true, _) => State::Stopped(reason.clone()),
        (None, true, _) => State::Paused,
        (_, false, true) => State::Seeding,
        (_, false, false) => State::Downloading,
    };
    let in_flight = (0..have.len())
        .filter(|&i| !have.get(i) && core.picker.is_in_flight(i))
        .collect();
    let mut peers: Vec<PeerRow> = core
        .peers
        .values()
        .map(|p| PeerRow {
            addr: p.source_addr(),
            client: client_name(&p.peer_id),
            down_rate: p.rate_from,
            up_rate: p.rate_to,
            pieces_from: p.pieces_from,
            we_send: !p.am_choking,
            it_sends: !p.peer_choking,
            dialled: p.outbound,
        })
        .collect();
    peers.sort_by(|a, b| {
        b.pieces_from
            .cmp(&a.pieces_from)
            .then(b.down_rate.cmp(&a.down_rate))
            .then(a.addr.cmp(&b.addr))
    });
    let lengths: Vec<u64> = t.meta.files.iter().map(|f| f.length).collect();
    let done = file_progress(&lengths, t.meta.piece_length, &have);
    let files = t
        .meta
        .files
        .iter()
        .zip(done)
        .filter(|(f, _)| !f.pad)
        .map(|(f, done)| FileRow {
            path: f.path.join("/"),
            length: f.length,
            done,
        })
        .collect();
    let mut sources: Vec<(String, u64, &'static str)> = core
        .sources
        .iter()
        .map(|(addr, s)| (addr.clone(), s.bytes, s.origin.as_str()))
        .collect();
    sources.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    TorrentRow {
        key: t.meta.key(),
        name: t.meta.name.clone(),
        state,
        in_flight,
        total_length: t.meta.total_length,
        piece_length: t.meta.piece_length,
        down_rate: peers.iter().map(|p| p.down_rate).sum(),
        up_rate: peers.iter().map(|p| p.up_rate).sum(),
        downloaded: core.downloaded,
        uploaded: core.uploaded,
        peers,
        files,
        known_addrs: core.addrs.len(),
        banned_addrs: core.addrs.values().filter(|a| a.banned).count(),
        sources,
        have,
    }
}
