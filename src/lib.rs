//! swarmshare: a BitTorrent-compatible tracker and peer.
//!
//! `common` holds the pure formats (bencode, metainfo, wire codec, HTTP framing);
//! `tracker` and `peer` hold each program's engine. The binaries in `src/bin`
//! only parse arguments and start these.

pub mod common;
pub mod peer;
pub mod sys;
pub mod tracker;
