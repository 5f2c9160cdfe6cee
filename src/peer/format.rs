//! The text the peer shows a person: sizes, tables, the progress line, download
//! summaries. Everything here returns a `String` and prints nothing, so callers
//! choose stdout or stderr, and the exact wording is tested once, here.

use core::net::SocketAddr;
use std::collections::BTreeSet;
use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::ledger::LedgerEntry;
use crate::common::peer_id;
use crate::common::tracker_proto::SearchMatch;
use crate::common::units;

/// Characters in a piece map, in `status` and the progress line.
pub const MAP_WIDTH: usize = 40;

/// A size for people: one decimal and a decimal unit.
pub fn human(bytes: u64) -> String {
    units::human_size(bytes)
}

/// A rate for people: `human` per second.
pub fn rate(bytes_per_sec: u64) -> String {
    format!("{}/s", human(bytes_per_sec))
}

/// `1 file`, `2 files`: a count and its noun, singular or plural.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        let plural = if noun.ends_with("ss") { "es" } else { "s" };
        format!("{n} {noun}{plural}")
    }
}

/// Time left at a rate: `0:42`, `12:05`, `3:02:10`; `-` when nothing moves.
pub fn eta(left: u64, bytes_per_sec: f64) -> String {
    if left == 0 {
        return "0:00".into();
    }
    if bytes_per_sec < 1.0 {
        return "-".into();
    }
    let secs = (left as f64 / bytes_per_sec).ceil() as u64;
    if secs >= 360_000 {
        return "-".into();
    }
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// At most `n` characters; a cut is marked with `…`.
pub fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
    if n > 0 {
        t.push('…');
    }
    t
}

/// Every line at most `width` characters, a cut one ending in `…`: the last
/// resort for text laid out without knowing the width.
pub fn fit_lines(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        out.push_str(&truncate(line, width));
        out.push('\n');
    }
    out
}

/// "1 download is still running (a)", and the pronoun for it.
fn downloads_running(running: &[String]) -> (String, &'static str) {
    let n = running.len();
    let (verb, it) = if n == 1 {
        (" is", "it")
    } else {
        ("s are", "them")
    };
    (
        format!("{n} download{verb} still running ({})", running.join(", ")),
        it,
    )
}

/// Asked before leaving while downloads run.
pub fn quit_question(running: &[String]) -> String {
    let (what, it) = downloads_running(running);
    format!("{what}; the next start resumes {it}. Quit anyway? [y/N] ")
}

/// Said when a script's `quit` leaves downloads unfinished.
pub fn leaving_unfinished(running: &[String]) -> String {
    let (what, it) = downloads_running(running);
    format!("warning: {what}; leaving anyway, the next start resumes {it}")
}

/// One column of a table that has to fit a width.
pub struct Column {
    pub header: &'static str,
    pub cells: Vec<String>,
    /// Numbers line up on the right.
    pub right: bool,
    /// May be cut (with `…`) down to this many characters before anything is dropped.
    pub shrink_to: Option<usize>,
    /// May be left out when even cutting is not enough, lowest rank first.
    pub drop_rank: Option<u8>,
}

impl Column {
    pub fn new(header: &'static str, cells: Vec<String>) -> Column {
        Column {
            header,
            cells,
            right: false,
            shrink_to: None,
            drop_rank: None,
        }
    }

    pub fn right(mut self) -> Column {
        self.right = true;
        self
    }

    pub fn shrink_to(mut self, n: usize) -> Column {
        self.shrink_to = Some(n);
        self
    }

    pub fn drop_rank(mut self, rank: u8) -> Column {
        self.drop_rank = Some(rank);
        self
    }

    fn natural(&self) -> usize {
        self.cells
            .iter()
            .map(|c| c.chars().count())
            .chain([self.header.chars().count()])
            .max()
            .unwrap_or(0)
    }
}

