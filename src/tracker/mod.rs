//! The tracker: HTTP announce and scrape, plus publishing, keyword search and
//! fetching of `.torrent` files. `registry` and `search_index` are pure;
//! `store` owns the files and `server` the sockets.

pub mod page;
pub mod registry;
pub mod search_index;
pub mod server;
pub mod store;
