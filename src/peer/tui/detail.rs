//! The detail pane of the selected torrent, one tab at a time: its peers
//! (address, client, rates, pieces from each, who sends to whom), its piece
//! map sized to the pane with a legend of every mark, its files, and where its
//! peers came from.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Row, Table, Tabs, Wrap};

use super::app::DetailTab;
use super::snapshot::{State, TorrentRow};
use super::text::{clean, rate};
use crate::peer::format::count;
use crate::peer::format::human;

/// What each mark of the piece map means, every mark the map uses.
pub const LEGEND: &[(char, &str)] = &[
    ('#', "verified"),
    ('+', "partly verified"),
    ('>', "being fetched"),
    ('-', "missing"),
];

pub fn draw(frame: &mut Frame, area: Rect, tab: DetailTab, t: Option<&TorrentRow>) {
    let title = match t {
        Some(t) => format!(" {} ({}) ", clean(&t.name), t.state.words()),
        None => " Detail ".into(),
    };
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 {
        return;
    }
    let [tabs, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
    frame.render_widget(
        Tabs::new(DetailTab::ALL.iter().map(|t| t.title()))
            .select(tab.index())
            .highlight_style(Style::new().fg(Color::Black).bg(Color::Cyan)),
        tabs,
    );
    let Some(t) = t else {
        frame.render_widget(
            Paragraph::new("select a torrent to see its peers, pieces and files"),
            body,
        );
        return;
    };
    if t.state == State::Checking {
        frame.render_widget(
            Paragraph::new("checking the pieces already on disk; the download starts after"),
            body,
        );
        return;
    }
    match tab {
        DetailTab::Peers => peers(frame, body, t),
        DetailTab::Pieces => pieces(frame, body, t),
        DetailTab::Files => files(frame, body, t),
        DetailTab::Sources => sources(frame, body, t),
    }
}

fn peers(frame: &mut Frame, area: Rect, t: &TorrentRow) {
    if t.peers.is_empty() {
        let hint = if t.state == State::Downloading {
            "no peers connected yet: the tracker is asked for more every few seconds"
        } else {
            "no peers connected"
        };
        frame.render_widget(Paragraph::new(hint).wrap(Wrap { trim: true }), area);
        return;
    }
    // Under the header; when some do not fit, the last line says how many.
    let room = area.height.saturating_sub(1) as usize;
    let shown = if t.peers.len() > room {
        room.saturating_sub(1)
    } else {
        t.peers.len()
    };
    let mut rows: Vec<Row> = t.peers[..shown]
        .iter()
        .map(|p| {
            Row::new(vec![
                clean(&p.addr),
                clean(&p.client),
                format!("{:>8}", rate(p.down_rate)),
                format!("{:>8}", rate(p.up_rate)),
                format!("{:>6}", p.pieces_from),
                p.sending_words().to_string(),
            ])
        })
        .collect();
    if shown < t.peers.len() {
        let more = t.peers.len() - shown;
        let plural = if more == 1 { "" } else { "s" };
        rows.push(Row::new(vec![format!("and {more} more peer{plural}")]));
    }
    let widths = [
        Constraint::Length(21),
        Constraint::Length(16),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(6),
        Constraint::Min(10),
    ];
    let header = Row::new([
        "ADDRESS".to_string(),
        "CLIENT".into(),
        format!("{:>8}", "DOWN/s"),
        format!("{:>8}", "UP/s"),
        "PIECES".into(),
        "SENDING".into(),
    ])
    .style(Style::new().bold());
    frame.render_widget(
        Table::new(rows, widths).header(header).column_spacing(1),
        area,
    );
}

/// The map's characters: `cells` groups of pieces, as `Bitfield::map` marks them.
pub fn map_text(t: &TorrentRow, cells: usize) -> String {
    t.have
        .map(cells, &|i| t.in_flight.binary_search(&i).is_ok())
}

/// Lays out `items` in lines of at most `width` characters, two spaces
/// between items, so narrow panes keep every item whole.
pub fn pack<T: Clone>(items: &[(T, String)], width: usize) -> Vec<Vec<(T, String)>> {
    let mut lines: Vec<Vec<(T, String)>> = Vec::new();
    let mut used = 0;
    for item in items {
        let w = item.1.chars().count();
        match lines.last_mut() {
            Some(line) if used + 2 + w <= width => {
                line.push(item.clone());
                used += 2 + w;
            }
            _ => {
                lines.push(vec![item.clone()]);
                used = w;
            }
        }
    }
    lines
}

fn pieces(frame: &mut Frame, area: Rect, t: &TorrentRow) {
    let n = t.have.len();
    let width = area.width as usize;
    let legend: Vec<(Option<char>, String)> = LEGEND
        .iter()
        .map(|(c, what)| (Some(*c), format!("{c} {what}")))
        .collect();
    let legend = pack(&legend, width);
    // The map takes what the summary and legend leave; the summary's size
    // depends on the map's, so it is sized for the worst case first.
    let head_guess = 2 + legend.len() as u16;
    let map_rows = area.height.saturating_sub(head_guess) as usize;
    let cells = (width * map_rows).min(n);
    let per = if cells == 0 { 0 } else { n.div_ceil(cells) };
    let summary: [((), String); 2] = [
        (
            (),
            format!("{} of {} verified.", t.have.count(), count(n, "piece")),
        ),
        (
            (),
            if per <= 1 {
                "A mark is one piece.".to_string()
            } else {
                format!("A mark is up to {per} pieces.")
            },
        ),
    ];
    let mut head: Vec<Line> = pack(&summary, width)
        .into_iter()
        .map(|l| Line::from(l.into_iter().map(|(_, s)| s).collect::<Vec<_>>().join("  ")))
        .collect();
    for line in legend {
        let mut spans = Vec::new();
        for (i, (c, text)) in line.into_iter().enumerate() {
            if i > 0 {
                spans.push(Span::raw("  "));
            }
            let c = c.unwrap_or(' ');
            spans.push(Span::styled(c.to_string(), mark_style(c)));
            spans.push(Span::raw(text.chars().skip(1).collect::<String>()));
        }
        head.push(Line::from(spans));
    }
    let [head_area, map] =
        Layout::vertical([Constraint::Length(head.len() as u16), Constraint::Min(0)]).areas(area);
    frame.render_widget(Paragraph::new(head), head_area);
    let cells = (width * map.height as usize).min(n);
    if cells == 0 {
        return;
    }
    let text = map_text(t, cells);
    let chars: Vec<char> = text.chars().collect();
    let lines: Vec<Line> = chars
        .chunks(width)
        .map(|row| {
            Line::from(
                row.iter()
                    .map(|&c| Span::styled(c.to_string(), mark_style(c)))
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), map);
}

fn mark_style(c: char) -> Style {
    match c {
        '#' => Style::new().fg(Color::Green),
        '+' => Style::new().fg(Color::Cyan),
        '>' => Style::new().fg(Color::Yellow),
        _ => Style::new().fg(Color::DarkGray),
    }
}

fn files(frame: &mut Frame, area: Rect, t: &TorrentRow) {
    let rows = t.files.iter().map(|f| {
        let pct = if f.length == 0 {
            100.0
        } else {
            f.done as f64 * 100.0 / f.length as f64
        };
        Row::new(vec![
            clean(&f.path),
            format!("{:>8}", human(f.length)),
            format!("{:>4.0}%", pct.floor()),
        ])
    });
    let widths = [
        Constraint::Min(10),
        Constraint::Length(8),
        Constraint::Length(5),
    ];
    frame.render_widget(
        Table::new(rows, widths)
            .header(Row::new(["FILE", "SIZE", "DONE"]).style(Style::new().bold()))
            .column_spacing(1),
        area,
    );
}

fn sources(frame: &mut Frame, area: Rect, t: &TorrentRow) {
    let (dialled, inbound) = t.origins();
    let mut lines = vec![
        Line::from(format!(
            "{} known from trackers, the DHT, PEX and --connect{}",
            count(t.known_addrs, "address"),
            if t.banned_addrs > 0 {
                format!(", {} banned for bad data", t.banned_addrs)
            } else {
                String::new()
            }
        )),
        Line::from(format!(
            "connected: {dialled} we dialled, {inbound} dialled us"
        )),
        Line::from("verified data came from:"),
    ];
    if t.sources.is_empty() {
        lines.push(Line::from("  nobody yet"));
    }
    for (addr, bytes, origin) in &t.sources {
        lines.push(Line::from(format!(
            "  {:<22} {:>9}  from {origin}",
            clean(addr),
            human(*bytes)
        )));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::tui::snapshot::tests::{busy, row};
    use crate::peer::tui::snapshot::{FileRow, PeerRow};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    /// The pane alone, as text rows.
    fn pane(tab: DetailTab, t: &TorrentRow, w: u16, h: u16) -> Vec<String> {
        let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
        term.draw(|f| draw(f, f.area(), tab, Some(t))).unwrap();
        let buf = term.backend().buffer();
        (0..h)
            .map(|y| (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect())
            .collect()
    }

    fn downloading() -> TorrentRow {
        busy().torrents.swap_remove(0)
    }

    #[test]
    fn peers_show_address_client_rates_pieces_and_who_sends() {
        let mut t = downloading();
        t.peers = vec![PeerRow {
            addr: "10.1.2.3:51413".into(),
            client: "Transmission 4.0.4".into(),
            down_rate: 2_000,
            up_rate: 0,
            pieces_from: 12,
            we_send: false,
            it_sends: true,
            dialled: true,
        }];
        let lines = pane(DetailTab::Peers, &t, 80, 8);
        assert!(lines[0].contains("got5.mp4 (downloading)"), "{}", lines[0]);
        let r = lines.iter().find(|l| l.contains("10.1.2.3:51413")).unwrap();
        assert!(r.contains("Transmission 4"), "{r}");
        assert!(
            r.contains("2.0 kB") && r.contains("12") && r.contains("it sends to us"),
            "{r}"
        );
        t.peers.clear();
        let lines = pane(DetailTab::Peers, &t, 80, 8).join("\n");
        assert!(lines.contains("no peers connected yet"), "{lines}");
    }

    #[test]
    fn peers_that_do_not_fit_are_counted() {
        let mut t = downloading();
        let peer = |i: u32| PeerRow {
            addr: format!("10.0.0.{i}:6881"),
            client: "aria2 1.37.0".into(),
            down_rate: 0,
            up_rate: 0,
            pieces_from: 100 - i,
            we_send: false,
            it_sends: false,
            dialled: false,
        };
        t.peers = (1..=9).map(peer).collect();
        // 8 rows: borders 2, tabs 1, header 1, leaves 4: 3 peers and a count.
        let lines = pane(DetailTab::Peers, &t, 80, 8).join("\n");
        assert!(lines.contains("10.0.0.3:6881"), "{lines}");
        assert!(!lines.contains("10.0.0.4:6881"), "{lines}");
        assert!(lines.contains("and 6 more peers"), "{lines}");
        t.peers.truncate(4);
        let lines = pane(DetailTab::Peers, &t, 80, 8).join("\n");
        assert!(
            lines.contains("10.0.0.4:6881") && !lines.contains("more"),
            "{lines}"
        );
    }

    #[test]
    fn the_piece_map_fills_the_pane_and_its_legend_names_every_mark() {
        let mut t = downloading();
        t.in_flight = vec![10, 11];
        let lines = pane(DetailTab::Pieces, &t, 120, 10);
        let all = lines.join("\n");
        for (c, what) in LEGEND {
            assert!(all.contains(&format!("{c} {what}")), "{c} {what}\n{all}");
        }
        assert!(
            all.contains("10 of 40 pieces verified.  A mark is one piece."),
            "{all}"
        );
        // 40 pieces in a pane far wider: one row, 10 had, 2 in flight, 28 missing.
        assert!(
            all.contains(&format!("##########>>{}", "-".repeat(28))),
            "{all}"
        );
    }

    #[test]
    fn a_map_of_more_pieces_than_cells_groups_them_and_fills_every_row() {
        let t = row("big", State::Downloading, 10_000, &[0, 1, 2]);
        let lines = pane(DetailTab::Pieces, &t, 40, 10);
        let all = lines.join("\n");
        assert!(all.contains("3 of 10000 pieces"), "{all}");
        assert!(all.contains("A mark is up to 88 pieces."), "{all}");
        // 38 by 3 cells inside the border, under the tabs, the summary and the
        // legend, which take two lines each at this width.
        assert!(all.contains("│# verified  + partly verified"), "{all}");
        assert!(all.contains("│> being fetched  - missing"), "{all}");
        let map: Vec<&String> = lines.iter().filter(|l| l.contains("----")).collect();
        assert_eq!(map.len(), 3, "{all}");
        assert!(
            map[0].starts_with("│+---"),
            "a partly verified group: {all}"
        );
    }

    #[test]
    fn packing_keeps_items_whole_and_fills_lines_greedily() {
        let items: Vec<((), String)> = ["aaaa", "bb", "cccccc", "d"]
            .iter()
            .map(|s| ((), s.to_string()))
            .collect();
        let lines: Vec<Vec<String>> = pack(&items, 8)
            .into_iter()
            .map(|l| l.into_iter().map(|(_, s)| s).collect())
            .collect();
        assert_eq!(lines, [vec!["aaaa", "bb"], vec!["cccccc"], vec!["d"]]);
    }

    #[test]
    fn files_show_their_verified_share() {
        let mut t = downloading();
        t.files = vec![FileRow {
            path: "dir/a.bin".into(),
            length: 2_000,
            done: 500,
        }];
        let lines = pane(DetailTab::Files, &t, 80, 8);
        let r = lines.iter().find(|l| l.contains("dir/a.bin")).unwrap();
        assert!(r.contains("2.0 kB") && r.contains("25%"), "{r}");
    }

    #[test]
    fn sources_say_where_peers_came_from() {
        let mut t = downloading();
        t.known_addrs = 3;
        t.sources = vec![("1.2.3.4:5".into(), 4_000, "pex")];
        let lines = pane(DetailTab::Sources, &t, 80, 10).join("\n");
        assert!(lines.contains("3 addresses known from trackers"), "{lines}");
        assert!(
            lines.contains("connected: 0 we dialled, 0 dialled us"),
            "{lines}"
        );
        assert!(
            lines.contains("1.2.3.4:5") && lines.contains("4.0 kB") && lines.contains("from pex"),
            "{lines}"
        );
    }

    #[test]
    fn a_checking_download_says_so() {
        let t = TorrentRow::checking("k".into(), "c".into());
        let lines = pane(DetailTab::Pieces, &t, 80, 6).join("\n");
        assert!(
            lines.contains("checking the pieces already on disk"),
            "{lines}"
        );
    }
}
