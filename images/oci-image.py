#!/usr/bin/env python3
"""Writes a one-layer OCI image archive (an OCI layout in a tar) from files.

    oci-image.py --name gtoken.local/pause:1 --out pause.tar \
        [--entrypoint /pause] [--cmd ARG]... [--user 65535] [--env K=V]... \
        [--dir DEST[:MODE]]... [--symlink DEST:TARGET]... [--files-from LIST]... \
        SRC:DEST[:MODE] ...

Files are SRC:DEST[:MODE] (MODE octal; default SRC's permission bits), on the
command line or one a line in a --files-from LIST (blank lines and lines
starting with # are skipped). A symlink SRC is followed: DEST gets the
content. Parent directories are created 0755; --dir adds a directory with no
file in it. A DEST given twice is an error.

The result is what `ctr -n k8s.io images import` and
`skopeo copy oci-archive:FILE ...` take. It is reproducible: every timestamp
is 0, every owner root and entries keep the order given, so the same inputs
give the same digests. Prints the manifest digest.
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile


def blob(layout, data, media_type):
    digest = hashlib.sha256(data).hexdigest()
    layout["blobs/sha256/" + digest] = data
    return {"mediaType": media_type, "digest": "sha256:" + digest, "size": len(data)}


class Layer:
    """The root filesystem as one uncompressed tar, built in memory."""

    def __init__(self):
        self.raw = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.raw, mode="w", format=tarfile.PAX_FORMAT)
        self.dirs = set()
        self.entries = set()

    def _claim(self, path):
        if path in self.entries or path in self.dirs:
            sys.exit(f"oci-image.py: /{path} given twice")
        self.entries.add(path)

    def _parents(self, path):
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            self.dir("/".join(parts[:i]), 0o755)

    def dir(self, path, mode):
        path = path.strip("/")
        if path in self.dirs:
            return
        if path in self.entries:
            sys.exit(f"oci-image.py: /{path} is a file and a directory")
        self._parents(path)
        self.dirs.add(path)
        ti = tarfile.TarInfo(path)
        ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, mode, 0
        self.tar.addfile(ti)

    def file(self, src, dest, mode):
        dest = dest.strip("/")
        self._parents(dest)
        self._claim(dest)
        with open(src, "rb") as f:
            data = f.read()
        ti = tarfile.TarInfo(dest)
        ti.size, ti.mtime = len(data), 0
        ti.mode = mode if mode is not None else (os.stat(src).st_mode & 0o777)
        self.tar.addfile(ti, io.BytesIO(data))

    def symlink(self, dest, target):
        dest = dest.strip("/")
        self._parents(dest)
        self._claim(dest)
        ti = tarfile.TarInfo(dest)
        ti.type, ti.linkname, ti.mode, ti.mtime = tarfile.SYMTYPE, target, 0o777, 0
        self.tar.addfile(ti)

    def close(self):
        self.tar.close()
        return self.raw.getvalue()


def file_specs(a):
    for spec in a.files:
        yield spec
    for name in a.files_from:
        with open(name) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    yield line


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--name", required=True, help="image name, e.g. gtoken.local/pause:1")
    ap.add_argument("--out", required=True, help="archive to write")
    ap.add_argument("--entrypoint", action="append", default=[])
    ap.add_argument("--cmd", action="append", default=[])
    ap.add_argument("--user", default="")
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--dir", action="append", default=[], metavar="DEST[:MODE]")
    ap.add_argument("--symlink", action="append", default=[], metavar="DEST:TARGET")
    ap.add_argument("--files-from", action="append", default=[], metavar="LIST")
    ap.add_argument("files", nargs="*", metavar="SRC:DEST[:MODE]")
    a = ap.parse_args()

    layer = Layer()
    for spec in file_specs(a):
        src, dest, *mode = spec.split(":")
        layer.file(src, dest, int(mode[0], 8) if mode else None)
    for spec in a.dir:
        dest, *mode = spec.split(":")
        layer.dir(dest, int(mode[0], 8) if mode else 0o755)
    for spec in a.symlink:
        dest, target = spec.split(":", 1)
        layer.symlink(dest, target)
    raw = layer.close()
    gz = gzip.compress(raw, mtime=0)

    layout = {}
    layer_desc = blob(layout, gz, "application/vnd.oci.image.layer.v1.tar+gzip")
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Entrypoint": a.entrypoint or None,
            "Cmd": a.cmd or None,
            "Env": ["PATH=/bin:/usr/bin"] + a.env,
            "User": a.user,
            "WorkingDir": "/",
        },
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()]},
        "history": [{"created_by": "images/oci-image.py"}],
    }
    config["config"] = {k: v for k, v in config["config"].items() if v not in (None, "")}
    cfg = blob(layout, json.dumps(config, sort_keys=True).encode(),
               "application/vnd.oci.image.config.v1+json")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": cfg, "layers": [layer_desc]}
    man = blob(layout, json.dumps(manifest, sort_keys=True).encode(),
               "application/vnd.oci.image.manifest.v1+json")
    man["platform"] = {"architecture": "amd64", "os": "linux"}
    man["annotations"] = {"io.containerd.image.name": a.name,
                          "org.opencontainers.image.ref.name": a.name.rsplit(":", 1)[-1]}
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [man]}
    layout["oci-layout"] = json.dumps({"imageLayoutVersion": "1.0.0"}).encode()
    layout["index.json"] = json.dumps(index, sort_keys=True).encode()

    tmp = a.out + ".tmp"
    with tarfile.open(tmp, mode="w") as tar:
        for d in ("blobs", "blobs/sha256"):
            ti = tarfile.TarInfo(d)
            ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 0
            tar.addfile(ti)
        for path in sorted(layout):
            ti = tarfile.TarInfo(path)
            ti.size, ti.mode, ti.mtime = len(layout[path]), 0o644, 0
            tar.addfile(ti, io.BytesIO(layout[path]))
    os.replace(tmp, a.out)
    print(man["digest"])


if __name__ == "__main__":
    main()