/// A table no wider than `width`: shrinkable columns are cut first, then
/// droppable ones left out (and the others grow back into the room), and a
/// line still too wide is cut at the end. Columns are one space apart.
pub fn fit_table(mut columns: Vec<Column>, width: usize) -> String {
    let widths = loop {
        let mut widths: Vec<usize> = columns.iter().map(Column::natural).collect();
        let mut total = widths.iter().sum::<usize>() + columns.len().saturating_sub(1);
        for (c, w) in columns.iter().zip(widths.iter_mut()) {
            if let Some(min) = c.shrink_to
                && total > width
            {
                let cut = (total - width).min(w.saturating_sub(min));
                *w -= cut;
                total -= cut;
            }
        }
        let droppable = columns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.drop_rank.map(|r| (r, i)))
            .min();
        match droppable {
            Some((_, i)) if total > width => {
                columns.remove(i);
            }
            _ => break widths,
        }
    };
    let rows = columns.first().map_or(0, |c| c.cells.len());
    let mut out = String::new();
    for row in 0..=rows {
        let mut line = String::new();
        for (i, (c, &w)) in columns.iter().zip(&widths).enumerate() {
            let text = if row == 0 {
                c.header
            } else {
                c.cells.get(row - 1).map_or("", String::as_str)
            };
            let text = truncate(text, w);
            let pad = w - text.chars().count();
            if i > 0 {
                line.push(' ');
            }
            if c.right {
                line.extend(std::iter::repeat_n(' ', pad));
                line.push_str(&text);
            } else {
                line.push_str(&text);
                if i + 1 < columns.len() {
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
        }
        out.push_str(&truncate(line.trim_end(), width));
        out.push('\n');
    }
    out
}

/// Search results for the prompt, numbered from 1 and fitted to `width`: the
/// name is cut before the torrent's file name, then the peers' addresses, then
/// the key are left out (`download N` needs none of them).
pub fn search_results(results: &[SearchMatch], width: usize) -> String {
    let col = |f: &dyn Fn(usize, &SearchMatch) -> String| -> Vec<String> {
        results.iter().enumerate().map(|(i, m)| f(i, m)).collect()
    };
    fit_table(
        vec![
            Column::new("#", col(&|i, _| (i + 1).to_string())).right(),
            Column::new("NAME", col(&|_, m| m.name.clone())).shrink_to(12),
            Column::new("TYPE", col(&|_, m| m.kind.clone())).shrink_to(4),
            Column::new("SIZE", col(&|_, m| human(m.size))).right(),
            Column::new("PARTS", col(&|_, m| m.n_parts.to_string())).right(),
            Column::new("PEERS", col(&|_, m| m.peers.len().to_string())).right(),
            Column::new("KEY", col(&|_, m| m.key.clone())).drop_rank(3),
            Column::new("TORRENT", col(&|_, m| m.torrent.clone()))
                .shrink_to(16)
                .drop_rank(1),
            Column::new("ADDRESSES", col(&|_, m| m.peers.join(" ")))
                .shrink_to(21)
                .drop_rank(2),
        ],
        width,
    )
}

/// The line other peers' operators look for to learn the port: the address
/// the listener is bound to (`::`, every IPv4 and IPv6 address, unless `--bind` names one).
pub fn listening(addr: SocketAddr) -> String {
    format!("peer listening on {addr}")
}

/// The one warning a peer gives when its tracker is not there at start.
pub fn tracker_unreachable_at_start(addr: SocketAddr, reason: &str) -> String {
    format!(
        "tracker {addr} is not reachable ({reason}); going on without it and trying again in the background"
    )
}

/// Search results, numbered from 1, one line each after a header.
pub fn matches_table(results: &[SearchMatch]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<3} {:<24} {:<6} {:<28} {:>10} {:>6}  {:<40}  PEERS",
        "#", "NAME", "TYPE", "TORRENT", "SIZE", "PARTS", "KEY"
    );
    for (i, m) in results.iter().enumerate() {
        let _ = writeln!(
            out,
            "{:<3} {:<24} {:<6} {:<28} {:>10} {:>6}  {:<40}  {}",
            i + 1,
            m.name,
            m.kind,
            m.torrent,
            human(m.size),
            m.n_parts,
            m.key,
            if m.peers.is_empty() {
                "-".to_string()
            } else {
                m.peers.join(" ")
            }
        );
    }
    out
}

/// The ledger, most preferred first: a table, or JSON for scripts.
pub fn ledger(rows: &[(String, LedgerEntry)], json: bool) -> String {
    if json {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|(id, e)| serde_json::json!({"peer_id": id, "client": peer_client(id), "downloaded": e.downloaded, "uploaded": e.uploaded, "last_addr": e.last_addr, "last_seen": e.last_seen}))
            .collect();
        return format!("{}\n", pretty_json(&v));
    }
    if rows.is_empty() {
        return "no peers yet: the ledger fills as this peer downloads and uploads\n".into();
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<4} {:<28} {:<22} {:>10} {:>10}",
        "RANK", "PEER", "LAST ADDRESS", "DOWNLOADED", "UPLOADED"
    );
    for (i, (id, e)) in rows.iter().enumerate() {
        let _ = writeln!(
            out,
            "{:<4} {:<28} {:<22} {:>10} {:>10}",
            i + 1,
            truncate(&peer_label(id), 28),
            e.last_addr,
            human(e.downloaded),
            human(e.uploaded)
        );
    }
    out
}

/// The ledger for the prompt, fitted to `width`: peer ids are cut first.
pub fn ledger_table(rows: &[(String, LedgerEntry)], width: usize) -> String {
    if rows.is_empty() {
        return ledger(rows, false);
    }
    let col = |f: &dyn Fn(usize, &LedgerEntry, &str) -> String| -> Vec<String> {
        rows.iter()
            .enumerate()
            .map(|(i, (id, e))| f(i, e, id))
            .collect()
    };
    fit_table(
        vec![
            Column::new("RANK", col(&|i, _, _| (i + 1).to_string())),
            Column::new("PEER", col(&|_, _, id| peer_label(id))).shrink_to(12),
            Column::new("LAST ADDRESS", col(&|_, e, _| e.last_addr.clone())).shrink_to(15),
            Column::new("DOWNLOADED", col(&|_, e, _| human(e.downloaded))).right(),
            Column::new("UPLOADED", col(&|_, e, _| human(e.uploaded))).right(),
        ],
        width,
    )
}

