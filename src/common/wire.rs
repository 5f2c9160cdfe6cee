//! The BEP 3 peer wire protocol: handshake and message codec, with no I/O.
//!
//! Messages the client does not use (BEP 10 extended ones other than the
//! handshake, `port`, `suggest`, and ids nobody knows yet) are decoded and
//! tolerated, never a reason to disconnect.

use thiserror::Error;

pub const PROTOCOL: &[u8; 19] = b"BitTorrent protocol";
pub const HANDSHAKE_LEN: usize = 68;
/// The largest block we serve or accept; requests for more are refused (BEP 3 suggests 16 KiB).
pub const MAX_BLOCK: u32 = 128 * 1024;
/// BEP 10: byte 5 of the reserved bytes, bit 0x10, announces the extension protocol.
pub const EXTENSION_PROTOCOL: (usize, u8) = (5, 0x10);
/// BEP 6: byte 7 of the reserved bytes, bit 0x04, announces the Fast extension.
pub const FAST_EXTENSION: (usize, u8) = (7, 0x04);
/// BEP 5: byte 7 of the reserved bytes, bit 0x01, announces a DHT node (and the `port` message).
pub const DHT: (usize, u8) = (7, 0x01);
/// BEP 52: byte 7 of the reserved bytes, bit 0x10, announces v2 (and the hash messages).
pub const V2: (usize, u8) = (7, 0x10);

/// Whether a handshake's reserved bytes announce a BEP 5 DHT node.
pub fn supports_dht(reserved: &[u8; 8]) -> bool {
    reserved[DHT.0] & DHT.1 != 0
}

/// Whether a handshake's reserved bytes announce the BEP 10 extension protocol.
pub fn supports_extensions(reserved: &[u8; 8]) -> bool {
    reserved[EXTENSION_PROTOCOL.0] & EXTENSION_PROTOCOL.1 != 0
}

