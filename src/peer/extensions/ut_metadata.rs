//! BEP 9 `ut_metadata`: the info dictionary in 16 KiB pieces. Serving: a peer
//! that joined by magnet link asks for each piece and we send it (`answer`).
//! Fetching: we joined by magnet link and ask one peer for every piece
//! (`MetadataFetch`), then check the whole against the info-hash. Pure.

use sha1::{Digest, Sha1};

use crate::common::bencode::{self, Encoder, Value};
use crate::common::metainfo::InfoHash;

pub const NAME: &str = "ut_metadata";
/// BEP 9's metadata piece size.
pub const PIECE: usize = 16 * 1024;
/// Answers per connection, as a multiple of the metadata's pieces: an honest
/// peer asks for each piece about once, and a peer that asks again and again
/// is refused rather than sent the same bytes without end.
const ASKS_PER_PIECE: usize = 4;

const REQUEST: i64 = 0;
const DATA: i64 = 1;
const REJECT: i64 = 2;

/// The answer to one message from the peer, if it needs one: the piece it
/// asked for, or a reject for a piece that does not exist or for a peer that
/// has asked too often. Data and rejects sent to us are ignored: we ask for
/// nothing yet.
pub fn answer(metadata: &[u8], payload: &[u8], served: &mut usize) -> Option<Vec<u8>> {
    let (msg, _) = bencode::decode_prefix(payload).ok()?;
    let d = msg.as_dict()?;
    if d.get("msg_type").and_then(Value::as_int)? != REQUEST {
        return None;
    }
    let piece = d.get("piece").and_then(Value::as_int)?;
    let pieces = metadata.len().div_ceil(PIECE);
    let mut out = Vec::new();
    let mut e = Encoder::new(&mut out);
    let start = usize::try_from(piece)
        .ok()
        .and_then(|p| p.checked_mul(PIECE));
    match start {
        Some(start) if start < metadata.len() && *served < pieces * ASKS_PER_PIECE => {
            *served += 1;
            let end = (start + PIECE).min(metadata.len());
            e.begin_dict()
                .str("msg_type")
                .int(DATA)
                .str("piece")
                .int(piece)
                .str("total_size")
                .int(metadata.len() as i64)
                .end();
            out.extend_from_slice(&metadata[start..end]);
        }
        _ => {
            e.begin_dict()
                .str("msg_type")
                .int(REJECT)
                .str("piece")
                .int(piece)
                .end();
        }
    }
    Some(out)
}

/// The largest metadata we fetch: a peer claiming more is refused, so a liar
/// cannot make us hold gigabytes. Real info dictionaries are kilobytes to a
/// few megabytes (20 bytes per piece).
pub const MAX_METADATA: u64 = 32 << 20;
/// Requests in flight to one peer.
const PIPELINE: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("metadata_size {0} is over the {MAX_METADATA}-byte limit")]
    TooBig(u64),
    #[error("metadata_size is 0")]
    Empty,
    #[error("a metadata piece that does not fit: {0}")]
    BadPiece(String),
    #[error("the peer refused to send metadata piece {0}")]
    Rejected(i64),
    #[error("the metadata does not hash to the info-hash")]
    WrongHash,
}

/// One peer's metadata, piece by piece, as BEP 9 sends it.
#[derive(Debug)]
pub struct MetadataFetch {
    buf: Vec<u8>,
    got: Vec<bool>,
    asked: usize,
    in_flight: usize,
}

impl MetadataFetch {
    /// `size` is the peer's `metadata_size` from its extension handshake.
    pub fn new(size: u64) -> Result<MetadataFetch, FetchError> {
        if size == 0 {
            return Err(FetchError::Empty);
        }
        if size > MAX_METADATA {
            return Err(FetchError::TooBig(size));
        }
        let size = size as usize;
        Ok(MetadataFetch {
            buf: vec![0; size],
            got: vec![false; size.div_ceil(PIECE)],
            asked: 0,
            in_flight: 0,
        })
    }