/// The client a ledger's hex peer id names, e.g. `qBittorrent 4.6.2`.
pub fn peer_client(hex_id: &str) -> String {
    peer_id::client_name_hex(hex_id).unwrap_or_else(|| "unknown client".into())
}

/// A peer as a person tells it apart: its client, and the id's last four
/// characters where they are printable (two peers often run the same client).
pub fn peer_label(hex_id: &str) -> String {
    let tail: String = (hex_id.len() == 40)
        .then(|| {
            (32..40)
                .step_by(2)
                .filter_map(|i| u8::from_str_radix(&hex_id[i..i + 2], 16).ok())
                .map(char::from)
                .collect::<String>()
        })
        .filter(|t| t.len() == 4 && t.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap_or_default();
    if tail.is_empty() {
        peer_client(hex_id)
    } else {
        format!("{} ({tail})", peer_client(hex_id))
    }
}

/// JSON as the peer prints it everywhere: pretty, without a trailing newline.
pub fn pretty_json(v: &impl Serialize) -> String {
    serde_json::to_string_pretty(v).expect("json")
}

/// What the progress line shows, read from a torrent when a line is due.
pub struct ProgressSnapshot<'a> {
    pub name: &'a str,
    pub have: usize,
    pub pieces: usize,
    pub peers: usize,
    /// The piece map, `MAP_WIDTH` wide.
    pub map: String,
    pub total_length: u64,
    pub piece_length: u64,
}

/// The download's progress line: at most one a second, with a smoothed rate.
#[derive(Default)]
pub struct Progress {
    last: Option<Duration>,
    last_bytes: u64,
    rate: f64,
}

impl Progress {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next line, or None when the last one is under a second old. `now`
    /// is the time on any monotonic clock that started before the first call;
    /// `snapshot` is only called when a line is due.
    pub fn line<'a>(
        &mut self,
        now: Duration,
        snapshot: impl FnOnce() -> ProgressSnapshot<'a>,
    ) -> Option<String> {
        if self
            .last
            .is_some_and(|l| now.saturating_sub(l) < Duration::from_secs(1))
        {
            return None;
        }
        let elapsed = self
            .last
            .map_or(1.0, |l| now.saturating_sub(l).as_secs_f64());
        let s = snapshot();
        let (have, n) = (s.have, s.pieces);
        // Verified bytes, not bytes on the wire: what the user will actually keep.
        let total = s.total_length;
        let bytes = (have as u64 * s.piece_length).min(total);
        let now_rate = bytes.saturating_sub(self.last_bytes) as f64 / elapsed;
        self.rate = if self.last.is_none() {
            0.0
        } else {
            0.5 * self.rate + 0.5 * now_rate
        };
        self.last_bytes = bytes;
        self.last = Some(now);
        let pct = if n == 0 {
            100.0
        } else {
            have as f64 * 100.0 / n as f64
        };
        let eta = if self.rate >= 1.0 || bytes == total {
            eta(total - bytes, self.rate)
        } else {
            "-:--".to_owned()
        };
        Some(format!(
            "{} [{}] {have}/{n} parts {pct:5.1}% {}/{} {:>11} ETA {eta} {}",
            s.name,
            s.map,
            human(bytes),
            human(total),
            rate(self.rate as u64),
            count(s.peers, "peer")
        ))
    }

    /// The line for the end of a download, due whenever the last one was: the
    /// last line shown must be the one at 100%, not one from a second before.
    pub fn final_line<'a>(
        &mut self,
        now: Duration,
        snapshot: impl FnOnce() -> ProgressSnapshot<'a>,
    ) -> String {
        // Far enough after the last line to be due, at the rate seen so far.
        let due = self
            .last
            .map_or(now, |l| now.max(l + Duration::from_secs(1)));
        let rate = self.rate;
        let line = self.line(due, snapshot).unwrap_or_default();
        self.rate = rate;
        line
    }
}

/// What a download with no peer says after a while, so it does not wait at
/// `0 peers` without a word.
pub fn no_peers_hint(name: &str, waited_secs: u64) -> String {
    format!(
        "no peer has sent {name} in {waited_secs} s: none is online with it yet. The download goes on when a seeder comes; Ctrl-C stops it, and the same command resumes it"
    )
}

/// A progress line as written to stderr: redrawn in place on a terminal, one
/// plain line each otherwise so logs stay readable.
pub fn progress_output(line: &str, tty: bool) -> String {
    if tty {
        format!("\r{line}\x1b[K")
    } else {
        format!("progress: {line}\n")
    }
}

