//! What the terminal is like: its width, for tables that must not wrap.

/// Columns when the width cannot be read (not a terminal, no `COLUMNS`).
pub const DEFAULT_WIDTH: usize = 80;

/// The width of the terminal on stdout; else `COLUMNS`; else 80.
pub fn width() -> usize {
    width_of(libc::STDOUT_FILENO)
}

/// The width of the terminal on stderr, where progress lines go.
pub fn stderr_width() -> usize {
    width_of(libc::STDERR_FILENO)
}

fn width_of(fd: libc::c_int) -> usize {
    // SAFETY: TIOCGWINSZ only writes a winsize into the struct it is given.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } == 0;
    if ok && ws.ws_col > 0 {
        return usize::from(ws.ws_col);
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse().ok())
        .filter(|&c: &usize| c > 0)
        .unwrap_or(DEFAULT_WIDTH)
}

/// The terminal's mode on stdin as it was when saved, to put back on a way
/// out that skips the line editor's own restore (a SIGTERM mid-prompt).
pub struct SavedMode(libc::termios);

impl SavedMode {
    /// None when stdin is not a terminal.
    pub fn save() -> Option<SavedMode> {
        // SAFETY: tcgetattr only writes a termios into the struct it is given.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        (unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut t) } == 0).then_some(SavedMode(t))
    }

    pub fn restore(&self) {
        // SAFETY: tcsetattr only reads the termios it is given.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.0);
        }
    }
}
