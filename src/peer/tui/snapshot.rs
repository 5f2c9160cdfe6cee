//! What the full-screen view shows, copied out of the engine once per redraw:
//! plain data, so the rendering and the key handling are pure functions of it
//! and are tested without a running peer. `reader` fills it in.

use crate::common::bitfield::Bitfield;

/// Everything on screen that comes from the running peer.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Torrents by name, then downloads still being checked against the disk.
    pub torrents: Vec<TorrentRow>,
    pub listen_port: u16,
    /// The tracker, as `IP:PORT`.
    pub tracker: String,
    /// The most recent log lines, oldest first.
    pub log: Vec<String>,
}

/// What a torrent is doing, in the words the list shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Pieces already on disk are being verified before the download starts.
    Checking,
    Downloading,
    Seeding,
    /// A person paused it.
    Paused,
    /// It paused itself, for this reason (the disk refused a piece).
    Stopped(String),
}

impl State {
    pub fn words(&self) -> String {
        match self {
            State::Checking => "checking".into(),
            State::Downloading => "downloading".into(),
            State::Seeding => "seeding".into(),
            State::Paused => "paused".into(),
            State::Stopped(reason) => format!("stopped: {reason}"),
        }
    }
}

/// One torrent, as the list and the detail pane show it.
#[derive(Debug, Clone)]
pub struct TorrentRow {
    /// The info-hash in hex.
    pub key: String,
    pub name: String,
    pub state: State,
    pub have: Bitfield,
    /// Pieces being fetched now, ascending.
    pub in_flight: Vec<usize>,
    pub total_length: u64,
    pub piece_length: u64,
    /// Bytes per second over all its peers.
    pub down_rate: u64,
    pub up_rate: u64,
    /// Bytes moved in this run.
    pub downloaded: u64,
    pub uploaded: u64,
    pub peers: Vec<PeerRow>,
    pub files: Vec<FileRow>,
    /// Addresses learnt from the tracker (and `--connect`), and of those banned.
    pub known_addrs: usize,
    pub banned_addrs: usize,
    /// Bytes of verified pieces per address they came from, most first.
    /// Address, verified bytes, and where we heard of it (tracker, dht, pex...).
    pub sources: Vec<(String, u64, &'static str)>,
}

/// One connected peer of a torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRow {
    pub addr: String,
    /// Decoded from its peer id (`client_id`).
    pub client: String,
    pub down_rate: u64,
    pub up_rate: u64,
    pub pieces_from: u32,
    /// We let it download from us (we do not choke it).
    pub we_send: bool,
    /// It lets us download from it (it does not choke us).
    pub it_sends: bool,
    /// We dialled it (an address from the tracker); else it dialled us.
    pub dialled: bool,
}

impl PeerRow {
    /// Who may send to whom, without BitTorrent's "choke".
    pub fn sending_words(&self) -> &'static str {
        match (self.it_sends, self.we_send) {
            (true, true) => "both ways",
            (true, false) => "it sends to us",
            (false, true) => "we send to it",
            (false, false) => "neither sends",
        }
    }
}

/// One file of a torrent, with how much of it is verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRow {
    pub path: String,
    pub length: u64,
    pub done: u64,
}

impl TorrentRow {
    /// A row for a download whose pieces on disk are still being checked.
    pub fn checking(key: String, name: String) -> TorrentRow {
        TorrentRow {
            key,
            name,
            state: State::Checking,
            have: Bitfield::new(0),
            in_flight: Vec::new(),
            total_length: 0,
            piece_length: 0,
            down_rate: 0,
            up_rate: 0,
            downloaded: 0,
            uploaded: 0,
            peers: Vec::new(),
            files: Vec::new(),
            known_addrs: 0,
            banned_addrs: 0,
            sources: Vec::new(),
        }
    }

