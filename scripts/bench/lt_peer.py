#!/usr/bin/python3
"""The libtorrent reference for scripts/bench.sh (run with /usr/bin/python3).

    lt_peer.py seed  --torrent T --save DIR [--rate BPS]        prints "ready PORT", seeds until stdin closes
    lt_peer.py leech --torrent T --save DIR [--connect IP:PORT] downloads, prints one JSON line, exits
    lt_peer.py swarm --torrent T --seed-dir DIR --work DIR --n N --rate BPS [--super-seed] [--timeout S]
                     one seeder and N leechers, all in this process; prints one JSON line

Every session listens on 127.0.0.1 only, TCP only, with DHT, LSD, UPnP and NAT-PMP off.
libtorrent 2.x exempts local-network peers from rate limits and upload slots; we switch that off
(ignore_limits_on_local_network=False, and every address is mapped into the global peer class), or
its figures on loopback would mean nothing. Rate limits count payload only, as ours do.
"""

import argparse
import json
import os
import resource
import sys
import threading
import time

import libtorrent as lt


def make_session(rate=0, preset=None):
    settings = preset() if preset else {}
    settings.update(
        {
            "listen_interfaces": "127.0.0.1:0",
            "enable_dht": False,
            "enable_lsd": False,
            "enable_upnp": False,
            "enable_natpmp": False,
            "enable_outgoing_utp": False,
            "enable_incoming_utp": False,
            "allow_multiple_connections_per_ip": True,
            "ignore_limits_on_local_network": False,
            "rate_limit_ip_overhead": False,
            "upload_rate_limit": int(rate),
            "download_rate_limit": 0,
            "alert_mask": lt.alert.category_t.error_notification
            | lt.alert.category_t.status_notification,
        }
    )
    ses = lt.session(settings)
    f = lt.ip_filter()
    f.add_rule("0.0.0.0", "255.255.255.255", 1 << lt.session.global_peer_class_id)
    ses.set_peer_class_filter(f)
    return ses


def wait_listen_port(ses, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        p = ses.listen_port()
        if p:
            return p
        time.sleep(0.01)
    raise SystemExit("libtorrent did not start listening")


def add(ses, torrent, save, flags=0):
    ti = lt.torrent_info(torrent)
    atp = lt.add_torrent_params()
    atp.ti = ti
    atp.save_path = save
    atp.flags = (atp.flags & ~lt.torrent_flags.auto_managed & ~lt.torrent_flags.paused) | flags
    return ses.add_torrent(atp)


def wait_state(h, want, timeout):
    end = time.time() + timeout
    while time.time() < end:
        s = h.status()
        if want(s):
            return s
        if s.errc.value():
            raise SystemExit("libtorrent error: %s" % s.errc.message())
        time.sleep(0.02)
    raise SystemExit("libtorrent timed out (state %s)" % h.status().state)


def cmd_seed(a):
    ses = make_session(a.rate, lt.high_performance_seed if a.hps else None)
    port = wait_listen_port(ses)
    h = add(ses, a.torrent, a.save)
    wait_state(h, lambda s: s.is_seeding, 600)
    print("ready %d" % port, flush=True)
    # Commands on stdin: "stats" prints payload uploaded so far; EOF ends.
    for line in sys.stdin:
        if line.strip() == "stats":
            s = h.status()
            print(json.dumps({"uploaded": s.total_payload_upload}), flush=True)
    ses.pause()


def cmd_leech(a):
    ses = make_session(0, lt.high_performance_seed if a.hps else None)
    wait_listen_port(ses)
    h = add(ses, a.torrent, a.save)
    if a.connect:
        ip, port = a.connect.rsplit(":", 1)
        h.connect_peer((ip, int(port)))
    t0 = time.time()
    s = wait_state(h, lambda s: s.is_finished or s.is_seeding, 3600)
    t1 = time.time()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "seconds": t1 - t0,
                "downloaded": s.total_payload_download,
                "cpu": ru.ru_utime + ru.ru_stime,
            }
        ),
        flush=True,
    )
    del h
    del ses


