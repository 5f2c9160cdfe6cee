#!/usr/bin/python3
"""swarmshare beside stock software: see scripts/bench.sh for usage and the environment knobs.

Each case starts its own processes on 127.0.0.1 in a temp folder, measures several runs,
alternating ours and the reference, and prints medians side by side with ratios. Nothing
here asserts: figures are printed and written to BENCHMARKS.md, never turned into failures.
"""

import hashlib
import json
import mmap
import os
import random
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
LT_PEER = os.path.join(HERE, "lt_peer.py")
PY = "/usr/bin/python3"
MB = 1e6
MIB = 1024 * 1024
CLK = os.sysconf("SC_CLK_TCK")


def env_int(name, default):
    v = os.environ.get(name)
    return int(v) if v else default


def env_float(name, default):
    v = os.environ.get(name)
    return float(v) if v else default


QUICK = os.environ.get("BENCH_QUICK") == "1"
RUNS = env_int("BENCH_RUNS", 1 if QUICK else 3)
SIZE_MIB = env_int("BENCH_SIZE_MB", 128 if QUICK else 1024)
MAGNET_MIB = env_int("BENCH_MAGNET_MB", 16 if QUICK else 64)
SWARM_MIB = env_int("BENCH_SWARM_MB", 16 if QUICK else 64)
SWARM_NS = [int(x) for x in os.environ.get("BENCH_SWARM_N", "10 20").split()]
SWARM_RUNS = env_int("BENCH_SWARM_RUNS", 1 if QUICK else 2)
SWARM_RATE = env_int("BENCH_SWARM_RATE", 2_000_000)
SWARM_PIECE_LOG2 = 18
LT_SUPERSEED = os.environ.get("BENCH_LT_SUPERSEED") == "1"
WRK_SECS = env_int("BENCH_WRK_SECS", 3 if QUICK else 5)
N_TORRENTS = env_int("BENCH_TORRENTS", 10_000 if QUICK else 100_000)
KEEP = os.environ.get("BENCH_KEEP") == "1"
# libtorrent's own high_performance_seed settings pack, on both sides of the throughput pair: on this
# machine it moves 1 GiB in roughly two thirds of the time its defaults take, so it is the fair reference.
LT_PRESET = [] if os.environ.get("BENCH_LT_PRESET") == "default" else ["--hps"]


# ---------------------------------------------------------------------------------------------
# processes


