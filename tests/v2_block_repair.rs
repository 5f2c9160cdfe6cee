//! BEP 52 in a swarm with a liar: a peer that serves a v2 torrent with one
//! bad 16 KiB block in every piece. The downloader asks an honest peer for
//! the piece's block hashes (a hash request, answered by our own seeder),
//! finds the one bad block, fetches only it again, and bans the liar at its
//! first bad piece, not its third.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use support::*;
use swarmshare::common::metainfo::InfoHash;

/// 24 MiB: past 16 MiB our maker picks 32 KiB pieces, two blocks each, the
/// least a block repair can narrow down.
const SIZE: usize = 24 << 20;
const PIECE: usize = 32 * 1024;
const BLOCK: usize = 16 * 1024;

fn read_msg(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).ok()?;
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut body).ok()?;
    Some(body)
}

/// A seeder of `content` whose second block of every piece is flipped; it
/// answers no hash request. Counts connections and the bad blocks it sent.
fn liar(
    content: Arc<Vec<u8>>,
    hash: [u8; 20],
    dialled: Arc<AtomicUsize>,
    lies: Arc<AtomicUsize>,
) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { continue };
            dialled.fetch_add(1, Ordering::Relaxed);
            let (content, lies) = (content.clone(), lies.clone());
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(60)));
                let mut hs = [0u8; 68];
                if s.read_exact(&mut hs).is_err() {
                    return;
                }
                let pieces = content.len() / PIECE;
                let mut out = vec![19u8];
                out.extend_from_slice(b"BitTorrent protocol");
                out.extend_from_slice(&[0; 8]);
                out.extend_from_slice(&hash);
                out.extend_from_slice(b"-LI0000-v2-liar-0000");
                out.extend_from_slice(&(1 + pieces as u32 / 8).to_be_bytes());
                out.push(5);
                out.extend(std::iter::repeat_n(0xffu8, pieces / 8));
                if s.write_all(&out).is_err() {
                    return;
                }
                while let Some(body) = read_msg(&mut s) {
                    let reply = match body.first() {
                        Some(2) => vec![0, 0, 0, 1, 1],
                        Some(6) if body.len() == 13 => {
                            let index = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
                            let begin = u32::from_be_bytes(body[5..9].try_into().unwrap()) as usize;
                            let n = u32::from_be_bytes(body[9..13].try_into().unwrap()) as usize;
                            let at = index * PIECE + begin;
                            let mut block = content[at..at + n].to_vec();
                            if begin == BLOCK {
                                block[100] ^= 0xff;
                                lies.fetch_add(1, Ordering::Relaxed);
                            }
                            let mut m = ((9 + n) as u32).to_be_bytes().to_vec();
                            m.push(7);
                            m.extend_from_slice(&body[1..9]);
                            m.extend_from_slice(&block);
                            m
                        }
                        _ => continue,
                    };
                    if s.write_all(&reply).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn one_bad_block_is_fetched_again_alone_and_its_sender_banned() {
    let dir = tempfile::tempdir().unwrap();
    let content = Arc::new(data(SIZE, 52));
    // The honest seeder is slow, so the liar gets pieces to lie about.
    let s = seeded(
        dir.path(),
        "merkle.bin",
        &content,
        &["--torrent-format", "v2", "--upload-rate", "4M"],
    );
    assert_eq!(s.found.key.len(), 64, "a v2-only torrent: {}", s.found.key);
    let hash = InfoHash::from_hex(&s.found.key).unwrap().0;
    let (dialled, lies) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let liar = liar(content.clone(), hash, dialled.clone(), lies.clone());
    let h = dir.path().join("victim");
    let out = peer_cmd(
        s.tracker.port,
        &h,
        &["--connect", &liar.to_string(), "download", "merkle.bin"],
        Duration::from_secs(120),
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        std::fs::read(h.join("downloads/merkle.bin")).unwrap() == *content,
        "byte for byte"
    );
    assert!(
        lies.load(Ordering::Relaxed) >= 1,
        "the liar sent a bad block: {log}"
    );
    assert!(
        log.contains("block 1 of 2 proved bad by the block hashes from"),
        "the bad block named, and only it fetched again: {log}"
    );
    assert!(
        log.contains("it sent a block that does not match its hash"),
        "banned for it: {log}"
    );
    assert!(
        !log.contains("strike 2"),
        "banned at the first bad piece, no strikes needed: {log}"
    );
    assert_eq!(
        dialled.load(Ordering::Relaxed),
        1,
        "the banned liar was dialled again"
    );
}
