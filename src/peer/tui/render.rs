//! Draws the full-screen view from the app state and a snapshot of the
//! engine: the status bar with totals, the torrent list, the detail pane
//! (`detail`), the log pane and the rate graph, the message line, the keys,
//! and the boxes on top (help, search results, a y/n question). A pure
//! function of its inputs, so `TestBackend` shows exactly what a terminal
//! would. Every widget is clipped to the frame: nothing is wider than the
//! terminal, whatever its size.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Cell, Clear, HighlightSpacing, Paragraph, Row, Sparkline, Table, TableState, Wrap,
};

use super::app::{App, Mode, Question};
use super::detail;
use super::rate_history::fit;
use super::snapshot::{Snapshot, State, TorrentRow, eta_words};
use super::text::{bar, clean, rate};
use crate::peer::format::human;
use crate::peer::format::{count, truncate};

/// The keys, as the footer lists them.
pub const FOOTER_KEYS: &str = " / search  p pause/resume  ↑↓ select  Tab detail  ? help  q quit";

/// The help box, one key per line.
pub const HELP: &[(&str, &str)] = &[
    ("/ or s", "search the tracker"),
    ("Enter or d", "download the selected search result"),
    ("p or space", "pause or resume the selected torrent"),
    ("↑ ↓ (j k)", "select a torrent, or a search result"),
    ("Tab ← →", "detail tab: peers, pieces, files, sources"),
    ("?", "this help"),
    ("Esc", "close a box, cancel a search"),
    ("q or Ctrl-C", "quit (asks first while a download runs)"),
];

