//! The keyword index behind `search_content.txt`: one entry per published torrent.
//! Pure: the tracker's store reads and writes the file; this decides what it says.

use std::collections::{HashMap, HashSet};

use crate::common::merkle::Hash32;
use crate::common::metainfo::{InfoHash, Metainfo};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// What peers announce it under: its v1 info-hash, or a v2-only
    /// torrent's truncated v2 one.
    pub key: InfoHash,
    /// The whole v2 info-hash, for v2 and hybrid torrents.
    pub v2: Option<Hash32>,
    /// The full file name, e.g. `got5.mp4`.
    pub file_name: String,
    pub name: String,
    pub kind: String,
    /// The stored torrent's file name, e.g. `got5.mp4.torrent`.
    pub torrent: String,
    pub size: u64,
    pub n_parts: u64,
    /// When it was published (Unix seconds): the stored file's time after a
    /// restart; None where that is unknown.
    pub published_unix: Option<u64>,
    lower: String,
}

impl Entry {
    pub fn new(m: &Metainfo, torrent: String) -> Entry {
        let (name, kind) = m.name_and_type();
        Entry {
            key: m.info_hash,
            v2: m.info_hash_v2,
            file_name: m.name.clone(),
            lower: m.name.to_lowercase(),
            name,
            kind,
            torrent,
            size: m.size(),
            n_parts: m.num_pieces() as u64,
            published_unix: None,
        }
    }

    /// The assignment's *Key*: the v1 info-hash where there is one, else the
    /// whole v2 info-hash (64 hex digits).
    pub fn key_text(&self) -> String {
        self.key.key_text(self.v2.as_ref())
    }

    /// A hybrid's second swarm: the truncated v2 info-hash its v2 peers announce.
    pub fn v2_swarm(&self) -> Option<InfoHash> {
        self.key.v2_swarm(self.v2.as_ref())
    }

    /// The assignment's line: `Name : got5 type: mp4 tor : got5.mp4.torrent`.
    pub fn line(&self) -> String {
        format!(
            "Name : {} type: {} tor : {}",
            self.name, self.kind, self.torrent
        )
    }
}

#[derive(Default)]
pub struct SearchIndex {
    entries: Vec<Entry>,
    by_key: HashMap<InfoHash, usize>,
    torrent_names: HashSet<String>,
    /// For each three-byte run of a lowercased name, the entries containing it,
    /// in order. A word of three bytes or more can only occur in the entries of
    /// each of its runs, so a query checks the shortest such list, not every name.
    trigrams: HashMap<[u8; 3], Vec<u32>>,
}

fn trigrams(s: &str) -> impl Iterator<Item = [u8; 3]> + '_ {
    s.as_bytes().windows(3).map(|w| [w[0], w[1], w[2]])
}

impl SearchIndex {
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    pub fn get(&self, key: &InfoHash) -> Option<&Entry> {
        self.by_key.get(key).map(|&i| &self.entries[i])
    }
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// A torrent file name for a new entry: `<name>.torrent`, or with a key
    /// prefix when another content already took that name.
    pub fn torrent_name_for(&self, file_name: &str, key: &InfoHash) -> String {
        let plain = format!("{file_name}.torrent");
        if !self.torrent_names.contains(&plain) {
            return plain;
        }
        format!("{file_name}.{}.torrent", &key.hex()[..12])
    }

    /// Adds an entry; false when its key is already indexed.
    pub fn insert(&mut self, e: Entry) -> bool {
        if self.by_key.contains_key(&e.key) {
            return false;
        }
        self.torrent_names.insert(e.torrent.clone());
        let id = self.entries.len() as u32;
        for g in trigrams(&e.lower) {
            let list = self.trigrams.entry(g).or_default();
            if list.last() != Some(&id) {
                list.push(id);
            }
        }
        self.by_key.insert(e.key, id as usize);
        self.entries.push(e);
        true
    }

    /// Case-insensitive: every word must occur in the file name. A 40-digit key finds its entry.
    /// No words list everything.
    pub fn search(&self, query: &str) -> Vec<&Entry> {
        let q = query.trim();
        if let Some(e) = InfoHash::from_hex(&q.to_lowercase()).and_then(|k| self.get(&k)) {
            return vec![e];
        }
        let words: Vec<String> = q.split_whitespace().map(str::to_lowercase).collect();
        let matches = |e: &&Entry| words.iter().all(|w| e.lower.contains(w.as_str()));
        let shortest = words
            .iter()
            .flat_map(|w| trigrams(w))
            .map(|g| self.trigrams.get(&g).map_or(&[][..], Vec::as_slice))
            .min_by_key(|list| list.len());
        match shortest {
            Some(list) => list
                .iter()
                .map(|&i| &self.entries[i as usize])
                .filter(matches)
                .collect(),
            // Only words of one or two letters: nothing to narrow by.
            None => self.entries.iter().filter(matches).collect(),
        }
    }
}

