//! BEP 15 connection ids that cost the tracker no memory: an id is a keyed hash
//! of the client's IP address and the current time window, so checking one is
//! recomputing it. Only a client that received our connect reply at its
//! address knows the id, so an announce (whose reply is larger than the
//! request) cannot be sent on behalf of a forged source address: the tracker
//! cannot be used to amplify traffic toward someone else. Pure: time is passed in.

use core::net::IpAddr;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// An id is issued in one window and accepted in that window and the next:
/// it lives between one and two windows, and BEP 15 asks for at least one minute.
pub const WINDOW_MS: u64 = 60_000;

/// Issues and checks connection ids with a secret of this process.
#[derive(Clone, Default)]
pub struct ConnectionIds {
    secret: RandomState,
}

impl ConnectionIds {
    pub fn new() -> ConnectionIds {
        ConnectionIds::default()
    }

    fn id(&self, ip: IpAddr, window: u64) -> u64 {
        let mut h = self.secret.build_hasher();
        match ip.to_canonical() {
            IpAddr::V4(v4) => h.write(&v4.octets()),
            IpAddr::V6(v6) => h.write(&v6.octets()),
        }
        h.write_u64(window);
        h.finish()
    }

    /// The id for a connect from `ip` now.
    pub fn issue(&self, ip: IpAddr, now_ms: u64) -> u64 {
        self.id(ip, now_ms / WINDOW_MS)
    }

    /// Whether `id` was issued to `ip` in this window or the one before.
    pub fn valid(&self, id: u64, ip: IpAddr, now_ms: u64) -> bool {
        let w = now_ms / WINDOW_MS;
        id == self.id(ip, w) || (w > 0 && id == self.id(ip, w - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_good_for_its_address_for_one_to_two_windows() {
        let ids = ConnectionIds::new();
        let me: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        let t = 5 * WINDOW_MS + 10;
        let id = ids.issue(me, t);
        assert!(ids.valid(id, me, t));
        assert!(
            ids.valid(id, me, t + WINDOW_MS - 11),
            "to the end of the next window"
        );
        assert!(!ids.valid(id, me, t + 2 * WINDOW_MS), "not after that");
        assert!(!ids.valid(id, other, t), "not from another address");
        assert!(!ids.valid(id ^ 1, me, t));
        // The same client seen over a dual-stack socket is the same client.
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert!(ids.valid(id, mapped, t));
    }

    #[test]
    fn another_tracker_process_issues_other_ids() {
        let me: IpAddr = "10.0.0.1".parse().unwrap();
        assert_ne!(
            ConnectionIds::new().issue(me, 0),
            ConnectionIds::new().issue(me, 0)
        );
    }
}
