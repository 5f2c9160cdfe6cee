//! Rate limits as the user writes them: parsing `RATE` arguments. The token
//! bucket that enforces them sleeps, so it lives in `sys::token_bucket`.

/// Parses `500000`, `64K`, `2M` (K = 1024, M = 1024²) into bytes per second.
pub fn parse_rate(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (digits, mult) = match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], 1024),
        Some('m' | 'M') => (&s[..s.len() - 1], 1024 * 1024),
        _ => (s, 1),
    };
    let n: f64 = digits.parse().map_err(|_| {
        format!("invalid rate {s:?}: expected bytes per second like 500000, 64K or 2M")
    })?;
    if !(n.is_finite() && n > 0.0) {
        return Err(format!("invalid rate {s:?}: must be greater than zero"));
    }
    Ok(((n * mult as f64) as u64).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_suffixes() {
        assert_eq!(parse_rate("1000"), Ok(1000));
        assert_eq!(parse_rate("64K"), Ok(65536));
        assert_eq!(parse_rate("2m"), Ok(2 * 1024 * 1024));
        assert_eq!(parse_rate("1.5K"), Ok(1536));
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("-5").is_err());
    }
}
