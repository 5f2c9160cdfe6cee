//! Operating-system plumbing shared by the tracker's and the peer's threaded
//! shells. Unlike `common`, this does I/O.

pub mod epoll;
pub mod http_client;