/// One torrent in `status`, as read from the engine.
pub struct TorrentStatus {
    pub name: String,
    /// Bytes still missing, for the ETA.
    pub left: u64,
    pub complete: bool,
    pub paused: bool,
    /// Why a download paused itself (a refused write), if it did.
    pub pause_reason: Option<String>,
    pub have: usize,
    pub pieces: usize,
    /// The piece map, `MAP_WIDTH` wide.
    pub map: String,
    pub peers: Vec<PeerStatus>,
}

/// One connected peer of a torrent in `status`.
pub struct PeerStatus {
    pub addr: String,
    pub pieces_from: u32,
    pub rate_from: u64,
    pub rate_to: u64,
    pub am_choking: bool,
    pub peer_choking: bool,
}

/// The `status` view, at most `width` columns: every torrent with its state,
/// progress, rates and ETA, its piece map on the next line, and under it its
/// peers, the most useful first. The name column gives way first, down to 12
/// characters; a line still too wide is cut with `…`. `checking` names
/// downloads still being verified; `retry_secs` is how often a paused download
/// tries its disk again.
pub fn status_table(
    torrents: &[TorrentStatus],
    checking: &BTreeSet<String>,
    retry_secs: u64,
    width: usize,
) -> String {
    if torrents.is_empty() && checking.is_empty() {
        return fit_lines(
            "nothing shared or downloading yet: put files in upload/, or `search` and `download`",
            width,
        );
    }
    // Everything but the name takes 66 columns.
    let name_w = width.saturating_sub(66).clamp(12, 28);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<name_w$} {:<11} {:>9} {:>6} {:>10} {:>10} {:>7} {:>5}",
        "NAME", "STATE", "PARTS", "DONE", "DOWN", "UP", "ETA", "PEERS"
    );
    for name in checking {
        let _ = writeln!(out, "{:<name_w$} checking", truncate(name, name_w));
    }
    for t in torrents {
        let state = if t.complete {
            "seeding"
        } else if t.paused {
            "paused"
        } else {
            "downloading"
        };
        let down: u64 = t.peers.iter().map(|p| p.rate_from).sum();
        let up: u64 = t.peers.iter().map(|p| p.rate_to).sum();
        let pct = if t.pieces == 0 {
            100.0
        } else {
            t.have as f64 * 100.0 / t.pieces as f64
        };
        // A paused download moves nothing: no fading rate, no ETA.
        let (down_s, up_s, eta_s) = if t.paused {
            ("-".to_owned(), "-".to_owned(), "-".to_owned())
        } else if t.complete {
            (rate(down), rate(up), String::new())
        } else {
            (rate(down), rate(up), eta(t.left, down as f64))
        };
        let _ = writeln!(
            out,
            "{:<name_w$} {:<11} {:>9} {:>5.1}% {:>10} {:>10} {:>7} {:>5}",
            truncate(&t.name, name_w),
            state,
            format!("{}/{}", t.have, t.pieces),
            pct,
            down_s,
            up_s,
            eta_s,
            t.peers.len(),
        );
        let _ = writeln!(out, "    [{}]", t.map);
        if t.paused
            && let Some(reason) = &t.pause_reason
        {
            let _ = writeln!(
                out,
                "    paused: {reason}; tried again every {retry_secs} s, or now with `resume {}`",
                t.name
            );
        }
        let mut peers: Vec<&PeerStatus> = t.peers.iter().collect();
        peers.sort_by_key(|p| std::cmp::Reverse(p.pieces_from));
        let addr_w = peers
            .iter()
            .map(|p| p.addr.chars().count())
            .max()
            .unwrap_or(0);
        for p in peers {
            let sending = match (!p.am_choking, !p.peer_choking) {
                (true, true) => "both send",
                (true, false) => "we send to it",
                (false, true) => "it sends to us",
                (false, false) => "neither sends",
            };
            let _ = writeln!(
                out,
                "    {:<addr_w$} {sending:<14} {:>4} pieces from it  ↓{:>10} ↑{:>10}",
                p.addr,
                p.pieces_from,
                rate(p.rate_from),
                rate(p.rate_to),
            );
        }
    }
    if !torrents.is_empty() {
        out.push_str("map: # have, + some, > in flight, - missing\n");
    }
    fit_lines(&out, width)
}

pub fn download_started(
    name: &str,
    size: u64,
    pieces: usize,
    key: &str,
    location: &Path,
) -> String {
    format!(
        "downloading {name} ({}, {}, key {key}) into {}",
        human(size),
        count(pieces, "part"),
        location.display()
    )
}

pub fn download_resuming(resumed: usize, pieces: usize) -> String {
    format!("resuming: {resumed} of {pieces} parts already verified on disk")
}

pub fn download_interrupted(kept: usize, pieces: usize) -> String {
    format!("peer: interrupted; {kept} of {pieces} parts are kept, run the same command to resume")
}

