//! Two rules of the code's shape, checked by reading the source tree:
//! - the pure layer (`src/common/` and the pure cores listed below) does no I/O:
//!   no socket, file, thread, lock, process or clock;
//! - no import cycle between the files of `src/`.
//!
//! Both read code with comments and the contents of string and character
//! literals blanked out, so prose about `std::fs` is not a use of it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

/// Pure cores outside `src/common/`: they take events and the time, and return
/// what to do. Every entry must exist, so a rename cannot silently drop a check.
const PURE_CORE_FILES: &[&str] = &[
    "src/peer/piece_picker.rs",
    "src/peer/choker.rs",
    "src/peer/super_seed.rs",
    "src/peer/torrent_core.rs",
    "src/peer/torrent_core/tests.rs",
    "src/peer/torrent_core/repair.rs",
    // BEP 52: which block of a failed v2 piece lied, and the hashes we answer with.
    "src/peer/block_repair.rs",
    "src/peer/hash_answer.rs",
    "src/peer/piece_layer_fetch.rs",
    // Not its tests: an `Instant` can only be had from the clock, so they
    // take one reading and move time by hand from there.
    "src/peer/session.rs",
    "src/peer/outgoing.rs",
    "src/peer/peer_stats.rs",
    "src/peer/extensions/mod.rs",
    "src/peer/extensions/ut_metadata.rs",
    "src/peer/extensions/ut_pex.rs",
    // When to announce, and to which of a torrent's trackers (the rng is passed in).
    "src/peer/announce_schedule.rs",
    "src/peer/tracker_tiers.rs",
    // Every line and table the peer prints, as text; the caller writes it.
    "src/peer/format.rs",
    "src/tracker/registry.rs",
    "src/tracker/search_index.rs",
    // The tracker's routes over its swarms and index; the server does the I/O.
    "src/tracker/state.rs",
    // The UDP tracker's decisions: ids, the flood guard, and datagram in, answer out.
    "src/tracker/connection_ids.rs",
    "src/tracker/flood_guard.rs",
    "src/tracker/udp_endpoint.rs",
    // The full-screen view: its state and drawing; `shell` and `reader` are not pure.
    "src/peer/tui/app.rs",
    "src/peer/tui/detail.rs",
    "src/peer/tui/rate_history.rs",
    "src/peer/tui/render.rs",
    "src/peer/tui/snapshot.rs",
    "src/peer/tui/text.rs",
];

/// Folders every file of which must be pure.
const PURE_DIRS: &[&str] = &["src/common"];

/// Text that means I/O, threads, locks or the clock wherever it appears in code.
const FORBIDDEN_TEXT: &[&str] = &[
    "std::net",
    "std::fs",
    "std::thread",
    "std::process",
    "std::sync::Mutex",
    "std::sync::RwLock",
    "TcpStream",
    "UdpSocket",
    "Instant::now",
    "SystemTime::now",
    ".elapsed()",
];

