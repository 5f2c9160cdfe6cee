//! A token bucket shared by threads: it enforces a `RATE` by making takers sleep.

use std::sync::Mutex;
use std::time::{Duration, Instant};

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
