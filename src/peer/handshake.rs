//! The BEP 3 handshake exchange, both ways: what we claim in the reserved
//! bytes, dialling a peer, and answering one that dialled us (whose
//! handshake `inbound_handshakes` has already read).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::common::wire::{self, HANDSHAKE_LEN, Handshake};

pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// What the peer's handshake told us.
#[derive(Debug, Clone, Copy)]
pub struct PeerHello {
    pub peer_id: [u8; 20],
    /// BEP 10 extension protocol.
    pub extensions: bool,
    /// BEP 6 Fast extension (we always speak it).
    pub fast: bool,
    /// BEP 5: it runs a DHT node, and may send or take a `port` message.
    pub dht: bool,
}

impl PeerHello {
    pub fn of(hs: &Handshake) -> PeerHello {
        PeerHello {
            peer_id: hs.peer_id,
            extensions: wire::supports_extensions(&hs.reserved),
            fast: wire::supports_fast(&hs.reserved),
            dht: wire::supports_dht(&hs.reserved),
        }
    }
}

fn read_handshake(stream: &mut TcpStream) -> io::Result<Handshake> {
    stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    let mut b = [0u8; HANDSHAKE_LEN];
    stream.read_exact(&mut b)?;
    Handshake::decode(&b).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn write_handshake(
    stream: &mut TcpStream,
    info_hash: [u8; 20],
    peer_id: [u8; 20],
    dht: bool,
) -> io::Result<()> {
    // The DHT bit while our node runs, and two reserved bits: the BEP 10 extension protocol (listen ports and
    // metadata) and the BEP 6 Fast extension, so a request we will not serve
    // is rejected rather than left to time out. We claim nothing else.
    let mut reserved = [0u8; 8];
    reserved[wire::EXTENSION_PROTOCOL.0] |= wire::EXTENSION_PROTOCOL.1;
    reserved[wire::FAST_EXTENSION.0] |= wire::FAST_EXTENSION.1;
    if dht {
        reserved[wire::DHT.0] |= wire::DHT.1;
    }
    stream.write_all(
        &Handshake {
            reserved,
            info_hash,
            peer_id,
        }
        .encode(),
    )
}

/// Dials `addr` and exchanges handshakes for `info_hash`. A peer that
/// answers for another torrent, or is ourselves, is an error.
pub fn dial(
    addr: SocketAddr,
    info_hash: [u8; 20],
    my_id: [u8; 20],
    dht: bool,
) -> io::Result<(TcpStream, PeerHello)> {
    let mut s = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
    s.set_write_timeout(Some(HANDSHAKE_TIMEOUT))?;
    write_handshake(&mut s, info_hash, my_id, dht)?;
    let hs = read_handshake(&mut s)?;
    if hs.info_hash != info_hash || hs.peer_id == my_id {
        return Err(io::Error::other("wrong torrent, or ourselves"));
    }
    s.set_write_timeout(None)?;
    Ok((s, PeerHello::of(&hs)))
}

/// Answers a peer whose handshake has been read, within `timeout`.
pub fn answer(
    stream: &mut TcpStream,
    info_hash: [u8; 20],
    my_id: [u8; 20],
    timeout: Duration,
    dht: bool,
) -> io::Result<()> {
    stream.set_write_timeout(Some(timeout))?;
    write_handshake(stream, info_hash, my_id, dht)?;
    stream.set_write_timeout(None)
}
