//! STUB, replaced at merge by the logging branch's file (same API): the log
//! lines kept in memory for the full-screen view's log pane, and a switch
//! that keeps log lines off the screen while the view is drawn.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

const KEPT: usize = 200;

static SCREEN: AtomicBool = AtomicBool::new(true);
static RECENT: Mutex<VecDeque<String>> = Mutex::new(VecDeque::new());

/// The last `n` log lines, newest last.
pub fn recent(n: usize) -> Vec<String> {
    let r = RECENT.lock().unwrap_or_else(|e| e.into_inner());
    r.iter().skip(r.len().saturating_sub(n)).cloned().collect()
}

/// false: nothing is written to stderr (the full-screen view is up).
pub fn set_screen(on: bool) {
    SCREEN.store(on, Ordering::Relaxed);
}

/// Whether log lines may go to stderr.
pub fn screen() -> bool {
    SCREEN.load(Ordering::Relaxed)
}

/// Keeps a log line for `recent`.
pub fn remember(line: String) {
    let mut r = RECENT.lock().unwrap_or_else(|e| e.into_inner());
    if r.len() == KEPT {
        r.pop_front();
    }
    r.push_back(line);
}
