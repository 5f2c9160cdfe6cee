//! When one torrent announces to one tracker, and with which event. Pure:
//! times are milliseconds on the announcer's clock, passed in.
//!
//! `started` goes first, and is retried on the failure backoff until it
//! succeeds or has failed four times (then it counts as sent, and an ordinary
//! announce with our state follows). `completed` goes once, when a download
//! begun in this run finishes. Then the tracker's interval sets the pace; a
//! download with fewer than a `HANDFUL` of peers asks again at the tracker's
//! `min interval`, so a seeder that appears mid-download is found within
//! seconds; one that knows no peer at all asks sooner still, backing off
//! (2, 4 … 64 s), since a seeder is often just about to announce. A failure
//! retries after 2, 5, 10, 20, 40, 60 s: a tracker missing at start-up is
//! found soon after it comes.

use crate::common::tracker_proto::Event;

/// Below this many connected peers a download re-announces at `min interval`.
pub const HANDFUL: usize = 5;

/// Waits after 1, 2, … failures in a row; the last repeats.
const FAILURE_WAITS_S: [u64; 6] = [2, 5, 10, 20, 40, 60];

/// What the tracker said about pace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    pub interval_secs: u32,
    /// Its `min interval`, if it sent one.
    pub min_interval_secs: Option<u32>,
}