/// Whether a handshake's reserved bytes announce the BEP 6 Fast extension.
pub fn supports_fast(reserved: &[u8; 8]) -> bool {
    reserved[FAST_EXTENSION.0] & FAST_EXTENSION.1 != 0
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum WireError {
    #[error("not a BitTorrent handshake")]
    BadHandshake,
    #[error("message of {0} bytes is larger than allowed")]
    TooLong(u32),
    #[error("malformed message id {id}: {why}")]
    Malformed { id: u8, why: &'static str },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake {
    pub reserved: [u8; 8],
    pub info_hash: [u8; 20],
    pub peer_id: [u8; 20],
}

impl Handshake {
    pub fn encode(&self) -> [u8; HANDSHAKE_LEN] {
        let mut out = [0u8; HANDSHAKE_LEN];
        out[0] = 19;
        out[1..20].copy_from_slice(PROTOCOL);
        out[20..28].copy_from_slice(&self.reserved);
        out[28..48].copy_from_slice(&self.info_hash);
        out[48..68].copy_from_slice(&self.peer_id);
        out
    }

    pub fn decode(b: &[u8; HANDSHAKE_LEN]) -> Result<Handshake, WireError> {
        if b[0] != 19 || &b[1..20] != PROTOCOL {
            return Err(WireError::BadHandshake);
        }
        Ok(Handshake {
            reserved: b[20..28].try_into().expect("8"),
            info_hash: b[28..48].try_into().expect("20"),
            peer_id: b[48..68].try_into().expect("20"),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockRef {
    pub index: u32,
    pub begin: u32,
    pub length: u32,
}

/// BEP 52's `hash request`, also the payload of `hash reject` and the header
/// of `hashes`: `length` hashes from `index` of the layer `base` layers above
/// the 16 KiB blocks of the file whose tree has `root`, and uncle hashes for
/// `proof_layers` layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HashRequest {
    pub root: [u8; 32],
    pub base: u32,
    pub index: u32,
    pub length: u32,
    pub proof_layers: u32,
}

impl HashRequest {
    const LEN: usize = 48;

    fn decode(p: &[u8]) -> HashRequest {
        HashRequest {
            root: p[..32].try_into().expect("32 bytes"),
            base: u32_at(p, 32),
            index: u32_at(p, 36),
            length: u32_at(p, 40),
            proof_layers: u32_at(p, 44),
        }
    }

    fn encode(&self) -> [u8; HashRequest::LEN] {
        let mut a = [0u8; HashRequest::LEN];
        a[..32].copy_from_slice(&self.root);
        for (i, v) in [self.base, self.index, self.length, self.proof_layers]
            .into_iter()
            .enumerate()
        {
            a[32 + 4 * i..36 + 4 * i].copy_from_slice(&v.to_be_bytes());
        }
        a
    }
}

/// A decoded message. `Piece` borrows its data from the frame it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message<'a> {
    KeepAlive,
    Choke,
    Unchoke,
    Interested,
    NotInterested,
    Have(u32),
    Bitfield(&'a [u8]),
    Request(BlockRef),
    Piece {
        index: u32,
        begin: u32,
        data: &'a [u8],
    },
    Cancel(BlockRef),
    Port(u16),
    // BEP 6 fast extension.
    Suggest(u32),
    HaveAll,
    HaveNone,
    Reject(BlockRef),
    AllowedFast(u32),
    /// BEP 10 extended message: `id` 0 is the extension handshake.
    Extended {
        id: u8,
        payload: &'a [u8],
    },
    /// BEP 52 (ids 21 to 23).
    HashRequest(HashRequest),
    /// The hashes asked for, then the uncle hashes, 32 bytes each.
    Hashes {
        request: HashRequest,
        hashes: &'a [u8],
    },
    HashReject(HashRequest),
    /// Any id we do not know: ignored.
    Other(u8),
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// Decodes one message body: `frame` is everything after the 4-byte length prefix.
pub fn decode(frame: &[u8]) -> Result<Message<'_>, WireError> {
    let Some((&id, p)) = frame.split_first() else {
        return Ok(Message::KeepAlive);
    };
    let want = |n: usize, why: &'static str| {
        if p.len() == n {
            Ok(())
        } else {
            Err(WireError::Malformed { id, why })
        }
    };
    let block = |p: &[u8]| BlockRef {
        index: u32_at(p, 0),
        begin: u32_at(p, 4),
        length: u32_at(p, 8),
    };
    Ok(match id {
        0 => want(0, "choke has a payload").map(|_| Message::Choke)?,
        1 => want(0, "unchoke has a payload").map(|_| Message::Unchoke)?,
        2 => want(0, "interested has a payload").map(|_| Message::Interested)?,
        3 => want(0, "not interested has a payload").map(|_| Message::NotInterested)?,
        4 => want(4, "have is not 4 bytes").map(|_| Message::Have(u32_at(p, 0)))?,
        5 => Message::Bitfield(p),
        6 => want(12, "request is not 12 bytes").map(|_| Message::Request(block(p)))?,
        7 => {
            if p.len() < 8 {
                return Err(WireError::Malformed {
                    id,
                    why: "piece is shorter than its header",
                });
            }
            Message::Piece {
                index: u32_at(p, 0),
                begin: u32_at(p, 4),
                data: &p[8..],
            }
        }
        8 => want(12, "cancel is not 12 bytes").map(|_| Message::Cancel(block(p)))?,
        9 => want(2, "port is not 2 bytes")
            .map(|_| Message::Port(u16::from_be_bytes([p[0], p[1]])))?,
        13 => want(4, "suggest is not 4 bytes").map(|_| Message::Suggest(u32_at(p, 0)))?,
        14 => want(0, "have all has a payload").map(|_| Message::HaveAll)?,
        15 => want(0, "have none has a payload").map(|_| Message::HaveNone)?,
        16 => want(12, "reject is not 12 bytes").map(|_| Message::Reject(block(p)))?,
        17 => want(4, "allowed fast is not 4 bytes").map(|_| Message::AllowedFast(u32_at(p, 0)))?,
        20 => {
            let (&ext, payload) = p.split_first().ok_or(WireError::Malformed {
                id,
                why: "extended message has no id",
            })?;
            Message::Extended { id: ext, payload }
        }
        21 => want(HashRequest::LEN, "hash request is not 48 bytes")
            .map(|_| Message::HashRequest(HashRequest::decode(p)))?,
        22 => {
            if p.len() < HashRequest::LEN || !(p.len() - HashRequest::LEN).is_multiple_of(32) {
                return Err(WireError::Malformed {
                    id,
                    why: "hashes is not a header and whole 32-byte hashes",
                });
            }
            Message::Hashes {
                request: HashRequest::decode(p),
                hashes: &p[HashRequest::LEN..],
            }
        }
        23 => want(HashRequest::LEN, "hash reject is not 48 bytes")
            .map(|_| Message::HashReject(HashRequest::decode(p)))?,
        other => Message::Other(other),
    })
}

/// Appends the wire form of `msg`, length prefix included.
pub fn encode(msg: &Message<'_>, out: &mut Vec<u8>) {
    let simple = |out: &mut Vec<u8>, id: u8, payload: &[&[u8]]| {
        let len = 1 + payload.iter().map(|p| p.len()).sum::<usize>();
        out.extend_from_slice(&(len as u32).to_be_bytes());
        out.push(id);
        for p in payload {
            out.extend_from_slice(p);
        }
    };
    let block = |b: &BlockRef| {
        let mut a = [0u8; 12];
        a[..4].copy_from_slice(&b.index.to_be_bytes());
        a[4..8].copy_from_slice(&b.begin.to_be_bytes());
        a[8..].copy_from_slice(&b.length.to_be_bytes());
        a
    };
    match msg {
        Message::KeepAlive => out.extend_from_slice(&[0, 0, 0, 0]),
        Message::Choke => simple(out, 0, &[]),
        Message::Unchoke => simple(out, 1, &[]),
        Message::Interested => simple(out, 2, &[]),
        Message::NotInterested => simple(out, 3, &[]),
        Message::Have(i) => simple(out, 4, &[&i.to_be_bytes()]),
        Message::Bitfield(b) => simple(out, 5, &[b]),
        Message::Request(b) => simple(out, 6, &[&block(b)]),
        Message::Piece { index, begin, data } => {
            simple(out, 7, &[&index.to_be_bytes(), &begin.to_be_bytes(), data])
        }
        Message::Cancel(b) => simple(out, 8, &[&block(b)]),
        Message::Port(p) => simple(out, 9, &[&p.to_be_bytes()]),
        Message::Suggest(i) => simple(out, 13, &[&i.to_be_bytes()]),
        Message::HaveAll => simple(out, 14, &[]),
        Message::HaveNone => simple(out, 15, &[]),
        Message::Reject(b) => simple(out, 16, &[&block(b)]),
        Message::AllowedFast(i) => simple(out, 17, &[&i.to_be_bytes()]),
        Message::Extended { id, payload } => simple(out, 20, &[&[*id], payload]),
        Message::HashRequest(r) => simple(out, 21, &[&r.encode()]),
        Message::Hashes { request, hashes } => simple(out, 22, &[&request.encode(), hashes]),
        Message::HashReject(r) => simple(out, 23, &[&r.encode()]),
        Message::Other(id) => simple(out, *id, &[]),
    }
}

/// The 13-byte header of a `piece` message whose `len` data bytes follow,
/// so a sender can read the block from disk straight after it.
pub fn piece_header(index: u32, begin: u32, len: u32) -> [u8; 13] {
    let mut h = [0u8; 13];
    h[..4].copy_from_slice(&(9 + len).to_be_bytes());
    h[4] = 7;
    h[5..9].copy_from_slice(&index.to_be_bytes());
    h[9..13].copy_from_slice(&begin.to_be_bytes());
    h
}

/// Incremental framing over a byte buffer: tells how long the next frame is,
/// so a reader can keep partial frames across read timeouts.
pub fn frame_len(buf: &[u8], max: u32) -> Result<Option<usize>, WireError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32_at(buf, 0);
    if len > max {
        return Err(WireError::TooLong(len));
    }
    Ok(Some(4 + len as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(m: Message<'_>) {
        let mut out = Vec::new();
        encode(&m, &mut out);
        let len = frame_len(&out, 1 << 20).unwrap().unwrap();
        assert_eq!(len, out.len());
        assert_eq!(decode(&out[4..]).unwrap(), m);
    }

    #[test]
    fn every_message_round_trips() {
        let b = BlockRef {
            index: 1,
            begin: 16384,
            length: 16384,
        };
        let hr = HashRequest {
            root: [7; 32],
            base: 0,
            index: 4,
            length: 4,
            proof_layers: 3,
        };
        for m in [
            Message::KeepAlive,
            Message::Choke,
            Message::Unchoke,
            Message::Interested,
            Message::NotInterested,
            Message::Have(7),
            Message::Bitfield(&[0xf0]),
            Message::Request(b),
            Message::Piece {
                index: 2,
                begin: 0,
                data: b"abc",
            },
            Message::Cancel(b),
            Message::Port(6881),
            Message::Suggest(3),
            Message::HaveAll,
            Message::HaveNone,
            Message::Reject(b),
            Message::AllowedFast(4),
            Message::HashRequest(hr),
            Message::Hashes {
                request: hr,
                hashes: &[9; 64],
            },
            Message::HashReject(hr),
        ] {
            round_trip(m);
        }
    }

    #[test]
    fn unknown_and_extended_ids_are_tolerated() {
        assert_eq!(
            decode(&[20, 0, b'd', b'e']).unwrap(),
            Message::Extended {
                id: 0,
                payload: b"de"
            }
        );
        assert!(decode(&[20]).is_err());
        assert_eq!(decode(&[99]).unwrap(), Message::Other(99));
    }

    #[test]
    fn malformed_payloads_are_errors() {
        assert!(decode(&[4, 0, 0]).is_err());
        assert!(decode(&[6, 0, 0, 0, 1]).is_err());
        assert!(decode(&[7, 0, 0, 0]).is_err());
        assert!(decode(&[0, 1]).is_err());
        assert!(decode(&[21; 48]).is_err(), "a hash request one byte short");
        assert!(decode(&[22; 60]).is_err(), "hashes with a partial hash");
        assert_eq!(
            frame_len(&[0xff, 0xff, 0xff, 0xff], 1 << 20),
            Err(WireError::TooLong(u32::MAX))
        );
        assert_eq!(frame_len(&[0, 0], 10), Ok(None));
    }

    #[test]
    fn handshake_round_trips_and_checks_protocol() {
        let h = Handshake {
            reserved: [0; 8],
            info_hash: [1; 20],
            peer_id: [2; 20],
        };
        assert_eq!(Handshake::decode(&h.encode()).unwrap(), h);
        let mut bad = h.encode();
        bad[3] = b'x';
        assert_eq!(Handshake::decode(&bad), Err(WireError::BadHandshake));
    }

    #[test]
    fn piece_header_matches_encoder() {
        let mut out = Vec::new();
        encode(
            &Message::Piece {
                index: 5,
                begin: 32768,
                data: &[9; 10],
            },
            &mut out,
        );
        assert_eq!(&out[..13], &piece_header(5, 32768, 10));
    }

    #[test]
    fn reserved_bits_announce_extensions() {
        let mut reserved = [0u8; 8];
        assert!(!supports_extensions(&reserved));
        reserved[5] = 0x10;
        assert!(supports_extensions(&reserved));
        round_trip(Message::Extended {
            id: 0,
            payload: b"d1:pi6881ee",
        });
    }

    #[test]
    fn fast_extension_is_byte_7_bit_4() {
        let mut reserved = [0u8; 8];
        assert!(!supports_fast(&reserved));
        reserved[7] = 0x04;
        assert!(supports_fast(&reserved));
        assert!(!supports_extensions(&reserved));
        assert!(!supports_dht(&reserved));
        reserved[7] |= 0x01;
        assert!(supports_dht(&reserved));
        // libtorrent's reserved bytes: extension protocol, fast, DHT.
        let lt = [0, 0, 0, 0, 0, 0x10, 0, 0x05];
        assert!(supports_fast(&lt) && supports_extensions(&lt));
    }
}
