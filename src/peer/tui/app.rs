//! The full-screen view's state, and how each event changes it: which torrent
//! is selected, which detail tab is open, the search box and its results, the
//! y/n question, the rate history, the last message. Pure: keys come in as
//! [`Key`], the engine as a [`Snapshot`], and what the shell must do comes out
//! as an [`Effect`].

use std::collections::HashSet;

use super::rate_history::RateHistory;
use super::snapshot::{Snapshot, State, any_downloading};
use crate::common::magnet::Magnet;
use crate::common::tracker_proto::SearchMatch;
use crate::peer::format::count;

/// A key press, as far as the view cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Enter,
    Esc,
    Backspace,
    Up,
    Down,
    Left,
    Right,
    Tab,
    BackTab,
    CtrlC,
}

/// What the shell does for the view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Search the tracker; the answer comes back through [`App::search_done`].
    Search(String),
    /// Fetch this key from the tracker (or this magnet link's metadata from peers) and download it.
    Download {
        key: String,
        name: String,
    },
    SetPaused {
        key: String,
        paused: bool,
    },
    /// Open (or not) the unfinished downloads found at start.
    ResumeSaved(bool),
    Quit,
}

/// A question the view waits on, answered with y or n.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Question {
    /// Quit although a download is running.
    Quit,
    /// Resume these unfinished downloads from an earlier run.
    ResumeSaved(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Help,
    /// Typing a search.
    SearchInput(String),
    /// Waiting for the tracker's answer.
    Searching(String),
    Results {
        query: String,
        results: Vec<SearchMatch>,
        selected: usize,
    },
    Ask(Question),
}

/// The detail pane's tabs, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetailTab {
    Peers,
    Pieces,
    Files,
    Sources,
}

impl DetailTab {
    pub const ALL: [DetailTab; 4] = [
        DetailTab::Peers,
        DetailTab::Pieces,
        DetailTab::Files,
        DetailTab::Sources,
    ];

    pub fn title(self) -> &'static str {
        match self {
            DetailTab::Peers => "Peers",
            DetailTab::Pieces => "Pieces",
            DetailTab::Files => "Files",
            DetailTab::Sources => "Sources",
        }
    }

    pub fn index(self) -> usize {
        DetailTab::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }

    fn step(self, forward: bool) -> DetailTab {
        let n = DetailTab::ALL.len();
        let i = self.index();
        DetailTab::ALL[if forward {
            (i + 1) % n
        } else {
            (i + n - 1) % n
        }]
    }
}

/// The view's state between redraws.
#[derive(Debug, Clone)]
pub struct App {
    pub mode: Mode,
    /// The selected torrent's key; it stays selected when others come and go.
    pub selected: Option<String>,
    pub tab: DetailTab,
    pub rates: RateHistory,
    /// The last thing the view has to tell (a download started, an error).
    pub message: Option<String>,
    /// Keys seen incomplete, to say once when each download completes.
    unfinished: HashSet<String>,
}

impl Default for App {
    fn default() -> Self {
        App::new()
    }
}

impl App {
    pub fn new() -> App {
        App {
            mode: Mode::Normal,
            selected: None,
            tab: DetailTab::Peers,
            rates: RateHistory::default(),
            message: None,
            unfinished: HashSet::new(),
        }
    }

    /// Asks whether to resume the unfinished downloads of an earlier run.
    pub fn ask_resume(&mut self, names: Vec<String>) {
        if !names.is_empty() {
            self.mode = Mode::Ask(Question::ResumeSaved(names));
        }
    }

    /// The selected row's index in `snap`, if there are rows.
    pub fn selected_index(&self, snap: &Snapshot) -> Option<usize> {
        if snap.torrents.is_empty() {
            return None;
        }
        let found = self
            .selected
            .as_ref()
            .and_then(|k| snap.torrents.iter().position(|t| &t.key == k));
        Some(found.unwrap_or(0))
    }

    /// Takes in a new snapshot at `second` on the shell's clock: the rate
    /// sample, a selection that still points at a row, and a word when a
    /// download completes.
    pub fn observe(&mut self, snap: &Snapshot, second: u64) {
        let down = snap.torrents.iter().map(|t| t.shown_down_rate()).sum();
        let up = snap.torrents.iter().map(|t| t.up_rate).sum();
        self.rates.record(second, down, up);
        if let Some(i) = self.selected_index(snap) {
            self.selected = Some(snap.torrents[i].key.clone());
        }
        for t in &snap.torrents {
            if t.state == State::Checking {
                continue;
            }
            if !t.is_complete() {
                self.unfinished.insert(t.key.clone());
            } else if self.unfinished.remove(&t.key) {
                self.message = Some(format!("download complete: {}", t.name));
            }
        }
    }

