//! When one torrent announces to one tracker, and with which event. Pure:
//! times are milliseconds on the announcer's clock, passed in.
//!
//! `started` goes first, and is retried at once until it succeeds or has
//! failed four times (then it counts as sent, and an ordinary announce with
//! our state follows). `completed` goes once, when a download begun in this
//! run finishes. Then the tracker's interval sets the pace; a download that
//! knows no peer asks again soon, backing off (2, 4 … 64 s), since a seeder
//! is often just about to announce; a failure retries after 10, 20, 40, 60 s.

use crate::common::tracker_proto::Event;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnnounceSchedule {
    next_at_ms: Option<u64>,
    started_sent: bool,
    completed_sent: bool,
    /// Began incomplete in this run, so its completion is news for the tracker.
    downloading: bool,
    /// Announces in a row that left a download with no peer to talk to.
    lonely: u32,
    failures: u32,
}

impl AnnounceSchedule {
    pub fn new(downloading: bool) -> Self {
        AnnounceSchedule {
            downloading,
            ..Default::default()
        }
    }

    /// Some(event) when an announce is due now (a regular one's event is None).
    /// A `completed` is claimed here, so it is announced once by whoever sees it first.
    pub fn due(&mut self, complete: bool, now_ms: u64) -> Option<Option<Event>> {
        if !self.started_sent {
            Some(Some(Event::Started))
        } else if complete && self.downloading && !self.completed_sent {
            self.completed_sent = true;
            Some(Some(Event::Completed))
        } else if self.next_at_ms.is_none_or(|n| now_ms >= n) {
            Some(None)
        } else {
            None
        }
    }

    /// Claims the `completed` announce for a caller outside the loop; false if it went already.
    pub fn claim_completed(&mut self) -> bool {
        !std::mem::replace(&mut self.completed_sent, true)
    }

    /// The tracker answered; `lonely` is whether the download still knows no peer.
    pub fn succeeded(
        &mut self,
        event: Option<Event>,
        interval_secs: u32,
        lonely: bool,
        now_ms: u64,
    ) {
        self.failures = 0;
        self.started_sent = true;
        if event == Some(Event::Completed) {
            self.completed_sent = true;
        }
        let mut next = now_ms + interval_secs.clamp(1, 3600) as u64 * 1000;
        if lonely {
            self.lonely += 1;
            next = next.min(now_ms + (1000u64 << self.lonely.min(6)));
        } else {
            self.lonely = 0;
        }
        self.next_at_ms = Some(next);
    }