class Procs:
    """Every process we start, each in its own process group, stopped on exit."""

    def __init__(self):
        self.live = []

    def spawn(self, args, log=None, stdin=subprocess.DEVNULL):
        out = open(log, "wb") if log else subprocess.DEVNULL
        p = subprocess.Popen(args, stdin=stdin, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        if log:
            out.close()
        p.log = log
        self.live.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM, grace=5.0):
        if p.poll() is None:
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        if p in self.live:
            self.live.remove(p)

    def stop_all(self):
        for p in list(self.live):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        end = time.time() + 3
        for p in list(self.live):
            try:
                p.wait(max(0.1, end - time.time()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        self.live.clear()


PROCS = Procs()


def wait_for(pred, timeout, what, interval=0.02):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise RuntimeError("timed out after %.0f s waiting for %s" % (timeout, what))


def log_match(path, pattern):
    try:
        with open(path, "rb") as f:
            m = re.search(pattern.encode(), f.read())
        return m
    except FileNotFoundError:
        return None


def wait_log(p, pattern, timeout, what):
    def check():
        m = log_match(p.log, pattern)
        if m:
            return m
        if p.poll() is not None:
            tail = open(p.log, "rb").read()[-2000:].decode(errors="replace")
            raise RuntimeError("%s exited (%s) before %s:\n%s" % (p.args[0], p.returncode, what, tail))
        return None

    return wait_for(check, timeout, what)


def cpu_seconds(pid):
    """utime + stime of every thread of a live process, from /proc."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def proc_status(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except FileNotFoundError:
        pass
    return None


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def machine_busy(interval=1.0):
    """Share of both cores busy over `interval`, from /proc/stat, before we start anything."""

    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + v[4]
        return sum(v) - idle, sum(v)

    b0, t0 = snap()
    time.sleep(interval)
    b1, t1 = snap()
    return "%.0f%%" % (100.0 * (b1 - b0) / max(1, t1 - t0))


# ---------------------------------------------------------------------------------------------
# TCP byte counters through NETLINK_SOCK_DIAG, for time to first byte without touching either client


class SockDiag:
    def __init__(self):
        self.s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 4)  # NETLINK_SOCK_DIAG
        self.seq = 0

    def established(self):
        """[(sport, dport, bytes_acked, bytes_received)] of every established IPv4 TCP socket."""
        self.seq += 1
        req = struct.pack("=BBBBI", socket.AF_INET, socket.IPPROTO_TCP, 1 << 1, 0, 1 << 1) + b"\0" * 48
        self.s.send(struct.pack("=IHHII", 16 + len(req), 20, 0x301, self.seq, 0) + req)
        out = []
        while True:
            data = self.s.recv(1 << 20)
            off = 0
            while off + 16 <= len(data):
                ln, typ = struct.unpack_from("=IH", data, off)
                if typ == 3:  # NLMSG_DONE
                    return out
                if typ == 2:
                    raise OSError("sock_diag error")
                body = off + 16
                sport, dport = struct.unpack_from(">HH", data, body + 4)
                a = body + 72
                while a + 4 <= off + ln:
                    alen, atype = struct.unpack_from("=HH", data, a)
                    if alen < 4:
                        break
                    if atype == 2 and alen - 4 >= 136:  # INET_DIAG_INFO: struct tcp_info
                        acked, received = struct.unpack_from("=QQ", data, a + 4 + 120)
                        out.append((sport, dport, acked, received))
                    a += (alen + 3) & ~3
                off += (ln + 3) & ~3


# ---------------------------------------------------------------------------------------------
# statistics and tables


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(v, digits=1):
    if v is None:
        return "n/a"
    if isinstance(v, str):
        return v
    if abs(v) >= 100 and digits <= 1:
        return "{:,.0f}".format(v)
    return "{:,.{d}f}".format(v, d=digits)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def table(headers, rows):
    w = [max(len(str(r[i])) for r in [headers] + rows) for i in range(len(headers))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w[i]) if i == 0 else str(c).rjust(w[i]) for i, c in enumerate(r)) + " |"
    sep = "|" + "|".join("-" * (x + 2) if i == 0 else "-" * (x + 1) + ":" for i, x in enumerate(w)) + "|"
    return "\n".join([line(headers), sep] + [line(r) for r in rows])


def verdict(ok):
    return "**met**" if ok else "**not met**"


# ---------------------------------------------------------------------------------------------
# shared fixtures


class Bench:
    def __init__(self, work, binaries):
        self.work = work
        self.bin = binaries
        self.diag = SockDiag()
        self._big = None

    def peer(self, tport, home, *args):
        return [os.path.join(self.bin, "peer"), "127.0.0.1", str(tport), "--home", home, "--no-dht"] + list(args)

    def tracker(self, name, data_dir=None):
        data_dir = data_dir or os.path.join(self.work, name)
        os.makedirs(data_dir, exist_ok=True)
        p = PROCS.spawn(
            [os.path.join(self.bin, "tracker_server"), "--ip", "127.0.0.1", "--port", "0", "--data-dir", data_dir],
            log=os.path.join(self.work, name + ".log"),
        )
        m = wait_log(p, r"tracker listening on \S+:(\d+)", 600, "the tracker to listen")
        p.port = int(m.group(1))
        return p

    def opentracker(self, name, hashes):
        d = os.path.join(self.work, name)
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o755)
        with open(os.path.join(d, "whitelist"), "w") as f:
            f.write("".join(h + "\n" for h in hashes))
        os.chmod(os.path.join(d, "whitelist"), 0o644)
        port = free_port()
        # Debian's build refuses root without -u, chroots to -d, and only serves whitelisted hashes.
        args = ["opentracker", "-i", "127.0.0.1", "-p", str(port), "-P", str(port), "-d", d, "-w", "/whitelist"]
        if os.getuid() == 0:
            args[1:1] = ["-u", "_opentracker"]
        p = PROCS.spawn(args, log=os.path.join(self.work, name + ".log"))
        wait_for(lambda: port_open(port), 10, "opentracker to listen")
        p.port = port
        return p

    def big_file(self):
        """SIZE_MIB of random bytes, made once per invocation, older than the sharer's 1 s settle time."""
        if self._big:
            return self._big
        d = os.path.join(self.work, "data")
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "big.bin")
        say("making a %d MiB file of random bytes" % SIZE_MIB)
        with open(path, "wb") as f:
            subprocess.run(["head", "-c", str(SIZE_MIB * MIB), "/dev/urandom"], stdout=f, check=True)
        old = time.time() - 30
        os.utime(path, (old, old))
        self._big = path
        return path


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        return True
    except OSError:
        return False


def warm(path):
    with open(path, "rb") as f:
        while f.read(8 * MIB):
            pass


def say(msg):
    print("  . " + msg, flush=True)


def info_span(data):
    """Start and end of the info dictionary's bytes in a .torrent (the top-level dict walked key by key)."""
    i = 1
    while data[i : i + 1] != b"e":
        colon = data.index(b":", i)
        key_end = colon + 1 + int(data[i:colon])
        key = data[colon + 1 : key_end]
        end = bencode_end(data, key_end)
        if key == b"info":
            return key_end, end
        i = end
    raise ValueError("no info dictionary")


def info_hash_of(torrent_path):
    lo, hi = info_span(open(torrent_path, "rb").read())
    return hashlib.sha1(open(torrent_path, "rb").read()[lo:hi]).hexdigest()


def rewrite_torrent(src, dst, announce=None):
    """The same info dictionary (so the same info-hash) with another announce URL, or none."""
    data = open(src, "rb").read()
    lo, hi = info_span(data)
    head = benc("announce") + benc(announce) if announce else b""
    with open(dst, "wb") as f:
        f.write(b"d" + head + b"4:info" + data[lo:hi] + b"e")


def bencode_end(b, i):
    c = b[i : i + 1]
    if c == b"i":
        return b.index(b"e", i) + 1
    if c in (b"l", b"d"):
        i += 1
        while b[i : i + 1] != b"e":
            i = bencode_end(b, i)
        return i + 1
    colon = b.index(b":", i)
    return colon + 1 + int(b[i:colon])


# ---------------------------------------------------------------------------------------------
# case 1: throughput


def run_leecher(bench, args, seeder_pid, seeder_port, log, out):
    """Runs one leecher to its exit. Time to first byte comes from the leecher's socket to the
    seeder (first moment it has received 2 KiB: past handshakes and bitfields, into a piece)."""
    # /usr/bin/time reports the leecher's own CPU and peak RSS. (wait4's ru_maxrss would not do: a child
    # forked from this Python process inherits Python's high-water mark across exec.)
    timing = out + ".time"
    args = ["/usr/bin/time", "-o", timing, "-f", "%e %U %S %M"] + args
    t0 = time.time()
    with open(out, "wb") as o, open(log, "wb") as e:
        p = subprocess.Popen(args, stdout=o, stderr=e, start_new_session=True)
    PROCS.live.append(p)
    first = None
    anon = {"leecher": 0, "seeder": 0}
    n = 0
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid == p.pid:
            break
        now = time.time()
        n += 1
        if n % 20 == 0 or first is not None:
            # Private (anonymous) memory: libtorrent maps the file, which inflates its plain RSS.
            leecher_pid = child_of(p.pid)
            for k, pid_ in (("leecher", leecher_pid), ("seeder", seeder_pid)):
                if pid_:
                    anon[k] = max(anon[k], proc_status(pid_, "RssAnon") or 0)
        if first is None:
            for sport, dport, _, received in bench.diag.established():
                if dport == seeder_port and received >= 2048:
                    first = now - t0
                    break
            time.sleep(0.002)
        else:
            time.sleep(0.02)
    t1 = time.time()
    p.returncode = os.waitstatus_to_exitcode(status)
    PROCS.live.remove(p)
    if p.returncode != 0:
        raise RuntimeError("leecher exited with %s; see %s" % (p.returncode, log))
    _, user, system, maxrss_kb = open(timing).read().split()[-4:]
    return {
        "wall": t1 - t0,
        "ttfb": first,
        "cpu": float(user) + float(system),
        "rss": int(maxrss_kb) * 1024,
        "anon": anon["leecher"],
        "seeder_anon": anon["seeder"],
        "stdout": open(out, "rb").read().decode(errors="replace"),
    }


def child_of(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            kids = f.read().split()
        return int(kids[0]) if kids else None
    except (FileNotFoundError, ProcessLookupError):
        return None


def tcp_ceiling(path, size, direct=False):
    """Raw loopback TCP → file: sendfile on one side, recv_into + write on the other.

    With direct=True the receiver writes whole MiB with O_DIRECT from page-aligned memory, as our
    leecher does; buffered, every 4 KiB written takes a fresh page-cache page, which on a VM that
    hands free memory back to its host is a slow first touch."""
    dst = path + ".tcp"
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    result = {}

    def receive():
        c, _ = srv.accept()
        buf = mmap.mmap(-1, MIB)  # page-aligned
        mv = memoryview(buf)
        got = 0
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | (os.O_DIRECT if direct else 0), 0o644)
        fill = 0
        while got < size:
            n = c.recv_into(mv[fill:])
            if not n:
                break
            fill += n
            got += n
            if fill == MIB or not direct:
                os.write(fd, mv[:fill])
                fill = 0
        os.close(fd)
        if fill:  # a ragged end: direct I/O takes whole blocks only
            with open(dst, "ab") as f:
                f.write(mv[:fill])
        mv.release()
        buf.close()
        result["end"] = time.time()
        c.close()

    t = threading.Thread(target=receive)
    t.start()
    t0 = time.time()
    s = socket.create_connection(("127.0.0.1", port))
    with open(path, "rb") as f:
        s.sendfile(f)
    s.close()
    t.join()
    srv.close()
    os.unlink(dst)
    return size / (result["end"] - t0) / MB


def case_throughput(bench):
    big = bench.big_file()
    size = os.path.getsize(big)
    w = os.path.join(bench.work, "throughput")
    os.makedirs(w)
    tr = bench.tracker("throughput-tracker")
    # Our seeder shares upload/big.bin: it makes the .torrent (1 MiB pieces at 1 GiB), publishes, announces.
    sh = os.path.join(w, "ours-seeder")
    os.makedirs(os.path.join(sh, "upload"))
    os.link(big, os.path.join(sh, "upload", "big.bin"))
    say("our seeder hashes and publishes the file")
    ours_seed = PROCS.spawn(bench.peer(tr.port, sh, "serve"), log=os.path.join(w, "ours-seeder.log"))
    m = wait_log(ours_seed, r"peer listening on \S+:(\d+)", 30, "our seeder to listen")
    ours_port = int(m.group(1))
    wait_log(ours_seed, r"sharing 1 files?", 600, "our seeder to share the file")
    torrent = os.path.join(sh, "torrents", "big.bin.torrent")
    # The libtorrent pair gets the same info dictionary announced to opentracker instead, so the two
    # pairs never learn of each other: each leecher finds exactly one seeder through its tracker.
    key = info_hash_of(torrent)
    ot = bench.opentracker("throughput-opentracker", [key])
    lt_torrent = os.path.join(w, "big.bin.opentracker.torrent")
    rewrite_torrent(torrent, lt_torrent, "http://127.0.0.1:%d/announce" % ot.port)
    if info_hash_of(lt_torrent) != key:
        raise RuntimeError("the rewritten .torrent has another info-hash")
    lt_seed = PROCS.spawn(
        [PY, LT_PEER, "seed", "--torrent", lt_torrent, "--save", os.path.dirname(big)] + LT_PRESET,
        log=os.path.join(w, "lt-seeder.log"),
        stdin=subprocess.PIPE,
    )
    m = wait_log(lt_seed, r"ready (\d+)", 600, "the libtorrent seeder to check the file")
    lt_port = int(m.group(1))
    def transfer(who, tag):
        home = os.path.join(w, "%s-leecher-%s" % (who, tag))
        os.makedirs(home)
        seeder = ours_seed if who == "ours" else lt_seed
        sport = ours_port if who == "ours" else lt_port
        if who == "ours":
            args = bench.peer(tr.port, home, "download", "--torrent", torrent, "--json")
            dl = os.path.join(home, "downloads", "big.bin")
        else:
            args = [PY, LT_PEER, "leech", "--torrent", lt_torrent, "--save", home] + LT_PRESET
            dl = os.path.join(home, "big.bin")
        c0 = cpu_seconds(seeder.pid)
        r = run_leecher(bench, args, seeder.pid, sport, os.path.join(w, "%s-leecher-%s.log" % (who, tag)), os.path.join(w, "%s-leecher-%s.out" % (who, tag)))
        r["seeder_cpu"] = cpu_seconds(seeder.pid) - c0
        if os.path.getsize(dl) != size:
            raise RuntimeError("%s leecher left a file of the wrong size" % who)
        if tag == "warmup" and subprocess.run(["cmp", "-s", big, dl]).returncode != 0:
            raise RuntimeError("%s leecher's file differs from the original" % who)
        m = re.search(r'"seconds":\s*([0-9.]+)', r["stdout"])
        # What the client's own timer leaves out: process start-up before it and shutdown after it.
        r["outside"] = r["wall"] - float(m.group(1)) if m else None
        r["mbps"] = size / r["wall"] / MB
        r["flow_mbps"] = size / (r["wall"] - r["ttfb"]) / MB if r["ttfb"] else None
        shutil.rmtree(home)
        os.sync()
        return r

    warm(big)
    # One unmeasured transfer each first: it also checks the bytes, and this VM's first touch of
    # fresh memory (free-page reporting) is slow, which would otherwise land on whoever goes first.
    for who in ("ours", "lt"):
        say("warm-up transfer: %s" % who)
        transfer(who, "warmup")
    res = {"ours": [], "lt": [], "tcp": [], "tcp_direct": []}
    for run in range(RUNS):
        order = ["ours", "lt"] if run % 2 == 0 else ["lt", "ours"]
        for who in order:
            r = transfer(who, str(run))
            res[who].append(r)
            say(
                "run %d %-4s %7.1f MB/s end to end, first byte %s s, leecher %.2f CPU-s %.1f MiB, seeder %.2f CPU-s"
                % (run + 1, who, r["mbps"], fmt(r["ttfb"], 3), r["cpu"], r["rss"] / MIB, r["seeder_cpu"])
            )
        res["tcp"].append(tcp_ceiling(big, size))
        os.sync()
        res["tcp_direct"].append(tcp_ceiling(big, size, direct=True))
        os.sync()
        say("run %d raw TCP → file %7.1f MB/s buffered, %7.1f MB/s direct" % (run + 1, res["tcp"][-1], res["tcp_direct"][-1]))
    # The ceiling is the better of the two ways to write what arrives.
    ceiling = max(median(res["tcp"]), median(res["tcp_direct"]))
    seed_rss = {"ours": proc_status(ours_seed.pid, "VmHWM"), "lt": proc_status(lt_seed.pid, "VmHWM")}
    for p in (ours_seed, lt_seed, tr, ot):
        PROCS.stop(p)

    def med(who, k):
        return median([r[k] for r in res[who]])

    rows = []
    spec = [
        ("MB/s end to end (process start → exit)", "mbps", 1, True),
        ("MB/s while data flows (first byte → exit)", "flow_mbps", 1, True),
        ("time to first byte after process start (s)", "ttfb", 3, False),
        ("start-up + shutdown outside the client's own timer (s)", "outside", 3, False),
        ("leecher CPU seconds", "cpu", 2, False),
        ("seeder CPU seconds during the transfer", "seeder_cpu", 2, False),
    ]
    for label, k, d, _ in spec:
        a, b = med("ours", k), med("lt", k)
        rows.append([label, fmt(a, d), fmt(b, d), fmt(ratio(a, b), 2) + "×" if ratio(a, b) else "n/a"])
    lr_a, lr_b = med("ours", "rss") / MIB, med("lt", "rss") / MIB
    rows.append(["leecher peak RSS (MiB)", fmt(lr_a, 1), fmt(lr_b, 1), fmt(ratio(lr_a, lr_b), 2) + "×"])
    sr_a, sr_b = seed_rss["ours"] / MIB, seed_rss["lt"] / MIB
    rows.append(["seeder peak RSS (MiB)", fmt(sr_a, 1), fmt(sr_b, 1), fmt(ratio(sr_a, sr_b), 2) + "×"])
    for label, k in (("leecher peak anonymous RSS, sampled (MiB)", "anon"), ("seeder peak anonymous RSS, sampled (MiB)", "seeder_anon")):
        a, b = max(r[k] for r in res["ours"]) / MIB, max(r[k] for r in res["lt"]) / MIB
        rows.append([label, fmt(a, 1), fmt(b, 1), fmt(ratio(a, b), 2) + "×"])
    rows.append(["each run, MB/s end to end", " ".join(fmt(r["mbps"], 0) for r in res["ours"]), " ".join(fmt(r["mbps"], 0) for r in res["lt"]), ""])
    rows.append(["raw loopback TCP → file, buffered writes, same runs (MB/s)", fmt(median(res["tcp"])), "", ""])
    rows.append(["raw loopback TCP → file, O_DIRECT writes, same runs (MB/s)", fmt(median(res["tcp_direct"])), "", ""])
    mb_ratio = ratio(med("ours", "mbps"), med("lt", "mbps"))
    cpu_ratio = ratio(med("ours", "cpu"), med("lt", "cpu"))
    ttfb = med("ours", "ttfb")
    targets = [
        ("MB/s ≥ 1.5× libtorrent", mb_ratio is not None and mb_ratio >= 1.5, "%.2f×" % (mb_ratio or 0)),
        ("≥ 45% of raw TCP (the better of its two rows)", med("ours", "mbps") >= 0.45 * ceiling, "%.0f%%" % (100 * med("ours", "mbps") / ceiling)),
        ("first byte ≤ 0.1 s", ttfb is not None and ttfb <= 0.1, "%s s" % fmt(ttfb, 3)),
        ("leecher CPU ≤ libtorrent", cpu_ratio is not None and cpu_ratio <= 1.0, "%.2f×" % (cpu_ratio or 0)),
        ("peak RSS ≤ 32 MiB each side", max(lr_a, sr_a) <= 32, "%.1f / %.1f MiB" % (lr_a, sr_a)),
    ]
    body = (
        "%d MiB over 127.0.0.1, our seeder → our leecher beside libtorrent %s → libtorrent, both from the same "
        "info dictionary (%s pieces, made by our seeder) and the same warm file; libtorrent %s on both sides; each leecher finds its seeder through "
        "its tracker (ours: tracker_server; libtorrent: opentracker). One unmeasured warm-up transfer each, then %d "
        "run(s), alternating, medians. "
        "Time to first byte is read from the leecher's TCP socket (sock_diag). Peak RSS is the kernel's high-water "
        "mark; libtorrent's includes the Python interpreter and the file pages it maps, so its anonymous RSS "
        "(sampled every 20 ms) is given too. Our leecher writes verified pieces with O_DIRECT, past the page cache; "
        "libtorrent writes through its file mappings. The raw TCP ceiling is measured both ways.\n\n"
        % (SIZE_MIB, lt_version(), piece_len_text(torrent), "with its high_performance_seed settings" if LT_PRESET else "with default settings", RUNS)
        + table(["metric", "swarmshare", "libtorrent", "ours / lt"], rows)
        + "\n\n"
        + target_line("throughput", targets)
    )
    return body


def piece_len_text(torrent):
    m = re.search(rb"12:piece lengthi(\d+)e", open(torrent, "rb").read())
    n = int(m.group(1))
    return "%d KiB" % (n // 1024) if n < MIB else "%d MiB" % (n // MIB)


_lt_version = None


def lt_version():
    global _lt_version
    if _lt_version is None:
        _lt_version = subprocess.run([PY, "-c", "import libtorrent; print(libtorrent.__version__)"], capture_output=True, text=True).stdout.strip()
    return _lt_version


def target_line(case, targets):
    ok = all(t[1] for t in targets)
    parts = "; ".join("%s: %s %s" % (name, "✓" if good else "✗", val) for name, good, val in targets)
    return "**Target (%s): %s** — %s" % (case, "met" if ok else "not met", parts)


# ---------------------------------------------------------------------------------------------
# case 2: swarm (flash crowd)


def swarm_fixture(bench):
    d = os.path.join(bench.work, "swarm")
    os.makedirs(d, exist_ok=True)
    f = os.path.join(d, "crowd.bin")
    if not os.path.exists(f):
        with open(f, "wb") as o:
            subprocess.run(["head", "-c", str(SWARM_MIB * MIB), "/dev/urandom"], stdout=o, check=True)
    return d, f


def make_torrent(src, out, announce):
    subprocess.run(["mktorrent", "-l", str(SWARM_PIECE_LOG2), "-a", announce, "-o", out, src], check=True, stdout=subprocess.DEVNULL)


def swarm_ours(bench, n, run, d, src, torrent):
    w = os.path.join(d, "ours-n%d-r%d" % (n, run))
    os.makedirs(w)
    tr = bench.tracker("swarm-ours-n%d-r%d-tracker" % (n, run), os.path.join(w, "tracker"))
    rate = str(SWARM_RATE)
    sh = os.path.join(w, "seeder")
    os.makedirs(os.path.join(sh, "downloads"))
    shutil.copyfile(src, os.path.join(sh, "downloads", "crowd.bin"))
    seeder = PROCS.spawn(
        bench.peer(tr.port, sh, "--upload-rate", rate, "download", "--torrent", torrent, "--seed"),
        log=os.path.join(w, "seeder.log"),
    )
    wait_log(seeder, r"seeding until interrupted", 60, "our seeder to verify and seed the file")
    wait_for(lambda: log_match(tr.log, r"completed|joined"), 10, "the seeder's announce")
    homes = [os.path.join(w, "l%02d" % i) for i in range(n)]
    for h in homes:
        os.makedirs(h)
    t0 = time.time()
    leechers = [
        PROCS.spawn(bench.peer(tr.port, h, "--upload-rate", rate, "download", "--torrent", torrent, "--seed", "--json"), log=h + ".log")
        for h in homes
    ]
    done = [None] * n
    deadline = t0 + swarm_timeout()
    while time.time() < deadline and None in done:
        for i, p in enumerate(leechers):
            if done[i] is None:
                if log_match(p.log, r"seeding until interrupted"):
                    done[i] = time.time() - t0
                elif p.poll() is not None:
                    raise RuntimeError("our leecher %d exited with %s; see %s" % (i, p.returncode, p.log))
        time.sleep(0.05)
    # Stop the seeder first: it saves its ledger (bytes uploaded to each peer) on the way out.
    PROCS.stop(seeder)
    for p in leechers:
        PROCS.stop(p)
    PROCS.stop(tr)
    ledger = json.load(open(os.path.join(sh, ".swarmshare", "ledger.json")))
    up = sum(e.get("uploaded", 0) for e in ledger.values())
    ok = done[0] is not None and subprocess.run(["cmp", "-s", src, os.path.join(homes[0], "downloads", "crowd.bin")]).returncode == 0
    if not ok:
        say("warning: our first leecher's file is missing or differs")
    if not KEEP:
        shutil.rmtree(w)
    return {"done": done, "seeder_uploaded": up}


def swarm_lt(bench, n, run, d, src, torrent_lt, info_hash, super_seed=False):
    w = os.path.join(d, "lt-n%d-r%d%s" % (n, run, "-ss" if super_seed else ""))
    os.makedirs(w)
    ot = bench.opentracker("swarm-opentracker-n%d-r%d%s" % (n, run, "-ss" if super_seed else ""), [info_hash])
    t = os.path.join(w, "crowd.torrent")
    make_torrent(src, t, "http://127.0.0.1:%d/announce" % ot.port)
    args = [PY, LT_PEER, "swarm", "--torrent", t, "--seed-dir", d, "--work", w, "--n", str(n), "--rate", str(SWARM_RATE), "--timeout", str(swarm_timeout())]
    if super_seed:
        args.append("--super-seed")
    p = PROCS.spawn(args, log=os.path.join(w, "lt.log"))
    p.wait(swarm_timeout() + 120)
    PROCS.stop(p)
    PROCS.stop(ot)
    m = log_match(p.log, r"(\{.*\})")
    if not m:
        raise RuntimeError("libtorrent swarm failed:\n" + open(p.log, "rb").read()[-2000:].decode(errors="replace"))
    r = json.loads(m.group(1))
    if not KEEP:
        shutil.rmtree(w)
    return r


def swarm_bound(n, size):
    return max(size / SWARM_RATE, n * size / (SWARM_RATE + n * SWARM_RATE))


def swarm_timeout():
    return env_float("BENCH_SWARM_TIMEOUT", 4 * SWARM_MIB * MIB / SWARM_RATE + 30)


def case_swarm(bench):
    d, src = swarm_fixture(bench)
    size = os.path.getsize(src)
    torrent = os.path.join(d, "crowd.torrent")
    make_torrent(src, torrent, "http://127.0.0.1:1/announce")
    info_hash = info_hash_of(torrent)
    rows = []
    targets = []
    variants = [("swarmshare", "ours"), ("libtorrent", "lt")]
    if LT_SUPERSEED:
        variants.append(("libtorrent, super-seeding", "lt-ss"))
    only = os.environ.get("BENCH_SWARM_CLIENTS", "").split()
    if only:
        variants = [v for v in variants if v[1] in only]
    for n in SWARM_NS:
        bound = swarm_bound(n, size)
        results = {k: [] for _, k in variants}
        for run in range(SWARM_RUNS):
            order = variants if run % 2 == 0 else list(reversed(variants))
            for _, who in order:
                if who == "ours":
                    r = swarm_ours(bench, n, run, d, src, torrent)
                else:
                    r = swarm_lt(bench, n, run, d, src, torrent, info_hash, super_seed=(who == "lt-ss"))
                done = r["done"]
                finished = [x for x in done if x is not None]
                r["all_done"] = max(finished) if len(finished) == n else None
                r["n_done"] = len(finished)
                r["copies"] = r["seeder_uploaded"] / size
                r["mean_done"] = statistics.mean(finished) if finished else None
                # Share of the time until all were done that the seeder spent sending at its limit.
                r["busy"] = r["seeder_uploaded"] / (SWARM_RATE * r["all_done"]) if r["all_done"] else None
                results[who].append(r)
                say(
                    "N=%d run %d %-5s all done %s s (%.2f× bound), %d/%d finished, first %s s, seeder sent %.2f copies"
                    % (n, run + 1, who, fmt(r["all_done"], 1), (r["all_done"] or float("nan")) / bound, r["n_done"], n, fmt(min(finished) if finished else None, 1), r["copies"])
                )
        for label, who in variants:
            rs = results[who]
            t = median([r["all_done"] for r in rs]) if all(r["all_done"] for r in rs) else None
            rows.append(
                [
                    "N=%d %s" % (n, label),
                    fmt(t, 1) if t else "DNF (%s/%d)" % (min(r["n_done"] for r in rs), n),
                    fmt(t / bound, 2) + "×" if t else "n/a",
                    fmt(median([r["mean_done"] for r in rs]), 1),
                    fmt(median([r["copies"] for r in rs]), 2),
                    fmt(100 * median([r["busy"] for r in rs]), 0) + "%" if median([r["busy"] for r in rs]) else "n/a",
                    ", ".join(fmt(r["all_done"], 1) for r in rs),
                ]
            )
        ours_t = median([r["all_done"] for r in results.get("ours", [])]) if results.get("ours") and all(r["all_done"] for r in results["ours"]) else None
        lt_t = median([r["all_done"] for r in results.get("lt", [])])
        targets.append(
            (
                "N=%d ≤ 1.15× bound" % n,
                ours_t is not None and ours_t / bound <= 1.15,
                "%s× (libtorrent %s×)" % (fmt(ours_t / bound if ours_t else None, 2), fmt(lt_t / bound if lt_t else None, 2)),
            )
        )
    body = (
        "Flash crowd: %d MiB, %d KiB pieces (mktorrent -l %d), every peer's upload limited to %s MB/s "
        "(payload; libtorrent with local-network exemptions off), one seeder and N leechers started together; leechers "
        "keep seeding until all are done. Fluid bound = max(F/u_seed, N·F/(u_seed + Σu_leechers)) = %.2f s for every N here. "
        "Ours: tracker_server, `peer download --torrent T --seed` everywhere (the seeder verifies the complete file in "
        "downloads/ and seeds it). libtorrent %s: one process, N+1 sessions, opentracker. Copies = the seeder's payload "
        "upload / file size; seeder busy = its upload / (its limit × time until all done): when it is near 100%%, "
        "time until all done ≈ copies × F / u_seed, so every copy beyond the first costs a whole bound. "
        "%d run(s) each, alternating, medians.\n\n"
        % (SWARM_MIB, 2 ** SWARM_PIECE_LOG2 // 1024, SWARM_PIECE_LOG2, fmt(SWARM_RATE / MB, 1), swarm_bound(SWARM_NS[0], size), lt_version(), SWARM_RUNS)
        + table(["swarm", "all done (s)", "÷ bound", "mean leecher done (s)", "copies sent by seeder", "seeder busy", "runs (s)"], rows)
        + "\n\n"
        + target_line("swarm", targets)
    )
    return body


# ---------------------------------------------------------------------------------------------
# case 3: tracker

WORDS = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec "
    "romeo sierra tango uniform victor whiskey xray yankee zulu amber basil cedar dune ember fjord glacier harbor "
    "island jungle kettle lantern meadow nebula orchid pepper quartz raven saffron thunder umber velvet willow "
    "zephyr acorn beacon canyon dragon falcon garnet hazel iris jasper koala lotus maple nutmeg olive panda "
    "quill rocket salmon tiger urchin violet walrus yarrow zinnia anchor badger cobalt dahlia egret ferret "
    "gopher heron ibis jackal krill lemur marmot newt otter pelican quokka robin stork toucan vulture wombat "
    "yak zebu apricot banana cherry durian elderberry fig guava huckleberry jujube kumquat lychee mango "
    "nectarine orange papaya quince raspberry strawberry tangerine ugli vanilla watermelon ximenia yuzu "
    "ziziphus arctic boreal coastal desert eastern frozen golden hidden inner jagged kinetic lunar misty "
    "northern obsidian polar quiet rustic silent tidal upper vivid western young zonal atlas bishop castle "
    "dungeon empire fortress guardian herald inferno jester knight legend monarch nomad oracle phantom "
    "quest relic sentinel templar utopia vortex warden zealot"
).split()
EXTS = ["mp4", "mkv", "avi", "mp3", "flac", "pdf", "iso", "zip", "txt", "epub"]


def benc(x):
    if isinstance(x, int):
        return b"i%de" % x
    if isinstance(x, str):
        x = x.encode()
    if isinstance(x, bytes):
        return b"%d:%s" % (len(x), x)
    if isinstance(x, dict):
        return b"d" + b"".join(benc(k) + benc(v) for k, v in sorted(x.items())) + b"e"
    raise TypeError(x)


def make_index(dir_, n, announce):
    """n tiny published torrents straight into DIR/published, with the search_content.txt lines the
    tracker would have written (so it does not append 100 000 lines, one fsync each, at start-up)."""
    pub = os.path.join(dir_, "published")
    os.makedirs(pub)
    rng = random.Random(6)
    lines = []
    for i in range(n):
        stem = "%s-%s-%s-%06d" % (rng.choice(WORDS), rng.choice(WORDS), rng.choice(WORDS), i)
        ext = rng.choice(EXTS)
        name = "%s.%s" % (stem, ext)
        info = {"length": rng.randint(1, 262144), "name": name, "piece length": 262144, "pieces": hashlib.sha1(name.encode()).digest()}
        with open(os.path.join(pub, name + ".torrent"), "wb") as f:
            f.write(benc({"announce": announce, "info": info}))
        lines.append("Name : %s type: %s tor : %s.torrent\n" % (stem, ext, name))
    with open(os.path.join(dir_, "search_content.txt"), "w") as f:
        f.writelines(lines)


# What every wrk script ends with: a per-thread random seed, and one summary line that wrk() parses.
# (%% because the scripts are %-formatted.)
WRK_REPORT_LUA = r"""
setup = function(thread) thread:set("seed", math.random(1, 1000000)) end
init = function(args) math.randomseed(tonumber(seed) or 1) end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH requests=%%d duration_us=%%d errors=%%d closed=%%d status=%%d p50_us=%%d p99_us=%%d\n",
    summary.requests, summary.duration, e.connect + e.write + e.timeout, e.read, e.status,
    latency:percentile(50), latency:percentile(99)))
end
"""


ANNOUNCE_LUA = r"""
-- Announces from 1000 distinct peers (127.0.0.1, ports 20000-20999) in one swarm, half of them seeds.
local hash = "%s"
request = function()
  local i = math.random(0, 999)
  local path = string.format(
    "/announce?info_hash=%%s&peer_id=-BN0001-%%012d&port=%%d&uploaded=0&downloaded=0&left=%%d&numwant=50&compact=1",
    hash, i, 20000 + i, (i %% 2) * 1000000)
  return wrk.format("GET", path)
end
""" + WRK_REPORT_LUA

SEARCH_LUA = r"""
-- Two-word keyword searches, drawn from a fixed list.
local queries = {%s}
request = function()
  return wrk.format("GET", "/search?q=" .. queries[math.random(1, #queries)])
end
""" + WRK_REPORT_LUA


def wrk(port, script, threads, conns, secs, close=False):
    args = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % secs, "-s", script]
    if close:
        args += ["-H", "Connection: close"]
    args.append("http://127.0.0.1:%d" % port)
    out = subprocess.run(args, capture_output=True, text=True, timeout=secs + 60).stdout
    m = re.search(r"BENCH requests=(\d+) duration_us=(\d+) errors=(\d+) closed=(\d+) status=(\d+) p50_us=(\d+) p99_us=(\d+)", out)
    if not m:
        raise RuntimeError("wrk printed no summary:\n" + out)
    req, dur, err, closed, status, p50, p99 = map(int, m.groups())
    return {"rps": req / (dur / 1e6), "errors": err, "closed": closed, "status": status, "p50": p50 / 1000, "p99": p99 / 1000, "requests": req}


def case_tracker(bench):
    w = os.path.join(bench.work, "tracker")
    os.makedirs(w)
    hash_hex = hashlib.sha1(b"swarmshare bench announce").hexdigest()
    hash_url = "".join("%%%02X" % b for b in bytes.fromhex(hash_hex))
    say("writing %d published torrents" % N_TORRENTS)
    data = os.path.join(w, "ours-data")
    os.makedirs(data)
    make_index(data, N_TORRENTS, "http://127.0.0.1:6969/announce")
    t0 = time.time()
    ours = bench.tracker("tracker-ours", data)
    load_s = time.time() - t0
    say("our tracker loaded %d torrents in %.2f s" % (N_TORRENTS, load_s))
    ot = bench.opentracker("tracker-opentracker", [hash_hex])
    alua = os.path.join(w, "announce.lua")
    open(alua, "w").write(ANNOUNCE_LUA % hash_url)
    rng = random.Random(7)
    queries = ["%s+%s" % (rng.choice(WORDS), rng.choice(WORDS)) for _ in range(500)]
    slua = os.path.join(w, "search.lua")
    open(slua, "w").write(SEARCH_LUA % ",".join('"%s"' % q for q in queries))
    # Sanity: both answer an announce with peers, and searches return what they should.
    for name, port in (("ours", ours.port), ("opentracker", ot.port)):
        body = urllib.request.urlopen(
            "http://127.0.0.1:%d/announce?info_hash=%s&peer_id=-BN0001-000000000001&port=20001&uploaded=0&downloaded=0&left=0&compact=1" % (port, hash_url)
        ).read()
        if b"failure" in body or b"peers" not in body:
            raise RuntimeError("%s refused the benchmark's announce: %r" % (name, body[:200]))
    hits = [len(json.load(urllib.request.urlopen("http://127.0.0.1:%d/search?q=%s" % (ours.port, q)))["results"]) for q in queries[:50]]
    mean_hits = statistics.mean(hits)
    configs = [
        ("announce, keep-alive", "ours", ours.port, alua, False),
        ("announce, keep-alive", "opentracker", ot.port, alua, False),
        ("announce, Connection: close", "ours", ours.port, alua, True),
        ("announce, Connection: close", "opentracker", ot.port, alua, True),
    ]
    res = {}
    for run in range(RUNS):
        order = configs if run % 2 == 0 else list(reversed(configs))
        for label, who, port, script, close in order:
            r = wrk(port, script, 2, 50, WRK_SECS, close)
            res.setdefault((label, who), []).append(r)
            say("run %d %-28s %-11s %9.0f req/s, p99 %6.2f ms, %d errors, %d non-2xx, %d closed by the server" % (run + 1, label, who, r["rps"], r["p99"], r["errors"], r["status"], r["closed"]))
        for label, conns, threads in (("search, 50 connections", 50, 2), ("search, 1 connection", 1, 1)):
            r = wrk(ours.port, slua, threads, conns, WRK_SECS)
            res.setdefault((label, "ours"), []).append(r)
            say("run %d %-28s %-11s %9.0f req/s, p99 %6.2f ms, %d errors" % (run + 1, label, "ours", r["rps"], r["p99"], r["errors"]))
    ours_rss = proc_status(ours.pid, "VmHWM")
    PROCS.stop(ours)
    PROCS.stop(ot)

    def m(label, who, k):
        rs = res.get((label, who))
        return median([r[k] for r in rs]) if rs else None

    rows = []
    for label in ("announce, keep-alive", "announce, Connection: close"):
        a, b = m(label, "ours", "rps"), m(label, "opentracker", "rps")
        rows.append(
            [label, fmt(a, 0), fmt(b, 0), fmt(ratio(a, b), 2) + "×", fmt(m(label, "ours", "p99"), 2), fmt(m(label, "opentracker", "p99"), 2)]
        )
    for label in ("search, 50 connections", "search, 1 connection"):
        rows.append([label + " (ours only)", fmt(m(label, "ours", "rps"), 0), "", "", fmt(m(label, "ours", "p99"), 2), ""])
    errs = sum(r["errors"] + r["status"] for rs in res.values() for r in rs)
    reqs = {who: sum(r["requests"] for (l, w_), rs in res.items() if w_ == who and l.startswith("announce") for r in rs) for who in ("ours", "opentracker")}
    closed = {who: sum(r["closed"] for (l, w_), rs in res.items() if w_ == who and l.startswith("announce") for r in rs) for who in ("ours", "opentracker")}
    ka = ratio(m("announce, keep-alive", "ours", "rps"), m("announce, keep-alive", "opentracker", "rps"))
    cl = ratio(m("announce, Connection: close", "ours", "rps"), m("announce, Connection: close", "opentracker", "rps"))
    sp99 = m("search, 1 connection", "ours", "p99")
    targets = [
        ("announces/s without keep-alive ≥ 1.0× opentracker", cl is not None and cl >= 1.0, "%.2f×" % (cl or 0)),
        ("higher with keep-alive", ka is not None and ka > 1.0 and ka > (cl or 0), "%.2f×" % (ka or 0)),
        ("search p99 ≤ 2 ms at %d torrents" % N_TORRENTS, sp99 is not None and sp99 <= 2.0, "%s ms" % fmt(sp99, 2)),
    ]
    udp_body, udp_targets = udp_section(bench)
    targets += udp_targets
    body = (
        "wrk 2 threads / 50 connections / %d s per run (search latency also with 1 connection), %d run(s), medians. "
        "Announces come from 1000 distinct peers in one whitelisted swarm (numwant=50, compact). opentracker closes "
        "the connection after every reply whatever the client asks. Search: %d published torrents, two-word queries "
        "(%.1f results each on average); our tracker loaded them in %.2f s and peaked at %.1f MiB RSS. "
        "Socket errors and non-2xx replies over all runs: %d. Connections closed by the server after a reply "
        "(wrk counts them as read errors): ours %.0f%%, opentracker %.0f%% of announces.\n\n"
        % (WRK_SECS, RUNS, N_TORRENTS, mean_hits, load_s, (ours_rss or 0) / MIB, errs,
           100.0 * closed["ours"] / max(1, reqs["ours"]), 100.0 * closed["opentracker"] / max(1, reqs["opentracker"]))
        + table(["requests", "ours (req/s)", "opentracker (req/s)", "ours / ot", "ours p99 (ms)", "ot p99 (ms)"], rows)
        + "\n\n"
        + udp_body
        + target_line("tracker", targets)
    )
    return body


def udp_section(bench):
    """BEP 15: announces/s under aquatic_udp_load_test, ours beside opentracker and aquatic_udp."""
    import udp_tracker

    w = os.path.join(bench.work, "udp")
    os.makedirs(w)
    have_load, have_aquatic = udp_tracker.ensure_tools(say)
    if not have_load:
        return ("UDP (BEP 15): not measured: aquatic_udp_load_test is absent (`cargo install --locked "
                "aquatic_udp_load_test --root target/tools` failed).\n\n"), [
            ("UDP announces/s ≥ 1.5× opentracker", False, "not measured")]
    secs = env_int("BENCH_UDP_SECS", 5 if QUICK else 10)
    n_torrents = udp_tracker.number_of_torrents()
    say("regenerating the load test's %d info-hashes for opentracker's whitelist" % n_torrents)
    hashes = udp_tracker.load_test_hashes(n_torrents)
    whitelist = [h.hex() for h in hashes]
    probe_hash = hashes[-1]  # whitelisted, and the least announced by the load
    who_all = ["ours", "opentracker"] + (["aquatic_udp"] if have_aquatic else [])
    res = {}
    for run in range(RUNS):
        for who in who_all:
            tag = "%s-%d" % (who, run)
            if who == "ours":
                port = free_port()
                d = os.path.join(w, "ours-data-%d" % run)
                os.makedirs(d)
                # Per-announce log lines off, as a busy tracker runs; the per-address
                # flood limit off, since the load test sends everything from 127.0.0.x.
                os.environ["RUST_LOG"] = "warn"
                p = PROCS.spawn([os.path.join(bench.bin, "tracker_server"), "--ip", "127.0.0.1", "--port", str(port),
                                 "--data-dir", d, "--udp-rate-limit", "0"], log=os.path.join(w, tag + ".log"))
                del os.environ["RUST_LOG"]
            elif who == "opentracker":
                p = bench.opentracker("udp-opentracker-%d" % run, whitelist)
                port = p.port
            else:
                port = free_port()
                cfg = os.path.join(w, "aquatic-%d.toml" % run)
                udp_tracker.aquatic_config(cfg, port)
                p = PROCS.spawn([udp_tracker.AQUATIC, "-c", cfg], log=os.path.join(w, tag + ".log"))
            udp_tracker.wait_answering(port, 60, probe_hash)
            say("UDP load on %s, run %d (%d s)" % (who, run + 1, secs))
            r = udp_tracker.run_load(w, tag, port, secs, probe_hash)
            say("  %s: %s announces/s, %s responses/s, %s errors/s, %d invalid, prober p99 %s ms, %s%% lost"
                % (who, fmt(r["announce"], 0), fmt(r["total"], 0), fmt(r["error"], 0), r["invalid"],
                   fmt(r["p99"], 2), fmt(r["lost"], 1)))
            res.setdefault(who, []).append(r)
            PROCS.stop(p)

    def med(who, key):
        return median([r[key] for r in res[who] if r[key] is not None])

    ot = med("opentracker", "announce")
    rows = [[who, fmt(med(who, "announce"), 0), fmt(ratio(med(who, "announce"), ot), 2) + "×", fmt(med(who, "total"), 0),
             fmt(med(who, "error"), 0), str(sum(r["invalid"] for r in res[who])), fmt(med(who, "p99"), 2),
             fmt(med(who, "lost"), 1)] for who in who_all]
    r = ratio(med("ours", "announce"), ot)
    ra = ratio(med("ours", "announce"), med("aquatic_udp", "announce")) if have_aquatic else None
    targets = [("UDP announces/s ≥ 1.5× opentracker", r is not None and r >= 1.5, "%.2f×" % (r or 0))]
    body = (
        "UDP (BEP 15): aquatic_udp_load_test 0.9 (the aquatic project's load generator), one worker, 4 sockets, "
        "%d s per run, %d run(s), medians, against each tracker alone on 127.0.0.1; its default mix: connect, "
        "announce and scrape at 50:50:1 over %s torrents, 2,000,000 peers, 30 peers wanted. With one load worker "
        "on a 2-core machine the tracker has about one core. Ours: default UDP workers (one per core), "
        "`--udp-rate-limit 0` (the load test sends everything from 127.0.0.x, and the per-address flood limit "
        "would drop most of it), RUST_LOG=warn. opentracker: Debian's build is whitelist-only and answers an "
        "announce for a hash not on its list with a bare 8-byte header, which the load test discards as invalid "
        "(no column counts it); its info-hashes come from a constant-seeded RNG, so the bench regenerates all %s "
        "and whitelists them, and opentracker answers every announce properly (the invalid column shows it). "
        "aquatic_udp 0.9: its defaults (one socket worker). Announces/s is the load test's announce responses; "
        "all responses adds connects, scrapes and errors. p99: announce round trips of a prober sending about 200 a "
        "second from its own socket during the load, for the same whitelisted hash everywhere: p99 of those answered, "
        "and the share not answered within 1 s (at saturation each tracker drops datagrams its socket buffer cannot hold). Ours / aquatic_udp in announces/s: %s.\n\n"
        % (secs, RUNS, "{:,}".format(n_torrents), "{:,}".format(n_torrents), fmt(ra, 2) + "×" if ra else "aquatic_udp absent")
        + table(["UDP tracker", "announces/s", "vs opentracker", "all responses/s", "errors/s", "invalid (all runs)",
                 "prober p99 (ms)", "prober lost (%)"], rows)
        + "\n\n"
    )
    return body, targets


# ---------------------------------------------------------------------------------------------
# case 4: hash


def serve_until_listed(bench, w, label, name, src, run, torrent_format="v1"):
    """Seconds from starting `peer --torrent-format F serve` with upload/NAME until the tracker's search lists it."""
    tr = bench.tracker("hash-tracker-%s-%d" % (label, run), os.path.join(w, "tr-%s-%d" % (label, run)))
    home = os.path.join(w, "home-%s-%d" % (label, run))
    os.makedirs(os.path.join(home, "upload"))
    os.link(src, os.path.join(home, "upload", name))
    url = "http://127.0.0.1:%d/search?q=%s" % (tr.port, urllib.parse.quote(name))
    t0 = time.time()
    p = PROCS.spawn(
        bench.peer(tr.port, home, "--torrent-format", torrent_format, "serve"),
        log=os.path.join(w, "serve-%s-%d.log" % (label, run)),
    )

    def listed():
        if p.poll() is not None:
            raise RuntimeError("peer serve exited; see " + p.log)
        try:
            return json.load(urllib.request.urlopen(url, timeout=5))["results"]
        except OSError:
            return None

    wait_for(listed, 600, "the tracker to list " + name, interval=0.005)
    t = time.time() - t0
    PROCS.stop(p)
    PROCS.stop(tr)
    shutil.rmtree(home)
    return t


def case_hash(bench):
    big = bench.big_file()
    size = os.path.getsize(big)
    w = os.path.join(bench.work, "hash")
    os.makedirs(w)
    tiny = os.path.join(w, "tiny.bin")
    with open(tiny, "wb") as f:
        f.write(os.urandom(1000))
    old = time.time() - 30
    os.utime(tiny, (old, old))
    warm(big)
    # v1 (SHA-1 pieces) beside sha1sum, v2 (SHA-256 block trees, `--torrent-format v2`) beside sha256sum.
    res = {"sha1sum": [], "ours": [], "base": [], "sha256sum": [], "v2": [], "base_v2": []}
    for run in range(RUNS):
        t0 = time.time()
        subprocess.run(["sha1sum", big], check=True, stdout=subprocess.DEVNULL)
        res["sha1sum"].append(time.time() - t0)
        res["base"].append(serve_until_listed(bench, w, "tiny", "hashbench.bin", tiny, run))
        res["ours"].append(serve_until_listed(bench, w, "big", "hashbench.bin", big, run))
        t0 = time.time()
        subprocess.run(["sha256sum", big], check=True, stdout=subprocess.DEVNULL)
        res["sha256sum"].append(time.time() - t0)
        res["base_v2"].append(serve_until_listed(bench, w, "tiny-v2", "hashbench.bin", tiny, run, "v2"))
        res["v2"].append(serve_until_listed(bench, w, "big-v2", "hashbench.bin", big, run, "v2"))
        say(
            "run %d sha1sum %.2f s, serve until listed %.2f s (tiny file %.3f s); "
            "sha256sum %.2f s, v2 serve until listed %.2f s (tiny file %.3f s)"
            % (
                run + 1,
                res["sha1sum"][-1],
                res["ours"][-1],
                res["base"][-1],
                res["sha256sum"][-1],
                res["v2"][-1],
                res["base_v2"][-1],
            )
        )
    base, base_v2 = median(res["base"]), median(res["base_v2"])
    ours_t = median(res["ours"]) - base
    v2_t = median(res["v2"]) - base_v2
    sha_t, sha256_t = median(res["sha1sum"]), median(res["sha256sum"])
    ours_r, sha_r = size / ours_t / MB, size / sha_t / MB
    v2_r, sha256_r = size / v2_t / MB, size / sha256_t / MB
    rows = [
        ["v1 (SHA-1), seconds", fmt(ours_t, 2), fmt(sha_t, 2) + " (sha1sum)", ""],
        ["v1, MB/s", fmt(ours_r, 0), fmt(sha_r, 0), fmt(ratio(ours_r, sha_r), 2) + "×"],
        ["v2 (SHA-256), seconds", fmt(v2_t, 2), fmt(sha256_t, 2) + " (sha256sum)", ""],
        ["v2, MB/s", fmt(v2_r, 0), fmt(sha256_r, 0), fmt(ratio(v2_r, sha256_r), 2) + "×"],
    ]
    targets = [
        ("≥ 0.9× sha1sum", ours_r / sha_r >= 0.9, "%.2f×" % (ours_r / sha_r)),
        ("v2 ≥ 0.9× sha256sum", v2_r / sha256_r >= 0.9, "%.2f×" % (v2_r / sha256_r)),
    ]
    body = (
        "Making the .torrent of a %d MiB file: seconds from starting `peer serve` with the file in upload/ until the "
        "tracker's search lists it, minus the same for a 1 kB file (%.3f s: start-up, the settle check, publish), "
        "beside `sha1sum` of the same file; then the same with `--torrent-format v2` (SHA-256 block trees; the 1 kB "
        "file %.3f s) beside `sha256sum`; page cache warm; %d run(s), medians.\n\n"
        % (SIZE_MIB, base, base_v2, RUNS)
        + table(["make the .torrent", "ours", "stock", "ours / stock"], rows)
        + "\n\n"
        + target_line("hash", targets)
    )
    return body


def case_magnet(bench):
    """From `download magnet:…` to the first verified piece and to the end, ours beside libtorrent,
    both fetching the metadata and the data from one libtorrent seeder named in the link's x.pe."""
    w = os.path.join(bench.work, "magnet")
    os.makedirs(os.path.join(w, "seed"))
    src = os.path.join(w, "seed", "magnet.bin")
    with open(src, "wb") as o:
        subprocess.run(["head", "-c", str(MAGNET_MIB * MIB), "/dev/urandom"], stdout=o, check=True)
    torrent = os.path.join(w, "magnet.torrent")
    # No tracker at all: the link's x.pe is the only way to the seeder, for both leechers.
    subprocess.run(["mktorrent", "-l", "18", "-a", "http://127.0.0.1:1/announce", "-o", torrent, src], check=True, stdout=subprocess.DEVNULL)
    key = info_hash_of(torrent)
    lt_seed = PROCS.spawn(
        [PY, LT_PEER, "seed", "--torrent", torrent, "--save", os.path.dirname(src)] + LT_PRESET,
        log=os.path.join(w, "lt-seeder.log"),
        stdin=subprocess.PIPE,
    )
    m = wait_log(lt_seed, r"ready (\d+)", 600, "the libtorrent seeder to check the file")
    sport = int(m.group(1))
    link = "magnet:?xt=urn:btih:%s&dn=magnet.bin&x.pe=127.0.0.1:%d" % (key, sport)
    res = {"ours": [], "lt": []}
    dead = free_port()
    for run in range(RUNS):
        for who in ("ours", "lt"):
            home = os.path.join(w, "%s-%d" % (who, run))
            os.makedirs(home)
            if who == "ours":
                args = bench.peer(dead, home, "download", link, "--json")
                dl = os.path.join(home, "downloads", "magnet.bin")
            else:
                args = [PY, LT_PEER, "magnet", "--uri", link, "--save", home, "--connect", "127.0.0.1:%d" % sport] + LT_PRESET
                dl = os.path.join(home, "magnet.bin")
            t0 = time.time()
            out = subprocess.run(args, capture_output=True, text=True, timeout=600)
            wall = time.time() - t0
            if out.returncode != 0:
                raise RuntimeError("%s magnet download failed: %s" % (who, out.stderr[-500:]))
            if subprocess.run(["cmp", "-s", src, dl]).returncode != 0:
                raise RuntimeError("%s magnet download differs from the original" % who)
            j = json.loads(out.stdout if who == "ours" else out.stdout.strip().splitlines()[-1])
            if who == "ours":
                first = j["first_piece_unix_ms"] / 1000.0 - t0
                end = wall
            else:
                first, end = j["first_piece"], j["seconds"]
            res[who].append((first, end))
            say("run %d %s: first piece %.3f s, end %.2f s" % (run + 1, who, first, end))
    of = lambda who, i: median([r[i] for r in res[who]])
    rows = [
        ["to the first verified piece, s", fmt(of("ours", 0), 3), fmt(of("lt", 0), 3), fmt(ratio(of("lt", 0), of("ours", 0)), 2) + "×"],
        ["to the end, s", fmt(of("ours", 1), 2), fmt(of("lt", 1), 2), fmt(ratio(of("lt", 1), of("ours", 1)), 2) + "×"],
    ]
    return (
        "A %d MiB file (256 KiB pieces) seeded by libtorrent %s, fetched by magnet link with the seeder in `x.pe` "
        "and no tracker: the metadata over BEP 9, then the data, on loopback; %d run(s), medians. Ours is timed from "
        "starting `peer download 'magnet:…'` (start-up included) to its `first_piece_unix_ms` and to its exit; "
        "libtorrent from adding the link to a session already listening (Python start-up and session set-up left out) "
        "to its first piece and to finished. Ratio > 1 means ours is faster.\n\n"
        % (MAGNET_MIB, lt_version(), RUNS)
        + table(["magnet", "ours", "libtorrent", "libtorrent / ours"], rows)
    )


# ---------------------------------------------------------------------------------------------
# report


CASES = {"throughput": case_throughput, "swarm": case_swarm, "tracker": case_tracker, "hash": case_hash, "magnet": case_magnet}


def git_describe():
    def git(*a):
        return subprocess.run(["git", "-C", REPO] + list(a), capture_output=True, text=True).stdout.strip()

    head = git("rev-parse", "--short", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "src", "Cargo.toml", "Cargo.lock")
    return head + (" with uncommitted changes under src/" if dirty else "")


def write_report(path, sections, header):
    begin = lambda c: "<!-- bench:%s -->" % c
    end = lambda c: "<!-- /bench:%s -->" % c
    try:
        text = open(path).read()
    except FileNotFoundError:
        text = (
            "# Benchmarks\n\nMeasured by `scripts/bench.sh`; each case's section is replaced when that case is run "
            "again. Every figure sits beside its reference from the same invocation on the same machine: only the "
            "ratios mean much on a shared, noisy machine. MB = 10^6 bytes.\n\n"
        )
        text += "".join("%s\n%s\n\n" % (begin(c), end(c)) for c in CASES)
    for case, body in sections.items():
        block = "%s\n## %s\n\n%s\n\n%s\n%s" % (begin(case), case, header, body, end(case))
        pat = re.compile(re.escape(begin(case)) + ".*?" + re.escape(end(case)), re.S)
        if pat.search(text):
            text = pat.sub(lambda _: block, text)
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)


