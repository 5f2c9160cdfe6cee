//! BEP 9 `ut_metadata`, the serving side: a peer that joined by magnet link
//! asks for the info dictionary in 16 KiB pieces, and we send each one.
//! Fetching metadata comes with magnet links (issue 13). Pure.

use crate::common::bencode::{self, Encoder, Value};

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

#[cfg(test)]
mod tests {
    use super::*;

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