/// One peer a download got pieces from, in `download --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceSummary {
    pub addr: String,
    pub peer_id: String,
    /// Where we heard of it: tracker, dht, pex, magnet, connect or incoming.
    pub origin: String,
    pub bytes: u64,
    pub first_piece_unix_ms: u64,
}

/// A finished download, as `download --json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DownloadSummary {
    pub name: String,
    pub key: String,
    pub size: u64,
    pub pieces: usize,
    pub resumed_pieces: usize,
    pub fetched_pieces: usize,
    pub seconds: f64,
    /// When the first piece was verified (Unix milliseconds), to compare peers started together.
    pub first_piece_unix_ms: Option<u64>,
    pub path: String,
    pub sources: Vec<SourceSummary>,
}

impl DownloadSummary {
    /// Seconds in the JSON are kept to the millisecond.
    pub fn round_seconds(seconds: f64) -> f64 {
        (seconds * 1000.0).round() / 1000.0
    }
}

/// The summary for people: one line, then bytes from each source. `seconds` is
/// the unrounded time, as the line has always shown it.
pub fn download_done(s: &DownloadSummary, seconds: f64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "done: {} in {:.1} s ({} fetched, {} resumed) from {} -> {}",
        s.name,
        seconds,
        count(s.fetched_pieces, "part"),
        s.resumed_pieces,
        count(s.sources.len(), "peer"),
        s.path
    );
    for src in &s.sources {
        let _ = writeln!(out, "  {:<22} {:>10}", src.addr, human(src.bytes));
    }
    out
}

/// `serve`'s account of what `upload/` holds.
pub fn sharing(shared: usize, upload: &Path) -> String {
    format!(
        "sharing {} from {}",
        count(shared, "file"),
        upload.display()
    )
}

pub fn reopened(finished: usize, unfinished: usize) -> String {
    let noun = if finished == 1 {
        "download"
    } else {
        "downloads"
    };
    format!("seeding {finished} finished {noun}, resuming {unfinished} unfinished")
}

/// The interactive start's list of downloads left unfinished: (name, have, pieces).
pub fn unfinished_list(rows: &[(&str, usize, usize)]) -> String {
    let noun = if rows.len() == 1 {
        "download"
    } else {
        "downloads"
    };
    let mut out = format!("{} unfinished {noun}:\n", rows.len());
    for (name, have, pieces) in rows {
        let _ = writeln!(out, "  {name:<30} {have}/{pieces} parts");
    }
    out
}

/// `share --folder`'s account of the torrent it made.
pub fn folder_shared(
    rel: &str,
    torrent: &str,
    files: usize,
    size: u64,
    pieces: usize,
    key: &str,
) -> String {
    format!(
        "sharing upload/{rel} as one torrent: {torrent}, {}, {} in {}, key {key}",
        count(files, "file"),
        human(size),
        count(pieces, "part")
    )
}

pub fn saved_resumed(n: usize) -> String {
    format!("resuming {}", count(n, "download"))
}

pub fn background_download_started(name: &str, size: u64, pieces: usize) -> String {
    format!(
        "downloading {name} ({}, {}) in the background; `status` to watch",
        human(size),
        count(pieces, "part")
    )
}

pub fn background_download_resuming(name: &str, resumed: usize) -> String {
    format!(
        "{name}: resuming, {} already verified on disk",
        count(resumed, "part")
    )
}

