//! The peer: shares `upload/`, searches the tracker, downloads in verified
//! pieces from every peer that has a file, and resumes after any kind of stop.
//!
//! The protocol logic is pure (no socket, file, thread, lock or clock):
//! `torrent_core` (one torrent: peers, choking, bans, dialling) built on
//! `piece_picker`, `choker` and `super_seed`; `session` (one connection:
//! the request pipeline and the answers to requests); `extensions` (BEP 10,
//! one module per extension); `announce_schedule`. The threaded shells feed
//! them events and carry out what they say: `torrent` and `connection`
//! (with `handshake` and `connection_context`), `verifier`, `engine` (which
//! says what each thread owns and the lock order), `announcer`, `share`.
//!
//! The user interface: `commands` (one function per subcommand),
//! `interactive` (the line prompt, read through `line_input`) and `tui` (the
//! full-screen view) start a peer through `startup::RunningPeer`, show text
//! made by `format` (pure) and `status`, and find every path in the home
//! through `home::Layout`. `logging` decides where log lines go: stderr for a
//! command run once, `peer.log` (and only warnings on the screen) for the
//! interactive modes.

pub mod announce_schedule;
pub mod announcer;
pub mod block_repair;
pub mod choker;
pub mod commands;
pub mod connection;
pub mod connection_context;
pub mod dht;
pub mod engine;
pub mod error;
pub mod extensions;
pub mod format;
pub mod handshake;
pub mod hash_answer;
pub mod home;
pub mod inbound_handshakes;
pub mod index_client;
pub mod interactive;
pub mod ledger;
pub mod line_input;
pub mod logging;
pub mod magnet_fetch;
pub mod outgoing;
pub mod own_address;
pub mod peer_stats;
pub mod piece_buffer;
pub mod piece_layer_fetch;
pub mod piece_picker;
pub mod resume;
pub mod session;
pub mod share;
pub mod startup;
pub mod status;
pub mod storage;
pub mod super_seed;
pub mod torrent;
pub mod torrent_core;
pub mod torrent_maker;
pub mod tracker_tiers;
pub mod tui;
pub mod verifier;
