//! The last minute of total download and upload rates, one sample a second,
//! for the rate graph. The shell passes the time in, so this is pure.

use std::collections::VecDeque;

/// Samples kept: one a second for a minute.
pub const SECONDS: usize = 60;

#[derive(Debug, Clone, Default)]
pub struct RateHistory {
    /// (down, up) in bytes per second, oldest first.
    samples: VecDeque<(u64, u64)>,
    /// The second (on the shell's clock) of the newest sample.
    last_second: Option<u64>,
}

impl RateHistory {
    /// Records the rates at `second`; several calls within one second keep the
    /// first, and seconds skipped (a stalled redraw) repeat the new sample.
    pub fn record(&mut self, second: u64, down: u64, up: u64) {
        let gap = match self.last_second {
            Some(last) if second <= last => return,
            Some(last) => (second - last).min(SECONDS as u64) as usize,
            None => 1,
        };
        self.last_second = Some(second);
        for _ in 0..gap {
            if self.samples.len() == SECONDS {
                self.samples.pop_front();
            }
            self.samples.push_back((down, up));
        }
    }

    pub fn down(&self) -> Vec<u64> {
        self.samples.iter().map(|s| s.0).collect()
    }

    pub fn up(&self) -> Vec<u64> {
        self.samples.iter().map(|s| s.1).collect()
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
}

/// Fits a minute of `samples` into `width` columns, newest at the right, so
/// the axis is always the last minute (seconds not yet seen count as 0): each
/// column the highest sample of its group, so a short burst still shows.
pub fn fit(samples: &[u64], width: usize) -> Vec<u64> {
    if width == 0 {
        return Vec::new();
    }
    let mut minute = vec![0; SECONDS.saturating_sub(samples.len())];
    minute.extend_from_slice(samples);
    let samples = &minute[..];
    if samples.len() <= width {
        return samples.to_vec();
    }
    (0..width)
        .map(|c| {
            let lo = c * samples.len() / width;
            let hi = ((c + 1) * samples.len() / width).max(lo + 1);
            samples[lo..hi].iter().copied().max().unwrap_or(0)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_a_second_for_a_minute_at_most() {
        let mut h = RateHistory::default();
        h.record(10, 5, 1);
        h.record(10, 99, 99);
        assert_eq!(h.down(), [5]);
        h.record(12, 7, 2);
        assert_eq!(h.down(), [5, 7, 7], "a skipped second repeats the sample");
        assert_eq!(h.up(), [1, 2, 2]);
        for s in 13..200 {
            h.record(s, s, 0);
        }
        assert_eq!(h.len(), SECONDS);
        assert_eq!(h.down()[SECONDS - 1], 199);
        assert_eq!(h.down()[0], 140);
        h.record(100_000, 1, 1);
        assert_eq!(
            h.down(),
            vec![1; SECONDS],
            "a long stall refills the minute"
        );
    }

    #[test]
    fn fitting_keeps_the_peak_of_each_group() {
        let minute: Vec<u64> = (0..60).collect();
        assert_eq!(fit(&minute, 80), minute, "room for every second");
        let halves = fit(&minute, 30);
        assert_eq!(halves.len(), 30);
        assert_eq!(halves[..3], [1, 3, 5]);
        assert_eq!(fit(&[7, 9], 0), Vec::<u64>::new());
        // Two seconds seen: the minute before them is empty, they are at the right.
        assert_eq!(fit(&[7, 9], 3), [0, 0, 9]);
        assert_eq!(fit(&[], 2), [0, 0]);
    }
}
