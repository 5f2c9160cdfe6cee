//! Rate limits: parsing `RATE` arguments and a token bucket shared by threads.

use std::sync::Mutex;
use std::time::{Duration, Instant};

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

/// A token bucket: `take(n)` blocks until `n` bytes may pass. The burst is a
/// quarter second of rate (at least one block), so limits hold over short spans.
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    pub fn new(bytes_per_sec: u64) -> Self {
        let rate = bytes_per_sec as f64;
        let burst = (rate / 4.0).max(16384.0);
        TokenBucket {
            rate,
            burst,
            state: Mutex::new((0.0, Instant::now())),
        }
    }

    pub fn rate(&self) -> u64 {
        self.rate as u64
    }

    pub fn take(&self, n: usize) {
        let wait = {
            let mut st = self.state.lock().expect("token bucket");
            let now = Instant::now();
            let (tokens, last) = *st;
            let tokens = (tokens + now.duration_since(last).as_secs_f64() * self.rate)
                .min(self.burst)
                - n as f64;
            *st = (tokens, now);
            if tokens >= 0.0 {
                Duration::ZERO
            } else {
                Duration::from_secs_f64(-tokens / self.rate)
            }
        };
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }
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