    /// Request payloads to send now, keeping PIPELINE in flight.
    pub fn requests(&mut self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while self.in_flight < PIPELINE && self.asked < self.got.len() {
            out.push(format!("d8:msg_typei{REQUEST}e5:piecei{}ee", self.asked).into_bytes());
            self.asked += 1;
            self.in_flight += 1;
        }
        out
    }

    /// A `ut_metadata` message from the peer. Ok(Some(reply)) answers a
    /// request of theirs: we have nothing to serve yet, so it is a reject.
    pub fn on_message(&mut self, payload: &[u8]) -> Result<Option<Vec<u8>>, FetchError> {
        let bad = |why: &str| FetchError::BadPiece(why.to_owned());
        let (msg, header) = bencode::decode_prefix(payload).map_err(|e| bad(&e.to_string()))?;
        let d = msg.as_dict().ok_or_else(|| bad("not a dictionary"))?;
        let piece = d
            .get("piece")
            .and_then(Value::as_int)
            .ok_or_else(|| bad("no piece"))?;
        match d.get("msg_type").and_then(Value::as_int) {
            Some(REQUEST) => Ok(Some(
                format!("d8:msg_typei{REJECT}e5:piecei{piece}ee").into_bytes(),
            )),
            Some(REJECT) => Err(FetchError::Rejected(piece)),
            Some(DATA) => {
                let total = d.get("total_size").and_then(Value::as_int);
                if total.is_some_and(|t| t != self.buf.len() as i64) {
                    return Err(bad("total_size differs from metadata_size"));
                }
                let i = usize::try_from(piece)
                    .ok()
                    .filter(|&i| i < self.got.len())
                    .ok_or_else(|| bad("piece out of range"))?;
                let start = i * PIECE;
                let end = (start + PIECE).min(self.buf.len());
                let data = &payload[header..];
                if data.len() != end - start {
                    return Err(bad("wrong length"));
                }
                if !self.got[i] {
                    self.got[i] = true;
                    self.in_flight = self.in_flight.saturating_sub(1);
                    self.buf[start..end].copy_from_slice(data);
                }
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    pub fn is_complete(&self) -> bool {
        self.got.iter().all(|&g| g)
    }

    /// The whole info dictionary, if it hashes to `info_hash`.
    pub fn verified(self, info_hash: &InfoHash) -> Result<Vec<u8>, FetchError> {
        let digest: [u8; 20] = Sha1::digest(&self.buf).into();
        // A v2 torrent goes by its SHA-256 cut to 20 bytes (BEP 52).
        let v2 = || sha2::Sha256::digest(&self.buf)[..20] == info_hash.0;
        if self.is_complete() && (digest == info_hash.0 || v2()) {
            Ok(self.buf)
        } else {
            Err(FetchError::WrongHash)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plays an honest peer serving `metadata` to `f` until it is complete.
    fn serve_all(f: &mut MetadataFetch, metadata: &[u8]) {
        let mut served = 0;
        loop {
            let asks = f.requests();
            if asks.is_empty() {
                break;
            }
            for ask in asks {
                let data = answer(metadata, &ask, &mut served).unwrap();
                assert_eq!(f.on_message(&data), Ok(None));
            }
        }
    }

    #[test]
    fn fetches_every_piece_and_checks_the_hash() {
        let metadata: Vec<u8> = (0..(PIECE * 20 + 5)).map(|i| (i * 7) as u8).collect();
        let key = InfoHash(Sha1::digest(&metadata).into());
        let mut f = MetadataFetch::new(metadata.len() as u64).unwrap();
        assert!(f.requests().len() <= PIPELINE);
        let mut f2 = MetadataFetch::new(metadata.len() as u64).unwrap();
        serve_all(&mut f2, &metadata);
        assert!(f2.is_complete());
        assert_eq!(f2.verified(&key).unwrap(), metadata);
        // The same bytes under another key are refused.
        let mut f3 = MetadataFetch::new(metadata.len() as u64).unwrap();
        serve_all(&mut f3, &metadata);
        assert_eq!(f3.verified(&InfoHash([1; 20])), Err(FetchError::WrongHash));
        // Incomplete is never verified.
        assert_eq!(f.verified(&key), Err(FetchError::WrongHash));
    }

    #[test]
    fn refuses_liars_and_oversized_or_empty_metadata() {
        assert_eq!(
            MetadataFetch::new(MAX_METADATA + 1).unwrap_err(),
            FetchError::TooBig(MAX_METADATA + 1)
        );
        assert_eq!(MetadataFetch::new(0).unwrap_err(), FetchError::Empty);
        let mut f = MetadataFetch::new(100).unwrap();
        f.requests();
        let short = b"d8:msg_typei1e5:piecei0e10:total_sizei100eexx";
        assert!(matches!(f.on_message(short), Err(FetchError::BadPiece(_))));
        let other_size = b"d8:msg_typei1e5:piecei0e10:total_sizei99ee";
        assert!(matches!(
            f.on_message(other_size),
            Err(FetchError::BadPiece(_))
        ));
        let far = b"d8:msg_typei1e5:piecei7e10:total_sizei100ee";
        assert!(matches!(f.on_message(far), Err(FetchError::BadPiece(_))));
        assert!(matches!(
            f.on_message(b"garbage"),
            Err(FetchError::BadPiece(_))
        ));
        assert_eq!(
            f.on_message(b"d8:msg_typei2e5:piecei0ee"),
            Err(FetchError::Rejected(0))
        );
        // A peer asking us is told no: we have nothing yet.
        assert_eq!(
            f.on_message(b"d8:msg_typei0e5:piecei3ee"),
            Ok(Some(b"d8:msg_typei2e5:piecei3ee".to_vec()))
        );
    }

    fn request(piece: i64) -> Vec<u8> {
        format!("d8:msg_typei0e5:piecei{piece}ee").into_bytes()
    }

    #[test]
    fn serves_each_piece_with_the_total_size() {
        let metadata: Vec<u8> = (0..40_000u32).map(|i| i as u8).collect();
        let mut served = 0;
        let first = answer(&metadata, &request(0), &mut served).unwrap();
        let head = b"d8:msg_typei1e5:piecei0e10:total_sizei40000ee";
        assert_eq!(&first[..head.len()], head);
        assert_eq!(&first[head.len()..], &metadata[..PIECE]);
        let last = answer(&metadata, &request(2), &mut served).unwrap();
        assert!(last.ends_with(&metadata[2 * PIECE..]));
        assert_eq!(last.len() - metadata[2 * PIECE..].len(), head.len());
        assert_eq!(served, 2);
    }

    #[test]
    fn rejects_pieces_past_the_end_and_peers_that_ask_too_often() {
        let metadata = vec![1u8; 100];
        let mut served = 0;
        let reject = b"d8:msg_typei2e5:piecei1ee".to_vec();
        assert_eq!(answer(&metadata, &request(1), &mut served), Some(reject));
        assert!(
            answer(&metadata, &request(-1), &mut served)
                .is_some_and(|r| r.starts_with(b"d8:msg_typei2e"))
        );
        for _ in 0..ASKS_PER_PIECE {
            assert!(
                answer(&metadata, &request(0), &mut served)
                    .unwrap()
                    .starts_with(b"d8:msg_typei1e")
            );
        }
        assert!(
            answer(&metadata, &request(0), &mut served)
                .unwrap()
                .starts_with(b"d8:msg_typei2e")
        );
    }

    #[test]
    fn ignores_data_rejects_and_garbage() {
        let mut served = 0;
        assert_eq!(
            answer(b"x", b"d8:msg_typei1e5:piecei0ee", &mut served),
            None
        );
        assert_eq!(
            answer(b"x", b"d8:msg_typei2e5:piecei0ee", &mut served),
            None
        );
        assert_eq!(answer(b"x", b"not bencode", &mut served), None);
        assert_eq!(answer(b"x", b"d8:msg_typei0ee", &mut served), None);
    }
}
