//! BEP 52's `file tree`, the v2 list of files as nested dictionaries, and the
//! `piece layers` outside the info dictionary that let a piece be checked
//! without asking peers for hashes. Pure: no I/O.

use std::collections::HashMap;

use super::bencode::{Dict, Value};
use super::merkle::{self, FileShape, Hash32, Layers};
use super::metainfo_checks::{MetainfoError, check_component, invalid};

/// One file of a v2 torrent, in the order the tree is walked, which is the
/// order its bytes take in the piece stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeFile {
    pub path: Vec<String>,
    pub length: u64,
    /// None exactly when the file is empty.
    pub root: Option<Hash32>,
}

/// Deeper trees are refused: no real torrent nests folders this far, and the
/// walk recurses.
const MAX_DEPTH: usize = 64;

/// The files of a `file tree`, at most `max_files` of them.
pub fn parse(tree: &Dict<'_>, max_files: usize) -> Result<Vec<TreeFile>, MetainfoError> {
    if tree.get("").is_some() {
        return Err(invalid("the file tree's root is a file, not a folder"));
    }
    let mut files = Vec::new();
    walk(tree, &mut Vec::new(), &mut files, max_files)?;
    if files.is_empty() {
        return Err(invalid("the file tree has no files"));
    }
    Ok(files)
}

fn walk(
    dir: &Dict<'_>,
    path: &mut Vec<String>,
    out: &mut Vec<TreeFile>,
    max_files: usize,
) -> Result<(), MetainfoError> {
    if path.len() >= MAX_DEPTH {
        return Err(invalid("the file tree is nested too deep"));
    }
    for (key, value) in &dir.entries {
        let name =
            std::str::from_utf8(key).map_err(|_| invalid("a file tree name is not UTF-8"))?;
        check_component("path component", name)?;
        let node = value
            .as_dict()
            .ok_or_else(|| invalid(format!("file tree entry {name:?} is not a dictionary")))?;
        path.push(name.to_owned());
        match node.get("") {
            Some(leaf) => {
                if node.entries.len() != 1 {
                    return Err(invalid(format!(
                        "file tree entry {name:?} is both a file and a folder"
                    )));
                }
                if out.len() == max_files {
                    return Err(invalid("the file tree has too many files"));
                }
                out.push(file(leaf, path)?);
            }
            None => walk(node, path, out, max_files)?,
        }
        path.pop();
    }
    Ok(())
}

fn file(leaf: &Value<'_>, path: &[String]) -> Result<TreeFile, MetainfoError> {
    let shown = path.join("/");
    let d = leaf
        .as_dict()
        .ok_or_else(|| invalid(format!("file {shown:?} has no properties")))?;
    let length =
        d.get("length")
            .and_then(Value::as_int)
            .filter(|&l| l >= 0)
            .ok_or_else(|| invalid(format!("file {shown:?} has no valid length")))? as u64;
    let root = match d.get("pieces root") {
        Some(v) => Some(
            v.as_bytes()
                .and_then(|b| <Hash32>::try_from(b).ok())
                .ok_or_else(|| {
                    invalid(format!(
                        "file {shown:?} has a pieces root that is not 32 bytes"
                    ))
                })?,
        ),
        None => None,
    };
    match (length, root) {
        (0, Some(_)) => Err(invalid(format!("empty file {shown:?} has a pieces root"))),
        (1.., None) => Err(invalid(format!("file {shown:?} has no pieces root"))),
        _ => Ok(TreeFile {
            path: path.to_vec(),
            length,
            root,
        }),
    }
}

/// Each file's tree from its piece layer up, checked against its root: the
/// layer hashes to the root, and has one hash for every piece of the file.
/// Kept whole, since answering hash requests needs its upper nodes. Files
/// of one piece or less have none (empty); their root is their piece's hash.
pub fn piece_layers(
    layers: &Dict<'_>,
    files: &[TreeFile],
    piece_length: u64,
) -> Result<Vec<Layers>, MetainfoError> {
    let by_root: HashMap<&[u8], &[u8]> = layers
        .entries
        .iter()
        .filter_map(|(k, v)| Some((*k, v.as_bytes()?)))
        .collect();
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        let shape = FileShape {
            length: f.length,
            piece_length,
        };
        let (Some(root), true) = (f.root, shape.has_piece_layer()) else {
            out.push(Vec::new());
            continue;
        };
        let shown = f.path.join("/");
        let bytes = by_root
            .get(&root[..])
            .ok_or_else(|| invalid(format!("piece layers has no entry for {shown:?}")))?;
        if bytes.len() as u64 != shape.pieces() * 32 {
            return Err(invalid(format!(
                "the piece layer of {shown:?} has {} bytes; {} pieces need {}",
                bytes.len(),
                shape.pieces(),
                shape.pieces() * 32
            )));
        }
        let layer: Vec<Hash32> = bytes
            .chunks_exact(32)
            .map(|c| c.try_into().expect("32 bytes"))
            .collect();
        let tree = merkle::layers_above(&layer, shape.piece_height());
        if tree.last().map(|top| top[0]) != Some(root) {
            return Err(invalid(format!(
                "the piece layer of {shown:?} does not hash to its pieces root"
            )));
        }
        out.push(tree);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::bencode;

    fn tree(bytes: &[u8]) -> Result<Vec<TreeFile>, MetainfoError> {
        let v = bencode::decode(bytes).unwrap();
        parse(v.as_dict().unwrap(), 100)
    }

    const ROOT: &str = "32:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    #[test]
    fn walks_folders_in_order() {
        let b = format!("d1:ad1:bd0:d6:lengthi5e11:pieces root{ROOT}eee1:cd0:d6:lengthi0eeee");
        let files = tree(b.as_bytes()).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].path, ["a", "b"]);
        assert_eq!(files[0].length, 5);
        assert_eq!(files[1].path, ["c"]);
        assert_eq!(files[1].root, None);
    }

    #[test]
    fn refuses_what_could_escape_or_lie() {
        for (bad, why) in [
            (
                format!("d2:..d0:d6:lengthi5e11:pieces root{ROOT}eee"),
                "escape",
            ),
            (
                format!("d3:a\nbd0:d6:lengthi5e11:pieces root{ROOT}eee"),
                "control",
            ),
            ("d1:ad0:d6:lengthi5eeee".to_owned(), "no pieces root"),
            (
                format!("d1:ad0:d6:lengthi0e11:pieces root{ROOT}eee"),
                "empty file",
            ),
            (
                format!("d1:ad0:d6:lengthi5e11:pieces root{ROOT}e1:bd0:d6:lengthi0eeeee"),
                "both",
            ),
            (
                format!("d0:d6:lengthi5e11:pieces root{ROOT}ee"),
                "root is a file",
            ),
            ("de".to_owned(), "no files"),
        ] {
            let e = tree(bad.as_bytes()).unwrap_err().to_string();
            assert!(e.contains(why), "{why}: {e}");
        }
    }
}
