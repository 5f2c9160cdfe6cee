//! Everything the tracker knows in memory: the swarms (`Registry`) and the
//! published torrents (`Store`'s index). Each route is one function over it,
//! taking the model of `tracker_proto` and returning it, whatever the transport;
//! the server holds it behind its one lock. Nothing here does I/O or logs:
//! what an announce changed is returned for the caller to report.

use core::net::{IpAddr, SocketAddr};
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;

use super::page::{self, PageContext, SortBy};
use super::registry::{Change, Registry};
use super::search_index::Entry;
use super::store::{Prepared, Store};
use crate::common::metainfo::{InfoHash, Metainfo};
use crate::common::tracker_proto::{
    Announce, AnnounceReply, ScrapeReply, ScrapeRequest, ScrapeStats, SearchMatch, SearchReply,
};

pub struct TrackerState {
    registry: Registry,
    store: Store,
    /// A published hybrid's v2 swarm hash → its key: one swarm under either.
    v2_swarms: HashMap<InfoHash, InfoHash>,
}

impl TrackerState {
    /// Published torrents keep their completion counts when their swarm empties.
    pub fn new(store: Store, interval_secs: u32) -> TrackerState {
        let mut registry = Registry::new(interval_secs);
        let mut v2_swarms = HashMap::new();
        for e in store.index().entries() {
            registry.pin(e.key);
            if let Some(h) = e.v2_swarm() {
                v2_swarms.insert(h, e.key);
            }
        }
        TrackerState {
            registry,
            store,
            v2_swarms,
        }
    }

    /// The swarm an info-hash belongs to: a hybrid's v2 hash finds its v1 one.
    fn swarm_of(&self, h: &InfoHash) -> InfoHash {
        self.v2_swarms.get(h).copied().unwrap_or(*h)
    }

    /// Records an announce from `source`; `Err` is the `failure reason`.
    pub fn announce(
        &mut self,
        a: &Announce,
        source: IpAddr,
        now_ms: u64,
    ) -> Result<(AnnounceReply, Change), String> {
        let swarm = self.swarm_of(&a.info_hash);
        let a = if swarm == a.info_hash {
            Cow::Borrowed(a)
        } else {
            Cow::Owned(Announce {
                info_hash: swarm,
                ..a.clone()
            })
        };
        self.registry.announce(&a, source, now_ms)
    }

    /// One slice of an expiry sweep (`Registry::expire_slice`); true when the sweep is over.
    pub fn expire_slice(
        &mut self,
        now_ms: u64,
        budget: usize,
        gone: &mut Vec<(InfoHash, SocketAddr)>,
    ) -> bool {
        self.registry.expire_slice(now_ms, budget, gone)
    }

    /// Counts for the torrents asked about, or for every published one.
    pub fn scrape(&self, req: &ScrapeRequest) -> ScrapeReply {
        let mut hashes = if req.info_hashes.is_empty() {
            self.store.index().entries().iter().map(|e| e.key).collect()
        } else {
            req.info_hashes.clone()
        };
        hashes.sort();
        hashes.dedup();
        let files = hashes
            .into_iter()
            .map(|h| {
                let c = self.registry.counts(&self.swarm_of(&h));
                (
                    h,
                    ScrapeStats {
                        complete: c.complete,
                        downloaded: c.downloaded,
                        incomplete: c.incomplete,
                    },
                )
            })
            .collect();
        ScrapeReply { files }
    }

    /// `announce` is this tracker's URL as the asker reaches it, for the magnet links.
    pub fn search(&self, q: &str, announce: Option<&str>) -> SearchReply {
        let results = self
            .store
            .index()
            .search(q)
            .into_iter()
            .map(|e| {
                let c = self.registry.counts(&e.key);
                SearchMatch {
                    name: e.name.clone(),
                    kind: e.kind.clone(),
                    torrent: e.torrent.clone(),
                    key: e.key_text(),
                    size: e.size,
                    n_parts: e.n_parts,
                    peers: self
                        .registry
                        .peers(&e.key)
                        .iter()
                        .map(|a| a.to_string())
                        .collect(),
                    seeders: c.complete,
                    leechers: c.incomplete,
                    magnet: page::magnet(e, announce),
                }
            })
            .collect();
        SearchReply {
            query: q.to_owned(),
            results,
        }
    }

    /// The browsable index page for a query.
    pub fn page(&self, q: &str, sort: SortBy, announce: Option<&str>) -> String {
        let rows: Vec<_> = self
            .store
            .index()
            .search(q)
            .into_iter()
            .map(|e| (e, self.registry.counts(&e.key)))
            .collect();
        let ctx = PageContext {
            query: q,
            sort,
            total: self.store.index().len(),
            announce,
        };
        page::render(&ctx, &rows)
    }

    /// A publish's first half: listed already, or the entry to write.
    pub fn prepare_publish(&self, m: &Metainfo) -> Prepared {
        self.store.prepare(m)
    }

    /// A publish's last half, once its files are durable: it is listed, and its counts kept.
    pub fn publish(&mut self, e: Entry) {
        self.registry.pin(e.key);
        if let Some(h) = e.v2_swarm() {
            self.v2_swarms.insert(h, e.key);
        }
        self.store.insert(e);
    }

    /// A published torrent's file name.
    pub fn name_of(&self, key: &InfoHash) -> Option<String> {
        self.store.index().get(key).map(|e| e.file_name.clone())
    }