def main():
    args = sys.argv[1:] or ["all"]
    cases = []
    for a in args:
        if a == "all":
            cases += list(CASES)
        elif a in CASES:
            cases.append(a)
        else:
            sys.exit("usage: scripts/bench.sh [throughput|swarm|tracker|hash|magnet|all]...")
    binaries = os.environ.get("BENCH_BIN", os.path.join(REPO, "target", "release"))
    work = tempfile.mkdtemp(prefix="swarmshare-bench.", dir="/tmp")
    # A private copy of the binaries: others may rebuild target/ while we measure.
    bin_dir = os.path.join(work, "bin")
    os.makedirs(bin_dir)
    for b in ("peer", "tracker_server"):
        shutil.copy2(os.path.join(binaries, b), bin_dir)
    built = time.strftime("%Y-%m-%d %H:%M", time.localtime(os.path.getmtime(os.path.join(binaries, "peer"))))
    # The tree the binaries came from, taken now: others may commit while we measure.
    described = git_describe()

    def bye(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, bye)
    bench = Bench(work, bin_dir)
    command = os.environ.get("BENCH_COMMAND", "scripts/bench.sh " + " ".join(args))
    knobs = " ".join("%s=%s" % (k, v) for k, v in sorted(os.environ.items()) if k.startswith("BENCH_") and k != "BENCH_COMMAND")
    sections = {}
    start = time.time()
    try:
        for case in cases:
            print("\n== %s" % case, flush=True)
            load0, busy0 = loadavg(), machine_busy()
            t0 = time.time()
            body = CASES[case](bench)
            load1 = loadavg()
            header = (
                "`%s%s` · %s · `nproc` = %d · commit %s (binaries built %s) · libtorrent %s · "
                "load average %s before, %s after; CPU busy %s in the second before · %.0f s"
                % (
                    (knobs + " ") if knobs else "",
                    command,
                    time.strftime("%Y-%m-%d %H:%M %Z"),
                    os.cpu_count(),
                    described,
                    built,
                    lt_version(),
                    load0,
                    load1,
                    busy0,
                    time.time() - t0,
                )
            )
            sections[case] = (header, body)
            print("\n" + header + "\n\n" + body + "\n", flush=True)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        PROCS.stop_all()
        if KEEP:
            print("kept %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("\n== summary (%.0f s)" % (time.time() - start))
    for case, (header, body) in sections.items():
        print(body.strip().splitlines()[-1])
    out = os.environ.get("BENCH_OUT", "" if QUICK else os.path.join(REPO, "BENCHMARKS.md"))
    if out:
        for case, (header, body) in sections.items():
            write_report(out, {case: body}, header)
        print("wrote %s (%s) in %.0f s" % (out, ", ".join(sections), time.time() - start))
    else:
        print("BENCH_QUICK: not writing BENCHMARKS.md (set BENCH_OUT=FILE to keep the tables); %.0f s" % (time.time() - start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
