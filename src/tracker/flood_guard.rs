//! A token bucket per source address, so one address sending as fast as it can
//! gets its share and no more, and honest clients keep getting answers. The
//! table is bounded: buckets that have refilled are forgotten (a new bucket
//! starts full, so nothing is lost), and past `MAX_TRACKED` addresses new ones
//! are let through untracked rather than refused. Pure: time is passed in.

use core::net::IpAddr;
use std::collections::HashMap;

/// Addresses tracked at once, per guard.
pub const MAX_TRACKED: usize = 100_000;

struct Bucket {
    tokens: f64,
    at_ms: u64,
}

pub struct FloodGuard {
    /// Datagrams a second one address may send; 0 turns the guard off.
    rate: u32,
    buckets: HashMap<IpAddr, Bucket>,
    last_sweep_ms: u64,
}

impl FloodGuard {
    /// `rate` datagrams a second per address, with bursts of twice that.
    pub fn new(rate: u32) -> FloodGuard {
        FloodGuard {
            rate,
            buckets: HashMap::new(),
            last_sweep_ms: 0,
        }
    }

    fn burst(&self) -> f64 {
        2.0 * self.rate as f64
    }

    /// Whether a datagram from `ip` is answered.
    pub fn admit(&mut self, ip: IpAddr, now_ms: u64) -> bool {
        if self.rate == 0 {
            return true;
        }
        if now_ms.saturating_sub(self.last_sweep_ms) >= 1000 {
            self.sweep(now_ms);
        }
        let (rate, burst) = (self.rate as f64, self.burst());
        if !self.buckets.contains_key(&ip) && self.buckets.len() >= MAX_TRACKED {
            return true;
        }
        let b = self.buckets.entry(ip).or_insert(Bucket {
            tokens: burst,
            at_ms: now_ms,
        });
        let elapsed = now_ms.saturating_sub(b.at_ms) as f64 / 1000.0;
        b.tokens = (b.tokens + elapsed * rate).min(burst);
        b.at_ms = now_ms;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Forgets buckets that would be full by now.
    fn sweep(&mut self, now_ms: u64) {
        let (rate, burst) = (self.rate as f64, self.burst());
        self.buckets.retain(|_, b| {
            b.tokens + now_ms.saturating_sub(b.at_ms) as f64 / 1000.0 * rate < burst
        });
        self.last_sweep_ms = now_ms;
    }

    /// Addresses tracked now.
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flooder_gets_its_rate_and_others_are_untouched() {
        let mut g = FloodGuard::new(100);
        let flooder: IpAddr = "10.0.0.66".parse().unwrap();
        let honest: IpAddr = "10.0.0.1".parse().unwrap();
        // A burst of twice the rate, then nothing until tokens come back.
        let admitted = (0..1000).filter(|_| g.admit(flooder, 0)).count();
        assert_eq!(admitted, 200);
        assert!(g.admit(honest, 0));
        // Half a second later: 50 more.
        let admitted = (0..1000).filter(|_| g.admit(flooder, 500)).count();
        assert_eq!(admitted, 50);
        assert!(g.admit(honest, 500));
    }

    #[test]
    fn refilled_buckets_are_forgotten_and_zero_turns_it_off() {
        let mut g = FloodGuard::new(10);
        for i in 0..50u8 {
            g.admit(IpAddr::from([10, 0, 0, i]), 0);
        }
        assert_eq!(g.tracked(), 50);
        g.admit(IpAddr::from([10, 0, 1, 1]), 5_000);
        assert_eq!(g.tracked(), 1, "only the address seen last");
        let mut off = FloodGuard::new(0);
        assert!((0..100_000).all(|_| off.admit(IpAddr::from([1, 2, 3, 4]), 0)));
        assert_eq!(off.tracked(), 0);
    }
}
