"""UDP announces per second (BEP 15) for our tracker beside opentracker and
aquatic_udp, driven by aquatic_udp_load_test, the aquatic project's own load
generator, in one invocation; plus p99 latency from a prober of our own.

Used by bench.py's `tracker` case. Each tracker runs alone on 127.0.0.1 while
one load-test worker sends as fast as it can for BENCH_UDP_SECS seconds; at the
same time the prober sends a connect and then announces at about 200/s from its
own socket and records each announce's round trip. Same load, same prober, for
every tracker.
"""

import os
import random
import re
import socket
import struct
import subprocess
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TOOLS = os.path.join(ROOT, "target", "tools")
LOAD_TEST = os.path.join(TOOLS, "bin", "aquatic_udp_load_test")
AQUATIC = os.path.join(TOOLS, "bin", "aquatic_udp")


def ensure_tools(say):
    """Installs the load generator (and aquatic_udp, best effort) into target/tools."""
    if not os.path.exists(LOAD_TEST):
        say("installing aquatic_udp_load_test into target/tools (cargo install --locked)")
        subprocess.run(["cargo", "install", "--locked", "aquatic_udp_load_test", "--root", TOOLS],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not os.path.exists(AQUATIC):
        # With --locked its pinned `metrics` does not compile on current rustc.
        say("installing aquatic_udp into target/tools (cargo install, not --locked)")
        subprocess.run(["cargo", "install", "aquatic_udp", "--root", TOOLS],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return os.path.exists(AQUATIC)


def load_config(path, port, secs):
    text = subprocess.run([LOAD_TEST, "-p"], check=True, capture_output=True, text=True).stdout
    text = re.sub(r'(?m)^server_address = .*$', 'server_address = "127.0.0.1:%d"' % port, text)
    text = re.sub(r'(?m)^duration = .*$', "duration = %d" % secs, text)
    text = re.sub(r'(?m)^workers = .*$', "workers = 1", text)
    with open(path, "w") as f:
        f.write(text)


def aquatic_config(path, port):
    text = subprocess.run([AQUATIC, "-p"], check=True, capture_output=True, text=True).stdout
    text = re.sub(r'(?m)^address = .*$', 'address = "127.0.0.1:%d"' % port, text)
    with open(path, "w") as f:
        f.write(text)


class Prober:
    """Connect once, then announces at `rate`/s, each timed; a lost one counts as 1 s."""

    def __init__(self, port, rate=200):
        self.port, self.rate = port, rate
        self.rtts, self.stop = [], threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(1.0)
        addr = ("127.0.0.1", self.port)
        cid = None
        info_hash = bytes(random.getrandbits(8) for _ in range(20))
        peer_id = b"-PR0001-" + bytes(random.getrandbits(8) for _ in range(12))
        tid = 0
        while not self.stop.is_set():
            tid += 1
            if cid is None:
                s.sendto(struct.pack(">QII", 0x41727101980, 0, tid), addr)
                try:
                    d, _ = s.recvfrom(2048)
                    if len(d) >= 16 and struct.unpack(">II", d[:8]) == (0, tid):
                        cid = struct.unpack(">Q", d[8:16])[0]
                except OSError:
                    pass
                continue
            req = struct.pack(">QII20s20sQQQIIIiH", cid, 1, tid, info_hash, peer_id, 0, 1000, 0, 0, 0, 1, 50, 6881)
            t0 = time.perf_counter()
            s.sendto(req, addr)
            got = None
            while True:
                try:
                    d, _ = s.recvfrom(4096)
                except OSError:
                    break
                if len(d) >= 8 and struct.unpack(">I", d[4:8])[0] == tid:
                    got = d
                    break
            self.rtts.append((time.perf_counter() - t0) if got else 1.0)
            if got and struct.unpack(">I", got[:4])[0] == 3:
                cid = None  # an error: connect again
            time.sleep(max(0.0, 1.0 / self.rate - (time.perf_counter() - t0)))

    def p99_ms(self):
        if not self.rtts:
            return None
        xs = sorted(self.rtts)
        return 1000.0 * xs[min(len(xs) - 1, int(0.99 * len(xs)))]


def run_load(w, tag, port, secs):
    cfg = os.path.join(w, "load-%s.toml" % tag)
    load_config(cfg, port, secs)
    prober = Prober(port)
    prober.thread.start()
    out = subprocess.run([LOAD_TEST, "-c", cfg], capture_output=True, text=True, timeout=secs + 60)
    prober.stop.set()
    prober.thread.join(5)
    m = re.search(r"Average responses per second: ([0-9.]+)", out.stdout + out.stderr)
    with open(os.path.join(w, "load-%s.log" % tag), "w") as f:
        f.write(out.stdout + out.stderr)
    return (float(m.group(1)) if m else None), prober.p99_ms()


def wait_answering(port, timeout):
    """Until a connect to 127.0.0.1:port is answered (a UDP server has no listen to watch)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.2)
    deadline = time.time() + timeout
    while time.time() < deadline:
        s.sendto(struct.pack(">QII", 0x41727101980, 0, 7), ("127.0.0.1", port))
        try:
            d, _ = s.recvfrom(64)
            if d[:8] == struct.pack(">II", 0, 7):
                return
        except OSError:
            pass
    raise RuntimeError("nothing answered UDP connects on port %d within %d s" % (port, timeout))
