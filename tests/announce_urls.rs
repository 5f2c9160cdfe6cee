//! The peer announces each torrent to the tracker it was started with and to
//! the torrent's own `announce` URL.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use sha1::{Digest, Sha1};
use support::*;
use swarmshare::common::bencode::Encoder;
use swarmshare::common::http::percent_encode;
use swarmshare::common::metainfo::{InfoHash, Metainfo};
use swarmshare::common::tracker_http::decode_scrape;
use swarmshare::common::tracker_proto::ScrapeStats;
use swarmshare::sys::http_client;

const T: Duration = Duration::from_secs(60);
const PIECE: usize = 16384;

fn scrape(port: u16, key: &InfoHash) -> ScrapeStats {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let target = format!("/scrape?info_hash={}", percent_encode(&key.0));
    let (status, body) =
        http_client::request(addr, "GET", &target, b"", Duration::from_secs(5)).expect("scrape");
    assert_eq!(status, 200);
    let reply = decode_scrape(&body).expect("a scrape reply");
    reply
        .files
        .iter()
        .find(|(h, _)| h == key)
        .map(|(_, c)| *c)
        .unwrap_or_default()
}

fn torrent(announce: &str, name: &str, content: &[u8]) -> Vec<u8> {
    let pieces: Vec<u8> = content
        .chunks(PIECE)
        .flat_map(|c| Sha1::digest(c).to_vec())
        .collect();
    let mut out = Vec::new();
    let mut e = Encoder::new(&mut out);
    e.begin_dict().str("announce").str(announce);
    e.str("info").begin_dict();
    e.str("length")
        .int(content.len() as i64)
        .str("name")
        .str(name);
    e.str("piece length").int(PIECE as i64);
    e.str("pieces").bytes(&pieces);
    e.end().end();
    out
}

#[test]
fn a_torrent_is_announced_to_its_own_tracker_as_well() {
    let dir = tempfile::tempdir().unwrap();
    let ours = tracker(&dir.path().join("ours"), 2);
    let its_own = tracker(&dir.path().join("own"), 2);
    let content = data(50_000, 3);
    let bytes = torrent(
        &format!("http://127.0.0.1:{}/announce", its_own.port),
        "own.bin",
        &content,
    );
    let key = Metainfo::from_bytes(&bytes).unwrap().info_hash;
    let file = dir.path().join("own.torrent");
    write(&file, &bytes);
    let seeder = home(dir.path(), "seeder");
    write(&seeder.join("downloads/own.bin"), &content);
    let _peer = spawn_peer(
        ours.port,
        &seeder,
        &["download", "--torrent", file.to_str().unwrap(), "--seed"],
    );
    wait_until("the torrent's own tracker lists the seeder", T, || {
        scrape(its_own.port, &key).complete == 1
    });
    wait_until("the command line's tracker lists it too", T, || {
        scrape(ours.port, &key).complete == 1
    });
}
