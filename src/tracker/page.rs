//! The tracker's browsable index page: published torrents with their sizes,
//! dates and swarms, totals, a search box, sortable columns (links with
//! `?sort=`, so no script is needed), and a `.torrent` and a magnet link each.

use super::registry::SwarmCounts;
use super::search_index::Entry;
use crate::common::http::percent_encode;
use crate::common::magnet::Magnet;
use crate::common::units::{human_size, utc_date};

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A column the table can be sorted by, as `?sort=` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    Name,
    Size,
    Published,
    Seeders,
    Leechers,
    Completed,
}

impl SortBy {
    const ALL: [(SortBy, &'static str, &'static str); 6] = [
        (SortBy::Name, "name", "Name"),
        (SortBy::Size, "size", "Size"),
        (SortBy::Published, "date", "Published"),
        (SortBy::Seeders, "seeders", "Seeders"),
        (SortBy::Leechers, "leechers", "Leechers"),
        (SortBy::Completed, "completed", "Completed"),
    ];

    /// The column `?sort=` names; by name when it names none.
    pub fn parse(s: &str) -> SortBy {
        Self::ALL
            .iter()
            .find(|(_, key, _)| *key == s)
            .map_or(SortBy::Name, |(by, _, _)| *by)
    }

    fn key(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(b, _, _)| *b == self)
            .expect("listed")
            .1
    }

    /// Names go A to Z; numbers and dates largest (newest) first.
    fn sort(self, rows: &mut [(&Entry, SwarmCounts)]) {
        match self {
            SortBy::Name => rows.sort_by_key(|(e, _)| e.file_name.to_lowercase()),
            SortBy::Size => rows.sort_by_key(|(e, _)| std::cmp::Reverse(e.size)),
            SortBy::Published => rows.sort_by_key(|(e, _)| std::cmp::Reverse(e.published_unix)),
            SortBy::Seeders => rows.sort_by_key(|(_, c)| std::cmp::Reverse(c.complete)),
            SortBy::Leechers => rows.sort_by_key(|(_, c)| std::cmp::Reverse(c.incomplete)),
            SortBy::Completed => rows.sort_by_key(|(_, c)| std::cmp::Reverse(c.downloaded)),
        }
    }
}

/// A magnet link (BEP 9) for a torrent, with our announce URL if known.
pub fn magnet(e: &Entry, announce: Option<&str>) -> String {
    Magnet {
        info_hash: e.key,
        info_hash_v2: e.v2,
        name: Some(e.file_name.clone()),
        trackers: announce.into_iter().map(str::to_owned).collect(),
        peers: Vec::new(),
    }
    .to_uri()
}

/// What the page shows besides the rows.
pub struct PageContext<'a> {
    pub query: &'a str,
    pub sort: SortBy,
    /// Torrents published in all, matched or not.
    pub total: usize,
    /// This tracker's announce URL as the browser reaches it, for magnet links.
    pub announce: Option<&'a str>,
}

pub fn render(ctx: &PageContext, rows: &[(&Entry, SwarmCounts)]) -> String {
    let mut rows = rows.to_vec();
    ctx.sort.sort(&mut rows);
    let mut html = String::from(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>swarmshare tracker</title>\
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}td.n,th.n{text-align:right}th a{color:inherit}th.sorted a{text-decoration:none}</style>\
</head><body>\n<h1>swarmshare tracker</h1>\n",
    );
    html.push_str(&format!(
        "<form method=\"get\" action=\"/\"><input type=\"search\" name=\"q\" value=\"{}\" placeholder=\"keywords\"> <input type=\"hidden\" name=\"sort\" value=\"{}\"><button>Search</button></form>\n",
        escape(ctx.query),
        ctx.sort.key()
    ));
    let seeders: u64 = rows.iter().map(|(_, c)| c.complete as u64).sum();
    let leechers: u64 = rows.iter().map(|(_, c)| c.incomplete as u64).sum();
    let completed: u64 = rows.iter().map(|(_, c)| c.downloaded as u64).sum();
    let torrents = |n: usize| if n == 1 { "torrent" } else { "torrents" };
    let peers = seeders + leechers;
    html.push_str(&format!(
        "<p class=\"totals\">{} of {} published {} &middot; {} {} ({seeders} seeding, {leechers} downloading) &middot; {completed} completed {}</p>\n",
        rows.len(),
        ctx.total,
        torrents(ctx.total),
        peers,
        if peers == 1 { "peer" } else { "peers" },
        if completed == 1 {
            "download"
        } else {
            "downloads"
        },
    ));
    if rows.is_empty() {
        let line = if ctx.total == 0 {
            "No torrents are published yet.".to_owned()
        } else {
            format!(
                "No results for \u{201c}{}\u{201d}: try fewer or shorter words.",
                escape(ctx.query)
            )
        };
        html.push_str(&format!("<p class=\"empty\">{line}</p>\n"));
        html.push_str("</body></html>\n");
        return html;
    }
    html.push_str("<table>\n<tr>");
    let header = |by: SortBy, label: &str, numeric: bool| {
        let class = match (numeric, by == ctx.sort) {
            (true, true) => " class=\"n sorted\"",
            (true, false) => " class=\"n\"",
            (false, true) => " class=\"sorted\"",
            (false, false) => "",
        };
        format!(
            "<th{class}><a href=\"/?q={}&amp;sort={}\">{label}</a></th>",
            escape(&percent_encode(ctx.query.as_bytes())),
            by.key()
        )
    };
    html.push_str(&header(SortBy::Name, "Name", false));
    html.push_str("<th>Type</th>");
    html.push_str(&header(SortBy::Size, "Size", true));
    html.push_str("<th class=\"n\">Parts</th>");
    html.push_str(&header(SortBy::Published, "Published", false));
    html.push_str(&header(SortBy::Seeders, "Seeders", true));
    html.push_str(&header(SortBy::Leechers, "Leechers", true));
    html.push_str(&header(SortBy::Completed, "Completed", true));
    html.push_str("<th>Get</th></tr>\n");
    for (e, c) in &rows {
        html.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td class=\"n\" title=\"{} bytes\">{}</td><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td><a href=\"/torrent/{}\">{}</a> &middot; <a href=\"{}\">magnet</a></td></tr>\n",
            escape(&e.name),
            escape(&e.kind),
            e.size,
            human_size(e.size),
            e.n_parts,
            e.published_unix.map_or("-".to_owned(), utc_date),
            c.complete,
            c.incomplete,
            c.downloaded,
            e.key_text(),
            escape(&e.torrent),
            escape(&magnet(e, ctx.announce)),
        ));
    }
    html.push_str("</table>\n</body></html>\n");
    html
}

