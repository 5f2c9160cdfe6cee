//! The tracker's browsable index page: published torrents, a search box, and links.

use super::registry::SwarmCounts;
use super::search_index::Entry;
use crate::common::metainfo::group_thousands;

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

pub fn render(query: &str, rows: &[(&Entry, SwarmCounts)], total: usize) -> String {
    let mut html = String::from(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>swarmshare tracker</title>\
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}td.n{text-align:right}</style>\
</head><body>\n<h1>swarmshare tracker</h1>\n",
    );
    html.push_str(&format!(
        "<form method=\"get\" action=\"/\"><input type=\"search\" name=\"q\" value=\"{}\" placeholder=\"keywords\"> <button>Search</button></form>\n",
        escape(query)
    ));
    html.push_str(&format!(
        "<p>{} of {} published torrents</p>\n",
        rows.len(),
        total
    ));
    html.push_str("<table>\n<tr><th>Name</th><th>Type</th><th>Size</th><th>Parts</th><th>Seeders</th><th>Leechers</th><th>Torrent</th></tr>\n");
    for (e, c) in rows {
        html.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td><a href=\"/torrent/{}\">{}</a></td></tr>\n",
            escape(&e.name),
            escape(&e.kind),
            group_thousands(e.size),
            e.n_parts,
            c.complete,
            c.incomplete,
            e.key.hex(),
            escape(&e.torrent)
        ));
    }
    html.push_str("</table>\n</body></html>\n");
    html
}