    /// Verified bytes: whole pieces, the last one shorter.
    pub fn done_bytes(&self) -> u64 {
        let n = self.have.len();
        if n == 0 {
            return 0;
        }
        let last_len = self.total_length - (n as u64 - 1) * self.piece_length;
        let last = self.have.get(n - 1);
        let whole = self.have.count() as u64 - last as u64;
        whole * self.piece_length + if last { last_len } else { 0 }
    }

    /// Percent verified, 0 to 100.
    pub fn percent(&self) -> f64 {
        if self.state == State::Checking {
            return 0.0;
        }
        if self.total_length == 0 {
            return 100.0;
        }
        self.done_bytes() as f64 * 100.0 / self.total_length as f64
    }

    pub fn is_complete(&self) -> bool {
        self.state != State::Checking && self.have.is_complete()
    }

    /// Seconds to go at the current rate, while downloading at all.
    pub fn eta_secs(&self) -> Option<u64> {
        if self.state != State::Downloading || self.down_rate == 0 {
            return None;
        }
        let left = self.total_length.saturating_sub(self.done_bytes());
        Some(left.div_ceil(self.down_rate))
    }

    /// Uploaded over downloaded in this run; over the size for a torrent that
    /// downloaded nothing (a seed), as Transmission counts it.
    pub fn ratio(&self) -> f64 {
        let base = if self.downloaded > 0 {
            self.downloaded
        } else {
            self.total_length
        };
        if base == 0 {
            0.0
        } else {
            self.uploaded as f64 / base as f64
        }
    }

    /// The download rate worth showing: none while paused or stopped, when
    /// the rate measured a moment ago only fades.
    pub fn shown_down_rate(&self) -> u64 {
        match self.state {
            State::Downloading | State::Seeding => self.down_rate,
            _ => 0,
        }
    }

    /// Peers we dialled, and peers that dialled us.
    pub fn origins(&self) -> (usize, usize) {
        let dialled = self.peers.iter().filter(|p| p.dialled).count();
        (dialled, self.peers.len() - dialled)
    }
}

/// For each file (offset order, lengths as given), the verified bytes in it:
/// the parts of verified pieces that fall inside the file.
pub fn file_progress(lengths: &[u64], piece_length: u64, have: &Bitfield) -> Vec<u64> {
    let mut out = Vec::with_capacity(lengths.len());
    let mut start = 0u64;
    for &len in lengths {
        let end = start + len;
        let mut done = 0;
        if len > 0 && piece_length > 0 {
            let first = start / piece_length;
            let last = (end - 1) / piece_length;
            for p in first..=last {
                if have.get(p as usize) {
                    let lo = (p * piece_length).max(start);
                    let hi = ((p + 1) * piece_length).min(end);
                    done += hi - lo;
                }
            }
        }
        out.push(done);
        start = end;
    }
    out
}

/// Whether leaving now would cut a download short.
pub fn any_downloading(snap: &Snapshot) -> bool {
    snap.torrents
        .iter()
        .any(|t| matches!(t.state, State::Downloading | State::Checking))
}