    /// Where a listed torrent's file is; read it without holding the state.
    pub fn torrent_path(&self, key: &InfoHash) -> Option<PathBuf> {
        self.store.torrent_path(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::tracker_proto::Event;

    fn meta(name: &str) -> Metainfo {
        crate::common::metainfo::tiny_for_tests(name, None)
    }

    fn announce(m: &Metainfo, id: u8, left: u64) -> Announce {
        Announce {
            no_peer_id: false,
            ..Announce::started(m.info_hash, [id; 20], 7000 + id as u16, left)
        }
    }

    fn published(names: &[&str]) -> (TrackerState, Vec<Metainfo>) {
        let mut s = TrackerState::new(Store::empty(PathBuf::from("/nowhere")), 60);
        let metas: Vec<Metainfo> = names.iter().map(|n| meta(n)).collect();
        for m in &metas {
            let Prepared::New(e) = s.prepare_publish(m) else {
                panic!("{} is new", m.name)
            };
            s.publish(e);
            assert!(matches!(s.prepare_publish(m), Prepared::Listed(_)));
        }
        (s, metas)
    }

    #[test]
    fn scrape_names_each_torrent_once_in_order_and_all_published_by_default() {
        let (mut s, m) = published(&["a.txt", "b.txt"]);
        let lo = IpAddr::from([127, 0, 0, 1]);
        s.announce(&announce(&m[0], 1, 0), lo, 0).unwrap();
        s.announce(&announce(&m[0], 2, 5), lo, 0).unwrap();
        let all = s.scrape(&ScrapeRequest::default());
        let mut keys = vec![m[0].info_hash, m[1].info_hash];
        keys.sort();
        assert_eq!(all.files.iter().map(|f| f.0).collect::<Vec<_>>(), keys);
        let twice = s.scrape(&ScrapeRequest {
            info_hashes: vec![m[0].info_hash, m[0].info_hash],
        });
        assert_eq!(
            twice.files,
            vec![(
                m[0].info_hash,
                ScrapeStats {
                    complete: 1,
                    downloaded: 0,
                    incomplete: 1
                }
            )]
        );
    }

    #[test]
    fn search_shows_the_swarm_and_published_counts_outlive_it() {
        let (mut s, m) = published(&["got5.mp4"]);
        let lo = IpAddr::from([127, 0, 0, 1]);
        s.announce(&announce(&m[0], 1, 5), lo, 0).unwrap();
        let (_, change) = s
            .announce(
                &Announce {
                    event: Some(Event::Completed),
                    ..announce(&m[0], 1, 0)
                },
                lo,
                1,
            )
            .unwrap();
        assert_eq!(change, Change::Completed);
        let r = s.search("got5", Some("http://t:1/announce"));
        assert_eq!(r.results.len(), 1);
        assert!(
            r.results[0]
                .magnet
                .ends_with("&dn=got5.mp4&tr=http%3A%2F%2Ft%3A1%2Fannounce"),
            "{}",
            r.results[0].magnet
        );
        assert_eq!(r.results[0].peers, vec!["127.0.0.1:7001".to_string()]);
        assert_eq!(r.results[0].seeders, 1);
        s.announce(
            &Announce {
                event: Some(Event::Stopped),
                ..announce(&m[0], 1, 0)
            },
            lo,
            2,
        )
        .unwrap();
        let c = s.scrape(&ScrapeRequest::default()).files[0].1;
        assert_eq!((c.complete, c.downloaded), (0, 1));
        assert!(s.page("got5", SortBy::Name, None).contains("got5"));
        assert!(s.torrent_path(&m[0].info_hash).is_some());
    }

    /// A hybrid is one swarm whichever of its hashes a peer announces, and
    /// a v2-only torrent is listed under its 64-digit key.
    #[test]
    fn a_hybrid_is_one_swarm_under_either_hash() {
        let mut s = TrackerState::new(Store::empty(PathBuf::from("/nowhere")), 60);
        let hybrid = Metainfo::from_bytes(include_bytes!(
            "../common/metainfo/testdata/multi-hybrid.torrent"
        ))
        .unwrap();
        let v2 = Metainfo::from_bytes(include_bytes!(
            "../common/metainfo/testdata/single-v2.torrent"
        ))
        .unwrap();
        for m in [&hybrid, &v2] {
            let Prepared::New(e) = s.prepare_publish(m) else {
                panic!("new")
            };
            s.publish(e);
        }
        let lo = IpAddr::from([127, 0, 0, 1]);
        let [v1_hash, v2_hash] = hybrid.swarm_hashes()[..] else {
            panic!("two swarms")
        };
        s.announce(&Announce::started(v1_hash, [1; 20], 7001, 0), lo, 0)
            .unwrap();
        let (reply, _) = s
            .announce(&Announce::started(v2_hash, [2; 20], 7002, 5), lo, 0)
            .unwrap();
        assert_eq!(
            reply.peers.len(),
            1,
            "the v1 seeder, found under the v2 hash"
        );
        assert_eq!(reply.peers[0].0.port(), 7001);
        let scrape = s.scrape(&ScrapeRequest {
            info_hashes: vec![v2_hash],
        });
        assert_eq!(scrape.files[0].1.complete, 1);
        assert_eq!(scrape.files[0].1.incomplete, 1);

        let found = s.search("single", None).results;
        assert_eq!(found[0].key, v2.key());
        assert_eq!(found[0].key.len(), 64);
        assert!(
            found[0].magnet.starts_with("magnet:?xt=urn:btmh:1220"),
            "{}",
            found[0].magnet
        );
        let by_key = s.search(&v2.key(), None).results;
        assert_eq!(by_key.len(), 1, "the 64-digit key finds it");
        let multi = s.search("multi", None).results;
        assert!(
            multi[0].magnet.contains("xt=urn:btih:")
                && multi[0].magnet.contains("xt=urn:btmh:1220")
        );
    }
}
