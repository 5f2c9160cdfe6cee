#!/usr/bin/env python3
"""Announce latency of tracker_server with and without slow clients attached.

    tracker_attack.py TRACKER_BIN            the measurement (scripts/bench_tracker_attack.sh runs it)
    tracker_attack.py --crowd PORT N PER_IP  internal: hold N slow connections, PER_IP per source address

Each case starts a fresh tracker on 127.0.0.1, optionally attaches a crowd of slow
clients (each sends the start of a request, then one header line every
ATTACK_LINE_SECS seconds, and reconnects when the tracker closes it), then times
ATTACK_ANNOUNCES one-shot announces (connect, request, whole reply) from 127.0.0.1,
ATTACK_CLIENTS at a time, after 500 untimed ones. A request not answered within 5 s counts as failed.
The crowd runs in its own process so it never shares an interpreter lock with
the timing. Everything is loopback; every loop is bounded.
"""

import os
import resource
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import time

HASH = "%01" * 20
TIMEOUT = 5.0


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def crowd(port, n, per_ip, every):
    """Holds n slow connections until stdin closes; prints how many are open each round."""
    raise_nofile()
    conns = [None] * n

    def src(i):
        if per_ip <= 0:
            return "127.0.0.1"
        k = i // per_ip
        return "127.0.%d.%d" % (k // 250, 2 + k % 250)

    def dial(i):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.bind((src(i), 0))
            s.connect_ex(("127.0.0.1", port))
            return [s, False]
        except OSError:
            s.close()
            return None

    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    sel = selectors.DefaultSelector()
    while not stop.is_set():
        t0 = time.time()
        for i in range(n):
            c = conns[i]
            alive = False
            if c is not None:
                s, started = c
                try:
                    if s.recv(512, socket.MSG_DONTWAIT) is not None:
                        alive = False  # a reply or EOF: the tracker let go
                except BlockingIOError:
                    alive = True
                except OSError:
                    alive = False
                if alive:
                    try:
                        s.send(b"X-Slow: 1\r\n" if started else b"GET /announce?info_hash=slow HTTP/1.1\r\n")
                        c[1] = True
                    except BlockingIOError:
                        pass
                    except OSError:
                        alive = False
                if not alive:
                    s.close()
            if not alive:
                conns[i] = dial(i)
        open_now = sum(1 for c in conns if c is not None and c[1])
        print("open %d" % open_now, flush=True)
        while time.time() - t0 < every and not stop.is_set():
            time.sleep(0.05)
    for c in conns:
        if c is not None:
            c[0].close()
    del sel


def start_tracker(binary, data, extra):
    p = subprocess.Popen(
        [binary, "--ip", "127.0.0.1", "--port", "0", "--data-dir", data] + extra,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ, RUST_LOG="error"),
    )
    line = p.stdout.readline()
    if "listening on" not in line:
        p.kill()
        raise SystemExit("tracker did not start: %r" % line)
    return p, int(line.rsplit(":", 1)[1])


def announce_once(port, i):
    req = (
        "GET /announce?info_hash=%s&peer_id=-BN0001-%012d&port=%d&uploaded=0&downloaded=0&left=%d&numwant=50&compact=1 "
        "HTTP/1.1\r\nConnection: close\r\n\r\n" % (HASH, i % 1000, 20000 + i % 1000, (i % 2) * 1000000)
    ).encode()
    t0 = time.perf_counter()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
            s.settimeout(TIMEOUT)
            s.sendall(req)
            got = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                got += b
    except OSError:
        return None
    if not got.startswith(b"HTTP/1.1 200"):
        return None
    return time.perf_counter() - t0


def measure(port, count, clients):
    lat, failed = [], [0]
    lock = threading.Lock()
    per = count // clients

    def run(k):
        for j in range(per):
            t = announce_once(port, k * per + j)
            with lock:
                if t is None:
                    failed[0] += 1
                else:
                    lat.append(t)

    ts = [threading.Thread(target=run, args=(k,)) for k in range(clients)]
    t0 = time.time()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    took = time.time() - t0
    lat.sort()

    def pct(q):
        return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")

    return {"n": len(lat), "failed": failed[0], "p50": pct(0.50), "p99": pct(0.99), "max": lat[-1] * 1000 if lat else float("nan"), "rps": len(lat) / took}


def proc_status(pid, key):
    try:
        for line in open("/proc/%d/status" % pid):
            if line.startswith(key + ":"):
                return line.split()[1]
    except OSError:
        pass
    return "?"


def case(binary, label, slow, per_ip, extra, count, clients, every):
    with tempfile.TemporaryDirectory(prefix="swarmshare-attack-") as d:
        tr, port = start_tracker(binary, d, extra)
        c = None
        held = 0
        try:
            if slow:
                c = subprocess.Popen(
                    [sys.executable, __file__, "--crowd", str(port), str(slow), str(per_ip), str(every)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                deadline = time.time() + 60
                while time.time() < deadline:
                    line = c.stdout.readline()
                    if not line:
                        break
                    held = int(line.split()[1])
                    # Two rounds in: the crowd has trickled at least one line on each connection.
                    if held >= slow * 0.95 or time.time() > deadline - 50:
                        break
                threading.Thread(target=lambda: [None for _ in c.stdout], daemon=True).start()
            measure(port, min(count, 500), clients)  # warm-up, not counted
            r = measure(port, count, clients)
            r["threads"] = proc_status(tr.pid, "Threads")
            r["rss"] = proc_status(tr.pid, "VmRSS")
            r["held"] = held
            r["label"] = label
            return r
        finally:
            if c is not None:
                c.stdin.close()
                try:
                    c.wait(10)
                except subprocess.TimeoutExpired:
                    c.kill()
            tr.kill()
            tr.wait()


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "--crowd":
        crowd(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
        return 0
    raise_nofile()
    binary = sys.argv[1]
    slow = int(os.environ.get("ATTACK_SLOW", "2000"))
    count = int(os.environ.get("ATTACK_ANNOUNCES", "4000"))
    clients = int(os.environ.get("ATTACK_CLIENTS", "4"))
    every = float(os.environ.get("ATTACK_LINE_SECS", "2"))
    extra = os.environ.get("ATTACK_TRACKER_ARGS", "").split()
    cases = [
        ("no attack", 0, 10),
        ("%d slow connections from 200 addresses" % slow, slow, max(1, slow // 200)),
        ("%d slow connections from 127.0.0.1 alone" % slow, slow, 0),
    ]
    rows = []
    for label, n, per_ip in cases:
        print("attack: %s ..." % label, file=sys.stderr, flush=True)
        rows.append(case(binary, label, n, per_ip, extra, count, clients, every))
    print(
        "\n%s, %d one-shot announces per case, %d clients at a time, slow clients send a header line every %g s\n"
        % (binary, count, clients, every)
    )
    head = ["case", "slow conns open", "answered", "failed", "p50 ms", "p99 ms", "max ms", "announces/s", "tracker threads", "tracker RSS KiB"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print(
            "| %s | %d | %d | %d | %.2f | %.2f | %.2f | %.0f | %s | %s |"
            % (r["label"], r["held"], r["n"], r["failed"], r["p50"], r["p99"], r["max"], r["rps"], r["threads"], r["rss"])
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