/// How the torrent stands for company after the reply's addresses were added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Company {
    /// Complete: peers come to it, there is no hurry.
    Seeding,
    /// Incomplete, with this many connected peers; `knows_none` when it has
    /// neither a peer nor an address to dial.
    Downloading { peers: usize, knows_none: bool },
}

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
        let waited = self.next_at_ms.is_none_or(|n| now_ms >= n);
        if !self.started_sent {
            waited.then_some(Some(Event::Started))
        } else if complete && self.downloading && !self.completed_sent {
            self.completed_sent = true;
            Some(Some(Event::Completed))
        } else if waited {
            Some(None)
        } else {
            None
        }
    }

    /// Claims the `completed` announce for a caller outside the loop; false if it went already.
    pub fn claim_completed(&mut self) -> bool {
        !std::mem::replace(&mut self.completed_sent, true)
    }

    /// The tracker answered.
    pub fn succeeded(&mut self, event: Option<Event>, pace: Pace, company: Company, now_ms: u64) {
        self.failures = 0;
        self.started_sent = true;
        if event == Some(Event::Completed) {
            self.completed_sent = true;
        }
        let interval = pace.interval_secs.clamp(1, 3600) as u64;
        let mut next = now_ms + interval * 1000;
        let (peers, knows_none) = match company {
            Company::Seeding => (HANDFUL, false),
            Company::Downloading { peers, knows_none } => (peers, knows_none),
        };
        if peers < HANDFUL
            && let Some(min) = pace.min_interval_secs
        {
            next = next.min(now_ms + min.max(1) as u64 * 1000);
        }
        if knows_none {
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
        let i = (self.failures as usize - 1).min(FAILURE_WAITS_S.len() - 1);
        self.next_at_ms = Some(now_ms + FAILURE_WAITS_S[i] * 1000);
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
    const BUSY: Company = Company::Downloading {
        peers: HANDFUL,
        knows_none: false,
    };
    const ALONE: Company = Company::Downloading {
        peers: 0,
        knows_none: true,
    };

    fn pace(interval_secs: u32) -> Pace {
        Pace {
            interval_secs,
            min_interval_secs: None,
        }
    }

    #[test]
    fn started_first_then_the_trackers_interval() {
        let mut s = AnnounceSchedule::new(false);
        assert_eq!(s.due(true, 0), STARTED);
        // Until it is answered, started is still due.
        assert_eq!(s.due(true, 1), STARTED);
        s.succeeded(Some(Event::Started), pace(60), BUSY, 0);
        assert_eq!(s.due(true, 59_999), None);
        assert_eq!(s.due(true, 60_000), REGULAR);
        // The interval is clamped to 1 s .. 1 h.
        s.succeeded(None, pace(0), BUSY, 100_000);
        assert_eq!(s.due(true, 100_999), None);
        assert_eq!(s.due(true, 101_000), REGULAR);
        s.succeeded(None, pace(1_000_000), BUSY, 0);
        assert_eq!(s.due(true, 3_600_000), REGULAR);
    }

    #[test]
    fn completed_goes_once_and_only_for_a_download_of_this_run() {
        let mut seed = AnnounceSchedule::new(false);
        seed.succeeded(Some(Event::Started), pace(60), BUSY, 0);
        assert_eq!(seed.due(true, 1), None);

        let mut s = AnnounceSchedule::new(true);
        s.succeeded(Some(Event::Started), pace(60), BUSY, 0);
        assert_eq!(s.due(false, 1), None);
        assert_eq!(s.due(true, 1), COMPLETED);
        // Claimed: not due again while the first is on its way.
        assert_eq!(s.due(true, 2), None);
        assert!(!s.claim_completed());
        s.succeeded(Some(Event::Completed), pace(60), BUSY, 2);
        assert_eq!(s.due(true, 60_002), REGULAR);
    }

    #[test]
    fn a_failed_completed_is_tried_again_and_a_claimed_one_is_not_repeated() {
        let mut s = AnnounceSchedule::new(true);
        s.succeeded(Some(Event::Started), pace(60), BUSY, 0);
        assert_eq!(s.due(true, 1), COMPLETED);
        assert!(s.failed(Some(Event::Completed), 1));
        assert_eq!(s.due(true, 2), COMPLETED);

        let mut c = AnnounceSchedule::new(true);
        c.succeeded(Some(Event::Started), pace(60), BUSY, 0);
        assert!(c.claim_completed());
        assert!(!c.claim_completed());
        assert_eq!(c.due(true, 1), None);
    }

    #[test]
    fn a_lonely_download_asks_again_soon_backing_off() {
        let mut s = AnnounceSchedule::new(true);
        let mut now = 0;
        for wait_s in [2, 4, 8, 16, 32, 64, 64] {
            s.succeeded(None, pace(1800), ALONE, now);
            assert_eq!(s.due(false, now + wait_s * 1000 - 1), None);
            assert_eq!(s.due(false, now + wait_s * 1000), REGULAR);
            now += wait_s * 1000;
        }
        // A shorter interval than the backoff wins.
        s.succeeded(None, pace(10), ALONE, now);
        assert_eq!(s.due(false, now + 10_000), REGULAR);
        // Company resets it.
        s.succeeded(None, pace(1800), BUSY, now);
        s.succeeded(None, pace(1800), ALONE, now);
        assert_eq!(s.due(false, now + 2_000), REGULAR);
        assert_eq!(s.due(false, now + 1_999), None);
    }

    #[test]
    fn failures_back_off_and_warn_once() {
        let mut s = AnnounceSchedule::new(false);
        s.succeeded(Some(Event::Started), pace(60), BUSY, 0);
        let mut warned = Vec::new();
        for (n, wait_s) in [2, 5, 10, 20, 40, 60, 60].into_iter().enumerate() {
            let now = n as u64 * 100_000;
            warned.push(s.failed(None, now));
            assert_eq!(s.due(false, now + wait_s * 1000 - 1), None);
            assert_eq!(s.due(false, now + wait_s * 1000), REGULAR);
        }
        assert_eq!(warned, [true, false, false, false, false, false, false]);
        s.succeeded(None, pace(60), BUSY, 0);
        assert!(s.failed(None, 0));
    }

    #[test]
    fn started_is_retried_on_the_backoff_and_counts_as_sent_after_four_failures() {
        let mut s = AnnounceSchedule::new(false);
        let mut now = 0;
        for wait_s in [2, 5, 10] {
            assert_eq!(s.due(false, now), STARTED);
            s.failed(Some(Event::Started), now);
            assert_eq!(s.due(false, now + wait_s * 1000 - 1), None);
            now += wait_s * 1000;
        }
        assert_eq!(s.due(false, now), STARTED);
        s.failed(Some(Event::Started), now);
        // Now an ordinary announce, after the fourth failure's wait.
        assert_eq!(s.due(false, now + 19_999), None);
        assert_eq!(s.due(false, now + 20_000), REGULAR);
    }

    #[test]
    fn a_download_short_of_peers_asks_again_at_the_min_interval() {
        let pace = Pace {
            interval_secs: 60,
            min_interval_secs: Some(5),
        };
        let few = Company::Downloading {
            peers: HANDFUL - 1,
            knows_none: false,
        };
        let mut s = AnnounceSchedule::new(true);
        s.succeeded(Some(Event::Started), pace, few, 0);
        assert_eq!(s.due(false, 4_999), None);
        assert_eq!(s.due(false, 5_000), REGULAR);
        // A handful is enough: back to the interval.
        s.succeeded(None, pace, BUSY, 5_000);
        assert_eq!(s.due(false, 64_999), None);
        assert_eq!(s.due(false, 65_000), REGULAR);
        // A seed is in no hurry, however few its peers.
        let mut seed = AnnounceSchedule::new(false);
        seed.succeeded(Some(Event::Started), pace, Company::Seeding, 0);
        assert_eq!(seed.due(true, 59_999), None);
        // No min interval sent: the interval it is.
        let mut quiet = AnnounceSchedule::new(true);
        quiet.succeeded(Some(Event::Started), self::pace(60), few, 0);
        assert_eq!(quiet.due(false, 59_999), None);
        // A zero min interval is taken as one second, not as "at once".
        let zero = Pace {
            interval_secs: 60,
            min_interval_secs: Some(0),
        };
        let mut z = AnnounceSchedule::new(true);
        z.succeeded(Some(Event::Started), zero, few, 0);
        assert_eq!(z.due(false, 999), None);
        assert_eq!(z.due(false, 1_000), REGULAR);
        // Knowing no one at all, the shorter of the backoff and the min interval.
        let mut alone = AnnounceSchedule::new(true);
        alone.succeeded(Some(Event::Started), pace, ALONE, 0);
        assert_eq!(alone.due(false, 2_000), REGULAR);
    }
}