/// True when `s` holds a byte no name may hold: a control character (below
/// 0x20, which includes `\n` and `\r`) or DEL. Such a name could forge or
/// tear lines of `search_content.txt`, or a terminal showing it.
pub fn has_control_character(s: &str) -> bool {
    s.bytes().any(|b| b < 0x20 || b == 0x7f)
}

/// Why a torrent cannot be listed, if its name or a file path has a control character.
pub fn unlistable_name(m: &Metainfo) -> Option<String> {
    if has_control_character(&m.name) {
        return Some(format!(
            "name {:?} has a control character",
            m.name.escape_debug().to_string()
        ));
    }
    m.files
        .iter()
        .map(|f| f.path.join("/"))
        .find(|p| has_control_character(p))
        .map(|p| {
            format!(
                "file path {:?} has a control character",
                p.escape_debug().to_string()
            )
        })
}

/// The torrent file name a `search_content.txt` line refers to.
pub fn torrent_of_line(line: &str) -> Option<&str> {
    line.rsplit_once(" tor : ")
        .map(|(_, t)| t.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::metainfo::split_name;

    fn entry(name: &str, key: u8) -> Entry {
        let (n, k) = split_name(name);
        Entry {
            key: InfoHash([key; 20]),
            v2: None,
            file_name: name.into(),
            lower: name.to_lowercase(),
            name: n,
            kind: k,
            torrent: format!("{name}.torrent"),
            size: 1,
            n_parts: 1,
            published_unix: None,
        }
    }

    #[test]
    fn line_has_the_assignment_form() {
        let e = entry("got5.mp4", 1);
        assert_eq!(e.line(), "Name : got5 type: mp4 tor : got5.mp4.torrent");
        assert_eq!(torrent_of_line(&e.line()), Some("got5.mp4.torrent"));
    }

    #[test]
    fn search_is_case_insensitive_and_needs_every_word() {
        let mut idx = SearchIndex::default();
        idx.insert(entry("got5.mp4", 1));
        idx.insert(entry("Score.txt", 2));
        assert_eq!(idx.search("GOT5").len(), 1);
        assert_eq!(idx.search("got5 mp4").len(), 1);
        assert_eq!(idx.search("got5 txt").len(), 0);
        assert_eq!(idx.search("score")[0].name, "Score");
        assert_eq!(idx.search("").len(), 2);
        assert_eq!(idx.search(&InfoHash([2; 20]).hex())[0].name, "Score");
    }

    #[test]
    fn index_finds_the_same_as_a_scan() {
        let mut idx = SearchIndex::default();
        let names = [
            "got5.mp4",
            "Got6.MP4",
            "score.txt",
            "a.b",
            "xgot5y.iso",
            "ab",
            "ünïcode-gøt5.mkv",
        ];
        for (i, n) in names.iter().enumerate() {
            idx.insert(entry(n, i as u8));
        }
        for q in [
            "got5", "GOT", "mp4 got", "t5.", "a", "ab", "b", "ünï", "gøt5", "zzz", "got5 zzz", "o",
        ] {
            let mut fast: Vec<&str> = idx.search(q).iter().map(|e| e.file_name.as_str()).collect();
            let words: Vec<String> = q.split_whitespace().map(str::to_lowercase).collect();
            let mut slow: Vec<&str> = names
                .iter()
                .copied()
                .filter(|n| words.iter().all(|w| n.to_lowercase().contains(w.as_str())))
                .collect();
            fast.sort();
            slow.sort();
            assert_eq!(fast, slow, "query {q:?}");
        }
    }

    #[test]
    fn control_characters_are_spotted() {
        for bad in ["a\nb", "a\rb", "\0", "a\x7f", "tab\there", "\x1b[31m"] {
            assert!(has_control_character(bad), "{bad:?}");
        }
        for good in ["got5.mp4", "ünïcode gøt5.mkv", "a b", "~!@#$%^&*()"] {
            assert!(!has_control_character(good), "{good:?}");
        }
    }

    #[test]
    fn duplicate_keys_are_ignored_and_names_do_not_collide() {
        let mut idx = SearchIndex::default();
        assert!(idx.insert(entry("a.txt", 1)));
        assert!(!idx.insert(entry("a.txt", 1)));
        let other = idx.torrent_name_for("a.txt", &InfoHash([2; 20]));
        assert_ne!(other, "a.txt.torrent");
        assert!(other.starts_with("a.txt.") && other.ends_with(".torrent"));
    }
}
