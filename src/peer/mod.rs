//! The peer: shares `upload/`, searches the tracker, downloads in verified
//! pieces from every peer that has a file, and resumes after any kind of stop.
//!
//! `piece_picker` and `choker` are pure; `connection`, `engine` and `share`
//! are the threaded shells that own sockets and files.

pub mod announce_schedule;
pub mod announcer;
pub mod choker;
pub mod commands;
pub mod connection;
pub mod connection_context;
pub mod engine;
pub mod error;
pub mod extensions;
pub mod handshake;
pub mod home;
pub mod inbound_handshakes;
pub mod index_client;
pub mod interactive;
pub mod ledger;
pub mod outgoing;
pub mod peer_stats;
pub mod piece_buffer;
pub mod piece_picker;
pub mod resume;
pub mod session;
pub mod share;
pub mod status;
pub mod storage;
pub mod super_seed;
pub mod torrent;
pub mod torrent_core;
pub mod torrent_maker;
pub mod verifier;
