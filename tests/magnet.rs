//! Magnet links (BEP 9) with our own peers: the metadata comes from a seeder,
//! is checked against the info-hash and saved, then the data follows; a
//! killed magnet download resumes; a seeder that lies about the metadata is
//! banned; a malformed link is one clear error.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use support::*;
use swarmshare::common::bencode;
use swarmshare::common::extension_handshake::ExtensionHandshake;
use swarmshare::common::wire::{self, Handshake, Message};

const T: Duration = Duration::from_secs(90);

fn magnet_of(key: &str, extra: &str) -> String {
    format!("magnet:?xt=urn:btih:{key}{extra}")
}

fn assert_same(home: &Path, name: &str, content: &[u8]) {
    let got = std::fs::read(home.join("downloads").join(name)).expect("downloaded file");
    assert!(got == content, "{name} differs from what was shared");
}

#[test]
fn a_magnet_link_downloads_through_our_tracker_and_keeps_the_torrent() {
    let dir = tempfile::tempdir().unwrap();
    let content = data((3 << 20) + 7, 61);
    let s = seeded(dir.path(), "by-magnet.bin", &content, &[]);
    let me = dir.path().join("me");
    let link = magnet_of(&s.found.key, "&dn=by-magnet.bin");
    let out = peer_cmd(s.tracker.port, &me, &["download", &link, "--json"], T);
    let summary = json_ok(&out);
    assert_eq!(summary["key"], s.found.key.as_str());
    assert_eq!(summary["size"], content.len());
    assert_eq!(summary["name"], "by-magnet.bin");
    assert_same(&me, "by-magnet.bin", &content);
    // The torrent is kept, so `show` and the next start know it.
    let kept = me.join("torrents/by-magnet.bin.torrent");
    let shown = peer_cmd(
        s.tracker.port,
        &me,
        &["show", kept.to_str().unwrap()],
        Duration::from_secs(10),
    );
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        text.contains(&format!("magnet : magnet:?xt=urn:btih:{}", s.found.key)),
        "{text}"
    );
    // The tracker's search carries a magnet link too.
    assert!(
        s.found
            .magnet
            .starts_with(&magnet_of(&s.found.key, "&dn=by-magnet.bin&tr=")),
        "{}",
        s.found.magnet
    );
}

/// BEP 52: a v2-only torrent by its `btmh` link, as the tracker's search
/// gives it. The info dictionary carries no piece layers: they come from the
/// seeder as hash requests answered, each proved against its file's root.
#[test]
fn a_v2_magnet_link_gets_its_piece_layers_from_the_seeder() {
    let dir = tempfile::tempdir().unwrap();
    let content = data((3 << 20) + 11, 67);
    let s = seeded(
        dir.path(),
        "v2-magnet.bin",
        &content,
        &["--torrent-format", "v2"],
    );
    assert_eq!(s.found.key.len(), 64, "a v2-only key");
    assert!(
        s.found.magnet.starts_with(&format!(
            "magnet:?xt=urn:btmh:1220{}&dn=v2-magnet.bin&tr=",
            s.found.key
        )),
        "{}",
        s.found.magnet
    );
    let me = dir.path().join("me");
    let out = peer_cmd(
        s.tracker.port,
        &me,
        &["download", &s.found.magnet, "--json"],
        T,
    );
    let summary = json_ok(&out);
    assert_eq!(summary["key"], s.found.key.as_str());
    assert_same(&me, "v2-magnet.bin", &content);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!log.contains("failed its hash"), "{log}");
    // The kept torrent has its layers, so the next start needs no peer for them.
    let kept = std::fs::read(me.join("torrents/v2-magnet.bin.torrent")).unwrap();
    let meta = swarmshare::common::metainfo::Metainfo::from_bytes(&kept).unwrap();
    assert_eq!(meta.key(), s.found.key);
}

#[test]
fn a_magnet_with_only_a_peer_address_needs_no_tracker() {
    let dir = tempfile::tempdir().unwrap();
    let content = data((1 << 20) + 5, 62);
    let s = seeded(dir.path(), "xpe.bin", &content, &[]);
    let me = dir.path().join("me");
    // Our tracker is not where the downloader looks: a port nobody listens on.
    let dead = free_port();
    let link = magnet_of(&s.found.key, &format!("&x.pe=127.0.0.1:{}", s.seeder.port));
    let out = peer_cmd(dead, &me, &["download", &link, "--json"], T);
    let summary = json_ok(&out);
    assert_same(&me, "xpe.bin", &content);
    let sources = summary["sources"].as_array().expect("sources");
    assert!(
        sources.iter().any(|x| x["origin"] == "magnet"),
        "the x.pe peer is marked as learnt from the magnet: {summary}"
    );
}

#[test]
fn a_killed_magnet_download_resumes_with_the_same_link() {
    let dir = tempfile::tempdir().unwrap();
    let content = data(4 << 20, 63);
    let s = seeded(
        dir.path(),
        "resume-magnet.bin",
        &content,
        &["--upload-rate", "1M"],
    );
    let me = dir.path().join("me");
    let link = magnet_of(&s.found.key, "");
    let mut first = spawn_peer(s.tracker.port, &me, &["download", &link]);
    wait_until("some parts on disk", T, || {
        resumed_count(&me, &s.found.key) >= 4
    });
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    let out = peer_cmd(s.tracker.port, &me, &["download", &link, "--json"], T);
    let summary = json_ok(&out);
    assert!(
        summary["resumed_pieces"].as_u64().unwrap() >= 4,
        "the second run kept the first one's parts: {summary}"
    );
    assert_same(&me, "resume-magnet.bin", &content);
}

