//! Operating-system plumbing shared by the tracker's and the peer's threaded
//! shells. Unlike `common`, this does I/O.

pub mod atomic_file;
pub mod epoll;
pub mod http_client;
pub mod listen;
pub mod metainfo_file;
pub mod resolve;
pub mod stdout;
pub mod terminal;
pub mod token_bucket;
pub mod udp_batch;
pub mod udp_tracker_client;
