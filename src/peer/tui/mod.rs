//! The full-screen view: `peer IP PORT` with no command, on a terminal.
//!
//! Pure parts, tested without a terminal or a peer: `snapshot` (what the
//! engine shows, copied out once per redraw), `app` (the view's state and its
//! answer to each key), `rate_history`, `client_id` (who a peer is, from its
//! id), `text`, and the drawing, `render` and `detail`, which
//! ratatui's `TestBackend` checks cell by cell. The shell, `shell`, owns the
//! terminal and the loop; `reader` fills a snapshot from the engine.

pub mod app;
pub mod detail;
pub mod rate_history;
pub mod reader;
pub mod render;
pub mod shell;
pub mod snapshot;
pub mod text;

pub use shell::run;
