pub mod registry; pub mod search_index;
