# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pack what a host needs of this collection into a reproducible .tar.gz (run on the controller).

``python pack_collection.py COLLECTION_ROOT OUTPUT.tar.gz`` packs ``plugins/``, ``playbooks/``,
``meta/`` and the collection metadata, without bytecode caches. The same sources always give the
same bytes (sorted entries, fixed times, owners and modes), so the copy to the host is idempotent
and the daemon is restarted only when the code really changed. Prints ``{"files": N, "sha256": ...}``.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

INCLUDE_DIRS = ("meta", "playbooks", "plugins")
INCLUDE_FILES = ("galaxy.yml", "MANIFEST.json", "FILES.json")


def wanted_files(root):
    found = [name for name in INCLUDE_FILES if os.path.isfile(os.path.join(root, name))]
    for top in INCLUDE_DIRS:
        for folder, dirs, files in os.walk(os.path.join(root, top)):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
            for name in files:
                if name.endswith((".pyc", ".pyo")) or name.startswith("."):
                    continue
                found.append(os.path.relpath(os.path.join(folder, name), root))
    return sorted(found)


def pack(root, output):
    names = wanted_files(root)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in names:
            with open(os.path.join(root, name), "rb") as handle:
                data = handle.read()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())
    payload = packed.getvalue()
    with open(output, "wb") as handle:
        handle.write(payload)
    return {"files": len(names), "sha256": hashlib.sha256(payload).hexdigest()}


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: pack_collection.py COLLECTION_ROOT OUTPUT.tar.gz\n")
        return 2
    print(json.dumps(pack(argv[1], argv[2])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