    /// The announce failed; true for the first failure in a row, which is worth a warning.
    pub fn failed(&mut self, event: Option<Event>, now_ms: u64) -> bool {
        self.failures += 1;
        if event == Some(Event::Completed) {
            self.completed_sent = false;
        }
        let wait_s = (5u64 << self.failures.min(4)).min(60);
        self.next_at_ms = Some(now_ms + wait_s * 1000);
        if !self.started_sent {
            // Count it as sent: the next success is an ordinary announce with our state.
            self.started_sent = self.failures > 3;
        }
        self.failures == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STARTED: Option<Option<Event>> = Some(Some(Event::Started));
    const COMPLETED: Option<Option<Event>> = Some(Some(Event::Completed));
    const REGULAR: Option<Option<Event>> = Some(None);

    #[test]
    fn started_first_then_the_trackers_interval() {
        let mut s = AnnounceSchedule::new(false);
        assert_eq!(s.due(true, 0), STARTED);
        // Until it is answered, started is still due.
        assert_eq!(s.due(true, 1), STARTED);
        s.succeeded(Some(Event::Started), 60, false, 0);
        assert_eq!(s.due(true, 59_999), None);
        assert_eq!(s.due(true, 60_000), REGULAR);
        // The interval is clamped to 1 s .. 1 h.
        s.succeeded(None, 0, false, 100_000);
        assert_eq!(s.due(true, 100_999), None);
        assert_eq!(s.due(true, 101_000), REGULAR);
        s.succeeded(None, 1_000_000, false, 0);
        assert_eq!(s.due(true, 3_600_000), REGULAR);
    }

    #[test]
    fn completed_goes_once_and_only_for_a_download_of_this_run() {
        let mut seed = AnnounceSchedule::new(false);
        seed.succeeded(Some(Event::Started), 60, false, 0);
        assert_eq!(seed.due(true, 1), None);

        let mut s = AnnounceSchedule::new(true);
        s.succeeded(Some(Event::Started), 60, false, 0);
        assert_eq!(s.due(false, 1), None);
        assert_eq!(s.due(true, 1), COMPLETED);
        // Claimed: not due again while the first is on its way.
        assert_eq!(s.due(true, 2), None);
        assert!(!s.claim_completed());
        s.succeeded(Some(Event::Completed), 60, false, 2);
        assert_eq!(s.due(true, 60_002), REGULAR);
    }

    #[test]
    fn a_failed_completed_is_tried_again_and_a_claimed_one_is_not_repeated() {
        let mut s = AnnounceSchedule::new(true);
        s.succeeded(Some(Event::Started), 60, false, 0);
        assert_eq!(s.due(true, 1), COMPLETED);
        assert!(s.failed(Some(Event::Completed), 1));
        assert_eq!(s.due(true, 2), COMPLETED);

        let mut c = AnnounceSchedule::new(true);
        c.succeeded(Some(Event::Started), 60, false, 0);
        assert!(c.claim_completed());
        assert!(!c.claim_completed());
        assert_eq!(c.due(true, 1), None);
    }

    #[test]
    fn a_lonely_download_asks_again_soon_backing_off() {
        let mut s = AnnounceSchedule::new(true);
        let mut now = 0;
        for wait_s in [2, 4, 8, 16, 32, 64, 64] {
            s.succeeded(None, 1800, true, now);
            assert_eq!(s.due(false, now + wait_s * 1000 - 1), None);
            assert_eq!(s.due(false, now + wait_s * 1000), REGULAR);
            now += wait_s * 1000;
        }
        // A shorter interval than the backoff wins.
        s.succeeded(None, 10, true, now);
        assert_eq!(s.due(false, now + 10_000), REGULAR);
        // Company resets it.
        s.succeeded(None, 1800, false, now);
        s.succeeded(None, 1800, true, now);
        assert_eq!(s.due(false, now + 2_000), REGULAR);
        assert_eq!(s.due(false, now + 1_999), None);
    }

    #[test]
    fn failures_back_off_and_warn_once() {
        let mut s = AnnounceSchedule::new(false);
        s.succeeded(Some(Event::Started), 60, false, 0);
        let mut warned = Vec::new();
        for (n, wait_s) in [10, 20, 40, 60, 60].into_iter().enumerate() {
            let now = n as u64 * 100_000;
            warned.push(s.failed(None, now));
            assert_eq!(s.due(false, now + wait_s * 1000 - 1), None);
            assert_eq!(s.due(false, now + wait_s * 1000), REGULAR);
        }
        assert_eq!(warned, [true, false, false, false, false]);
        s.succeeded(None, 60, false, 0);
        assert!(s.failed(None, 0));
    }

    #[test]
    fn started_counts_as_sent_after_four_failures() {
        let mut s = AnnounceSchedule::new(false);
        for _ in 0..3 {
            assert_eq!(s.due(false, 0), STARTED);
            s.failed(Some(Event::Started), 0);
        }
        assert_eq!(s.due(false, 0), STARTED);
        s.failed(Some(Event::Started), 0);
        // Now an ordinary announce, after the failure backoff (80 s capped to 60 s).
        assert_eq!(s.due(false, 59_999), None);
        assert_eq!(s.due(false, 60_000), REGULAR);
    }
}
