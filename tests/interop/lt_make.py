#!/usr/bin/python3
"""libtorrent 2.0's create_torrent, for the v2 interop tests (tests/interop_v2.rs):
makes a v2-only or hybrid (v1 + v2, BEP 47 pad files) .torrent of --source, a
file or a folder, and prints one JSON line: libtorrent's info-hashes of it
("v1" 40 hex digits or null, "v2" 64 hex digits), its piece count, and its
files as libtorrent lists them, pads included ([path, size, is_pad]).
"""

import argparse
import json
import os
import sys

try:
    import libtorrent as lt
except ImportError as e:
    sys.stderr.write(
        "lt_make: cannot import libtorrent (%s): install python3-libtorrent "
        "(scripts/setup.sh) and run with /usr/bin/python3\n" % e
    )
    sys.exit(3)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True, help="the file or folder the torrent describes")
    ap.add_argument("--out", required=True, help="where to write the .torrent")
    ap.add_argument("--format", choices=["v2", "hybrid"], required=True)
    ap.add_argument("--piece-length", type=int, default=32768)
    ap.add_argument("--announce", help="the tracker URL, if any")
    args = ap.parse_args()

    source = os.path.abspath(args.source)
    fs = lt.file_storage()
    lt.add_files(fs, source)
    flags = lt.create_torrent.v2_only if args.format == "v2" else 0
    ct = lt.create_torrent(fs, args.piece_length, flags=flags)
    if args.announce:
        ct.add_tracker(args.announce)
    ct.set_creator("libtorrent %s (lt_make.py)" % lt.__version__)
    lt.set_piece_hashes(ct, os.path.dirname(source))
    raw = lt.bencode(ct.generate())
    with open(args.out, "wb") as f:
        f.write(raw)

    ti = lt.torrent_info(raw)
    ih = ti.info_hashes()
    files = ti.files()
    print(
        json.dumps(
            {
                "v1": str(ih.v1) if ih.has_v1() else None,
                "v2": str(ih.v2) if ih.has_v2() else None,
                "pieces": ti.num_pieces(),
                "files": [
                    [files.file_path(i), files.file_size(i), bool(files.file_flags(i) & lt.file_storage.flag_pad_file)]
                    for i in range(files.num_files())
                ],
            }
        )
    )


if __name__ == "__main__":
    main()
