"""UDP announces per second (BEP 15) for our tracker beside opentracker and
aquatic_udp, driven by aquatic_udp_load_test, the aquatic project's own load
generator, in one invocation; plus p99 latency from a prober of our own.

Used by bench.py's `tracker` case. Each tracker runs alone on 127.0.0.1 while
one load-test worker sends as fast as it can for BENCH_UDP_SECS seconds; at the
same time the prober sends a connect and then announces at about 200/s from its
own socket and records each announce's round trip. Same load, same prober, for
every tracker.

opentracker as Debian builds it serves whitelisted info-hashes only, and answers any
other announce with a bare 8-byte "announce" header, which BEP 15 does not allow and
the load test discards as invalid (it counts it in no column). The load test's
info-hashes are not random at run time, though: they come from a SmallRng seeded with
a constant, so `load_test_hashes` regenerates them, and opentracker is given them all
as its whitelist.
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
    """Installs the load generator and aquatic_udp into target/tools when missing, one line
    each; (load test present, aquatic_udp present). An absent one is reported, never fatal."""
    if not os.path.exists(LOAD_TEST):
        say("installing aquatic_udp_load_test into target/tools (cargo install --locked)")
        subprocess.run(["cargo", "install", "--locked", "aquatic_udp_load_test", "--root", TOOLS],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not os.path.exists(AQUATIC):
        # With --locked its pinned `metrics` 0.22.3 does not compile on current rustc.
        say("installing aquatic_udp into target/tools (cargo install, not --locked)")
        subprocess.run(["cargo", "install", "aquatic_udp", "--root", TOOLS],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for path in (LOAD_TEST, AQUATIC):
        if not os.path.exists(path):
            say("%s is absent (install failed): left out" % os.path.basename(path))
    return os.path.exists(LOAD_TEST), os.path.exists(AQUATIC)


_M = (1 << 64) - 1


def load_test_hashes(n, seed=0xC3AA8BE617B3ACCE):
    """The first n info-hashes aquatic_udp_load_test 0.9 generates (InfoHashDist::new):
    rand 0.8's SmallRng (xoshiro256++, seeded from a u64 through rand_core's PCG32),
    twenty `rng.gen::<u8>()` each, i.e. the low byte of `next_u64() >> 32`."""
    st, seed_bytes = seed, b""
    for _ in range(8):
        st = (st * 6364136223846793005 + 11634580027462260723) & _M
        x = (((st >> 18) ^ st) >> 27) & 0xFFFFFFFF
        rot = st >> 59
        seed_bytes += (((x >> rot) | (x << ((32 - rot) & 31))) & 0xFFFFFFFF).to_bytes(4, "little")
    s0, s1, s2, s3 = (int.from_bytes(seed_bytes[8 * i:8 * i + 8], "little") for i in range(4))
    out = []
    for _ in range(n):
        b = bytearray(20)
        for k in range(20):
            x = (s0 + s3) & _M
            r = ((((x << 23) | (x >> 41)) & _M) + s0) & _M
            t = (s1 << 17) & _M
            s2 ^= s0
            s3 ^= s1
            s1 ^= s2
            s0 ^= s3
            s2 ^= t
            s3 = ((s3 << 45) | (s3 >> 19)) & _M
            b[k] = (r >> 32) & 0xFF
        out.append(bytes(b))
    return out


def number_of_torrents():
    text = subprocess.run([LOAD_TEST, "-p"], check=True, capture_output=True, text=True).stdout
    return int(re.search(r"(?m)^number_of_torrents = (\d+)", text).group(1))


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
    """Connect once, then announces at `rate`/s, each timed; one unanswered within 1 s is lost."""

    def __init__(self, port, info_hash, rate=200):
        self.port, self.rate, self.info_hash = port, rate, info_hash
        self.rtts, self.lost, self.stop = [], 0, threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(1.0)
        addr = ("127.0.0.1", self.port)
        cid = None
        info_hash = self.info_hash
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
                    if len(d) < 20 and struct.unpack(">I", d[:4])[0] == 1:
                        raise RuntimeError("a malformed announce reply (%d bytes): info-hash not whitelisted?" % len(d))
                    got = d
                    break
            if got:
                self.rtts.append(time.perf_counter() - t0)
            else:
                self.lost += 1
            if got and struct.unpack(">I", got[:4])[0] == 3:
                cid = None  # an error: connect again
            time.sleep(max(0.0, 1.0 / self.rate - (time.perf_counter() - t0)))

    def p99_ms(self):
        if not self.rtts:
            return None
        xs = sorted(self.rtts)
        return 1000.0 * xs[min(len(xs) - 1, int(0.99 * len(xs)))]

    def lost_pct(self):
        n = len(self.rtts) + self.lost
        return 100.0 * self.lost / n if n else None


def run_load(w, tag, port, secs, probe_hash):
    """One load-test run with the prober beside it: a dict of per-second averages
    (total, connect, announce, scrape, error), the load test's count of invalid
    replies, and the prober's p99 (ms) and lost share (%)."""
    cfg = os.path.join(w, "load-%s.toml" % tag)
    load_config(cfg, port, secs)
    prober = Prober(port, probe_hash)
    prober.thread.start()
    out = subprocess.run([LOAD_TEST, "-c", cfg], capture_output=True, text=True, timeout=secs + 60)
    prober.stop.set()
    prober.thread.join(5)
    text = out.stdout + out.stderr
    with open(os.path.join(w, "load-%s.log" % tag), "w") as f:
        f.write(text)
    report = text[text.rfind("# aquatic load test report"):]
    r = {}
    for key, pat in (("total", r"Average responses per second: ([0-9.]+)"), ("connect", r"Connect responses: +([0-9.]+)"),
                     ("announce", r"Announce responses: +([0-9.]+)"), ("scrape", r"Scrape responses: +([0-9.]+)"),
                     ("error", r"Error responses: +([0-9.]+)")):
        m = re.search(pat, report)
        r[key] = float(m.group(1)) if m else None
    r["invalid"] = text.count("Received invalid response")
    r["p99"], r["lost"] = prober.p99_ms(), prober.lost_pct()
    return r


def wait_answering(port, timeout, info_hash):
    """Until a connect to 127.0.0.1:port, then an announce for info_hash, get proper
    replies (a UDP server has no listen to watch, and opentracker reads its whitelist
    in a thread of its own after it starts answering)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.2)
    addr = ("127.0.0.1", port)
    deadline = time.time() + timeout
    cid = None
    while time.time() < deadline:
        try:
            if cid is None:
                s.sendto(struct.pack(">QII", 0x41727101980, 0, 7), addr)
                d, _ = s.recvfrom(64)
                if d[:8] == struct.pack(">II", 0, 7):
                    cid = struct.unpack(">Q", d[8:16])[0]
                continue
            s.sendto(struct.pack(">QII20s20sQQQIIIiH", cid, 1, 8, info_hash, b"-PR0001-readiness000",
                                 0, 1000, 0, 0, 0, 1, 1, 6881), addr)
            d, _ = s.recvfrom(4096)
            if len(d) >= 20 and d[:8] == struct.pack(">II", 1, 8):
                return
            time.sleep(0.05)
        except OSError:
            pass
    raise RuntimeError("no proper UDP announce reply from port %d within %d s" % (port, timeout))
