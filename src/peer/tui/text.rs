//! Small text helpers every part of the view shares: outside text made safe
//! to draw, rates, bars. Cutting and counting are `format`'s.

use crate::peer::format::human;

/// Text from outside (names, log lines) with control characters blanked, so
/// none can move the cursor.
pub fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A rate for a column: `1.2 MB`, the unit per second being in the header.
pub fn rate(bytes_per_sec: u64) -> String {
    human(bytes_per_sec)
}

/// A text progress bar `width` cells wide: full blocks, then light shade.
pub fn bar(percent: f64, width: usize) -> String {
    let full = (((percent / 100.0) * width as f64).floor() as usize).min(width);
    "█".repeat(full) + &"░".repeat(width - full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_blanked() {
        assert_eq!(clean("a\x1b[2Jb\r\n"), "a [2Jb  ");
    }

    #[test]
    fn a_bar_fills_in_whole_cells() {
        assert_eq!(bar(0.0, 4), "░░░░");
        assert_eq!(bar(49.0, 4), "█░░░");
        assert_eq!(bar(100.0, 4), "████");
        assert_eq!(bar(250.0, 2), "██");
    }
}
