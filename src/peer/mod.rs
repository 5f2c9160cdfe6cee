//! The peer: shares `upload/`, searches the tracker, downloads in verified
//! pieces from every peer that has a file, and resumes after any kind of stop.
//!
//! `piece_picker` and `choker` are pure; `connection`, `engine` and `share`
//! are the threaded shells that own sockets and files.
//!
//! The user interface: `commands` (one function per subcommand) and
//! `interactive` (the prompt) start a peer through `startup::Session`, show
//! text made by `format` (pure) and `status`, and find every path in the home
//! through `home::Layout`.

pub mod choker;
pub mod commands;
pub mod connection;
pub mod engine;
pub mod error;
pub mod format;
pub mod handshakes;
pub mod home;
pub mod interactive;
pub mod ledger;
pub mod piece_buffer;
pub mod piece_picker;
pub mod resume;
pub mod share;
pub mod startup;
pub mod status;
pub mod storage;
pub mod super_seed;
pub mod torrent;
pub mod tracker_client;
pub mod verifier;
