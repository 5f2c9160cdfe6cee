//! The tracker: HTTP announce and scrape, plus publishing, keyword search and
//! fetching of `.torrent` files. `registry` and `search_index` are pure;
//! `store` owns the files, `server` the routes and their locks, and
//! `reactor` the connections.

pub mod page;
pub mod reactor;
pub mod registry;
pub mod search_index;
pub mod server;
pub mod store;