    /// The tracker's answer to the search the view asked for.
    pub fn search_done(&mut self, query: String, result: Result<Vec<SearchMatch>, String>) {
        if self.mode != Mode::Searching(query.clone()) {
            return;
        }
        match result {
            Ok(results) if results.is_empty() => {
                self.mode = Mode::Normal;
                self.message = Some(format!("no match for {query:?}"));
            }
            Ok(results) => {
                self.mode = Mode::Results {
                    query,
                    results,
                    selected: 0,
                };
            }
            Err(e) => {
                self.mode = Mode::Normal;
                self.message = Some(format!("search failed: {e}"));
            }
        }
    }

    /// Something background work has to say.
    pub fn note(&mut self, message: String) {
        self.message = Some(message);
    }

    pub fn on_key(&mut self, key: Key, snap: &Snapshot) -> Option<Effect> {
        match std::mem::replace(&mut self.mode, Mode::Normal) {
            Mode::Normal => self.normal_key(key, snap),
            Mode::Help => None,
            Mode::SearchInput(q) => self.search_key(key, q),
            Mode::Searching(q) => match key {
                Key::Esc => None,
                Key::CtrlC => self.quit(snap),
                _ => {
                    self.mode = Mode::Searching(q);
                    None
                }
            },
            Mode::Results {
                query,
                results,
                selected,
            } => self.results_key(key, query, results, selected),
            Mode::Ask(question) => self.answer(key, question),
        }
    }

    fn normal_key(&mut self, key: Key, snap: &Snapshot) -> Option<Effect> {
        match key {
            Key::Char('q') | Key::CtrlC => return self.quit(snap),
            Key::Char('?') | Key::Char('h') => self.mode = Mode::Help,
            Key::Char('/') | Key::Char('s') => self.mode = Mode::SearchInput(String::new()),
            Key::Up | Key::Char('k') => self.move_selection(snap, false),
            Key::Down | Key::Char('j') => self.move_selection(snap, true),
            Key::Tab | Key::Right => self.tab = self.tab.step(true),
            Key::BackTab | Key::Left => self.tab = self.tab.step(false),
            Key::Char('p') | Key::Char(' ') => {
                let t = &snap.torrents[self.selected_index(snap)?];
                let paused = match t.state {
                    State::Paused | State::Stopped(_) => false,
                    State::Downloading | State::Seeding => true,
                    State::Checking => {
                        self.message = Some(format!("{} is still being checked", t.name));
                        return None;
                    }
                };
                self.message = Some(format!(
                    "{} {}",
                    if paused { "paused" } else { "resumed" },
                    t.name
                ));
                return Some(Effect::SetPaused {
                    key: t.key.clone(),
                    paused,
                });
            }
            _ => {}
        }
        None
    }

    fn move_selection(&mut self, snap: &Snapshot, down: bool) {
        let Some(i) = self.selected_index(snap) else {
            return;
        };
        let j = if down {
            (i + 1).min(snap.torrents.len() - 1)
        } else {
            i.saturating_sub(1)
        };
        self.selected = Some(snap.torrents[j].key.clone());
    }

    fn quit(&mut self, snap: &Snapshot) -> Option<Effect> {
        if any_downloading(snap) {
            self.mode = Mode::Ask(Question::Quit);
            None
        } else {
            Some(Effect::Quit)
        }
    }

    fn search_key(&mut self, key: Key, mut q: String) -> Option<Effect> {
        match key {
            // A magnet link pasted into the search box is downloaded, not searched for.
            Key::Enter if q.trim().starts_with("magnet:") => {
                let link = q.trim().to_owned();
                self.mode = Mode::Normal;
                return match Magnet::parse(&link) {
                    Ok(m) => {
                        let name = m.display_name();
                        self.message = Some(format!("fetching the metadata of {name} from peers"));
                        Some(Effect::Download { key: link, name })
                    }
                    Err(e) => {
                        self.message = Some(format!("invalid magnet link: {e}"));
                        None
                    }
                };
            }
            Key::Enter if !q.trim().is_empty() => {
                let q = q.trim().to_owned();
                self.mode = Mode::Searching(q.clone());
                return Some(Effect::Search(q));
            }
            Key::Enter | Key::Esc | Key::CtrlC => return None,
            Key::Backspace => {
                q.pop();
            }
            Key::Char(c) if !c.is_control() => q.push(c),
            _ => {}
        }
        self.mode = Mode::SearchInput(q);
        None
    }

