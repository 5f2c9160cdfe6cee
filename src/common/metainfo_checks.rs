//! The error every metainfo parser and maker returns, and the checks on names
//! and path components they share, so that a torrent read and a torrent made
//! refuse the same names with the same words.

use std::io;

use thiserror::Error;

use super::bencode;

#[derive(Debug, Error)]
pub enum MetainfoError {
    #[error("not a valid torrent: {0}")]
    Bencode(#[from] bencode::BencodeError),
    #[error("not a valid torrent: {0}")]
    Invalid(String),
    /// Names end up one per line in files and on terminals; a control character could forge lines.
    #[error(
        "{what} {name:?} contains a control character (a byte below 0x20, or 0x7f), which torrents may not carry"
    )]
    ControlCharacter { what: &'static str, name: String },
    #[error("{0}")]
    Io(#[from] io::Error),
}

pub(crate) fn invalid(msg: impl Into<String>) -> MetainfoError {
    MetainfoError::Invalid(msg.into())
}

/// A path component is safe when it cannot climb out of, or jump outside, the
/// download folder, and holds no control character.
pub fn is_safe_component(c: &str) -> bool {
    stays_inside(c) && !has_control(c)
}

fn stays_inside(c: &str) -> bool {
    !c.is_empty()
        && c != "."
        && c != ".."
        && !c.contains('/')
        && !c.contains('\\')
        && !c.contains('\0')
        && c.len() <= 255
}

fn has_control(c: &str) -> bool {
    c.bytes().any(|b| b.is_ascii_control())
}

/// The one check every name and path component of a torrent passes, parsed or made;
/// `what` says which it is in the error.
pub(crate) fn check_component(what: &'static str, c: &str) -> Result<(), MetainfoError> {
    if !stays_inside(c) {
        return Err(invalid(format!(
            "unsafe {what} {c:?}: it would escape the download folder"
        )));
    }
    if has_control(c) {
        return Err(MetainfoError::ControlCharacter {
            what,
            name: c.to_owned(),
        });
    }
    Ok(())
}
