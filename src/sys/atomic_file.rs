//! Crash-safe replacement of small files: write a sibling, sync it, rename it over.
//! A reader, or a process started after a SIGKILL, sees the old file or the new one, never a mix.
//! A SIGKILL between the sibling's creation and the rename leaves the sibling
//! behind; `remove_stale_temps` clears those at the next start.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

const TMP: &str = "tmp";

fn temp_path(path: &Path) -> PathBuf {
    path.with_extension(format!("{TMP}{}", std::process::id()))
}

/// True for a name `temp_path` makes: an extension of `tmp` and a process id.
fn is_temp_name(name: &str) -> bool {
    name.rsplit_once('.')
        .and_then(|(stem, ext)| (!stem.is_empty()).then_some(ext))
        .and_then(|ext| ext.strip_prefix(TMP))
        .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = temp_path(path);
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_data()?;
    }
    fs::rename(&tmp, path).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

/// Removes the temporary siblings a killed writer left in `dir`; returns their names.
/// Only for a folder no other process writes into at the same time.
pub fn remove_stale_temps(dir: &Path) -> io::Result<Vec<String>> {
    let mut removed = Vec::new();
    for e in fs::read_dir(dir)? {
        let e = e?;
        let Ok(name) = e.file_name().into_string() else {
            continue;
        };
        if is_temp_name(&name) && e.file_type()?.is_file() {
            fs::remove_file(e.path())?;
            removed.push(name);
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_contents() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("state.json");
        super::write_atomic(&p, b"one").unwrap();
        super::write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn stale_temps_are_removed_and_nothing_else() {
        let d = tempfile::tempdir().unwrap();
        let keep = ["a.torrent", "a.tmp.torrent", "b.tmpx", "tmp123", "c.tmp"];
        for n in keep.iter().chain(&["a.mp4.tmp4242", "x.tmp1"]) {
            std::fs::write(d.path().join(n), b"x").unwrap();
        }
        let mut gone = super::remove_stale_temps(d.path()).unwrap();
        gone.sort();
        assert_eq!(gone, ["a.mp4.tmp4242", "x.tmp1"]);
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), keep.len());
    }
}
