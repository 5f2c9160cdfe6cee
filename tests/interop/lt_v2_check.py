#!/usr/bin/python3
"""libtorrent 2.0 as the oracle for a v2 or hybrid .torrent we made
(tests/v2_make.rs). Prints one JSON object and exits 0; the test decides.

- "parsed": libtorrent's reading of the torrent: its v1 and v2 info-hashes
  (null when it has no such half), its files in libtorrent's order (pads
  included) and each file's `pieces root` as the torrent states it;
- "checked": the torrent added with --save as its save path and force-
  rechecked, offline: progress, state, pieces it has, any error (a piece
  that fails a recheck posts no hash_failed_alert: it is just not had);
- "made": libtorrent's own create_torrent of --source (a file or a folder)
  with the same piece length and format: its info-hashes and pieces roots.
A torrent libtorrent refuses to read or to add gives {"error": ...} instead.
"""

import argparse
import json
import os
import sys
import time

try:
    import libtorrent as lt
except ImportError as e:
    sys.stderr.write(
        "lt_v2_check: cannot import libtorrent (%s): install python3-libtorrent "
        "(scripts/setup.sh) and run with /usr/bin/python3\n" % e
    )
    sys.exit(3)


def hashes(ih):
    return {
        "v1": str(ih.v1) if ih.has_v1() else None,
        "v2": str(ih.v2) if ih.has_v2() else None,
    }


def roots(info):
    """path -> hex pieces root, from a bdecoded info dictionary's file tree."""
    out = {}

    def walk(tree, path):
        for k, v in tree.items():
            if k == b"":
                if b"pieces root" in v:
                    out["/".join(path)] = v[b"pieces root"].hex()
            else:
                walk(v, path + [k.decode()])

    walk(info[b"file tree"], [])
    return out


def files_of(ti):
    fs = ti.files()
    return [[fs.file_path(i), fs.file_size(i), bool(fs.file_flags(i) & lt.file_storage.flag_pad_file)] for i in range(fs.num_files())]


def recheck(ti, save, timeout):
    ses = lt.session(
        {
            "listen_interfaces": "127.0.0.1:0",
            "enable_dht": False,
            "enable_lsd": False,
            "enable_upnp": False,
            "enable_natpmp": False,
            "alert_mask": lt.alert.category_t.status_notification | lt.alert.category_t.error_notification,
        }
    )
    atp = lt.add_torrent_params()
    atp.ti = ti
    atp.save_path = save
    flags = atp.flags
    flags &= ~lt.torrent_flags.auto_managed
    flags &= ~lt.torrent_flags.paused
    flags |= lt.torrent_flags.disable_dht | lt.torrent_flags.disable_lsd | lt.torrent_flags.disable_pex
    atp.flags = flags
    h = ses.add_torrent(atp)
    h.force_recheck()
    errors = []
    deadline = time.time() + timeout
    checking = (lt.torrent_status.checking_files, lt.torrent_status.checking_resume_data)
    settled_since = None
    while time.time() < deadline:
        for a in ses.pop_alerts():
            if isinstance(a, (lt.torrent_error_alert, lt.file_error_alert)):
                errors.append(a.message())
        st = h.status()
        if st.state == lt.torrent_status.seeding and st.progress == 1.0:
            break
        # Not seeding: once checking is over and stays over, that is the answer.
        if st.state not in checking:
            settled_since = settled_since or time.time()
            if time.time() - settled_since > 2:
                break
        else:
            settled_since = None
        time.sleep(0.05)
    st = h.status()
    return {
        "progress": st.progress,
        "state": str(st.state),
        "pieces": st.num_pieces,
        "errors": errors + ([st.errc.message()] if st.errc.value() else []),
    }


def make(source, piece_length, v2_only):
    fs = lt.file_storage()
    lt.add_files(fs, source)
    ct = lt.create_torrent(fs, piece_length, flags=lt.create_torrent.v2_only if v2_only else 0)
    lt.set_piece_hashes(ct, os.path.dirname(source))
    e = ct.generate()
    ti = lt.torrent_info(lt.bencode(e))
    return {"hashes": hashes(ti.info_hashes()), "roots": roots(e[b"info"])}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--torrent", required=True)
    ap.add_argument("--save", required=True, help="the folder holding the data, as libtorrent's save_path")
    ap.add_argument("--source", help="the file or folder for libtorrent's own create_torrent")
    ap.add_argument("--timeout", type=float, default=60.0)
    args = ap.parse_args()

    raw = open(args.torrent, "rb").read()
    try:
        ti = lt.torrent_info(raw)
    except RuntimeError as e:
        print(json.dumps({"error": str(e)}))
        return
    info = lt.bdecode(raw)[b"info"]
    try:
        checked = recheck(ti, args.save, args.timeout)
    except RuntimeError as e:
        # libtorrent checks the piece layers against their roots when the torrent is added.
        print(json.dumps({"error": str(e)}))
        return
    out = {
        "parsed": {
            "hashes": hashes(ti.info_hashes()),
            "files": files_of(ti),
            "roots": roots(info),
            "piece_length": ti.piece_length(),
            "num_pieces": ti.num_pieces(),
        },
        "checked": checked,
    }
    if args.source:
        out["made"] = make(args.source, ti.piece_length(), b"pieces" not in info)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
