"""The tracker's RSS with MEM_PEERS peers in MEM_SWARMS swarms, announced over
UDP (BEP 15), and after they all expire; opentracker's RSS under the same load
beside it. Run by scripts/tracker_memory.sh.

The load: random info-hashes (one per swarm), random peer ids, MEM_PEERS / MEM_SWARMS
peers per swarm, each at a port of its own within its swarm, all from one UDP socket
on 127.0.0.1. A connect for a connection id (renewed every 30 s), then the announces
pipelined on the non-blocking socket with at most WINDOW unanswered; each reply is
matched to its announce by transaction id, and an announce unanswered after a second
is sent again. The first peer of each swarm is a seeder, the rest are leechers.
"""

import hashlib
import shutil
import os
import random
import socket
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PEERS = int(os.environ.get("MEM_PEERS", "1000000"))
SWARMS = int(os.environ.get("MEM_SWARMS", "100000"))
# A peer is dropped after two intervals of silence. With --interval 1 it would be gone
# two seconds after its announce, long before the million is in, so the default
# interval (10) lets the load (about 6 s here) finish inside two of them; the
# expiry then comes two intervals after the last announce.
INTERVAL = int(os.environ.get("MEM_INTERVAL", "10"))
WINDOW = int(os.environ.get("MEM_WINDOW", "1024"))
PER = max(1, PEERS // SWARMS)
MAGIC = 0x41727101980
CONNECT_TID = 0xFFFFFFFF
WORK = None  # the temp folder, removed on exit


def say(msg):
    print("tracker_memory: " + msg, file=sys.stderr, flush=True)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def connect(sock, addr, timeout=20):
    """A connection id, on a blocking socket; other datagrams are dropped."""
    end = time.time() + timeout
    sock.settimeout(0.2)
    while time.time() < end:
        sock.sendto(struct.pack(">QII", MAGIC, 0, 1), addr)
        try:
            while True:
                d, _ = sock.recvfrom(4096)
                if d[:8] == struct.pack(">II", 0, 1):
                    return struct.unpack(">Q", d[8:16])[0]
        except OSError:
            pass
    raise RuntimeError("no connect reply from %s within %d s" % (addr, timeout))


class Load:
    def __init__(self, hashes):
        self.hashes = hashes
        self.salt = os.urandom(8)

    def announce(self, cid, n):
        s, i = divmod(n, PER)
        peer_id = hashlib.sha1(self.salt + n.to_bytes(4, "big")).digest()
        # ip 0: the source address; key 0; numwant 0 (the replies' size is not what is measured).
        return struct.pack(">QII20s20sQQQIIIiH", cid, 1, n, self.hashes[s], peer_id,
                           0, 0 if i == 0 else 1000, 0, 2, 0, 0, 0, 1024 + n % 64512)

    def run(self, port, timeout=900):
        """Every peer announces once and is answered. Returns (seconds, datagrams resent)."""
        addr = ("127.0.0.1", port)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        cid = connect(sock, addr)
        sock.setblocking(False)
        t0 = last_cid = time.time()
        cid_asked = None
        total = PEERS
        done = bytearray(total)
        outstanding = {}  # tid -> when sent
        retry = []
        nxt = answered = resent = 0
        last_check = t0
        while answered < total:
            now = time.time()
            if now - t0 > timeout:
                raise RuntimeError("%d of %d announces answered after %d s" % (answered, total, timeout))
            # A fresh connection id every 30 s (they are good for a minute or two).
            if now - last_cid > 30 and (cid_asked is None or now - cid_asked > 1):
                sock.sendto(struct.pack(">QII", MAGIC, 0, CONNECT_TID), addr)
                cid_asked = now
            # Send: retries first, then new announces, up to the window.
            while len(outstanding) < WINDOW and (retry or nxt < total):
                n = retry.pop() if retry else nxt
                try:
                    sock.sendto(self.announce(cid, n), addr)
                except BlockingIOError:
                    if n != nxt:
                        retry.append(n)
                    break
                if n == nxt:
                    nxt += 1
                outstanding[n] = now
            # Receive whatever is there.
            got = 0
            while True:
                try:
                    d = sock.recv(4096)
                except BlockingIOError:
                    break
                got += 1
                if len(d) < 8:
                    continue
                action, tid = struct.unpack(">II", d[:8])
                if action == 0 and tid == CONNECT_TID and len(d) >= 16:
                    cid = struct.unpack(">Q", d[8:16])[0]
                    last_cid, cid_asked = time.time(), None
                elif action == 1 and len(d) >= 20 and tid < total:
                    if tid in outstanding:
                        del outstanding[tid]
                    if not done[tid]:
                        done[tid] = 1
                        answered += 1
                elif action == 3 and tid in outstanding:
                    # Refused (say, an expired connection id): a fresh id, then again.
                    del outstanding[tid]
                    retry.append(tid)
                    last_cid = 0
                elif action == 1 and tid < total and tid in outstanding:
                    raise RuntimeError("a malformed announce reply (%d bytes): %r" % (len(d), d[:40]))
            # Resend what has waited more than a second.
            if now - last_check > 0.25:
                last_check = now
                late = [n for n, t in outstanding.items() if now - t > 1.0]
                for n in late:
                    del outstanding[n]
                    retry.append(n)
                resent += len(late)
            if not got:
                # Nothing came: wait for the socket rather than spin.
                import select
                select.select([sock], [], [], 0.002)
        return time.time() - t0, resent


def scrape_live(port, hashes):
    """Seeders + leechers over `hashes`, by UDP scrapes of 74 at a time (one socket, retried)."""
    addr = ("127.0.0.1", port)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    cid = connect(sock, addr)
    sock.settimeout(0.5)
    live = 0
    for k in range(0, len(hashes), 74):
        chunk = hashes[k:k + 74]
        tid = 100 + k
        for _ in range(20):
            sock.sendto(struct.pack(">QII", cid, 2, tid) + b"".join(chunk), addr)
            try:
                d, _ = sock.recvfrom(4096)
            except OSError:
                continue
            if d[:8] == struct.pack(">II", 2, tid):
                live += sum(struct.unpack(">I", d[8 + 12 * j:12 + 12 * j])[0] + struct.unpack(">I", d[16 + 12 * j:20 + 12 * j])[0]
                            for j in range(len(chunk)))
                break
        else:
            raise RuntimeError("no scrape reply from port %d" % port)
    return live


def wait_until(pred, timeout, what, every=0.25):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(every)
    raise RuntimeError("timed out after %d s waiting for %s" % (timeout, what))


def wait_announce_ok(port, info_hash, timeout=60):
    """Until an announce for info_hash gets a proper reply (opentracker reads its whitelist
    in a thread of its own after it starts answering)."""
    addr = ("127.0.0.1", port)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    cid = connect(sock, addr)
    sock.settimeout(0.2)

    def ok():
        sock.sendto(struct.pack(">QII20s20sQQQIIIiH", cid, 1, 5, info_hash, b"-MEM001-readiness000",
                                0, 0, 0, 3, 0, 0, 0, 1), addr)  # event stopped: it leaves no peer behind
        try:
            d, _ = sock.recvfrom(4096)
            return len(d) >= 20 and d[:8] == struct.pack(">II", 1, 5)
        except OSError:
            return False

    wait_until(ok, timeout, "a proper announce reply from port %d" % port, every=0.05)


def rss_settled(pid, timeout=30):
    """RSS once it has stopped changing for two seconds (polled), or after `timeout`."""
    end = time.time() + timeout
    last, since = rss_kib(pid), time.time()
    while time.time() < end and time.time() - since < 2:
        time.sleep(0.1)
        v = rss_kib(pid)
        if v != last:
            last, since = v, time.time()
    return last


def main():
    binary = os.path.join(ROOT, "target", "release", "tracker_server")
    global WORK
    work = WORK = tempfile.mkdtemp(prefix="tracker-memory-")
    os.chmod(work, 0o755)  # opentracker drops to its own user
    hashes = [os.urandom(20) for _ in range(SWARMS)]
    total = PER * SWARMS
    sample = hashes[:: max(1, SWARMS // 740)][:740]
    load = Load(hashes)
    rows, notes = [], []
    say("%d peers in %d swarms of %d; our tracker with --interval %d" % (total, SWARMS, PER, INTERVAL))
    # Ours.
    port = free_port()
    env = dict(os.environ, RUST_LOG="warn")
    ours = subprocess.Popen([binary, "--ip", "127.0.0.1", "--port", str(port), "--data-dir", work,
                             "--interval", str(INTERVAL), "--udp-rate-limit", "0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        wait_announce_ok(port, hashes[0])
        empty = rss_settled(ours.pid, 5)
        secs, resent = load.run(port)
        loaded = rss_kib(ours.pid)
        t_loaded = time.time()
        live = scrape_live(port, sample)
        notes.append("ours: %d announces answered in %.1f s (%.0f/s, %d resent); a scrape of %d swarms then counted "
                     "%d peers of %d" % (total, secs, total / secs, resent, len(sample), live, len(sample) * PER))
        say(notes[-1])
        if secs > 2 * INTERVAL:
            say("warning: the load took longer than two intervals: the first peers may have expired before the end")
        wait_until(lambda: scrape_live(port, sample) == 0, 4 * INTERVAL + 60, "the sample's swarms to empty", every=0.5)
        gone_after = time.time() - t_loaded
        # The sweep that empties them ends with a malloc_trim: RSS until it stops falling.
        after = rss_settled(ours.pid, 30)
        left = scrape_live(port, hashes)
        notes.append("ours: the sample was empty %.0f s after the load ended; then a scrape of all %d swarms "
                     "counted %d peers" % (gone_after, SWARMS, left))
        say(notes[-1])
        rows.append(("ours (tracker_server --interval %d)" % INTERVAL, empty, loaded, after))
    finally:
        ours.kill()
        ours.wait()
    # opentracker: whitelist-only in Debian, so the swarms' hashes are listed.
    d = os.path.join(work, "ot")
    os.makedirs(d)
    os.chmod(d, 0o755)
    with open(os.path.join(d, "whitelist"), "w") as f:
        f.write("".join(h.hex() + "\n" for h in hashes))
    os.chmod(os.path.join(d, "whitelist"), 0o644)
    port = free_port()
    args = ["opentracker", "-i", "127.0.0.1", "-p", str(port), "-P", str(port), "-d", d, "-w", "/whitelist"]
    if os.getuid() == 0:
        args[1:1] = ["-u", "_opentracker"]
    ot = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_announce_ok(port, hashes[-1])
        empty = rss_settled(ot.pid, 5)
        secs, resent = load.run(port)
        loaded = rss_kib(ot.pid)
        live = scrape_live(port, sample)
        notes.append("opentracker: %d announces answered in %.1f s (%.0f/s, %d resent); a scrape of %d swarms then "
                     "counted %d peers of %d" % (total, secs, total / secs, resent, len(sample), live, len(sample) * PER))
        say(notes[-1])
        rows.append(("opentracker (empty = with its %d-hash whitelist)" % SWARMS, empty, loaded, None))
    finally:
        ot.kill()
        ot.wait()
    print()
    print("%s peers in %s swarms (%d each), announced over UDP from 127.0.0.1; VmRSS in MiB" %
          ("{:,}".format(total), "{:,}".format(SWARMS), PER))
    print()
    print("| tracker | empty | loaded | after all expired |")
    print("|---|---:|---:|---:|")
    for name, e, l, a in rows:
        print("| %s | %.1f | %.1f | %s |" % (name, e / 1024, l / 1024, "%.1f" % (a / 1024) if a is not None else "—"))
    print()
    for n in notes:
        print("- " + n)
    print("- opentracker: its peers are not waited for: it asks for an announce every ~30 min and drops a silent "
          "peer only after 45 min (nine 5-minute pools, OT_POOLS_COUNT x OT_POOLS_TIMEOUT, compiled in; no option).")


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        for d in [WORK] if WORK else []:
            shutil.rmtree(d, ignore_errors=True)
