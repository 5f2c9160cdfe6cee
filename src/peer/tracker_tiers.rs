//! A torrent's own trackers in BEP 12 order: its `announce-list` tiers (or its
//! single `announce`), each tier shuffled once, tried one tracker at a time. A
//! tracker that fails gives way to the next in its tier, then to the next tier,
//! and after the last back to the first. A tracker that answers moves to the
//! front of its tier, and the torrent stays with it. Pure: the shuffle's random
//! numbers are passed in.

use crate::common::metainfo::Metainfo;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerTiers {
    tiers: Vec<Vec<String>>,
    /// The tracker in use: (tier, position in tier).
    at: (usize, usize),
}

impl TrackerTiers {
    /// The torrent's trackers, less `except` (ours, announced to anyway) and
    /// repeats; None when it names no other. `announce-list` replaces
    /// `announce` when present, as BEP 12 says.
    pub fn of(meta: &Metainfo, except: &str, rng: &mut fastrand::Rng) -> Option<TrackerTiers> {
        let listed: Vec<Vec<String>> = if meta.announce_list.is_empty() {
            meta.announce.iter().map(|u| vec![u.clone()]).collect()
        } else {
            meta.announce_list.clone()
        };
        let mut seen = vec![except.to_owned()];
        let mut tiers = Vec::new();
        for tier in listed {
            let mut kept: Vec<String> = Vec::new();
            for url in tier {
                let url = url.trim().to_owned();
                if !url.is_empty() && !seen.contains(&url) {
                    seen.push(url.clone());
                    kept.push(url);
                }
            }
            if !kept.is_empty() {
                rng.shuffle(&mut kept);
                tiers.push(kept);
            }
        }
        (!tiers.is_empty()).then_some(TrackerTiers { tiers, at: (0, 0) })
    }

    /// The tracker to announce to now.
    pub fn current(&self) -> &str {
        &self.tiers[self.at.0][self.at.1]
    }

    /// Every tracker, in the order they would be tried.
    pub fn urls(&self) -> impl Iterator<Item = &str> {
        self.tiers.iter().flatten().map(String::as_str)
    }

    /// `url` failed: if it is the current tracker, the next one takes over.
    /// Returns the tracker to use from now on.
    pub fn failed(&mut self, url: &str) -> &str {
        if self.current() == url {
            let (t, i) = self.at;
            self.at = if i + 1 < self.tiers[t].len() {
                (t, i + 1)
            } else {
                ((t + 1) % self.tiers.len(), 0)
            };
        }
        self.current()
    }

    /// `url` answered: it moves to the front of its tier and stays in use.
    pub fn succeeded(&mut self, url: &str) {
        for (t, tier) in self.tiers.iter_mut().enumerate() {
            if let Some(i) = tier.iter().position(|u| u == url) {
                let u = tier.remove(i);
                tier.insert(0, u);
                self.at = (t, 0);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::metainfo::tiny_for_tests;

    fn tiers(list: &[&[&str]], seed: u64) -> TrackerTiers {
        let mut m = tiny_for_tests("a.txt", Some("http://ignored/announce"));
        m.announce_list = list
            .iter()
            .map(|t| t.iter().map(|u| u.to_string()).collect())
            .collect();
        TrackerTiers::of(
            &m,
            "http://ours/announce",
            &mut fastrand::Rng::with_seed(seed),
        )
        .unwrap()
    }

    #[test]
    fn tiers_are_tried_in_order_each_shuffled_and_wrap_around() {
        let mut t = tiers(&[&["a1", "a2"], &["b1"]], 7);
        let first_tier: Vec<String> = t.urls().take(2).map(String::from).collect();
        let first_tier: Vec<&str> = first_tier.iter().map(String::as_str).collect();
        assert!(first_tier.contains(&"a1") && first_tier.contains(&"a2"));
        assert_eq!(t.urls().nth(2), Some("b1"), "tiers keep their order");
        assert_eq!(t.current(), first_tier[0]);
        assert_eq!(t.failed(first_tier[0]), first_tier[1]);
        assert_eq!(t.failed(first_tier[1]), "b1");
        assert_eq!(
            t.failed("b1"),
            first_tier[0],
            "after the last, the first again"
        );
        // A failure of a tracker not in use changes nothing.
        assert_eq!(t.failed("b1"), first_tier[0]);
    }

    #[test]
    fn shuffles_differ_and_the_tracker_that_answers_moves_to_the_front() {
        let orders: std::collections::HashSet<Vec<String>> = (0..20)
            .map(|seed| {
                tiers(&[&["a", "b", "c", "d"]], seed)
                    .urls()
                    .map(String::from)
                    .collect()
            })
            .collect();
        assert!(orders.len() > 1, "the tier is shuffled");
        let mut t = tiers(&[&["a1"], &["b1", "b2"]], 1);
        t.failed("a1");
        let second = t.urls().nth(2).unwrap().to_owned();
        t.failed(t.current().to_owned().as_str());
        assert_eq!(t.current(), second);
        t.succeeded(&second);
        assert_eq!(t.urls().nth(1), Some(second.as_str()), "front of its tier");
        assert_eq!(t.current(), second, "and it stays in use");
    }

    #[test]
    fn announce_alone_ours_and_repeats_are_handled() {
        let mut m = tiny_for_tests("a.txt", Some("udp://t:1"));
        let mut rng = fastrand::Rng::with_seed(1);
        let t = TrackerTiers::of(&m, "http://ours/announce", &mut rng).unwrap();
        assert_eq!(t.urls().collect::<Vec<_>>(), ["udp://t:1"]);
        assert_eq!(
            TrackerTiers::of(&m, "udp://t:1", &mut rng),
            None,
            "ours only"
        );
        m.announce_list = vec![
            vec!["udp://x:1".into(), " ".into()],
            vec!["udp://x:1".into()],
        ];
        let t = TrackerTiers::of(&m, "http://ours/announce", &mut rng).unwrap();
        assert_eq!(
            t.urls().collect::<Vec<_>>(),
            ["udp://x:1"],
            "announce-list replaces announce"
        );
    }
}