def cmd_magnet(a):
    """Downloads a magnet link; prints seconds (from adding it) to the metadata, the first piece and the end."""
    ses = make_session(0, lt.high_performance_seed if a.hps else None)
    wait_listen_port(ses)
    atp = lt.parse_magnet_uri(a.uri)
    atp.save_path = a.save
    atp.flags = (atp.flags & ~lt.torrent_flags.auto_managed & ~lt.torrent_flags.paused)
    t0 = time.time()
    h = ses.add_torrent(atp)
    if a.connect:
        ip, port = a.connect.rsplit(":", 1)
        h.connect_peer((ip, int(port)))
    meta = first = None
    end = t0 + 3600
    while time.time() < end:
        s = h.status()
        now = time.time()
        if meta is None and s.has_metadata:
            meta = now - t0
        if first is None and s.num_pieces > 0:
            first = now - t0
        if s.is_finished or s.is_seeding:
            print(json.dumps({"metadata": meta, "first_piece": first, "seconds": now - t0}), flush=True)
            return
        if s.errc.value():
            raise SystemExit("libtorrent error: %s" % s.errc.message())
        time.sleep(0.005)
    raise SystemExit("libtorrent timed out on the magnet")


def cmd_swarm(a):
    os.makedirs(a.work, exist_ok=True)
    seeder = make_session(a.rate)
    wait_listen_port(seeder)
    flags = lt.torrent_flags.super_seeding if a.super_seed else 0
    sh = add(seeder, a.torrent, a.seed_dir, flags)
    wait_state(sh, lambda s: s.is_seeding, 120)
    # Let the seeder's announce reach the tracker before the crowd arrives.
    wait_state(sh, lambda s: s.num_complete >= 1 or s.announcing_to_trackers is False, 10)
    time.sleep(0.5)
    leechers = []
    for i in range(a.n):
        ses = make_session(a.rate)
        wait_listen_port(ses)
        leechers.append(ses)
    t0 = time.time()
    handles = []
    for i, ses in enumerate(leechers):
        d = os.path.join(a.work, "l%02d" % i)
        os.makedirs(d, exist_ok=True)
        handles.append(add(ses, a.torrent, d))
    done = [None] * a.n
    deadline = t0 + a.timeout
    while time.time() < deadline and any(d is None for d in done):
        for i, h in enumerate(handles):
            if done[i] is None:
                s = h.status()
                if s.is_finished or s.is_seeding:
                    done[i] = time.time() - t0
        time.sleep(0.05)
    up = sh.status().total_payload_upload
    leech_up = sum(h.status().total_payload_upload for h in handles)
    print(
        json.dumps(
            {
                "done": done,
                "seeder_uploaded": up,
                "leechers_uploaded": leech_up,
                "cpu": sum(resource.getrusage(resource.RUSAGE_SELF)[:2]),
            }
        ),
        flush=True,
    )
    # Skip the orderly teardown of 21 sessions: the measurement is over.
    os._exit(0)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("seed")
    s.add_argument("--torrent", required=True)
    s.add_argument("--save", required=True)
    s.add_argument("--rate", type=int, default=0)
    s.add_argument("--hps", action="store_true", help="high_performance_seed preset")
    s = sub.add_parser("leech")
    s.add_argument("--torrent", required=True)
    s.add_argument("--save", required=True)
    s.add_argument("--connect", help="dial this peer as well as those the tracker names")
    s.add_argument("--hps", action="store_true")
    s = sub.add_parser("magnet")
    s.add_argument("--uri", required=True)
    s.add_argument("--save", required=True)
    s.add_argument("--connect", help="dial this peer as well")
    s.add_argument("--hps", action="store_true")
    s = sub.add_parser("swarm")
    s.add_argument("--torrent", required=True)
    s.add_argument("--seed-dir", required=True)
    s.add_argument("--work", required=True)
    s.add_argument("--n", type=int, required=True)
    s.add_argument("--rate", type=int, required=True)
    s.add_argument("--super-seed", action="store_true")
    s.add_argument("--timeout", type=float, default=300)
    a = p.parse_args()
    {"seed": cmd_seed, "leech": cmd_leech, "magnet": cmd_magnet, "swarm": cmd_swarm}[a.cmd](a)


if __name__ == "__main__":
    main()
