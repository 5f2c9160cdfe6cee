//! Writing to stdout without panicking. `println!` panics when the reader has
//! gone (`peer … serve | head -1`, a closed terminal): a peer that is sharing
//! must not die of that. What the reader would have read is lost, nothing else.

use std::fmt::Arguments;
use std::io::Write;

/// Like `println!`, but a write error is ignored.
#[macro_export]
macro_rules! say {
    () => {
        $crate::sys::stdout::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::sys::stdout::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Like `print!`, but a write error is ignored.
#[macro_export]
macro_rules! say_raw {
    ($($arg:tt)*) => {
        $crate::sys::stdout::write(format_args!($($arg)*))
    };
}

pub fn write(args: Arguments<'_>) {
    let _ = std::io::stdout().lock().write_fmt(args);
}
