//! Formats and codecs shared by the tracker and the peer. Nothing here opens a socket.

pub mod atomic_file;
pub mod bencode;
pub mod bitfield;
pub mod http;
pub mod metainfo;
pub mod rate;
pub mod tracker_http;
pub mod tracker_proto;
pub mod wire;
