//! A scripted BitTorrent peer speaking the way stock clients do: every reserved
//! bit they commonly set (BEP 10 extension protocol, BEP 6 fast, DHT), an
//! extended handshake, `port` messages, keep-alives, ids nobody knows, and a
//! bitfield sent lazily with the rest as `have`s. All of it is valid BitTorrent
//! that a peer may not use, and none of it may cost the connection.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Reserved bytes as libtorrent sends them: extension protocol, fast, DHT.
pub const STOCK_RESERVED: [u8; 8] = [0, 0, 0, 0, 0, 0x10, 0, 0x05];

pub fn handshake(info_hash: &[u8; 20], peer_id: &[u8; 20]) -> Vec<u8> {
    let mut h = vec![19];
    h.extend_from_slice(b"BitTorrent protocol");
    h.extend_from_slice(&STOCK_RESERVED);
    h.extend_from_slice(info_hash);
    h.extend_from_slice(peer_id);
    h
}

/// Reads the other side's handshake and returns its reserved bytes and info-hash.
pub fn read_handshake(s: &mut TcpStream) -> ([u8; 8], [u8; 20]) {
    let mut b = [0u8; 68];
    s.read_exact(&mut b).expect("a handshake");
    assert_eq!(
        &b[..20],
        b"\x13BitTorrent protocol",
        "a BitTorrent handshake"
    );
    (b[20..28].try_into().unwrap(), b[28..48].try_into().unwrap())
}

pub fn msg(id: u8, payload: &[u8]) -> Vec<u8> {
    let mut m = ((payload.len() + 1) as u32).to_be_bytes().to_vec();
    m.push(id);
    m.extend_from_slice(payload);
    m
}

pub const KEEP_ALIVE: [u8; 4] = [0; 4];

/// What stock clients send right after the handshake, none of which we use.
pub fn chatter() -> Vec<u8> {
    let mut out = Vec::new();
    // BEP 10 extended handshake (id 20, extended id 0).
    let mut ext = vec![0u8];
    ext.extend_from_slice(b"d1:md11:ut_metadatai2e6:ut_pexi1ee1:pi6881e1:v12:scripted 1.0e");
    out.extend(msg(20, &ext));
    // BEP 5 `port`, a keep-alive, and an id from the future with a payload.
    out.extend(msg(9, &6881u16.to_be_bytes()));
    out.extend(KEEP_ALIVE);
    out.extend(msg(99, b"later"));
    out
}

pub fn request(index: u32, begin: u32, length: u32) -> Vec<u8> {
    let mut p = Vec::new();
    for n in [index, begin, length] {
        p.extend_from_slice(&n.to_be_bytes());
    }
    msg(6, &p)
}

pub fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

/// The next message as (id, payload); `None` for a keep-alive or at a clean close.
pub fn read_msg(s: &mut TcpStream) -> Option<Option<(u8, Vec<u8>)>> {
    let mut len = [0u8; 4];
    if s.read_exact(&mut len).is_err() {
        return None;
    }
    let len = u32::from_be_bytes(len) as usize;
    if len == 0 {
        return Some(None);
    }
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).expect("a whole message");
    Some(Some((body[0], body[1..].to_vec())))
}

pub fn send(s: &mut TcpStream, bytes: &[u8]) {
    s.write_all(bytes)
        .expect("the peer keeps the connection open");
}