/// A duration for the ETA column: `45s`, `12m05s`, `3h20m`, `2d04h`.
pub fn eta_words(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        s if s < 100 * 86_400 => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
        _ => "∞".into(),
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A torrent of `pieces` pieces of 100 bytes, the last one 50, having `have`.
    pub fn row(name: &str, state: State, pieces: usize, have: &[usize]) -> TorrentRow {
        let mut bits = Bitfield::new(pieces);
        for &i in have {
            bits.set(i);
        }
        TorrentRow {
            have: bits,
            state,
            total_length: pieces as u64 * 100 - 50,
            piece_length: 100,
            ..TorrentRow::checking(format!("{name}-key"), name.into())
        }
    }

    pub fn busy() -> Snapshot {
        let mut d = row(
            "got5.mp4",
            State::Downloading,
            40,
            &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        );
        d.down_rate = 1_500_000;
        d.up_rate = 20_000;
        d.downloaded = 1000;
        d.uploaded = 500;
        let s = row("notes.txt", State::Seeding, 1, &[0]);
        Snapshot {
            torrents: vec![d, s],
            listen_port: 6881,
            tracker: "127.0.0.1:6969".into(),
            log: vec!["[WARN] first".into(), "[WARN] second\x1b[2J".into()],
        }
    }

    #[test]
    fn done_bytes_count_the_short_last_piece_by_its_length() {
        let t = row("a", State::Downloading, 4, &[0, 3]);
        assert_eq!(t.total_length, 350);
        assert_eq!(t.done_bytes(), 150);
        assert!((t.percent() - 150.0 * 100.0 / 350.0).abs() < 1e-9);
        let full = row("b", State::Seeding, 4, &[0, 1, 2, 3]);
        assert_eq!(full.done_bytes(), 350);
        assert!(full.is_complete());
        assert_eq!(TorrentRow::checking("k".into(), "c".into()).percent(), 0.0);
    }

    #[test]
    fn eta_only_while_downloading_at_a_rate() {
        let mut t = row("a", State::Downloading, 4, &[0]);
        assert_eq!(t.eta_secs(), None);
        t.down_rate = 100;
        assert_eq!(t.eta_secs(), Some(3));
        t.state = State::Paused;
        assert_eq!(t.eta_secs(), None);
    }

    #[test]
    fn eta_words_grow_units_with_the_time() {
        assert_eq!(eta_words(0), "0s");
        assert_eq!(eta_words(59), "59s");
        assert_eq!(eta_words(65), "1m05s");
        assert_eq!(eta_words(3 * 3600 + 20 * 60), "3h20m");
        assert_eq!(eta_words(2 * 86_400 + 4 * 3600), "2d04h");
        assert_eq!(eta_words(u64::MAX), "∞");
    }

    #[test]
    fn a_paused_download_shows_no_download_rate() {
        let mut t = row("a", State::Downloading, 4, &[0]);
        t.down_rate = 100;
        assert_eq!(t.shown_down_rate(), 100);
        t.state = State::Paused;
        assert_eq!(t.shown_down_rate(), 0);
        t.state = State::Stopped("disk full".into());
        assert_eq!(t.shown_down_rate(), 0);
    }

    #[test]
    fn ratio_is_over_downloaded_or_over_the_size_for_a_seed() {
        let mut t = row("a", State::Seeding, 4, &[0, 1, 2, 3]);
        t.uploaded = 700;
        assert!((t.ratio() - 2.0).abs() < 1e-9);
        t.downloaded = 1400;
        assert!((t.ratio() - 0.5).abs() < 1e-9);
    }

    #[test]
    fn files_get_the_verified_parts_of_the_pieces_they_span() {
        // Files of 150, 0 and 200 bytes over pieces of 100: [0,100) [100,200) [200,300) [300,350).
        let mut have = Bitfield::new(4);
        have.set(1);
        have.set(3);
        assert_eq!(file_progress(&[150, 0, 200], 100, &have), [50, 0, 100]);
    }

    #[test]
    fn sending_is_said_in_plain_words() {
        let mut p = PeerRow {
            addr: "a".into(),
            client: "c".into(),
            down_rate: 0,
            up_rate: 0,
            pieces_from: 0,
            we_send: true,
            it_sends: true,
            dialled: true,
        };
        assert_eq!(p.sending_words(), "both ways");
        p.we_send = false;
        assert_eq!(p.sending_words(), "it sends to us");
        p.it_sends = false;
        assert_eq!(p.sending_words(), "neither sends");
        p.we_send = true;
        assert_eq!(p.sending_words(), "we send to it");
    }

    #[test]
    fn a_download_or_a_check_running_is_worth_asking_before_quitting() {
        let mut s = Snapshot::default();
        assert!(!any_downloading(&s));
        s.torrents.push(row("seed", State::Seeding, 1, &[0]));
        s.torrents.push(row("p", State::Paused, 1, &[]));
        assert!(!any_downloading(&s));
        s.torrents.push(row("d", State::Downloading, 1, &[]));
        assert!(any_downloading(&s));
    }
}
