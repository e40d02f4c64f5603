#!/usr/bin/env python3
"""Writes a one-layer OCI image archive (an OCI layout in a tar) from files.

    oci-image.py --name gtoken.local/pause:1 --out pause.tar \
        [--entrypoint /pause] [--cmd ARG]... [--user 65535] [--env K=V]... \
        SRC:DEST[:MODE] ... [--symlink DEST:TARGET]...

The result is what `ctr -n k8s.io images import` takes. It is reproducible:
every timestamp is 0 and every owner root, so the same inputs give the same
digests.
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import tarfile


def blob(layout, data, media_type):
    digest = hashlib.sha256(data).hexdigest()
    layout["blobs/sha256/" + digest] = data
    return {"mediaType": media_type, "digest": "sha256:" + digest, "size": len(data)}


def add_dirs(tar, seen, path):
    parts = path.strip("/").split("/")[:-1]
    for i in range(1, len(parts) + 1):
        d = "/".join(parts[:i])
        if d not in seen:
            seen.add(d)
            ti = tarfile.TarInfo(d)
            ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 0
            tar.addfile(ti)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--entrypoint", action="append", default=[])
    ap.add_argument("--cmd", action="append", default=[])
    ap.add_argument("--user", default="")
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--symlink", action="append", default=[])
    ap.add_argument("files", nargs="*")
    a = ap.parse_args()

    raw = io.BytesIO()
    seen = set()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for spec in a.files:
            src, dest, *mode = spec.split(":")
            add_dirs(tar, seen, dest)
            with open(src, "rb") as f:
                data = f.read()
            ti = tarfile.TarInfo(dest.strip("/"))
            ti.size, ti.mtime = len(data), 0
            ti.mode = int(mode[0], 8) if mode else (os.stat(src).st_mode & 0o777)
            tar.addfile(ti, io.BytesIO(data))
        for spec in a.symlink:
            dest, target = spec.split(":", 1)
            add_dirs(tar, seen, dest)
            ti = tarfile.TarInfo(dest.strip("/"))
            ti.type, ti.linkname, ti.mode, ti.mtime = tarfile.SYMTYPE, target, 0o777, 0
            tar.addfile(ti)
        # An empty /tmp, so tools that want one find it.
        for d in ("tmp",):
            if d not in seen:
                ti = tarfile.TarInfo(d)
                ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o1777, 0
                tar.addfile(ti)
    raw = raw.getvalue()
    gz = gzip.compress(raw, mtime=0)

    layout = {}
    layer = blob(layout, gz, "application/vnd.oci.image.layer.v1.tar+gzip")
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
        "history": [{"created_by": "tests/node/images/oci-image.py"}],
    }
    config["config"] = {k: v for k, v in config["config"].items() if v not in (None, "")}
    cfg = blob(layout, json.dumps(config, sort_keys=True).encode(),
               "application/vnd.oci.image.config.v1+json")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": cfg, "layers": [layer]}
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