pub fn background_download_done(name: &str, seconds: f64, fetched: u64, location: &Path) -> String {
    format!(
        "\ndownload complete: {name} in {seconds:.1} s ({} fetched) -> {}",
        human(fetched),
        location.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_the_largest_decimal_unit_reached() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(999), "999 B");
        assert_eq!(human(1000), "1.0 kB");
        assert_eq!(human(1_500_000), "1.5 MB");
        assert_eq!(human(2_340_000_000), "2.3 GB");
    }

    #[test]
    fn a_long_name_is_cut_with_a_tilde_at_the_width() {
        assert_eq!(truncate("short", 8), "short");
        assert_eq!(truncate("exactly8", 8), "exactly8");
        assert_eq!(truncate("a-longer-name", 8), "a-longe…");
        assert_eq!(truncate("ééééééééé", 3), "éé…");
        assert_eq!(truncate("ab", 0), "");
    }

    #[test]
    fn leaving_with_downloads_running_names_them_in_the_right_number() {
        assert_eq!(
            quit_question(&["a".into()]),
            "1 download is still running (a); the next start resumes it. Quit anyway? [y/N] "
        );
        assert_eq!(
            leaving_unfinished(&["a".into(), "b".into()]),
            "warning: 2 downloads are still running (a, b); leaving anyway, the next start resumes them"
        );
    }

    #[test]
    fn the_fitted_ledger_names_each_peers_client_and_fits_the_width() {
        let entry = LedgerEntry {
            downloaded: 1_048_576,
            uploaded: 7,
            last_addr: "127.0.0.1:38635".into(),
            last_seen: 0,
        };
        let id: String = b"-qB4620-abcdefghijkl"
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let text = ledger_table(&[(id, entry)], 60);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "RANK PEER                LAST ADDRESS    DOWNLOADED UPLOADED",
                "1    qBittorrent 4.6.2 … 127.0.0.1:38635     1.0 MB      7 B",
            ]
        );
    }

    #[test]
    fn fitted_lines_are_cut_at_the_width() {
        assert_eq!(fit_lines("abcdef\nab\n", 4), "abc…\nab\n");
    }

    fn table() -> Vec<Column> {
        vec![
            Column::new("#", vec!["1".into(), "10".into()]).right(),
            Column::new("NAME", vec!["a-long-name".into(), "b".into()]).shrink_to(5),
            Column::new("EXTRA", vec!["xxxxxxxx".into(), "y".into()]).drop_rank(1),
        ]
    }

    #[test]
    fn a_table_that_fits_is_laid_out_whole() {
        assert_eq!(
            fit_table(table(), 80),
            " # NAME        EXTRA\n 1 a-long-name xxxxxxxx\n10 b           y\n"
        );
    }

    #[test]
    fn a_narrow_table_cuts_names_before_it_drops_columns() {
        assert_eq!(
            fit_table(table(), 20),
            " # NAME     EXTRA\n 1 a-long-… xxxxxxxx\n10 b        y\n"
        );
        // Below the shortest name: the droppable column goes and the name grows back.
        assert_eq!(fit_table(table(), 14), " # NAME\n 1 a-long-name\n10 b\n");
        let narrowest = fit_table(table(), 6);
        assert!(
            narrowest.lines().all(|l| l.chars().count() <= 6),
            "{narrowest}"
        );
    }

    #[test]
    fn search_results_fit_80_columns_and_keep_the_key_when_there_is_room() {
        let rows = [
            hit("a-file-with-a-rather-long-name-indeed", &["1.2.3.4:5"]),
            hit("b", &[]),
        ];
        let wide = search_results(&rows, 200);
        assert!(
            wide.lines().next().unwrap().ends_with("ADDRESSES"),
            "{wide}"
        );
        let text = search_results(&rows, 80);
        for l in text.lines() {
            assert!(l.chars().count() <= 80, "{l:?}");
        }
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[1].starts_with("1 a-file-with-… txt  1.2 MB"),
            "{text}"
        );
        assert!(
            lines[1].ends_with(&"ab".repeat(20)),
            "the key stays: {text}"
        );
        let narrow = search_results(&rows, 40);
        assert!(narrow.lines().all(|l| l.chars().count() <= 40), "{narrow}");
        assert!(narrow.contains("a-file-with-a…"), "{narrow}");
    }

    fn hit(name: &str, peers: &[&str]) -> SearchMatch {
        SearchMatch {
            name: name.into(),
            kind: "txt".into(),
            torrent: format!("{name}.txt.torrent"),
            key: "ab".repeat(20),
            size: 1_234_567,
            n_parts: 5,
            peers: peers.iter().map(|p| p.to_string()).collect(),
            seeders: 1,
            leechers: 0,
            magnet: String::new(),
        }
    }

    #[test]
    fn the_matches_table_numbers_rows_and_marks_no_peers_with_a_dash() {
        let t = matches_table(&[hit("a", &[]), hit("b", &["1.2.3.4:5", "6.7.8.9:10"])]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[0],
            "#   NAME                     TYPE   TORRENT                            SIZE  PARTS  KEY                                       PEERS"
        );
        assert_eq!(
            lines[1],
            format!(
                "1   a                        txt    a.txt.torrent                    1.2 MB      5  {}  -",
                "ab".repeat(20)
            )
        );
        assert!(lines[2].starts_with("2   b "), "{}", lines[2]);
        assert!(lines[2].ends_with("  1.2.3.4:5 6.7.8.9:10"), "{}", lines[2]);
        assert!(t.ends_with('\n'));
    }

    #[test]
    fn the_ledger_is_a_ranked_table_a_hint_when_empty_or_json() {
        assert_eq!(
            ledger(&[], false),
            "no peers yet: the ledger fills as this peer downloads and uploads\n"
        );
        assert_eq!(ledger(&[], true), "[]\n");
        let qb: String = b"-qB4620-abcdefghWxYz"
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let rows = vec![(
            qb.clone(),
            LedgerEntry {
                downloaded: 12_345,
                uploaded: 7,
                last_addr: "10.0.0.1:6881".into(),
                last_seen: 99,
            },
        )];
        let table = ledger(&rows, false);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0],
            "RANK PEER                         LAST ADDRESS           DOWNLOADED   UPLOADED"
        );
        assert_eq!(
            lines[1],
            "1    qBittorrent 4.6.2 (WxYz)     10.0.0.1:6881             12.3 kB        7 B"
        );
        let v: serde_json::Value = serde_json::from_str(&ledger(&rows, true)).unwrap();
        assert_eq!(v[0]["peer_id"], qb);
        assert_eq!(v[0]["client"], "qBittorrent 4.6.2");
        // An id in no known style still gets a row, without a tail of bytes.
        assert_eq!(peer_label(&"cd".repeat(20)), "unknown client");
        assert_eq!(v[0]["downloaded"], 12_345);
        assert_eq!(v[0]["uploaded"], 7);
        assert_eq!(v[0]["last_addr"], "10.0.0.1:6881");
        assert_eq!(v[0]["last_seen"], 99);
    }

    fn peer(addr: &str, pieces_from: u32, am_choking: bool, peer_choking: bool) -> PeerStatus {
        PeerStatus {
            addr: addr.into(),
            pieces_from,
            rate_from: 2_000,
            rate_to: 500,
            am_choking,
            peer_choking,
        }
    }

    #[test]
    fn status_says_so_when_there_is_nothing() {
        assert_eq!(
            status_table(&[], &BTreeSet::new(), 30, 100),
            "nothing shared or downloading yet: put files in upload/, or `search` and `download`\n"
        );
    }

    #[test]
    fn status_lists_checking_then_torrents_with_peers_most_pieces_first() {
        let torrents = [
            TorrentStatus {
                name: "a-name-much-longer-than-the-column-is".into(),
                left: 3_000_000,
                complete: false,
                paused: true,
                pause_reason: Some("disk full".into()),
                have: 1,
                pieces: 4,
                map: "#---".into(),
                peers: vec![
                    peer("1.1.1.1:1", 2, true, false),
                    peer("2.2.2.2:2", 9, false, true),
                ],
            },
            TorrentStatus {
                name: "seed".into(),
                left: 0,
                complete: true,
                paused: false,
                pause_reason: None,
                have: 2,
                pieces: 2,
                map: "##".into(),
                peers: vec![],
            },
        ];
        let checking = BTreeSet::from(["late".to_string()]);
        let text = status_table(&torrents, &checking, 30, 80);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "NAME           STATE           PARTS   DONE       DOWN         UP     ETA PEERS",
                "late           checking",
                "a-name-much-l… paused            1/4  25.0%          -          -       -     2",
                "    [#---]",
                "    paused: disk full; tried again every 30 s, or now with `resume a-name-much-…",
                "    2.2.2.2:2 we send to it     9 pieces from it  ↓  2.0 kB/s ↑   500 B/s",
                "    1.1.1.1:1 it sends to us    2 pieces from it  ↓  2.0 kB/s ↑   500 B/s",
                "seed           seeding           2/2 100.0%      0 B/s      0 B/s             0",
                "    [##]",
                "map: # have, + some, > in flight, - missing",
            ]
        );
        assert!(lines.iter().all(|l| l.chars().count() <= 80));
        // Wider, the name takes the room (up to 28 characters).
        let wide = status_table(&torrents, &checking, 30, 120);
        assert!(
            wide.contains("a-name-much-longer-than-the… paused"),
            "{wide}"
        );
        // Unpaused, the same download shows its rates and how long is left.
        let [mut going, _] = torrents;
        going.paused = false;
        let text = status_table(&[going], &BTreeSet::new(), 30, 80);
        assert_eq!(
            text.lines().nth(1).unwrap(),
            "a-name-much-l… downloading       1/4  25.0%   4.0 kB/s   1.0 kB/s   12:30     2"
        );
    }

    #[test]
    fn counts_rates_and_etas_read_as_words() {
        assert_eq!(count(0, "file"), "0 files");
        assert_eq!(count(1, "file"), "1 file");
        assert_eq!(count(2, "peer"), "2 peers");
        assert_eq!(count(3, "address"), "3 addresses");
        assert_eq!(rate(3_100_000), "3.1 MB/s");
        assert_eq!(eta(0, 0.0), "0:00");
        assert_eq!(eta(100, 0.0), "-");
        assert_eq!(eta(42_000, 1000.0), "0:42");
        assert_eq!(eta(725_000, 1000.0), "12:05");
        assert_eq!(eta(10_930_000, 1000.0), "3:02:10");
        assert_eq!(eta(u64::MAX, 1.0), "-");
    }

    #[test]
    fn the_final_progress_line_is_at_100_percent_even_right_after_another() {
        let t0 = Duration::from_secs(5);
        let mut p = Progress::new();
        assert!(p.line(t0, || snap(9)).is_some());
        assert_eq!(p.line(t0 + Duration::from_millis(10), || snap(10)), None);
        let last = p.final_line(t0 + Duration::from_millis(20), || snap(10));
        assert!(last.contains("10/10 parts 100.0%"), "{last}");
        assert!(last.contains("ETA 0:00"), "{last}");
    }

    #[test]
    fn the_no_peers_hint_names_the_download_and_the_way_out() {
        let h = no_peers_hint("big.iso", 20);
        assert!(h.starts_with("no peer has sent big.iso in 20 s"), "{h}");
        assert!(h.contains("Ctrl-C") && h.contains("resumes"), "{h}");
    }

    fn snap(have: usize) -> ProgressSnapshot<'static> {
        ProgressSnapshot {
            name: "f",
            have,
            pieces: 10,
            peers: 2,
            map: "##--".into(),
            total_length: 10_000_000,
            piece_length: 1_000_000,
        }
    }

    #[test]
    fn progress_shows_at_most_a_line_a_second_with_a_smoothed_rate_and_eta() {
        let t0 = Duration::from_secs(5);
        let mut p = Progress::new();
        assert_eq!(
            p.line(t0, || snap(2)).unwrap(),
            "f [##--] 2/10 parts  20.0% 2.0 MB/10.0 MB       0 B/s ETA -:-- 2 peers"
        );
        let mut asked = false;
        assert_eq!(
            p.line(t0 + Duration::from_millis(999), || {
                asked = true;
                snap(3)
            }),
            None
        );
        assert!(!asked, "no snapshot is taken when no line is due");
        // 2 MB in 2 s, halved by the smoothing: 0.5 MB/s, 6 MB left: 12 s.
        assert_eq!(
            p.line(t0 + Duration::from_secs(2), || snap(4)).unwrap(),
            "f [##--] 4/10 parts  40.0% 4.0 MB/10.0 MB  500.0 kB/s ETA 0:12 2 peers"
        );
    }

    #[test]
    fn progress_goes_in_place_on_a_terminal_and_one_line_each_in_a_log() {
        assert_eq!(progress_output("x", true), "\rx\x1b[K");
        assert_eq!(progress_output("x", false), "progress: x\n");
    }

    #[test]
    fn the_done_summary_lists_each_source_with_grouped_bytes() {
        let s = DownloadSummary {
            name: "f".into(),
            key: "00".repeat(20),
            size: 3,
            pieces: 4,
            resumed_pieces: 1,
            fetched_pieces: 3,
            seconds: DownloadSummary::round_seconds(1.23456),
            first_piece_unix_ms: None,
            path: "/d/f".into(),
            sources: vec![SourceSummary {
                addr: "1.2.3.4:5".into(),
                peer_id: "x".into(),
                origin: "pex".into(),
                bytes: 1_048_576,
                first_piece_unix_ms: 1,
            }],
        };
        assert_eq!(s.seconds, 1.235);
        assert_eq!(
            download_done(&s, 1.04),
            "done: f in 1.0 s (3 parts fetched, 1 resumed) from 1 peer -> /d/f\n  1.2.3.4:5                  1.0 MB\n"
        );
    }

    #[test]
    fn start_and_background_lines_keep_their_wording() {
        let key = crate::common::metainfo::InfoHash([0x11; 20]);
        assert_eq!(
            listening(([0, 0, 0, 0], 6881).into()),
            "peer listening on 0.0.0.0:6881"
        );
        assert_eq!(
            listening("[::1]:6881".parse().unwrap()),
            "peer listening on [::1]:6881"
        );
        assert_eq!(
            download_started("f", 1_000_000, 4, &key.hex(), Path::new("/d/f")),
            format!("downloading f (1.0 MB, 4 parts, key {key}) into /d/f")
        );
        assert_eq!(
            download_resuming(2, 4),
            "resuming: 2 of 4 parts already verified on disk"
        );
        assert_eq!(
            download_interrupted(2, 4),
            "peer: interrupted; 2 of 4 parts are kept, run the same command to resume"
        );
        assert_eq!(
            sharing(3, Path::new("h/upload")),
            "sharing 3 files from h/upload"
        );
        assert_eq!(sharing(1, Path::new("u")), "sharing 1 file from u");
        assert_eq!(
            reopened(1, 2),
            "seeding 1 finished download, resuming 2 unfinished"
        );
        assert_eq!(
            unfinished_list(&[("a", 1, 4)]),
            "1 unfinished download:\n  a                              1/4 parts\n"
        );
        assert_eq!(
            folder_shared("d/e", "e.torrent", 2, 12_345, 1, &key.hex()),
            format!(
                "sharing upload/d/e as one torrent: e.torrent, 2 files, 12.3 kB in 1 part, key {key}"
            )
        );
        assert_eq!(saved_resumed(2), "resuming 2 downloads");
        assert_eq!(saved_resumed(1), "resuming 1 download");
        assert_eq!(
            background_download_started("a", 1234, 1),
            "downloading a (1.2 kB, 1 part) in the background; `status` to watch"
        );
        assert_eq!(
            background_download_resuming("a", 3),
            "a: resuming, 3 parts already verified on disk"
        );
        assert_eq!(
            background_download_done("a", 2.26, 2_500_000, Path::new("/d/a")),
            "\ndownload complete: a in 2.3 s (2.5 MB fetched) -> /d/a"
        );
    }
}