    fn results_key(
        &mut self,
        key: Key,
        query: String,
        results: Vec<SearchMatch>,
        mut selected: usize,
    ) -> Option<Effect> {
        match key {
            Key::Enter | Key::Char('d') => {
                let m = &results[selected.min(results.len() - 1)];
                let name = if m.kind.is_empty() {
                    m.name.clone()
                } else {
                    format!("{}.{}", m.name, m.kind)
                };
                self.message = Some(format!("fetching {name} from the tracker"));
                return Some(Effect::Download {
                    key: m.key.clone(),
                    name,
                });
            }
            Key::Esc | Key::Char('q') | Key::CtrlC => return None,
            Key::Char('/') => {
                self.mode = Mode::SearchInput(String::new());
                return None;
            }
            Key::Up | Key::Char('k') => selected = selected.saturating_sub(1),
            Key::Down | Key::Char('j') => selected = (selected + 1).min(results.len() - 1),
            _ => {}
        }
        self.mode = Mode::Results {
            query,
            results,
            selected,
        };
        None
    }

    fn answer(&mut self, key: Key, question: Question) -> Option<Effect> {
        let yes = match key {
            Key::Char('y') | Key::Char('Y') => true,
            Key::Char('n') | Key::Char('N') | Key::Esc => false,
            // Ctrl-C at a question means leave: a second one at "quit?",
            // or the first at the start, before anything runs.
            Key::CtrlC => return Some(Effect::Quit),
            _ => {
                self.mode = Mode::Ask(question);
                return None;
            }
        };
        match question {
            Question::Quit => yes.then_some(Effect::Quit),
            Question::ResumeSaved(names) => {
                self.message = Some(if yes {
                    format!("resuming {}", count(names.len(), "download"))
                } else {
                    format!(
                        "{} left paused; select one and press p to resume it",
                        count(names.len(), "download")
                    )
                });
                Some(Effect::ResumeSaved(yes))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::tui::snapshot::tests::row;

    fn snap(rows: &[(&str, State)]) -> Snapshot {
        Snapshot {
            torrents: rows
                .iter()
                .map(|(n, s)| row(n, s.clone(), 4, &[0]))
                .collect(),
            ..Snapshot::default()
        }
    }

    fn hit(name: &str) -> SearchMatch {
        SearchMatch {
            name: name.into(),
            kind: "txt".into(),
            torrent: format!("{name}.txt.torrent"),
            key: format!("{name}-key"),
            size: 1,
            n_parts: 1,
            peers: vec![],
            seeders: 1,
            leechers: 0,
            magnet: String::new(),
        }
    }

    fn type_text(app: &mut App, s: &Snapshot, text: &str) {
        for c in text.chars() {
            assert_eq!(app.on_key(Key::Char(c), s), None);
        }
    }

    #[test]
    fn arrows_move_the_selection_within_the_list_and_it_follows_its_key() {
        let s = snap(&[
            ("a", State::Seeding),
            ("b", State::Seeding),
            ("c", State::Seeding),
        ]);
        let mut app = App::new();
        assert_eq!(app.selected_index(&s), Some(0));
        app.on_key(Key::Down, &s);
        app.on_key(Key::Down, &s);
        app.on_key(Key::Down, &s);
        assert_eq!(app.selected.as_deref(), Some("c-key"));
        app.on_key(Key::Up, &s);
        assert_eq!(app.selected_index(&s), Some(1));
        let fewer = snap(&[("b", State::Seeding)]);
        assert_eq!(app.selected_index(&fewer), Some(0));
        let gone = snap(&[("x", State::Seeding)]);
        app.observe(&gone, 1);
        assert_eq!(app.selected.as_deref(), Some("x-key"));
        assert_eq!(App::new().selected_index(&Snapshot::default()), None);
    }

    #[test]
    fn tab_and_side_arrows_cycle_the_detail_tabs() {
        let s = Snapshot::default();
        let mut app = App::new();
        app.on_key(Key::Tab, &s);
        assert_eq!(app.tab, DetailTab::Pieces);
        app.on_key(Key::Right, &s);
        app.on_key(Key::Right, &s);
        app.on_key(Key::Tab, &s);
        assert_eq!(app.tab, DetailTab::Peers);
        app.on_key(Key::BackTab, &s);
        assert_eq!(app.tab, DetailTab::Sources);
        app.on_key(Key::Left, &s);
        assert_eq!(app.tab, DetailTab::Files);
    }

    #[test]
    fn p_pauses_a_running_torrent_and_resumes_a_paused_or_stopped_one() {
        let s = snap(&[
            ("a", State::Downloading),
            ("b", State::Paused),
            ("c", State::Stopped("disk full".into())),
            ("d", State::Checking),
        ]);
        let mut app = App::new();
        let effect = |paused, key: &str| {
            Some(Effect::SetPaused {
                key: key.into(),
                paused,
            })
        };
        assert_eq!(app.on_key(Key::Char('p'), &s), effect(true, "a-key"));
        assert_eq!(app.message.as_deref(), Some("paused a"));
        app.on_key(Key::Down, &s);
        assert_eq!(app.on_key(Key::Char('p'), &s), effect(false, "b-key"));
        app.on_key(Key::Down, &s);
        assert_eq!(app.on_key(Key::Char('p'), &s), effect(false, "c-key"));
        app.on_key(Key::Down, &s);
        assert_eq!(app.on_key(Key::Char('p'), &s), None);
        assert_eq!(app.on_key(Key::Char('p'), &Snapshot::default()), None);
    }

    #[test]
    fn quitting_asks_first_while_a_download_runs() {
        let idle = snap(&[("a", State::Seeding), ("b", State::Paused)]);
        let busy = snap(&[("a", State::Downloading)]);
        let mut app = App::new();
        assert_eq!(app.on_key(Key::Char('q'), &idle), Some(Effect::Quit));
        assert_eq!(app.on_key(Key::CtrlC, &idle), Some(Effect::Quit));

        assert_eq!(app.on_key(Key::Char('q'), &busy), None);
        assert_eq!(app.mode, Mode::Ask(Question::Quit));
        assert_eq!(app.on_key(Key::Char('x'), &busy), None, "other keys wait");
        assert_eq!(app.on_key(Key::Char('n'), &busy), None);
        assert_eq!(app.mode, Mode::Normal);

        app.on_key(Key::CtrlC, &busy);
        assert_eq!(app.mode, Mode::Ask(Question::Quit));
        assert_eq!(app.on_key(Key::Char('y'), &busy), Some(Effect::Quit));

        app.on_key(Key::CtrlC, &busy);
        assert_eq!(app.on_key(Key::CtrlC, &busy), Some(Effect::Quit), "twice");
    }

    #[test]
    fn a_magnet_link_in_the_search_box_is_downloaded() {
        let s = Snapshot::default();
        let mut app = App::new();
        app.on_key(Key::Char('/'), &s);
        let link = format!("magnet:?xt=urn:btih:{}&dn=film.mkv", "ab".repeat(20));
        type_text(&mut app, &s, &link);
        assert_eq!(
            app.on_key(Key::Enter, &s),
            Some(Effect::Download {
                key: link,
                name: "film.mkv".into()
            })
        );
        assert_eq!(app.mode, Mode::Normal);
        app.on_key(Key::Char('/'), &s);
        type_text(&mut app, &s, "magnet:?xt=urn:btih:123");
        assert_eq!(app.on_key(Key::Enter, &s), None);
        assert!(
            app.message
                .as_deref()
                .is_some_and(|m| m.starts_with("invalid magnet link"))
        );
    }

    #[test]
    fn search_is_typed_sent_and_its_results_picked_with_enter_or_d() {
        let s = Snapshot::default();
        let mut app = App::new();
        app.on_key(Key::Char('/'), &s);
        type_text(&mut app, &s, "got5x");
        app.on_key(Key::Backspace, &s);
        assert_eq!(app.mode, Mode::SearchInput("got5".into()));
        assert_eq!(
            app.on_key(Key::Enter, &s),
            Some(Effect::Search("got5".into()))
        );
        assert_eq!(app.mode, Mode::Searching("got5".into()));
        // An answer to an older search is dropped.
        app.search_done("old".into(), Ok(vec![hit("old")]));
        assert_eq!(app.mode, Mode::Searching("got5".into()));
        app.search_done("got5".into(), Ok(vec![hit("a"), hit("b")]));
        app.on_key(Key::Down, &s);
        app.on_key(Key::Down, &s);
        assert_eq!(
            app.on_key(Key::Char('d'), &s),
            Some(Effect::Download {
                key: "b-key".into(),
                name: "b.txt".into()
            })
        );
        assert_eq!(app.mode, Mode::Normal);

        app.on_key(Key::Char('/'), &s);
        type_text(&mut app, &s, "a");
        app.on_key(Key::Enter, &s);
        app.search_done("a".into(), Ok(vec![hit("a")]));
        assert!(matches!(
            app.on_key(Key::Enter, &s),
            Some(Effect::Download { .. })
        ));
    }

    #[test]
    fn an_empty_or_failed_search_says_so_and_esc_backs_out() {
        let s = Snapshot::default();
        let mut app = App::new();
        app.on_key(Key::Char('/'), &s);
        assert_eq!(app.on_key(Key::Enter, &s), None, "nothing typed");
        assert_eq!(app.mode, Mode::Normal);
        app.on_key(Key::Char('/'), &s);
        type_text(&mut app, &s, "q");
        assert_eq!(app.mode, Mode::SearchInput("q".into()), "q is text here");
        app.on_key(Key::Enter, &s);
        app.search_done("q".into(), Ok(vec![]));
        assert_eq!(app.mode, Mode::Normal);
        assert_eq!(app.message.as_deref(), Some("no match for \"q\""));
        app.on_key(Key::Char('/'), &s);
        type_text(&mut app, &s, "q");
        app.on_key(Key::Enter, &s);
        app.search_done("q".into(), Err("tracker down".into()));
        assert_eq!(app.message.as_deref(), Some("search failed: tracker down"));
        app.on_key(Key::Char('/'), &s);
        app.on_key(Key::Esc, &s);
        assert_eq!(app.mode, Mode::Normal);
    }

    #[test]
    fn help_opens_with_a_question_mark_and_any_key_closes_it() {
        let s = Snapshot::default();
        let mut app = App::new();
        app.on_key(Key::Char('?'), &s);
        assert_eq!(app.mode, Mode::Help);
        assert_eq!(app.on_key(Key::Char('q'), &s), None, "q closes help only");
        assert_eq!(app.mode, Mode::Normal);
    }

    #[test]
    fn the_resume_question_answers_with_an_effect_and_a_message() {
        let s = Snapshot::default();
        let mut app = App::new();
        app.ask_resume(vec![]);
        assert_eq!(app.mode, Mode::Normal, "nothing to ask");
        app.ask_resume(vec!["a".into(), "b".into()]);
        assert_eq!(
            app.on_key(Key::Char('n'), &s),
            Some(Effect::ResumeSaved(false))
        );
        assert_eq!(
            app.message.as_deref(),
            Some("2 downloads left paused; select one and press p to resume it")
        );
        app.ask_resume(vec!["a".into()]);
        assert_eq!(app.on_key(Key::Char('q'), &s), None, "y or n");
        assert_eq!(
            app.on_key(Key::Char('y'), &s),
            Some(Effect::ResumeSaved(true))
        );
        assert_eq!(app.message.as_deref(), Some("resuming 1 download"));
        app.ask_resume(vec!["a".into()]);
        assert_eq!(app.on_key(Key::CtrlC, &s), Some(Effect::Quit));
    }

    #[test]
    fn completion_is_told_once_for_a_download_seen_unfinished() {
        let mut app = App::new();
        let mut s = snap(&[("seed", State::Seeding)]);
        s.torrents[0].have = crate::common::bitfield::Bitfield::full(4);
        app.observe(&s, 1);
        assert_eq!(app.message, None, "a seed from the start completes nothing");
        let mut d = snap(&[("d", State::Downloading)]);
        app.observe(&d, 2);
        assert_eq!(app.message, None);
        d.torrents[0].have = crate::common::bitfield::Bitfield::full(4);
        d.torrents[0].state = State::Seeding;
        app.observe(&d, 3);
        assert_eq!(app.message.as_deref(), Some("download complete: d"));
        app.message = None;
        app.observe(&d, 4);
        assert_eq!(app.message, None);
    }

    #[test]
    fn observing_records_the_total_rates() {
        let mut s = snap(&[("a", State::Downloading), ("b", State::Seeding)]);
        s.torrents[0].down_rate = 10;
        s.torrents[1].down_rate = 5;
        s.torrents[1].up_rate = 3;
        let mut app = App::new();
        app.observe(&s, 7);
        assert_eq!(app.rates.down(), [15]);
        assert_eq!(app.rates.up(), [3]);
    }
}
