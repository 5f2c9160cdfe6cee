"""The tracker's RSS with MEM_PEERS peers in MEM_SWARMS swarms, announced over
UDP (BEP 15), and after they all expire; opentracker's RSS under the same load
beside it. Run by scripts/tracker_memory.sh."""

import hashlib
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PEERS = int(os.environ.get("MEM_PEERS", "1000000"))
SWARMS = int(os.environ.get("MEM_SWARMS", "100000"))
INTERVAL = int(os.environ.get("MEM_INTERVAL", "60"))
PER = PEERS // SWARMS


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def info_hash(s):
    return hashlib.sha1(b"swarm %d" % s).digest()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def connect(sock, addr, deadline=20):
    end = time.time() + deadline
    sock.settimeout(0.2)
    while time.time() < end:
        sock.sendto(struct.pack(">QII", 0x41727101980, 0, 1), addr)
        try:
            d, _ = sock.recvfrom(64)
            if d[:8] == struct.pack(">II", 0, 1):
                return struct.unpack(">Q", d[8:16])[0]
        except OSError:
            pass
    raise RuntimeError("no connect reply from %s" % (addr,))


def load(port):
    """Every peer announces once; at most WINDOW unanswered at a time. Returns answers."""
    addr = ("127.0.0.1", port)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    cid = connect(sock, addr)
    sock.setblocking(False)
    window, sent, answered, t0 = 512, 0, 0, time.time()
    last_cid = time.time()
    while sent < PEERS or answered < sent:
        if time.time() - last_cid > 50:  # ids last a minute or two
            sock.setblocking(True)
            cid = connect(sock, addr)
            sock.setblocking(False)
            last_cid = time.time()
        while sent < PEERS and sent - answered < window:
            s, i = divmod(sent, PER)
            peer_id = struct.pack(">8sII8s", b"-MEM001-", s, i, b"\0" * 8)
            req = struct.pack(">QII20s20sQQQIIIiH", cid, 1, sent & 0xFFFFFFFF, info_hash(s), peer_id,
                              0, 1000 if i else 0, 0, 2, 0, 0, 0, 1024 + i)
            try:
                sock.sendto(req, addr)
                sent += 1
            except BlockingIOError:
                break
        if sent >= PEERS:
            # The last answers get two seconds; a lost datagram is not resent.
            end = time.time() + 2
            while answered < sent and time.time() < end:
                try:
                    sock.recvfrom(2048)
                    answered += 1
                except BlockingIOError:
                    time.sleep(0.001)
            break
        got = False
        while True:
            try:
                sock.recvfrom(2048)
                answered += 1
                got = True
            except BlockingIOError:
                break
        if not got:
            time.sleep(0.0005)
            if time.time() - t0 > 600:
                break
        # A datagram lost on the way counts as answered after a pause, so the
        # window moves on; the count of real answers is what is reported.
        if not got and sent - answered >= window:
            time.sleep(0.05)
            try:
                while True:
                    sock.recvfrom(2048)
                    answered += 1
            except BlockingIOError:
                pass
            if sent - answered >= window:
                answered = sent - window // 2
    return answered, time.time() - t0


def swarm_sizes(port, sample):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    cid = connect(sock, ("127.0.0.1", port))
    hashes = b"".join(info_hash(s) for s in sample)
    sock.sendto(struct.pack(">QII", cid, 2, 9) + hashes, ("127.0.0.1", port))
    d, _ = sock.recvfrom(4096)
    return sum(struct.unpack(">I", d[8 + 12 * k:12 + 12 * k])[0] + struct.unpack(">I", d[16 + 12 * k:20 + 12 * k])[0]
               for k in range(len(sample)))


def main():
    binary = os.path.join(ROOT, "target", "release", "tracker_server")
    work = tempfile.mkdtemp(prefix="tracker-memory-")
    os.chmod(work, 0o755)  # opentracker drops to its own user
    rows = []
    # Ours.
    port = free_port()
    env = dict(os.environ, RUST_LOG="warn")
    ours = subprocess.Popen([binary, "--ip", "127.0.0.1", "--port", str(port), "--data-dir", work,
                             "--interval", str(INTERVAL), "--udp-rate-limit", "0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        connect(socket.socket(socket.AF_INET, socket.SOCK_DGRAM), ("127.0.0.1", port))
        empty = rss_kib(ours.pid)
        answered, secs = load(port)
        sample = list(range(0, SWARMS, max(1, SWARMS // 70)))[:70]
        loaded = rss_kib(ours.pid)
        live = swarm_sizes(port, sample)
        print("ours: %d announces answered in %.1f s; %d peers in a sample of %d swarms" % (answered, secs, live, len(sample)), flush=True)
        end = time.time() + 2 * INTERVAL + 120
        while swarm_sizes(port, sample) > 0 and time.time() < end:
            time.sleep(1)
        # One more expiry sweep and its malloc_trim.
        time.sleep(3)
        after = rss_kib(ours.pid)
        rows.append(("ours (tracker_server)", empty, loaded, after))
    finally:
        ours.kill()
        ours.wait()
    # opentracker: whitelist-only in Debian, so the swarms' hashes are listed.
    d = os.path.join(work, "ot")
    os.makedirs(d)
    os.chmod(d, 0o755)
    with open(os.path.join(d, "whitelist"), "w") as f:
        f.write("".join(info_hash(s).hex() + "\n" for s in range(SWARMS)))
    os.chmod(os.path.join(d, "whitelist"), 0o644)
    port = free_port()
    args = ["opentracker", "-i", "127.0.0.1", "-p", str(port), "-P", str(port), "-d", d, "-w", "/whitelist"]
    if os.getuid() == 0:
        args[1:1] = ["-u", "_opentracker"]
    ot = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        connect(socket.socket(socket.AF_INET, socket.SOCK_DGRAM), ("127.0.0.1", port))
        time.sleep(1)  # its whitelist is read by a thread of its own
        empty = rss_kib(ot.pid)
        answered, secs = load(port)
        print("opentracker: %d announces answered in %.1f s" % (answered, secs), flush=True)
        rows.append(("opentracker (its peers expire after ~30 min: not waited for)", empty, rss_kib(ot.pid), None))
    finally:
        ot.kill()
        ot.wait()
    print()
    print("%d peers in %d swarms (%d each), announced over UDP; RSS in MiB" % (PEERS, SWARMS, PER))
    print()
    print("| tracker | empty | loaded | after all expired |")
    print("|---|---:|---:|---:|")
    for name, e, l, a in rows:
        print("| %s | %.1f | %.1f | %s |" % (name, e / 1024, l / 1024, "%.1f" % (a / 1024) if a is not None else "—"))


if __name__ == "__main__":
    sys.exit(main())