/// `Content-Disposition` for a torrent download: the file name, made safe for
/// the quoted form, and exact in the RFC 6266 `filename*` form.
pub fn torrent_disposition(name: &str) -> String {
    let file = format!("{name}.torrent");
    let plain: String = file
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "attachment; filename=\"{plain}\"; filename*=UTF-8''{}",
        percent_encode(file.as_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::metainfo::InfoHash;

    fn entry(file: &str, size: u64, key: u8, published: Option<u64>) -> Entry {
        let m = crate::common::metainfo::tiny_for_tests(file, None);
        let mut e = Entry::new(&m, format!("{file}.torrent"));
        e.key = InfoHash([key; 20]);
        e.size = size;
        e.published_unix = published;
        e
    }

    fn counts(complete: u32, incomplete: u32, downloaded: u32) -> SwarmCounts {
        SwarmCounts {
            complete,
            incomplete,
            downloaded,
        }
    }

    fn ctx<'a>(query: &'a str, sort: SortBy, total: usize) -> PageContext<'a> {
        PageContext {
            query,
            sort,
            total,
            announce: Some("http://t.example:6969/announce"),
        }
    }

    #[test]
    fn rows_show_human_sizes_dates_counts_and_a_magnet_link() {
        let a = entry("got5.mp4", 209_715_200, 0xab, Some(1_798_761_600));
        let html = render(&ctx("", SortBy::Name, 1), &[(&a, counts(2, 1, 7))]);
        assert!(html.contains(">209.7 MB<"), "{html}");
        assert!(html.contains("title=\"209715200 bytes\""), "{html}");
        assert!(html.contains("<td>2027-01-01</td>"), "{html}");
        assert!(html.contains("<td class=\"n\">7</td>"), "{html}");
        let hex = "ab".repeat(20);
        assert!(
            html.contains(&format!(
                "magnet:?xt=urn:btih:{hex}&amp;dn=got5.mp4&amp;tr=http%3A%2F%2Ft.example%3A6969%2Fannounce"
            )),
            "{html}"
        );
        assert!(
            html.contains("1 of 1 published torrent &middot; 3 peers (2 seeding, 1 downloading) &middot; 7 completed downloads"),
            "{html}"
        );
    }

    #[test]
    fn magnet_names_are_percent_encoded() {
        let e = entry("a b&c.txt", 1, 1, None);
        assert_eq!(
            magnet(&e, None),
            format!("magnet:?xt=urn:btih:{}&dn=a%20b%26c.txt", "01".repeat(20))
        );
    }

    #[test]
    fn columns_sort_by_the_link_chosen() {
        let small = entry("b-small.bin", 10, 1, Some(200));
        let big = entry("a-big.bin", 1000, 2, Some(100));
        let rows = [(&small, counts(0, 5, 0)), (&big, counts(3, 0, 9))];
        let order = |sort: &str| {
            let html = render(&ctx("", SortBy::parse(sort), 2), &rows);
            let a = html.find("a-big").unwrap();
            let b = html.find("b-small").unwrap();
            if a < b { "big first" } else { "small first" }
        };
        assert_eq!(order("name"), "big first");
        assert_eq!(order("size"), "big first");
        assert_eq!(order("date"), "small first");
        assert_eq!(order("seeders"), "big first");
        assert_eq!(order("leechers"), "small first");
        assert_eq!(order("completed"), "big first");
        assert_eq!(order("nonsense"), "big first");
        let html = render(&ctx("x y", SortBy::Size, 2), &rows);
        assert!(
            html.contains("<a href=\"/?q=x%20y&amp;sort=leechers\">Leechers</a>"),
            "{html}"
        );
        assert!(
            html.contains("<th class=\"n sorted\"><a href=\"/?q=x%20y&amp;sort=size\">"),
            "{html}"
        );
    }

    #[test]
    fn an_empty_table_says_why() {
        let none = render(&ctx("zzz", SortBy::Name, 3), &[]);
        assert!(
            none.contains("No results for \u{201c}zzz\u{201d}"),
            "{none}"
        );
        assert!(!none.contains("<table>"));
        let nothing = render(&ctx("", SortBy::Name, 0), &[]);
        assert!(
            nothing.contains("No torrents are published yet."),
            "{nothing}"
        );
    }

    #[test]
    fn the_disposition_names_the_file_safely() {
        assert_eq!(
            torrent_disposition("got5.mp4"),
            "attachment; filename=\"got5.mp4.torrent\"; filename*=UTF-8''got5.mp4.torrent"
        );
        assert_eq!(
            torrent_disposition("a \"q\" é"),
            "attachment; filename=\"a _q_ _.torrent\"; filename*=UTF-8''a%20%22q%22%20%C3%A9.torrent"
        );
    }
}