pub fn draw(frame: &mut Frame, app: &App, snap: &Snapshot) {
    let area = frame.area();
    let [status, main, message, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    status_bar(frame, status, snap);
    let rows = snap.torrents.len().max(1) as u16;
    let list_h = (rows + 3).clamp(4, (main.height / 3).max(4));
    let bottom_h = if main.height >= 30 { 8 } else { 6 };
    let [list, middle, bottom] = Layout::vertical([
        Constraint::Length(list_h),
        Constraint::Min(0),
        Constraint::Length(bottom_h),
    ])
    .areas(main);
    torrent_list(frame, list, app, snap);
    let selected = app.selected_index(snap).map(|i| &snap.torrents[i]);
    detail::draw(frame, middle, app.tab, selected);
    let [log, graph] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(bottom);
    log_pane(frame, log, snap);
    rate_graph(frame, graph, app);
    frame.render_widget(
        Paragraph::new(clean(app.message.as_deref().unwrap_or(""))).style(Style::new().bold()),
        message,
    );
    footer_line(frame, footer, app);
    match &app.mode {
        Mode::Help => help_box(frame, area),
        Mode::Results {
            query,
            results,
            selected,
        } => results_box(frame, area, query, results, *selected),
        Mode::Ask(q) => question_box(frame, area, q),
        _ => {}
    }
}

fn status_bar(frame: &mut Frame, area: Rect, snap: &Snapshot) {
    let text = status_text(snap, area.width as usize);
    frame.render_widget(
        Paragraph::new(text).style(Style::new().add_modifier(Modifier::REVERSED)),
        area,
    );
}

/// The totals, most useful first; a part that does not fit is left out whole.
pub fn status_text(snap: &Snapshot, width: usize) -> String {
    let down: u64 = snap.torrents.iter().map(|t| t.shown_down_rate()).sum();
    let up: u64 = snap.torrents.iter().map(|t| t.up_rate).sum();
    let peers: usize = snap.torrents.iter().map(|t| t.peers.len()).sum();
    let downloading = snap
        .torrents
        .iter()
        .filter(|t| t.state == State::Downloading)
        .count();
    let parts = [
        format!("↓ {}/s ↑ {}/s", rate(down), rate(up)),
        format!(
            "{}, {downloading} downloading",
            count(snap.torrents.len(), "torrent")
        ),
        count(peers, "peer"),
        format!("port {}", snap.listen_port),
        format!("tracker {}", snap.tracker),
        "swarmshare".into(),
    ];
    let mut text = String::new();
    for p in parts {
        let sep = if text.is_empty() { " " } else { " │ " };
        if text.chars().count() + sep.chars().count() + p.chars().count() > width {
            break;
        }
        text.push_str(sep);
        text.push_str(&p);
    }
    text
}

fn torrent_list(frame: &mut Frame, area: Rect, app: &App, snap: &Snapshot) {
    let block = Block::bordered().title(" Torrents ");
    if snap.torrents.is_empty() {
        frame.render_widget(
            Paragraph::new("nothing shared or downloading yet: press / to search the tracker")
                .block(block),
            area,
        );
        return;
    }
    // Wide terminals get a longer bar and room for a stop reason.
    let wide = area.width >= 110;
    let (state_w, bar_w): (u16, usize) = if wide { (22, 20) } else { (11, 7) };
    // Inside the borders, less the marker, the gaps and the other columns.
    let fixed = 1 + 7 + state_w as usize + bar_w + 5 + 8 + 8 + 6 + 5 + 5;
    let name_w = (area.width.saturating_sub(2) as usize).saturating_sub(fixed);
    let rows = snap
        .torrents
        .iter()
        .map(|t| list_row(t, name_w, state_w as usize, bar_w));
    let widths = [
        Constraint::Min(8),
        Constraint::Length(state_w),
        Constraint::Length(bar_w as u16 + 5),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(6),
        Constraint::Length(5),
        Constraint::Length(5),
    ];
    let header = Row::new([
        "NAME".to_string(),
        "STATE".into(),
        "PROGRESS".into(),
        format!("{:>8}", "DOWN/s"),
        format!("{:>8}", "UP/s"),
        format!("{:>6}", "ETA"),
        "PEERS".into(),
        "RATIO".into(),
    ])
    .style(Style::new().bold());
    let table = Table::new(rows, widths)
        .header(header)
        .block(block)
        .column_spacing(1)
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol(">")
        .highlight_spacing(HighlightSpacing::Always);
    let mut state = TableState::default().with_selected(app.selected_index(snap));
    frame.render_stateful_widget(table, area, &mut state);
}

fn list_row(t: &TorrentRow, name_w: usize, state_w: usize, bar_w: usize) -> Row<'static> {
    let pct = t.percent();
    let (down, up) = match t.state {
        // A paused download fetches nothing: its fading rate would mislead.
        // It still serves what it has.
        State::Paused | State::Stopped(_) => ("-".into(), rate(t.up_rate)),
        State::Checking => ("-".into(), "-".into()),
        _ => (rate(t.down_rate), rate(t.up_rate)),
    };
    let eta = match (&t.state, t.eta_secs()) {
        (State::Seeding, _) => "done".into(),
        (_, Some(s)) => eta_words(s),
        _ => "-".into(),
    };
    let state_style = match t.state {
        State::Downloading => Style::new().fg(Color::Cyan),
        State::Seeding => Style::new().fg(Color::Green),
        State::Stopped(_) => Style::new().fg(Color::Red),
        _ => Style::new().fg(Color::Yellow),
    };
    Row::new(vec![
        Cell::from(truncate(&clean(&t.name), name_w)),
        Cell::from(truncate(&t.state.words(), state_w)).style(state_style),
        Cell::from(format!("{} {:>3.0}%", bar(pct, bar_w), pct.floor())),
        Cell::from(format!("{down:>8}")),
        Cell::from(format!("{up:>8}")),
        Cell::from(format!("{eta:>6}")),
        Cell::from(format!("{:>5}", t.peers.len())),
        Cell::from(format!("{:>5.2}", t.ratio())),
    ])
}

fn log_pane(frame: &mut Frame, area: Rect, snap: &Snapshot) {
    let block = Block::bordered().title(" Log ");
    let inner = block.inner(area);
    let shown = snap
        .log
        .iter()
        .skip(snap.log.len().saturating_sub(inner.height as usize))
        .map(|l| Line::from(clean(l)));
    frame.render_widget(Paragraph::new(shown.collect::<Vec<_>>()).block(block), area);
}