/// The same, as import paths: `use std::{fs, sync::Mutex}` names them without the text.
const FORBIDDEN_PATHS: &[&str] = &[
    "std::net",
    "std::fs",
    "std::thread",
    "std::process",
    "std::sync::Mutex",
    "std::sync::RwLock",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, as paths relative to the crate root with `/`.
fn rust_files(dir: &str) -> Vec<String> {
    fn walk(base: &Path, rel: &Path, out: &mut Vec<String>) {
        let mut entries: Vec<_> = std::fs::read_dir(base.join(rel))
            .unwrap_or_else(|e| panic!("reading {}: {e}", rel.display()))
            .map(|e| e.unwrap())
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let r = rel.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                walk(base, &r, out);
            } else if r.extension().is_some_and(|x| x == "rs") {
                out.push(r.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(&root(), Path::new(dir), &mut out);
    out
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
}

// ---------------------------------------------------------------- lexing

/// The source with comments (doc comments included) and the contents of string
/// and character literals replaced by spaces; newlines stay, so lines keep their numbers.
fn code_only(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |out: &mut String, ch: char| out.push(if ch == '\n' { '\n' } else { ' ' });
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut i = 0;
    while i < c.len() {
        let at = |k: usize| c.get(k).copied().unwrap_or('\0');
        if c[i] == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                blank(&mut out, c[i]);
                i += 1;
            }
        } else if c[i] == '/' && at(i + 1) == '*' {
            // Block comments nest in Rust.
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if c[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
        } else if (c[i] == 'r' || (c[i] == 'b' && at(i + 1) == 'r'))
            && (i == 0 || !ident(c[i - 1]))
            && {
                let mut k = i + if c[i] == 'b' { 2 } else { 1 };
                while at(k) == '#' {
                    k += 1;
                }
                at(k) == '"'
            }
        {
            // A raw string: r"..", r#".."#, br"..".
            while c[i] != '"' {
                out.push(c[i]);
                i += 1;
            }
            let hashes = {
                let mut k = i;
                while k > 0 && c[k - 1] == '#' {
                    k -= 1;
                }
                i - k
            };
            out.push('"');
            i += 1;
            while i < c.len() {
                if c[i] == '"' && (1..=hashes).all(|h| at(i + h) == '#') {
                    out.push('"');
                    out.extend(std::iter::repeat_n('#', hashes));
                    i += 1 + hashes;
                    break;
                }
                blank(&mut out, c[i]);
                i += 1;
            }
        } else if c[i] == '"' {
            out.push('"');
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    blank(&mut out, c[i]);
                    i += 1;
                }
                if i < c.len() {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
            out.push('"');
            i += 1;
        } else if c[i] == '\'' && (at(i + 1) == '\\' || at(i + 2) == '\'') {
            // A character literal; otherwise the quote starts a lifetime.
            out.push('\'');
            i += 1;
            while i < c.len() && c[i] != '\'' {
                if c[i] == '\\' {
                    blank(&mut out, c[i]);
                    i += 1;
                }
                blank(&mut out, c[i]);
                i += 1;
            }
            out.push('\'');
            i += 1;
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq)]
struct Token {
    text: String,
    line: usize,
}

/// Identifiers and the punctuation paths are made of; `::` is one token.
fn tokens(code: &str) -> Vec<Token> {
    let mut out = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let c: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < c.len() {
            let start = i;
            if c[i].is_alphanumeric() || c[i] == '_' {
                while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                    i += 1;
                }
            } else if c[i] == ':' && c.get(i + 1) == Some(&':') {
                i += 2;
            } else if c[i].is_whitespace() {
                i += 1;
                continue;
            } else {
                i += 1;
            }
            out.push(Token {
                text: c[start..i].iter().collect(),
                line: n + 1,
            });
        }
    }
    out
}

/// The full paths a `use` tree names: `a::{b, c::{self, d as e}}` gives
/// `a::b`, `a::c`, `a::c::d`; a glob gives its module.
fn expand_use(toks: &[&str]) -> Vec<Vec<String>> {
    fn tree(t: &[&str], i: &mut usize, mut prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
        let finish = |mut p: Vec<String>, out: &mut Vec<Vec<String>>| {
            if p.len() > 1 && p.last().is_some_and(|s| s == "self") {
                p.pop();
            }
            if !p.is_empty() {
                out.push(p);
            }
        };
        while *i < t.len() {
            match t[*i] {
                "::" => *i += 1,
                "{" => {
                    *i += 1;
                    while *i < t.len() && t[*i] != "}" {
                        tree(t, i, prefix.clone(), out);
                        if *i < t.len() && t[*i] == "," {
                            *i += 1;
                        }
                    }
                    *i += 1;
                    return;
                }
                "*" => {
                    *i += 1;
                    return finish(prefix, out);
                }
                "," | "}" => return finish(prefix, out),
                seg => {
                    prefix.push(seg.to_owned());
                    *i += 1;
                    if t.get(*i) == Some(&"as") {
                        *i += 2;
                    }
                    if t.get(*i) != Some(&"::") {
                        return finish(prefix, out);
                    }
                }
            }
        }
        finish(prefix, out)
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        tree(toks, &mut i, Vec::new(), &mut out);
        // A stray separator between trees (there is none in valid code).
        if i < toks.len() && matches!(toks[i], "," | "}") {
            i += 1;
        }
    }
    out
}

/// A path named in a file: where, whether by `use`, and from inside which inline modules.
#[derive(Debug, Clone, PartialEq)]
struct NamedPath {
    line: usize,
    segments: Vec<String>,
    /// Inline `mod x { .. }` blocks the path sits in, outermost first.
    inline: Vec<String>,
    by_use: bool,
}

/// Every path a file names through `use`, and every `crate::`, `super::` or
/// `self::` path in its code.
fn named_paths(code: &str) -> Vec<NamedPath> {
    let t = tokens(code);
    let mut out = Vec::new();
    let mut depth = 0usize;
    // (name, depth inside its braces)
    let mut mods: Vec<(String, usize)> = Vec::new();
    let inline = |mods: &[(String, usize)]| mods.iter().map(|m| m.0.clone()).collect::<Vec<_>>();
    let mut i = 0;
    while i < t.len() {
        let prev = if i > 0 { t[i - 1].text.as_str() } else { "" };
        match t[i].text.as_str() {
            "{" => depth += 1,
            "}" => {
                depth = depth.saturating_sub(1);
                while mods.last().is_some_and(|m| m.1 > depth) {
                    mods.pop();
                }
            }
            "mod" if t.get(i + 2).is_some_and(|x| x.text == "{") => {
                mods.push((t[i + 1].text.clone(), depth + 1));
                depth += 1;
                i += 3;
                continue;
            }
            "use" if prev != "::" => {
                let end = (i..t.len()).find(|&k| t[k].text == ";").unwrap_or(t.len());
                let toks: Vec<&str> = t[i + 1..end].iter().map(|x| x.text.as_str()).collect();
                for segments in expand_use(&toks) {
                    out.push(NamedPath {
                        line: t[i].line,
                        segments,
                        inline: inline(&mods),
                        by_use: true,
                    });
                }
                i = end + 1;
                continue;
            }
            "crate" | "super" | "self"
                if prev != "::" && prev != "$" && t.get(i + 1).is_some_and(|x| x.text == "::") =>
            {
                let mut segments = vec![t[i].text.clone()];
                let mut k = i + 1;
                while k + 1 < t.len()
                    && t[k].text == "::"
                    && t[k + 1]
                        .text
                        .chars()
                        .all(|c| c.is_alphanumeric() || c == '_')
                {
                    segments.push(t[k + 1].text.clone());
                    k += 2;
                }
                out.push(NamedPath {
                    line: t[i].line,
                    segments,
                    inline: inline(&mods),
                    by_use: false,
                });
                i = k;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

// ---------------------------------------------------------------- purity

/// Each forbidden thing in `src`, as `line: text`.
fn impurities(src: &str) -> Vec<(usize, String)> {
    let code = code_only(src);
    let mut found = Vec::new();
    for (n, line) in code.lines().enumerate() {
        for f in FORBIDDEN_TEXT {
            if line.contains(f) {
                found.push((n + 1, f.to_string()));
            }
        }
    }
    for p in named_paths(&code).into_iter().filter(|p| p.by_use) {
        let path = p.segments.join("::");
        for f in FORBIDDEN_PATHS {
            if (path == *f || path.starts_with(&format!("{f}::")))
                && !found.iter().any(|(l, t)| *l == p.line && t == f)
            {
                found.push((p.line, format!("{f} (as `use {path}`)")));
            }
        }
    }
    found.sort();
    found
}

#[test]
fn pure_layer_does_no_io() {
    let mut files = Vec::new();
    for dir in PURE_DIRS {
        files.extend(rust_files(dir));
    }
    for f in PURE_CORE_FILES {
        assert!(
            root().join(f).is_file(),
            "{f} is listed as a pure core but does not exist: update PURE_CORE_FILES"
        );
        files.push(f.to_string());
    }
    let mut bad = Vec::new();
    for f in &files {
        for (line, what) in impurities(&read(f)) {
            bad.push(format!("{f}:{line}: {what}"));
        }
    }
    assert!(
        bad.is_empty(),
        "the pure layer must do no I/O (no socket, file, thread, lock, process or clock; \
         time is passed in), but:\n  {}",
        bad.join("\n  ")
    );
}

// ---------------------------------------------------------------- cycles

/// The module path of a library file: `src/peer/engine.rs` is `peer::engine`,
/// `src/peer/mod.rs` is `peer`, `src/lib.rs` is the crate root.
fn module_of(file: &str) -> Vec<String> {
    let rel = file.strip_prefix("src/").unwrap_or(file);
    let rel = rel.strip_suffix(".rs").unwrap_or(rel);
    let mut segs: Vec<String> = rel.split('/').map(str::to_owned).collect();
    if segs.last().is_some_and(|s| s == "mod" || s == "lib") {
        segs.pop();
    }
    segs
}

/// The file a path leads to: the deepest prefix of it that is a file's module.
/// None for a path outside the crate (`std::..`, another crate, a bare name).
fn resolve(
    modules: &BTreeMap<Vec<String>, String>,
    file: &str,
    inline: &[String],
    segments: &[String],
) -> Option<String> {
    let mut here = module_of(file);
    here.extend(inline.iter().cloned());
    let (mut full, rest) = match segments.first().map(String::as_str) {
        Some("crate") => (Vec::new(), &segments[1..]),
        Some("self") => (here, &segments[1..]),
        Some("super") => {
            let supers = segments.iter().take_while(|s| *s == "super").count();
            for _ in 0..supers {
                here.pop();
            }
            (here, &segments[supers..])
        }
        _ => return None,
    };
    full.extend(rest.iter().cloned());
    (0..=full.len())
        .rev()
        .find_map(|k| modules.get(&full[..k]).cloned())
}

/// Edges between library files, each with one place that makes it.
fn import_graph(files: &[(String, String)]) -> BTreeMap<String, BTreeMap<String, usize>> {
    let modules: BTreeMap<Vec<String>, String> = files
        .iter()
        .map(|(f, _)| (module_of(f), f.clone()))
        .collect();
    let mut graph: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for (file, src) in files {
        let edges = graph.entry(file.clone()).or_default();
        for p in named_paths(&code_only(src)) {
            if let Some(to) = resolve(&modules, file, &p.inline, &p.segments)
                && to != *file
            {
                edges.entry(to).or_insert(p.line);
            }
        }
    }
    graph
}

/// A group of files that all reach each other, and one shortest cycle through
/// the group's first file, as `[a, b, a]`.
#[derive(Debug, PartialEq)]
struct Cycle {
    path: Vec<String>,
    group: Vec<String>,
}

fn cycles(graph: &BTreeMap<String, BTreeMap<String, usize>>) -> Vec<Cycle> {
    // Tarjan's strongly connected components.
    struct State<'a> {
        graph: &'a BTreeMap<String, BTreeMap<String, usize>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        groups: Vec<Vec<&'a str>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flat_map(|e| e.keys()) {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut group = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                group.push(w);
                if w == v {
                    break;
                }
            }
            s.groups.push(group);
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        groups: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    let mut out = Vec::new();
    for group in s.groups.into_iter().filter(|g| g.len() > 1) {
        let members: BTreeSet<&str> = group.into_iter().collect();
        let start = *members.iter().next().unwrap();
        // Breadth-first from `start` back to it, inside the group.
        let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = VecDeque::from([start]);
        'search: while let Some(v) = queue.pop_front() {
            for w in graph[v].keys().map(String::as_str) {
                if !members.contains(w) {
                    continue;
                }
                if w == start {
                    let mut path = vec![start.to_owned(), v.to_owned()];
                    let mut at = v;
                    while at != start {
                        at = came_from[at];
                        path.push(at.to_owned());
                    }
                    path.reverse();
                    out.push(Cycle {
                        path,
                        group: members.iter().map(|m| m.to_string()).collect(),
                    });
                    break 'search;
                }
                if w != start && !came_from.contains_key(w) {
                    came_from.insert(w, v);
                    queue.push_back(w);
                }
            }
        }
    }
    out
}

#[test]
fn no_import_cycle_between_files() {
    // The binaries are crates of their own: they reach the library by its name, never by `crate::`.
    let files: Vec<(String, String)> = rust_files("src")
        .into_iter()
        .filter(|f| !f.starts_with("src/bin/"))
        .map(|f| {
            let src = read(&f);
            (f, src)
        })
        .collect();
    let graph = import_graph(&files);
    let found = cycles(&graph);
    let shown: Vec<String> = found
        .iter()
        .map(|c| {
            let hops: Vec<String> = c
                .path
                .windows(2)
                .map(|w| format!("{}:{} uses {}", w[0], graph[&w[0]][&w[1]], w[1]))
                .collect();
            let mut shown = format!("{}\n      ({})", c.path.join(" -> "), hops.join("; "));
            if c.group.len() + 1 > c.path.len() {
                shown += &format!(
                    "\n      (all of these reach each other: {})",
                    c.group.join(", ")
                );
            }
            shown
        })
        .collect();
    assert!(
        found.is_empty(),
        "import cycles between files of src/ (a `use` or path naming crate::a::b or \
         super::x is an edge to that file):\n  {}",
        shown.join("\n  ")
    );
}

// ---------------------------------------------------------------- the checks' own tests

#[cfg(test)]
mod parser {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn comments_and_literals_are_blanked_and_lines_kept() {
        let src = "let u = \"http://x\"; use std::fs; // std::net\n/* a /* nested */ std::thread */ x\n/// Instant::now\nlet c = '\"'; let l: &'a str = r#\"std::fs\"#;";
        let code = code_only(src);
        assert_eq!(code.lines().count(), src.lines().count());
        assert!(code.contains("use std::fs;"), "{code}");
        for gone in [
            "http",
            "std::net",
            "std::thread",
            "nested",
            "Instant",
            "\"std::fs",
        ] {
            assert!(!code.contains(gone), "{gone} in {code}");
        }
        assert!(code.contains("&'a str"), "{code}");
        assert!(code.lines().nth(1).unwrap().trim_end().ends_with('x'));
    }

    #[test]
    fn grouped_uses_expand_to_full_paths() {
        let toks: Vec<String> = tokens("std::{fs, sync::{Arc, Mutex as M}, io::{self, Read}}")
            .into_iter()
            .map(|t| t.text)
            .collect();
        let toks: Vec<&str> = toks.iter().map(String::as_str).collect();
        let paths: Vec<String> = expand_use(&toks).iter().map(|p| p.join("::")).collect();
        assert_eq!(
            paths,
            [
                "std::fs",
                "std::sync::Arc",
                "std::sync::Mutex",
                "std::io",
                "std::io::Read"
            ]
        );
    }

    #[test]
    fn impurities_are_found_in_code_only() {
        let src = "//! std::fs in prose\nuse std::{\n    fs,\n    sync::{Arc, RwLock},\n};\nuse core::net::SocketAddr;\nfn f() { let t = Instant::now(); x.elapsed(); }\nconst S: &str = \"TcpStream\";\n";
        let found: Vec<String> = impurities(src)
            .iter()
            .map(|(l, w)| format!("{l}: {w}"))
            .collect();
        assert_eq!(
            found,
            [
                "2: std::fs (as `use std::fs`)",
                "2: std::sync::RwLock (as `use std::sync::RwLock`)",
                "7: .elapsed()",
                "7: Instant::now",
            ]
        );
    }

    #[test]
    fn paths_resolve_to_the_deepest_file() {
        let modules: BTreeMap<Vec<String>, String> = [
            "src/lib.rs",
            "src/peer/mod.rs",
            "src/peer/torrent.rs",
            "src/peer/engine.rs",
            "src/peer/connection.rs",
            "src/common/mod.rs",
            "src/common/wire.rs",
        ]
        .iter()
        .map(|f| (module_of(f), f.to_string()))
        .collect();
        let r = |file: &str, inline: &[&str], path: &[&str]| {
            resolve(&modules, file, &s(inline), &s(path))
        };
        let conn = "src/peer/connection.rs";
        assert_eq!(
            r(conn, &[], &["crate", "peer", "torrent", "Outgoing"]).as_deref(),
            Some("src/peer/torrent.rs")
        );
        assert_eq!(
            r(conn, &[], &["super", "engine", "Engine"]).as_deref(),
            Some("src/peer/engine.rs")
        );
        assert_eq!(
            r(conn, &[], &["super", "PeerError"]).as_deref(),
            Some("src/peer/mod.rs")
        );
        assert_eq!(
            r(conn, &[], &["super", "super", "common", "wire", "Message"]).as_deref(),
            Some("src/common/wire.rs")
        );
        // `super` in a file's test module is the file itself.
        assert_eq!(r(conn, &["tests"], &["super", "x"]).as_deref(), Some(conn));
        assert_eq!(
            r("src/peer/mod.rs", &[], &["self", "engine", "Engine"]).as_deref(),
            Some("src/peer/engine.rs")
        );
        assert_eq!(r(conn, &[], &["std", "fs"]), None);
    }

    #[test]
    fn graph_takes_uses_and_paths_and_finds_cycles() {
        let files = [
            (
                "src/peer/connection.rs",
                "use super::{engine::Engine, torrent};\nfn f() { crate::common::wire::x(); }\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
            ),
            ("src/peer/engine.rs", "pub(crate) fn g() { super::connection::run(); }\n"),
            ("src/peer/torrent.rs", "// use super::engine;\nlet s = \"super::engine\";\n"),
            ("src/peer/mod.rs", "pub mod connection;\npub mod engine;\npub mod torrent;\n"),
            ("src/common/wire.rs", ""),
            ("src/lib.rs", "pub mod common;\npub mod peer;\n"),
        ]
        .map(|(f, s)| (f.to_string(), s.to_string()));
        let g = import_graph(&files);
        let edges = |f: &str| g[f].keys().cloned().collect::<Vec<_>>();
        assert_eq!(
            edges("src/peer/connection.rs"),
            [
                "src/common/wire.rs",
                "src/peer/engine.rs",
                "src/peer/torrent.rs"
            ]
        );
        assert_eq!(g["src/peer/connection.rs"]["src/common/wire.rs"], 2);
        assert_eq!(edges("src/peer/torrent.rs"), Vec::<String>::new());
        assert!(edges("src/peer/mod.rs").is_empty());
        let found = cycles(&g);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].path,
            s(&[
                "src/peer/connection.rs",
                "src/peer/engine.rs",
                "src/peer/connection.rs"
            ])
        );
        assert_eq!(
            found[0].group,
            s(&["src/peer/connection.rs", "src/peer/engine.rs"])
        );
        let mut acyclic = g.clone();
        acyclic.get_mut("src/peer/engine.rs").unwrap().clear();
        assert!(cycles(&acyclic).is_empty());
    }
}
