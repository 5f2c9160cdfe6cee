//! Formats and codecs shared by the tracker and the peer. Nothing here does I/O:
//! no socket, file, thread, lock or clock (tests/architecture.rs checks).

pub mod address;
pub mod bencode;
pub mod bitfield;
pub mod extension_handshake;
pub mod file_tree;
pub mod http;
pub mod magnet;
pub mod merkle;
pub mod metainfo;
pub mod metainfo_checks;
pub mod metainfo_v2_encode;
pub mod peer_id;
pub mod rate;
pub mod tracker_http;
pub mod tracker_proto;
pub mod tracker_udp;
pub mod units;
pub mod wire;
