"""The CLI's application commands (``devices``, ``shadow``, ``command``, ``ota``, ``watch``): each a
call on the running cloud's thingmodel API, printed for a person (or as JSON with ``--json``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..cloud.client import ApiError, CloudClient
from ..cloud.discovery import cloud_url
from ..errors import InvalidValue
from . import output

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3

PAIRS_HELP = (
    "KEY=VALUE pairs. Each VALUE is read by the property's type (from the cloud's --model, else from "
    "the value the device last reported): name=123 is the text '123' for a string property and the "
    "number 123 for a number; booleans take true/false, 1/0, yes/no, on/off. Where no type is known "
    "a VALUE is JSON when it parses as JSON (1, true, [1,2], '\"123\"'), else text."
)


def add_app_options(p: argparse.ArgumentParser, *, wait: bool = True) -> None:
    p.add_argument(
        "--cloud",
        metavar="URL",
        default=None,
        help="the cloud's HTTP URL (default: $THINGMODEL_CLOUD, else the running `thingmodel cloud`, "
        "which records where it listens, else http://127.0.0.1:8780)",
    )
    p.add_argument(
        "--app-key",
        metavar="ID:SECRET",
        default=os.environ.get("THINGMODEL_APP_KEY"),
        help="the key the cloud was started with (--app-key); default: $THINGMODEL_APP_KEY, or none",
    )
    p.add_argument("--json", action="store_true", help="print the cloud's answer as JSON (default: a table)")
    if wait:
        p.add_argument(
            "--timeout", type=float, default=5.0, help="seconds to wait for the device's answer (default 5)"
        )


def pairs(items: Sequence[str]) -> dict[str, str]:
    """``KEY=VALUE`` arguments as texts; the cloud reads each by its property's type."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise InvalidValue(f"{item!r} is not KEY=VALUE")
        out[key] = raw
    return out


def _client(args: argparse.Namespace) -> CloudClient:
    from ..cloud.http.server import AppKey

    key = AppKey.parse(args.app_key) if args.app_key else None
    return CloudClient(cloud_url(args.cloud), app_key=key)


def _print(args: argparse.Namespace, answer: Any, text: str) -> None:
    print(json.dumps(answer, indent=2, ensure_ascii=False) if args.json else text)


def _device(device_id: str) -> str:
    return "/devices/" + quote(device_id, safe="")


def run_app(args: argparse.Namespace) -> int:
    """One application command; ApiError becomes one line and its exit code."""
    client = _client(args)
    try:
        return _COMMANDS[args.command](client, args)
    except ApiError as exc:
        print(f"thingmodel: {exc.message}", file=sys.stderr)
        if exc.status == 401:
            return EXIT_UNREACHABLE
        return EXIT_USAGE if exc.status in (400, 413) else EXIT_FAILED


def _vendor(client: CloudClient) -> str:
    return str(client.get("/info")["vendor"])


def devices(client: CloudClient, args: argparse.Namespace) -> int:
    answer = client.get("/devices")
    if args.json:
        _print(args, answer, "")
    else:
        print(output.devices_view(answer["devices"], _vendor(client)))
    return EXIT_OK


def shadow(client: CloudClient, args: argparse.Namespace) -> int:
    path = _device(args.device_id)
    if args.shadow_command == "get":
        answer = client.get(path)
        _print(args, answer, "" if args.json else output.shadow_view(answer, _vendor(client)))
        return EXIT_OK
    if args.shadow_command == "delete":
        answer = client.delete(path + "/shadow", service_id=args.service_id)
        deleted = answer["deleted"]
        which = f" for {args.service_id}" if args.service_id else ""
        text = (
            f"deleted the shadow of {args.device_id}: {', '.join(deleted)}"
            if deleted
            else f"{args.device_id} has no shadow{which} to delete"
        )
        _print(args, answer, text)
        return EXIT_OK if deleted else EXIT_FAILED
    body = {"service_id": args.service_id, "text": pairs(args.values), "timeout": args.timeout}
    answer = client.post(path + "/desired", body, wait=args.timeout)
    _print(args, answer, output.desire_view(args.device_id, args.service_id, answer))
    return EXIT_OK if answer["ok"] else EXIT_FAILED


def command(client: CloudClient, args: argparse.Namespace) -> int:
    body = {
        "service_id": args.service_id,
        "name": args.name,
        "text": pairs(args.params),
        "timeout": args.timeout,
    }
    answer = client.post(_device(args.device_id) + "/commands", body, wait=args.timeout)
    _print(args, answer, output.command_view(args.device_id, args.name, answer))
    return EXIT_OK if answer["ok"] else EXIT_FAILED


LONG_POLL = 20.0
"""Seconds one request for the upgrade's next change may wait."""


def ota(client: CloudClient, args: argparse.Namespace) -> int:
    """Upload the package, then print each change of the upgrade until it ends."""
    path = Path(args.file)
    if not path.is_file():
        raise InvalidValue(f"{path}: no such file")
    answer = client.upgrade(args.device_id, path, version=args.package_version, kind=args.kind)
    upgrade, package = answer["upgrade"], answer["package"]
    if args.json:
        print(json.dumps(answer, ensure_ascii=False), flush=True)
    else:
        print(output.upgrade_started(args.device_id, upgrade, package), flush=True)
    deadline = time.monotonic() + args.timeout
    shown = None
    while True:
        line = output.upgrade_line(upgrade)
        if line != shown:
            shown = line
            text = json.dumps(upgrade, ensure_ascii=False) if args.json else f"{args.device_id}: {line}"
            print(text, flush=True)
        if upgrade["terminal"]:
            break
        left = deadline - time.monotonic()
        if left <= 0:
            print(
                f"thingmodel: upgrade {upgrade['task_id']} of {args.device_id} did not end within "
                f"{args.timeout:g} s (it is {line}; it goes on)",
                file=sys.stderr,
            )
            return EXIT_FAILED
        upgrade = client.get_upgrade(
            args.device_id, upgrade["task_id"], wait=min(left, LONG_POLL), after=upgrade["revision"]
        )
    if upgrade["state"] == "succeeded":
        return EXIT_OK
    print(f"thingmodel: {output.upgrade_failed(args.device_id, upgrade)}", file=sys.stderr)
    return EXIT_FAILED


def watch(client: CloudClient, args: argparse.Namespace) -> int:
    """Print the cloud's feed as it comes, until Ctrl-C (or the cloud stops)."""
    if args.device_id:
        client.get(_device(args.device_id))  # an unknown device is an error, not a silent wait
    where = f"{args.device_id} on " if args.device_id else ""
    try:
        for event, entry in client.stream("/stream", device_id=args.device_id):
            if event == "open":
                if not args.json:
                    print(f"watching {where}{client.url} (Ctrl-C to stop)", flush=True)
            elif event == "shadow":
                continue  # the messages themselves say what changed
            elif event == "upgrade" and not args.json:
                print(output.upgrade_trace_line(entry), flush=True)
            elif event == "missed":
                print(f"... {entry['missed']} entries skipped (the terminal fell behind)", flush=True)
            elif args.json:
                print(json.dumps(entry, ensure_ascii=False), flush=True)
            else:
                print(output.trace_line(entry), flush=True)
    except KeyboardInterrupt:
        return EXIT_OK
    print("thingmodel: the cloud closed the stream", file=sys.stderr)
    return EXIT_UNREACHABLE


_COMMANDS = {"devices": devices, "shadow": shadow, "command": command, "watch": watch, "ota": ota}
