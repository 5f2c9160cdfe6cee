//! The BEP 10 extension handshake (extended message id 0): which extension
//! messages each side speaks and under which id, plus a few facts about the
//! sender. Pure codec; what each extension does lives in `peer::extensions`.

use std::collections::BTreeMap;

use super::bencode::{self, Encoder, Value};

/// BEP 10's handshake dictionary, as far as we read or write it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtensionHandshake {
    /// Extension name to the id the sender wants it sent under; id 0 means
    /// "I no longer speak it". Names are BEP 10's byte strings, kept only
    /// when they are UTF-8 (every registered name is ASCII).
    pub m: BTreeMap<String, u8>,
    /// `p`: the sender's listen port, so a peer that dialled us can be told
    /// apart from its ephemeral port.
    pub listen_port: Option<u16>,
    /// `v`: the client's name and version.
    pub client: Option<String>,
    /// BEP 9 `metadata_size`: the info dictionary's length in bytes.
    pub metadata_size: Option<u64>,
}

impl ExtensionHandshake {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut e = Encoder::new(&mut out);
        // Keys in sorted order, as bencode wants: m, metadata_size, p, v.
        e.begin_dict().str("m").begin_dict();
        for (name, id) in &self.m {
            e.str(name).int(*id as i64);
        }
        e.end();
        if let Some(size) = self.metadata_size {
            e.str("metadata_size").int(size as i64);
        }
        if let Some(p) = self.listen_port {
            e.str("p").int(p as i64);
        }
        if let Some(v) = &self.client {
            e.str("v").str(v);
        }
        e.end();
        out
    }

    /// Reads a peer's handshake. Fields that are missing or malformed are left
    /// out rather than refused: BEP 10 lets clients send what they like.
    pub fn decode(payload: &[u8]) -> Option<ExtensionHandshake> {
        let root = bencode::decode(payload).ok()?;
        let d = root.as_dict()?;
        let mut m = BTreeMap::new();
        if let Some(Value::Dict(md)) = d.get("m") {
            for (k, v) in &md.entries {
                if let (Ok(name), Some(id)) = (std::str::from_utf8(k), v.as_int())
                    && let Ok(id) = u8::try_from(id)
                {
                    m.insert(name.to_owned(), id);
                }
            }
        }
        Some(ExtensionHandshake {
            m,
            listen_port: d
                .get("p")
                .and_then(Value::as_int)
                .and_then(|p| u16::try_from(p).ok())
                .filter(|&p| p != 0),
            client: d.get("v").and_then(Value::as_str).map(str::to_owned),
            metadata_size: d
                .get("metadata_size")
                .and_then(Value::as_int)
                .and_then(|s| u64::try_from(s).ok()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_sorted_keys() {
        let h = ExtensionHandshake {
            m: BTreeMap::from([("ut_metadata".into(), 3), ("ut_pex".into(), 1)]),
            listen_port: Some(6881),
            client: Some("swarmshare 0.1.0".into()),
            metadata_size: Some(31_235),
        };
        let bytes = h.encode();
        assert_eq!(
            bytes,
            b"d1:md11:ut_metadatai3e6:ut_pexi1ee13:metadata_sizei31235e1:pi6881e1:v16:swarmshare 0.1.0e"
        );
        assert_eq!(ExtensionHandshake::decode(&bytes), Some(h));
    }

    #[test]
    fn odd_fields_are_left_out_not_refused() {
        let h = ExtensionHandshake::decode(b"d1:md3:badi300e2:oki2ee1:pi0e1:vi5ee").unwrap();
        assert_eq!(h.m, BTreeMap::from([("ok".into(), 2)]));
        assert_eq!(h.listen_port, None);
        assert_eq!(h.client, None);
        let port = |b: &[u8]| ExtensionHandshake::decode(b).and_then(|h| h.listen_port);
        assert_eq!(port(b"d1:md11:ut_metadatai2ee"), None);
        assert_eq!(port(b"d1:pi70000ee"), None);
        assert_eq!(port(b"d1:pi6881ee"), Some(6881));
        assert_eq!(ExtensionHandshake::decode(b"le"), None);
        assert_eq!(ExtensionHandshake::decode(b"garbage"), None);
    }
}
