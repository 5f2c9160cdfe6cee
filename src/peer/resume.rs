//! Resume state: which pieces of a download are verified on disk.
//!
//! A piece is marked only after its data was written, and the file is replaced
//! atomically, so a kill at any moment never marks an unverified piece. `clean`
//! is false while the peer runs; finding it false at start means the last run
//! was killed, and every piece is checked again before it is trusted. A clean
//! state also records each data file's size and modification time: if those
//! changed (edited, truncated, or lost in a crash before the data reached the
//! disk), the pieces are checked again too. Pieces are not synced to disk one by
//! one, as in other BitTorrent clients; this check is what makes that safe.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::common::bitfield::Bitfield;
use crate::common::metainfo::hex;
use crate::sys::atomic_file::write_atomic;

#[derive(Debug, Serialize, Deserialize)]
struct ResumeFile {
    key: String,
    pieces: usize,
    have: String,
    clean: bool,
    #[serde(default)]
    stamps: Vec<(u64, u128)>,
}

pub struct Resume {
    pub have: Bitfield,
    pub clean: bool,
    /// Each data file's (size, modification time in ns) when the state was saved.
    pub stamps: Vec<(u64, u128)>,
}

pub fn load(path: &Path, key: &str, pieces: usize) -> Option<Resume> {
    let f: ResumeFile = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    if f.key != key || f.pieces != pieces || f.have.len() != pieces.div_ceil(8) * 2 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..f.have.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&f.have[i..i + 2], 16).ok())
        .collect();
    let have = Bitfield::from_bytes(&bytes?, pieces)?;
    Some(Resume {
        have,
        clean: f.clean,
        stamps: f.stamps,
    })
}

pub fn save(
    path: &Path,
    key: &str,
    have: &Bitfield,
    clean: bool,
    stamps: Vec<(u64, u128)>,
) -> std::io::Result<()> {
    let f = ResumeFile {
        key: key.to_owned(),
        pieces: have.len(),
        have: hex(have.as_bytes()),
        clean,
        stamps,
    };
    write_atomic(path, &serde_json::to_vec(&f).expect("resume serialises"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_mismatch() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.json");
        let mut b = Bitfield::new(11);
        b.set(3);
        b.set(10);
        save(&p, "k", &b, false, vec![(1, 2)]).unwrap();
        let r = load(&p, "k", 11).unwrap();
        assert_eq!(r.have, b);
        assert!(!r.clean);
        assert_eq!(r.stamps, vec![(1, 2)]);
        assert!(load(&p, "other", 11).is_none());
        assert!(load(&p, "k", 12).is_none());
        std::fs::write(&p, b"garbage").unwrap();
        assert!(load(&p, "k", 11).is_none());
    }
}