#[test]
fn malformed_magnet_links_are_one_error_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for bad in [
        "magnet:?dn=nothing",
        "magnet:?xt=urn:btih:1234",
        "magnet:?xt=urn:btih:zz&tr=x",
        "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&x.pe=1.2.3:80",
    ] {
        let out = peer_cmd(
            free_port(),
            &dir.path().join("h"),
            &["download", bad],
            Duration::from_secs(10),
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {err}");
        assert_eq!(err.lines().count(), 1, "{bad}: {err}");
        assert!(err.starts_with("peer: invalid magnet link: "), "{err}");
    }
}

/// A peer that answers for the torrent and serves metadata that is not its
/// info dictionary: the download must not take it, must ban the liar, and
/// must finish from the honest seeder once one appears. The honest seeder is
/// away while the liar is asked, so the liar is sure to be asked first.
#[test]
fn metadata_that_does_not_match_the_key_is_dropped_and_its_sender_banned() {
    let dir = tempfile::tempdir().unwrap();
    let content = data((1 << 20) + 3, 64);
    let mut s = seeded(dir.path(), "honest.bin", &content, &[]);
    s.seeder.kill9();
    let key = swarmshare::common::metainfo::InfoHash::from_hex(&s.found.key).unwrap();
    let liar = TcpListener::bind("127.0.0.1:0").unwrap();
    let liar_port = liar.local_addr().unwrap().port();
    let served = std::thread::spawn(move || lie_about_metadata(liar, key.0));
    let me = dir.path().join("me");
    let link = magnet_of(&s.found.key, &format!("&x.pe=127.0.0.1:{liar_port}"));
    let err_path = dir.path().join("downloader.err");
    let mut cmd = peer_bin();
    cmd.args(["127.0.0.1", &s.tracker.port.to_string(), "--home"])
        .arg(&me)
        .args(["download", &link, "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .stdin(std::process::Stdio::null())
        .env("RUST_LOG", "warn");
    let mut downloader = Spawned(cmd.spawn().expect("spawn peer"));
    assert!(
        served.join().unwrap(),
        "the liar was asked for the metadata"
    );
    let ban = format!("127.0.0.1:{liar_port} sent metadata that does not match");
    wait_until("the liar is banned", T, || {
        std::fs::read_to_string(&err_path).is_ok_and(|e| e.contains(&ban))
    });
    assert!(
        !me.join("torrents").exists()
            || std::fs::read_dir(me.join("torrents")).unwrap().count() == 0,
        "the liar's metadata was not saved"
    );
    // The honest seeder comes back; the downloader finds it at its next
    // announce and finishes from it.
    let _seeder = serve(s.tracker.port, &s.home, &[]);
    let status = wait_with_deadline(&mut downloader.0, T).expect("the download finished");
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&err_path).unwrap()
    );
    assert_same(&me, "honest.bin", &content);
    let mut out = String::new();
    downloader
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let summary: serde_json::Value = serde_json::from_str(&out).expect("json summary");
    let sources = summary["sources"].as_array().unwrap();
    assert!(
        sources
            .iter()
            .all(|x| x["addr"] != format!("127.0.0.1:{liar_port}").as_str()),
        "{summary}"
    );
}

/// Accepts connections until one asks for metadata, and answers it with
/// one piece of bytes that do not hash to `key`. True when it was asked.
fn lie_about_metadata(listener: TcpListener, key: [u8; 20]) -> bool {
    listener.set_nonblocking(false).unwrap();
    for _ in 0..4 {
        let Ok((mut s, _)) = listener.accept() else {
            return false;
        };
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut hs = [0u8; wire::HANDSHAKE_LEN];
        if s.read_exact(&mut hs).is_err() {
            continue;
        }
        let mut reserved = [0u8; 8];
        reserved[wire::EXTENSION_PROTOCOL.0] |= wire::EXTENSION_PROTOCOL.1;
        let ours = Handshake {
            reserved,
            info_hash: key,
            peer_id: *b"-XX0001-liarliarliar",
        };
        s.write_all(&ours.encode()).unwrap();
        let fake =
            b"d6:lengthi1e4:name4:fake12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae";
        let ext = ExtensionHandshake {
            m: [("ut_metadata".to_owned(), 3)].into(),
            metadata_size: Some(fake.len() as u64),
            ..Default::default()
        };
        send_ext(&mut s, 0, &ext.encode());
        // Learn the fetcher's id for ut_metadata, wait for its request
        // under ours (3), then lie.
        let mut theirs = 0;
        loop {
            let mut len = [0u8; 4];
            if s.read_exact(&mut len).is_err() {
                break;
            }
            let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
            if s.read_exact(&mut body).is_err() {
                break;
            }
            if let Ok(Message::Extended { id: 0, payload }) = wire::decode(&body) {
                let h = ExtensionHandshake::decode(payload).expect("its handshake");
                theirs = h.m["ut_metadata"];
            }
            if let Ok(Message::Extended { id: 3, payload }) = wire::decode(&body) {
                let asked = bencode::decode(payload).is_ok();
                let mut reply =
                    format!("d8:msg_typei1e5:piecei0e10:total_sizei{}ee", fake.len()).into_bytes();
                reply.extend_from_slice(fake);
                send_ext(&mut s, theirs, &reply);
                // Held open: the fetcher decides, not us.
                std::thread::sleep(Duration::from_millis(500));
                return asked;
            }
        }
    }
    false
}

fn send_ext(s: &mut std::net::TcpStream, id: u8, payload: &[u8]) {
    let mut out = Vec::new();
    wire::encode(&Message::Extended { id, payload }, &mut out);
    s.write_all(&out).unwrap();
}
