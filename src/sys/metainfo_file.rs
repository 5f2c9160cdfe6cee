//! Reading a `.torrent` file from disk; the parsing is `common::metainfo`'s.

use std::path::Path;

use crate::common::metainfo::{Metainfo, MetainfoError};

/// Anything bigger is refused before it is read: a hostile file could be huge.
const MAX_TORRENT_FILE: u64 = 64 * 1024 * 1024;

/// `Metainfo::from_file`, kept a method so callers read as before; import the trait.
pub trait MetainfoFile: Sized {
    fn from_file(path: &Path) -> Result<Self, MetainfoError>;
}

impl MetainfoFile for Metainfo {
    fn from_file(path: &Path) -> Result<Metainfo, MetainfoError> {
        let len = std::fs::metadata(path)?.len();
        if len > MAX_TORRENT_FILE {
            return Err(MetainfoError::Invalid(
                "file is larger than any sane torrent (64 MiB)".into(),
            ));
        }
        Metainfo::from_bytes(&std::fs::read(path)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_refuses_and_reports() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.torrent");
        std::fs::write(&p, b"d8:announce1:x4:infod6:lengthi5e4:name1:a12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee").unwrap();
        assert_eq!(Metainfo::from_file(&p).unwrap().total_length, 5);
        std::fs::write(&p, b"junk").unwrap();
        assert!(
            Metainfo::from_file(&p)
                .unwrap_err()
                .to_string()
                .contains("not a valid torrent")
        );
        assert!(matches!(
            Metainfo::from_file(&d.path().join("missing")),
            Err(MetainfoError::Io(_))
        ));
        std::fs::File::create(&p)
            .unwrap()
            .set_len(MAX_TORRENT_FILE + 1)
            .unwrap();
        let err = Metainfo::from_file(&p).unwrap_err();
        assert!(err.to_string().contains("64 MiB"), "{err}");
    }
}
