//! The tracker: announce and scrape, plus publishing, keyword search and
//! fetching of `.torrent` files. `registry`, `search_index` and `state` (the
//! two together, as every route sees them) are pure; `store` owns the files,
//! `server` the operations and their locks, `http_routes` the HTTP face of
//! them, and `reactor` the connections.

pub mod connection_ids;
pub mod flood_guard;
pub mod http_routes;
pub mod page;
pub mod reactor;
pub mod registry;
pub mod search_index;
pub mod server;
pub mod state;
pub mod store;
pub mod udp_endpoint;
pub mod udp_server;
