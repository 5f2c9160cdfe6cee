#!/usr/bin/python3
"""A libtorrent 2.0 client for the interop tests: seeds or leeches one torrent
on 127.0.0.1 only, and reports what it sees as JSON lines on stdout.

Lines: {"event": "listening", "port": P} first, then "checked", "complete",
"tracker_reply", "tracker_error", "scrape", "metadata" (a magnet's info
dictionary arrived), "hash_failed" (a piece failed its hash check) and, twice a second, "peers" with
per-peer byte counts, so a test can wait on conditions instead of sleeping.
It exits by itself after --timeout seconds, so a test that dies leaks nothing
for long.
"""

import argparse
import json
import sys
import time

try:
    import libtorrent as lt
except ImportError as e:
    sys.stderr.write(
        "lt_client: cannot import libtorrent (%s): install python3-libtorrent "
        "(scripts/setup.sh) and run with /usr/bin/python3\n" % e
    )
    sys.exit(3)


def say(**fields):
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--torrent", help="the .torrent to seed or leech")
    ap.add_argument(
        "--magnet-hash",
        help="instead of --torrent: an info-hash (hex) whose metadata comes from --peer (BEP 9): "
        "40 digits a v1 one, 64 a v2 one (BEP 52), or a hybrid's two as V1,V2",
    )
    ap.add_argument(
        "--magnet-v2-hash",
        help="a v2 info-hash (64 hex digits): alone, a v2-only magnet; with a v1 --magnet-hash, a hybrid's",
    )
    ap.add_argument("--peer", help="HOST:PORT to connect to at once")
    ap.add_argument("--save", required=True, help="folder holding (or receiving) the data")
    ap.add_argument("--seed", action="store_true", help="the data is complete: check and seed it")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--upload-rate", type=int, default=0, help="bytes/s, 0 = unlimited")
    ap.add_argument("--download-rate", type=int, default=0, help="bytes/s, 0 = unlimited")
    ap.add_argument("--exit-on-complete", action="store_true")
    ap.add_argument("--scrape", action="store_true", help="scrape the tracker after each reply")
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--pex", action="store_true", help="peer exchange (ut_pex) on for this torrent")
    ap.add_argument("--ipv6", action="store_true", help="listen and dial on ::1 as well as 127.0.0.1")
    args = ap.parse_args()

    settings = {
        "listen_interfaces": ("127.0.0.1:%d,[::1]:%d" % (args.port, args.port))
        if args.ipv6
        else "127.0.0.1:%d" % args.port,
        # Outgoing sockets bind by family only: one bound to 127.0.0.1 cannot reach ::1.
        "outgoing_interfaces": "" if args.ipv6 else "127.0.0.1",
        # Nothing leaves the machine: no DHT, LSD, UPnP or NAT-PMP (PEX is off per torrent).
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        # Every peer of a test is on 127.0.0.1; the default allows one connection per IP.
        "allow_multiple_connections_per_ip": True,
        "alert_mask": lt.alert.category_t.status_notification
        | lt.alert.category_t.error_notification
        | lt.alert.category_t.tracker_notification,
        "upload_rate_limit": args.upload_rate,
        "download_rate_limit": args.download_rate,
        # Loopback peers are exempt from limits unless this is off and they are
        # mapped into the global peer class below.
        "ignore_limits_on_local_network": False,
        # libtorrent 2.0 refuses requests to a localhost tracker whose path is not
        # /announce, which blocks /scrape; the tracker is local only because the test is.
        "ssrf_mitigation": False,
        # libtorrent never re-announces sooner than every 300 s by default; the
        # tests run the tracker with a 2 s interval and wait on its counts.
        "min_announce_interval": 1,
    }
    ses = lt.session(settings)
    if args.upload_rate or args.download_rate:
        f = lt.ip_filter()
        f.add_rule("0.0.0.0", "255.255.255.255", 1 << lt.session.global_peer_class_id)
        ses.set_peer_class_filter(f)

    atp = lt.add_torrent_params()
    v1 = v2 = None
    for part in (args.magnet_hash or "").split(","):
        raw = bytes.fromhex(part)
        if len(raw) == 32:
            v2 = raw
        elif len(raw) == 20:
            v1 = raw
        elif raw:
            ap.error("--magnet-hash: %r is neither 40 nor 64 hex digits" % part)
    if args.magnet_v2_hash:
        v2 = bytes.fromhex(args.magnet_v2_hash)
    if v1 is not None and v2 is not None:
        atp.info_hashes = lt.info_hash_t(lt.sha1_hash(v1), lt.sha256_hash(v2))
    elif v2 is not None:
        atp.info_hashes = lt.info_hash_t(lt.sha256_hash(v2))
    elif v1 is not None:
        atp.info_hashes = lt.info_hash_t(lt.sha1_hash(v1))
    else:
        atp.ti = lt.torrent_info(args.torrent)
    atp.save_path = args.save
    flags = atp.flags
    flags &= ~lt.torrent_flags.auto_managed
    flags &= ~lt.torrent_flags.paused
    flags |= lt.torrent_flags.disable_dht | lt.torrent_flags.disable_lsd
    if not args.pex:
        flags |= lt.torrent_flags.disable_pex
    atp.flags = flags
    h = ses.add_torrent(atp)
    if args.peer:
        host, port = args.peer.rsplit(":", 1)
        h.connect_peer((host, int(port)))

    deadline = time.time() + args.timeout
    listening = False
    checked = False
    complete = False
    last_peers = 0.0
    # Byte counts per connection, kept after it closes: a test asks who sent what.
    seen = {}
    while time.time() < deadline:
        for a in ses.pop_alerts():
            if isinstance(a, lt.listen_succeeded_alert) and not listening:
                listening = True
                say(event="listening", port=a.port)
            elif isinstance(a, lt.listen_failed_alert):
                say(event="listen_failed", message=a.message())
                sys.exit(4)
            elif isinstance(a, lt.tracker_reply_alert):
                say(event="tracker_reply", peers=a.num_peers)
                if args.scrape:
                    h.scrape_tracker()
            elif isinstance(a, lt.tracker_error_alert):
                say(event="tracker_error", message=a.message())
            elif isinstance(a, lt.tracker_warning_alert):
                say(event="tracker_warning", message=a.message())
            elif isinstance(a, lt.scrape_reply_alert):
                say(event="scrape", complete=a.complete, incomplete=a.incomplete)
            elif isinstance(a, lt.scrape_failed_alert):
                say(event="scrape_failed", message=a.message(), error=a.error.message())
            elif isinstance(a, lt.metadata_received_alert):
                say(event="metadata")
            elif isinstance(a, lt.hash_failed_alert):
                say(event="hash_failed", piece=int(a.piece_index))
            elif isinstance(a, lt.metadata_failed_alert):
                say(event="metadata_failed", message=a.message())
            elif isinstance(a, lt.torrent_error_alert):
                say(event="torrent_error", message=a.message())
        st = h.status()
        if not checked and st.has_metadata and st.state not in (
            lt.torrent_status.checking_files,
            lt.torrent_status.checking_resume_data,
        ):
            checked = True
            say(event="checked", pieces=st.num_pieces, seeding=st.is_seeding)
            if args.seed and not st.is_seeding:
                say(event="error", message="--seed, but the data under --save is not complete")
                sys.exit(5)
        now = time.time()
        if now - last_peers >= 0.5:
            last_peers = now
            peers = []
            for p in h.get_peer_info():
                pid = bytes(p.pid.to_bytes()).hex()
                peers.append(
                    {
                        "ip": p.ip[0],
                        "port": p.ip[1],
                        "pid": pid,
                        "down": p.total_download,
                        "up": p.total_upload,
                        "seed": bool(p.flags & lt.peer_info.seed),
                    }
                )
                key = (pid, p.ip[0], p.ip[1])
                old = seen.get(key, (0, 0))
                seen[key] = (max(old[0], p.total_download), max(old[1], p.total_upload))
            totals = {}
            for (pid, _, _), (down, up) in seen.items():
                t = totals.setdefault(pid, {"down": 0, "up": 0})
                t["down"] += down
                t["up"] += up
            say(
                event="peers",
                peers=peers,
                totals=totals,
                progress=st.progress,
                upload=st.total_payload_upload,
            )
        if checked and st.is_seeding and not complete:
            complete = True
            say(event="complete")
            if args.exit_on_complete:
                return 0
        time.sleep(0.1)
    say(event="timeout")
    return 6


if __name__ == "__main__":
    sys.exit(main())