fn rate_graph(frame: &mut Frame, area: Rect, app: &App) {
    let block = Block::bordered().title(" Rates, last minute ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height < 2 || inner.width == 0 {
        return;
    }
    let down = app.rates.down();
    let up = app.rates.up();
    // One scale for both, so the heights compare.
    let max = down.iter().chain(&up).copied().max().unwrap_or(0).max(1);
    let half = inner.height / 2;
    let [d, u] = Layout::vertical([
        Constraint::Length(half),
        Constraint::Length(inner.height - half),
    ])
    .areas(inner);
    for (rect, label, data, color) in [
        (d, "↓ down", &down, Color::Cyan),
        (u, "↑ up", &up, Color::Green),
    ] {
        let now = data.last().copied().unwrap_or(0);
        let peak = data.iter().copied().max().unwrap_or(0);
        let [title, spark] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(rect);
        frame.render_widget(
            Paragraph::new(format!("{label} {}/s, peak {}/s", rate(now), rate(peak))),
            title,
        );
        frame.render_widget(
            Sparkline::default()
                .data(fit(data, spark.width as usize))
                .max(max)
                .style(Style::new().fg(color)),
            spark,
        );
    }
}

fn footer_line(frame: &mut Frame, area: Rect, app: &App) {
    let text = match &app.mode {
        Mode::SearchInput(q) => format!(" search: {}█   Enter search  Esc cancel", clean(q)),
        Mode::Searching(q) => format!(" searching the tracker for {:?}…   Esc cancel", clean(q)),
        Mode::Results { .. } => " ↑↓ choose  Enter or d download  / new search  Esc close".into(),
        Mode::Ask(_) => " y yes  n no".into(),
        Mode::Help => " any key closes the help".into(),
        Mode::Normal => FOOTER_KEYS.into(),
    };
    frame.render_widget(
        Paragraph::new(text).style(Style::new().add_modifier(Modifier::REVERSED)),
        area,
    );
}

/// A box of at most `w` by `h` cells in the middle of `area`, cleared.
fn popup(frame: &mut Frame, area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width.saturating_sub(2)).max(1);
    let h = h.min(area.height.saturating_sub(2)).max(1);
    let r = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    frame.render_widget(Clear, r);
    r
}

fn help_box(frame: &mut Frame, area: Rect) {
    let mut lines: Vec<Line> = HELP
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!(" {k:<12}"), Style::new().bold()),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from(" The line prompt instead: peer IP PORT --plain"));
    let r = popup(frame, area, 66, lines.len() as u16 + 2);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Keys ")),
        r,
    );
}

fn results_box(
    frame: &mut Frame,
    area: Rect,
    query: &str,
    results: &[crate::common::tracker_proto::SearchMatch],
    selected: usize,
) {
    let r = popup(frame, area, 100, results.len() as u16 + 3);
    // Inside the borders, less the marker, the gaps and the other columns.
    let name_w = (r.width.saturating_sub(2) as usize).saturating_sub(1 + 5 + 2 + 8 + 6 + 5 + 5);
    let rows = results.iter().enumerate().map(|(i, m)| {
        let name = if m.kind.is_empty() {
            m.name.clone()
        } else {
            format!("{}.{}", m.name, m.kind)
        };
        Row::new(vec![
            format!("{:>2}", i + 1),
            truncate(&clean(&name), name_w),
            format!("{:>8}", human(m.size)),
            format!("{:>6}", m.n_parts),
            format!("{:>5}", m.seeders),
            format!("{:>5}", m.peers.len()),
        ])
    });
    let widths = [
        Constraint::Length(2),
        Constraint::Min(10),
        Constraint::Length(8),
        Constraint::Length(6),
        Constraint::Length(5),
        Constraint::Length(5),
    ];
    let table = Table::new(rows, widths)
        .header(
            Row::new(["#", "NAME", "SIZE", "PARTS", "SEEDS", "PEERS"]).style(Style::new().bold()),
        )
        .block(Block::bordered().title(format!(
            " {} for {:?} ",
            count(results.len(), "result"),
            clean(query)
        )))
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol(">")
        .highlight_spacing(HighlightSpacing::Always);
    frame.render_stateful_widget(
        table,
        r,
        &mut TableState::default().with_selected(Some(selected)),
    );
}

