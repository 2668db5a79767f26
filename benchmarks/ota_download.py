"""An OTA package download: thingmodel's ``download()`` next to ``curl -s -o /dev/null``.

    python benchmarks/ota_download.py               # about 15 s
    python benchmarks/ota_download.py --mb 16 --rounds 3

One file of random bytes (64 MB by default) served over loopback HTTP by the local cloud's own
package server (``LocalCloud``'s HTTP side, in its own process: this script with ``--serve``),
with the upgrade's bearer token, the same server and URL for every row. Rows are measured in
alternation, ``--rounds`` times each, and the median is reported; the ratio is to curl's median
in the same run. ``download()`` does what a device does with a package: it writes it to a
``.part`` file, hashes it (SHA-256; MD5 too where the vendor's offer has one, Tencent), fsyncs
and renames it; each run is checked against the file's SHA-256. It runs into a directory on
disk (``--dir``, default the temporary directory) and, when ``/dev/shm`` exists, into tmpfs,
where the write and the fsync cost next to nothing. curl only reads the body. The last row is
SHA-256 then MD5 of the same bytes in memory, one thread: what hashing alone costs.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from thingmodel.device import DOWNLOAD_CHUNK as DEVICE_CHUNK
from thingmodel.transport.transfer import download


def serve(path: Path) -> None:
    """The server process: the local cloud's own HTTP side, serving ``path`` as a package the
    way it serves an upgrade (its route, its token check). Prints the URL and the token."""
    from thingmodel.cloud import LocalCloud
    from thingmodel.cloud.ota import new_task_id

    with LocalCloud(vendor="huawei", port=0, http_port=0) as cloud:
        package = cloud.packages.add(path, version="2.0", name="package.bin")
        token = cloud.transfer_tokens.issue(("package", package.id, new_task_id()), 3600)
        print(f"{cloud.http_url}/thingmodel/v1/packages/{package.id}/package.bin", token, flush=True)
        threading.Event().wait()


def timed(run: Callable[[], None]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=64, help="size of the package in MB (2**20 bytes)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=None, help="where download() writes (default: temp dir)")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    logging.basicConfig(level=logging.ERROR)
    size = args.mb << 20
    curl = shutil.which("curl")
    with tempfile.TemporaryDirectory() as served, tempfile.TemporaryDirectory(dir=args.dir) as disk:
        package = Path(served) / "package.bin"
        package.write_bytes(os.urandom(size))
        data = package.read_bytes()
        expected = hashlib.sha256(data).hexdigest()
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(package)], stdout=subprocess.PIPE, text=True
        )
        try:
            assert server.stdout is not None
            url, token = server.stdout.readline().split()

            def ours(directory: str, md5: bool = False) -> Callable[[], None]:
                def run() -> None:
                    dest = Path(directory) / "package.bin"
                    result = download(url, dest, token=token, md5=md5, chunk=DEVICE_CHUNK)
                    if result.sha256 != expected or result.size != size:
                        raise RuntimeError(f"download() got {result.size} bytes, sha256 {result.sha256}")
                    dest.unlink()

                return run

            def by_curl() -> None:
                assert curl is not None
                auth = f"Authorization: Bearer {token}"
                subprocess.run([curl, "-s", "-f", "-H", auth, "-o", "/dev/null", url], check=True)

            def hashes() -> None:
                hashlib.sha256(data).hexdigest()
                hashlib.md5(data, usedforsecurity=False).hexdigest()

            def curl_to_disk() -> None:
                assert curl is not None
                dest = Path(disk) / "curl.bin"
                auth = f"Authorization: Bearer {token}"
                subprocess.run([curl, "-s", "-f", "-H", auth, "-o", str(dest), url], check=True)
                dest.unlink()

            rows: dict[str, Callable[[], None]] = {}
            if curl:
                rows["curl -s -o /dev/null"] = by_curl
                rows["curl -s -o FILE (disk)"] = curl_to_disk
            else:
                print("curl is not installed: its row and the ratios are skipped")
            rows["download() to disk (--dir)"] = ours(disk)
            rows["download() to disk, + MD5 (Tencent)"] = ours(disk, md5=True)
            shm = Path("/dev/shm")
            if shm.is_dir():
                shm_dir = tempfile.mkdtemp(dir=shm)
                rows["download() to tmpfs (/dev/shm)"] = ours(shm_dir)
            rows["SHA-256 + MD5 in memory (no I/O)"] = hashes
            samples: dict[str, list[float]] = {name: [] for name in rows}
            for run in rows.values():  # warm-up: page cache, first connection
                run()
            for _ in range(args.rounds):
                for name, run in rows.items():
                    samples[name].append(timed(run))
            if shm.is_dir():
                shutil.rmtree(shm_dir, ignore_errors=True)
        finally:
            server.kill()
            server.wait()
    print(f"{args.mb} MB over loopback HTTP, median of {args.rounds} runs each")
    print(f"{'path':36} {'MB/s':>8} {'s':>7} {'MB/s vs curl':>13}")
    baseline = statistics.median(samples["curl -s -o /dev/null"]) if curl else None
    for name, times in samples.items():
        median = statistics.median(times)
        ratio = f"{baseline / median:.2f}x" if baseline else "-"
        print(f"{name:36} {args.mb / median:8.0f} {median:7.3f} {ratio:>13}")


if __name__ == "__main__":
    main()
