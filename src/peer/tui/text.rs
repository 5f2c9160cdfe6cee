//! Small text helpers every part of the view shares: outside text made safe
//! to draw, rates, bars, counted nouns.

use crate::peer::format::human;

/// Text from outside (names, log lines) with control characters blanked, so
/// none can move the cursor.
pub fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// At most `width` characters; a cut is marked with `…`.
pub fn ellipsis(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_owned();
    }
    if width == 0 {
        return String::new();
    }
    let mut t: String = s.chars().take(width - 1).collect();
    t.push('…');
    t
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

/// `1 download`, `2 downloads`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        let plural = if noun.ends_with("ss") { "es" } else { "s" };
        format!("{n} {noun}{plural}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_blanked() {
        assert_eq!(clean("a\x1b[2Jb\r\n"), "a [2Jb  ");
    }

    #[test]
    fn a_cut_is_marked_with_an_ellipsis() {
        assert_eq!(ellipsis("short", 5), "short");
        assert_eq!(ellipsis("longer", 5), "long…");
        assert_eq!(ellipsis("ééé", 2), "é…");
        assert_eq!(ellipsis("x", 0), "");
    }

    #[test]
    fn a_bar_fills_in_whole_cells() {
        assert_eq!(bar(0.0, 4), "░░░░");
        assert_eq!(bar(49.0, 4), "█░░░");
        assert_eq!(bar(100.0, 4), "████");
        assert_eq!(bar(250.0, 2), "██");
    }

    #[test]
    fn counts_take_the_plural_beyond_one() {
        assert_eq!(count(0, "peer"), "0 peers");
        assert_eq!(count(1, "peer"), "1 peer");
        assert_eq!(count(3, "address"), "3 addresses");
    }
}
