"""Figure 1 in its own process (run by run.py), so that it can run as installed by default too.

Usage: _report_cpu.py HOST PORT N ROUNDS MODE, MODE = orjson | stdlib-json (orjson blocked, as
without the optional 'fast' extra). Prints one JSON line: caller CPU in µs per call, per round,
``{"raw": [...], "ours": [...]}``. The rounds alternate; each side starts once every message
the other sent is acknowledged.

- raw: a hand-written report: the payload encoded by a JSONEncoder built once (compact, as ours
  is on the wire) and published at QoS 1 by a raw paho client.
- ours: ``Service.report()`` of the smoke detector through core, codec and transport.
"""

from __future__ import annotations

import json
import sys
import time

host, port, n, rounds, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
if mode == "stdlib-json":
    sys.modules["orjson"] = None

from _common import connect, nodelay_client  # noqa: E402
from run import PAYLOAD, RAW_ENCODER, SmokeDetector  # noqa: E402

from thingmodel.device import Device  # noqa: E402

topic = "$oc/devices/cpu-dev/sys/properties/report"
raw = nodelay_client("cpu-raw")
connect(raw, host, port)
detector = SmokeDetector()
per_round = n // rounds
out: dict[str, list[float]] = {"raw": [], "ours": []}
with Device([detector], device_id="cpu-dev", broker=f"mqtt://{host}:{port}", sync_timeout=0.5) as device:
    device.transport.open_gate()
    for _ in range(rounds):
        start = time.thread_time()
        for _ in range(per_round):
            info = raw.publish(topic, RAW_ENCODER.encode(PAYLOAD).encode(), qos=1)
        out["raw"].append((time.thread_time() - start) / per_round * 1e6)
        info.wait_for_publish(30)
        start = time.thread_time()
        for _ in range(per_round):
            detector.report()
        out["ours"].append((time.thread_time() - start) / per_round * 1e6)
        deadline = time.monotonic() + 30
        while device.transport.unacknowledged and time.monotonic() < deadline:
            time.sleep(0.005)
raw.loop_stop()
raw.disconnect()
print(json.dumps(out), flush=True)
