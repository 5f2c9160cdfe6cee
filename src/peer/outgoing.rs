//! What a connection is asked to send: the commands the torrent core and a
//! session give a connection's writer thread.

use crate::common::wire::{BlockRef, HashRequest};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    Choke,
    Unchoke,
    Interested,
    NotInterested,
    Have(u32),
    Bitfield(Vec<u8>),
    Request(BlockRef),
    Cancel(BlockRef),
    /// Serve a block the peer requested: the writer reads it from disk itself.
    Block(BlockRef),
    /// BEP 6: a request we will not serve.
    Reject(BlockRef),
    /// BEP 6 `have all` / `have none`, in place of a bitfield.
    HaveAll,
    HaveNone,
    /// A non-fast peer asked for more than we queue: choke it, which tells it
    /// its requests are gone, and unchoke it again unless the choker says otherwise.
    Throttle,
    /// A BEP 10 extended message, with the id the peer gave that extension
    /// (0: the extension handshake).
    Extended(u8, Vec<u8>),
    /// BEP 5: the UDP port of our DHT node.
    Port(u16),
    /// BEP 52: answer a peer's hash request; the writer reads a piece
    /// from disk if the answer needs its block hashes.
    HashAnswer(HashRequest),
    /// BEP 52: a hash request we will not answer.
    HashReject(HashRequest),
    /// BEP 52: ask for block hashes, to repair a piece.
    HashRequest(HashRequest),
}
