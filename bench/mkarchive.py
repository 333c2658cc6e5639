#!/usr/bin/env python3
"""Writes a docker-archive (docker save format) of one image with LAYERS
layers of incompressible data, SIZE_MB in all, tagged bench/big:latest.
Usage: mkarchive.py OUT.tar [SIZE_MB] [LAYERS]"""
import hashlib, io, json, os, sys, tarfile

out = sys.argv[1]
size_mb = int(sys.argv[2]) if len(sys.argv) > 2 else 200
layers = int(sys.argv[3]) if len(sys.argv) > 3 else 8
per_layer = size_mb * 1024 * 1024 // layers


def layer_tar(i):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        left, n = per_layer, 0
        while left > 0:
            chunk = min(left, 4 * 1024 * 1024)
            data = os.urandom(chunk)
            info = tarfile.TarInfo(f"layer{i}/file{n}")
            info.size, info.mode, info.mtime = chunk, 0o644, 0
            t.addfile(info, io.BytesIO(data))
            left -= chunk
            n += 1
    return buf.getvalue()


with tarfile.open(out, "w") as outer:
    diff_ids, paths = [], []
    for i in range(layers):
        data = layer_tar(i)
        h = hashlib.sha256(data).hexdigest()
        diff_ids.append("sha256:" + h)
        p = f"blobs/sha256/{h}"
        info = tarfile.TarInfo(p)
        info.size = len(data)
        outer.addfile(info, io.BytesIO(data))
        paths.append(p)
    cfg = json.dumps({
        "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": f"layer {i}"} for i in range(layers)],
    }).encode()
    ch = hashlib.sha256(cfg).hexdigest()
    for name, data in [(f"blobs/sha256/{ch}", cfg),
                       ("manifest.json", json.dumps([{"Config": f"blobs/sha256/{ch}",
                                                      "RepoTags": ["bench/big:latest"],
                                                      "Layers": paths}]).encode())]:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        outer.addfile(info, io.BytesIO(data))