fn question_box(frame: &mut Frame, area: Rect, q: &Question) {
    let text = match q {
        Question::Quit => {
            "A download is still running. Quit anyway? (y/n)\nWhat is verified stays on disk; the next start resumes it.".to_string()
        }
        Question::ResumeSaved(names) => format!(
            "Resume {} left unfinished last time? (y/n)\n{}",
            count(names.len(), "download"),
            names.iter().map(|n| clean(n)).collect::<Vec<_>>().join(", ")
        ),
    };
    let r = popup(frame, area, 64, 6);
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: true })
            .block(Block::bordered().title(" Question ")),
        r,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::tracker_proto::SearchMatch;
    use crate::peer::tui::app::Key;
    use crate::peer::tui::snapshot::tests::busy;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    /// The screen as text, one string per row.
    fn screen(app: &App, snap: &Snapshot, w: u16, h: u16) -> Vec<String> {
        let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
        term.draw(|f| draw(f, app, snap)).unwrap();
        let buf = term.backend().buffer();
        (0..h)
            .map(|y| (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect())
            .collect()
    }

    fn find(lines: &[String], needle: &str) -> usize {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} on screen:\n{}", lines.join("\n")))
    }

    #[test]
    fn the_list_row_says_state_progress_rates_eta_peers_and_ratio() {
        let lines = screen(&App::new(), &busy(), 80, 24);
        let r = &lines[find(&lines, "got5.mp4")];
        // 10 of 40 pieces of 100 bytes, the last 50: 1000 of 3950 bytes.
        assert!(r.contains("downloading"), "{r}");
        assert!(r.contains("█░░░░░░  25%"), "{r}");
        assert!(r.contains("1.5 MB"), "{r}");
        assert!(r.contains("20.0 kB"), "{r}");
        assert!(
            r.contains("    1s"),
            "ETA of 2950 bytes at 1.5 MB/s, rounded up: {r}"
        );
        assert!(r.contains(" 0.50"), "{r}");
        assert!(r.starts_with("│>"), "the first row is selected: {r}");
        let s = &lines[find(&lines, "notes.txt")];
        assert!(
            s.contains("seeding") && s.contains("100%") && s.contains("done"),
            "{s}"
        );
        assert_eq!(
            lines[0].trim_end(),
            " ↓ 1.5 MB/s ↑ 20.0 kB/s │ 2 torrents, 1 downloading │ 0 peers │ port 6881",
            "parts that do not fit whole are left out"
        );
        assert!(lines[23].contains("q quit"), "{}", lines[23]);
    }

    #[test]
    fn long_names_and_reasons_are_cut_with_an_ellipsis_to_their_column() {
        let mut s = busy();
        s.torrents[0].name = "a-name-much-longer-than-its-column.mp4".into();
        s.torrents[0].state = State::Stopped("no space left on device".into());
        let lines = screen(&App::new(), &s, 80, 24);
        let r = &lines[find(&lines, "a-name")];
        // 78 inside the borders: marker 1, gaps 7, the other columns 55.
        assert!(r.starts_with("│>a-name-much-lo… stopped: n… "), "{r}");
        let wide = screen(&App::new(), &s, 120, 40);
        let r = &wide[find(&wide, "a-name")];
        assert!(
            r.contains("a-name-much-longer-than-its-co… stopped: no space lef…"),
            "{r}"
        );
        // The detail pane's title has room for the whole reason.
        find(&wide, "(stopped: no space left on device)");
    }

    #[test]
    fn a_paused_download_shows_no_rate() {
        let mut s = busy();
        s.torrents[0].state = State::Paused;
        let lines = screen(&App::new(), &s, 80, 24);
        let r = &lines[find(&lines, "got5.mp4")];
        assert!(r.contains("paused") && !r.contains("1.5 MB"), "{r}");
        assert!(r.contains("20.0 kB"), "it still serves: {r}");
        assert!(lines[0].contains("↓ 0 B/s"), "{}", lines[0]);
    }

    #[test]
    fn log_lines_stay_in_their_pane_with_control_characters_blanked() {
        let lines = screen(&App::new(), &busy(), 80, 24);
        let l = find(&lines, "[WARN] second");
        assert!(l > find(&lines, " Log "), "inside the log pane");
        assert!(!lines.iter().any(|l| l.contains('\x1b')));
    }

    #[test]
    fn every_size_down_to_tiny_draws_without_panicking() {
        let mut app = App::new();
        app.on_key(Key::Char('?'), &busy());
        for (w, h) in [(80, 24), (120, 40), (40, 10), (20, 5), (1, 1)] {
            for mode in [Mode::Normal, Mode::Help, Mode::Ask(Question::Quit)] {
                app.mode = mode;
                let lines = screen(&app, &busy(), w, h);
                assert_eq!(lines.len(), h as usize);
            }
        }
        screen(&App::new(), &Snapshot::default(), 80, 24);
    }

    #[test]
    fn a_wide_status_bar_has_every_part() {
        assert_eq!(
            status_text(&busy(), 200),
            " ↓ 1.5 MB/s ↑ 20.0 kB/s │ 2 torrents, 1 downloading │ 0 peers │ port 6881 │ tracker 127.0.0.1:6969 │ swarmshare"
        );
    }

    #[test]
    fn an_empty_peer_says_how_to_start() {
        let lines = screen(&App::new(), &Snapshot::default(), 80, 24);
        find(&lines, "press / to search the tracker");
    }

    #[test]
    fn help_lists_every_key_of_the_footer() {
        let mut app = App::new();
        app.mode = Mode::Help;
        let lines = screen(&app, &busy(), 80, 24).join("\n");
        for k in [
            "/ or s",
            "Enter or d",
            "p or space",
            "Tab",
            "q or Ctrl-C",
            "--plain",
        ] {
            assert!(lines.contains(k), "{k} in help:\n{lines}");
        }
    }

    #[test]
    fn search_results_are_a_list_with_the_selection_marked() {
        let hit = |n: &str| SearchMatch {
            name: n.into(),
            kind: "mp4".into(),
            torrent: String::new(),
            key: n.into(),
            size: 209_715_200,
            n_parts: 800,
            peers: vec!["1.2.3.4:5".into()],
            seeders: 1,
            leechers: 0,
            magnet: String::new(),
        };
        let mut app = App::new();
        app.mode = Mode::Results {
            query: "got".into(),
            results: vec![hit("got5"), hit("got6")],
            selected: 1,
        };
        let lines = screen(&app, &busy(), 80, 24);
        find(&lines, "2 results for \"got\"");
        let r = &lines[find(&lines, "got6.mp4")];
        assert!(
            r.contains(">") && r.contains("209.7 MB") && r.contains("800"),
            "{r}"
        );
        assert!(lines[23].contains("Enter or d download"));
    }

    #[test]
    fn the_quit_question_is_asked_in_a_box() {
        let mut app = App::new();
        app.mode = Mode::Ask(Question::Quit);
        let lines = screen(&app, &busy(), 80, 24);
        find(&lines, "Quit anyway? (y/n)");
    }

    #[test]
    fn the_rate_graph_says_the_current_rate_and_peak() {
        let mut app = App::new();
        app.observe(&busy(), 1);
        let lines = screen(&app, &busy(), 80, 24);
        find(&lines, "↓ down 1.5 MB/s, peak 1.5 MB/s");
    }
}
