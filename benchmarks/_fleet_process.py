"""One side of figure 9 in its own process (run by fleet.py), so each starts from a clean RSS.

Usage: _fleet_process.py BROKER_URL MODE N [IDLE], MODE = thingmodel | paho. Prints one JSON
line: connect seconds (first connect started to last connected), RSS growth per device in KiB,
the process's threads once connected, and its CPU share over IDLE idle seconds (default 65:
every device's keep-alive ping, one a minute, falls in them).

- thingmodel: N ``Device`` objects of the benchmark's smoke detector, each connected (shadow
  synced with the local cloud), 64 connects at a time.
- paho: N raw paho clients, each with its ``loop_start()`` thread (paho's select() loop stops
  at descriptor 1023, so N stays below that).
"""

from __future__ import annotations

import concurrent.futures
import json
import resource
import sys
import threading
import time

url, mode, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
idle_seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 65.0
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

from _common import nodelay_client  # noqa: E402
from run import SmokeDetector  # noqa: E402

from thingmodel.device import Device  # noqa: E402
from thingmodel.transport import BrokerAddress  # noqa: E402


def rss_kib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return float(line.split()[1])
    raise RuntimeError("no VmRSS")


address = BrokerAddress.parse(url)
keep: list[object] = []
if mode == "thingmodel":
    # one device first: imports, the loop and the pool are not what a device costs
    keep.append(Device([SmokeDetector()], device_id="fleet-warm", broker=url).connect())

    def one(i: int) -> object:
        return Device([SmokeDetector()], device_id=f"fleet-{i}", broker=url, sync_timeout=10).connect()
else:
    warm = nodelay_client("fleet-warm")
    warm.connect(address.host, address.port)
    warm.loop_start()
    keep.append(warm)

    def one(i: int) -> object:
        client = nodelay_client(f"paho-{i}")
        ready = threading.Event()
        client.on_connect = lambda *a: ready.set()
        client.connect(address.host, address.port)
        client.loop_start()
        if not ready.wait(30):
            raise RuntimeError(f"paho-{i} did not connect")
        return client


time.sleep(1)
base = rss_kib()
start = time.monotonic()
with concurrent.futures.ThreadPoolExecutor(64) as pool:
    keep.extend(pool.map(one, range(n)))
connect_s = time.monotonic() - start
time.sleep(2)
grown = rss_kib() - base
threads = threading.active_count()
cpu0, t0 = time.process_time(), time.monotonic()
time.sleep(idle_seconds)
idle_cpu = (time.process_time() - cpu0) / (time.monotonic() - t0)
print(
    json.dumps(
        {
            "n": n,
            "connect_s": connect_s,
            "kib_per_device": grown / n,
            "threads": threads,
            "idle_cpu": idle_cpu,
        }
    ),
    flush=True,
)
