"""The local cloud's live web console: the devices, and each device's versions, upgrades, shadow,
forms, trace and activity, updating as things happen (like the vendors' "online debugging"
pages, but live).

The pages are rendered here with the state of the moment (every value through :func:`html.escape`),
from the templates in ``thingmodel/data/console``; one small hand-written script there
(``console.js``) keeps them current from the event stream and calls the JSON API
(:mod:`.native`) for everything it does. No CDN, no build step: it works offline.

With an app key, the pages and their static files ask for HTTP Basic ``ID:SECRET`` as the JSON
API does, so the credentials the browser remembers for the page carry over to its fetches and
its event stream.
"""

from __future__ import annotations

import html
import json
import re
import string
import time
from collections.abc import Callable, Iterable, Mapping
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from ... import __version__
from ...errors import UnknownDevice
from ..values import model_json
from .server import AppKey, basic_auth_problem

if TYPE_CHECKING:
    from ..local import LocalCloud

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
"""Sent with every page and static file: the pages load nothing but their own files."""

STATIC_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
_STATIC_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*\.(css|js|svg)")


def _files() -> Any:
    return resources.files("thingmodel") / "data" / "console"


def _template(name: str) -> string.Template:
    return string.Template(_files().joinpath(name).read_text(encoding="utf-8"))


def esc(value: object) -> str:
    """``value`` as text safe inside HTML (element content and quoted attributes)."""
    return html.escape(str(value), quote=True)


def show(value: Any) -> str:
    """A value as the tables show it (console.js's ``show`` reads the same)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def ago(ts: float | None, now: float) -> str:
    """How long ago ``ts`` was, in words (console.js's ``ago`` keeps it current)."""
    if ts is None:
        return "never"
    seconds = max(0, int(now - ts))
    if seconds < 5:
        return "just now"
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def _time(ts: float | None, now: float) -> str:
    if ts is None:
        return '<span class="muted">—</span>'
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
    return f'<time data-ts="{ts:.3f}" datetime="{iso}">{esc(ago(ts, now))}</time>'


def _state(online: bool | None) -> str:
    word = {True: "online", False: "offline", None: "unknown"}[online]
    return f'<span class="state {word}">{word}</span>'


def device_href(device_id: str) -> str:
    return "/devices/" + quote(device_id, safe="")


_NOTHING = '<span class="muted">—</span>'


def versions_text(summary: Mapping[str, Any]) -> str:
    """``2.0`` or ``fw 2.0 · sw 1.1`` (console.js's ``versionsText`` reads the same)."""
    fw, sw = summary.get("fw_version"), summary.get("sw_version")
    if fw and sw:
        return f"fw {fw} · sw {sw}"
    return str(fw or sw or "")


def upgrade_text(upgrade: Mapping[str, Any] | None) -> str:
    """``to 2.0: downloading 40%`` (console.js's ``upgradeText`` reads the same)."""
    if not upgrade:
        return ""
    state, percent = upgrade["state"], upgrade.get("percent")
    if state == "failed":
        why = f" ({upgrade['failure']})" if upgrade.get("failure") else ""
        return f"to {upgrade['version']}: failed{why}"
    if percent is not None and state in ("downloading", "installing"):
        return f"to {upgrade['version']}: {state} {percent}%"
    return f"to {upgrade['version']}: {state}"


def device_row(summary: Mapping[str, Any], now: float) -> str:
    """One row of the home page's device table."""
    device_id = summary["device_id"]
    address = summary.get("address")
    versions = versions_text(summary)
    upgrade = summary.get("upgrade")
    state = f' data-state="{esc(upgrade["state"])}"' if upgrade else ""
    return (
        f'<tr data-device-id="{esc(device_id)}">'
        f'<td><a href="{esc(device_href(device_id))}">{esc(device_id)}</a></td>'
        f"<td>{_state(summary.get('online'))}</td>"
        f'<td class="versions mono">{esc(versions) if versions else _NOTHING}</td>'
        f'<td class="upgrade"{state}>{esc(upgrade_text(upgrade)) if upgrade else _NOTHING}</td>'
        f'<td class="last-seen">{_time(summary.get("last_seen"), now)}</td>'
        f'<td class="connected-at">{_time(summary.get("connected_at"), now)}</td>'
        f'<td class="address mono">{esc(address) if address else _NOTHING}</td>'
        "</tr>"
    )


def upgrade_row(upgrade: Mapping[str, Any], now: float) -> str:
    """One row of a device's upgrades table (console.js's ``upgradeRow`` makes the same)."""
    state, percent = esc(upgrade["state"]), upgrade.get("percent")
    shown = 0 if percent is None else int(percent)
    failure = f" ({esc(upgrade['failure'])})" if upgrade.get("failure") else ""
    reason = upgrade.get("reason") or ""
    why = f'<span class="reason">{esc(reason)}</span>' if reason else ""
    number = "—" if percent is None else f"{shown}%"
    bar = f'<progress max="100" value="{shown}" aria-label="progress">{shown}%</progress>'
    return (
        f'<tr data-task-id="{esc(upgrade["task_id"])}" data-state="{state}" '
        f'data-revision="{esc(upgrade.get("revision", 0))}">'
        f'<td class="mono">{esc(upgrade["task_id"])}</td>'
        f'<td class="mono">{esc(upgrade["version"])}</td>'
        f"<td>{esc(upgrade['kind'])}</td>"
        f'<td class="upgrade-state"><span class="ustate s-{state}">{state}{failure}</span>{why}</td>'
        f'<td class="upgrade-progress">{bar} <span class="percent mono">{number}</span></td>'
        f"<td>{_time(upgrade.get('started'), now)}</td>"
        f"<td>{_time(upgrade.get('ended'), now)}</td>"
        "</tr>"
    )


def _labels(props: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for p in props:
        if p.get("enum"):
            out[p["name"]] = {show(e["value"]): str(e["label"]) for e in p["enum"]}
    return out


def _cell(kind: str, values: Mapping[str, Any], name: str, labels: Mapping[str, str]) -> str:
    if name not in values:
        return f'<td class="{kind} mono"><span class="muted">—</span></td>'
    text = show(values[name])
    label = labels.get(text)
    extra = f' <span class="label">{esc(label)}</span>' if label and label != text else ""
    return f'<td class="{kind} mono">{esc(text)}{extra}</td>'


def service_card(service_id: str, state: Mapping[str, Any], model: Mapping[str, Any] | None) -> str:
    """One service's card: its shadow table (console.js adds the forms and re-renders the table)."""
    reported, desired = state.get("reported", {}), state.get("desired", {})
    delta = state.get("delta", {})
    props = list((model or {}).get("properties", []))
    names = [p["name"] for p in props]
    names += [n for n in [*reported, *desired] if n not in names]
    units = {p["name"]: p.get("unit") for p in props}
    labels = _labels(props)
    rows = []
    for name in names:
        unit = f' <span class="unit">{esc(units[name])}</span>' if units.get(name) else ""
        rows.append(
            f'<tr data-property="{esc(name)}"><th scope="row" class="mono">{esc(name)}{unit}</th>'
            + "".join(
                _cell(k, v, name, labels.get(name, {}))
                for k, v in (("reported", reported), ("desired", desired), ("delta", delta))
            )
            + "</tr>"
        )
    body = "".join(rows) or '<tr class="empty"><td colspan="4">Nothing reported or desired yet.</td></tr>'
    version = state.get("version")
    return _template("service.html").substitute(
        service_id=esc(service_id),
        version="—" if version is None else esc(version),
        rows=body,
    )


class Console:
    """The pages' handlers, around one cloud."""

    def __init__(self, cloud: LocalCloud, key: AppKey | None) -> None:
        self.cloud, self.key = cloud, key

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self._guard(self.home), methods=["GET"]),
            Route("/devices/{device_id}", self._guard(self.device), methods=["GET"]),
            Route("/static/{name}", self._guard(self.static), methods=["GET"]),
        ]

    def _guard(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def endpoint(request: Request) -> Response:
            if basic_auth_problem(request, self.key) is not None:
                return HTMLResponse(
                    "<!doctype html><title>401</title><p>This cloud needs its app key.</p>",
                    status_code=401,
                    headers={**HEADERS, "WWW-Authenticate": 'Basic realm="thingmodel"'},
                )
            return handler(request)

        return endpoint

    def _page(self, title: str, page: str, body: str, status: int = 200, device_id: str = "") -> Response:
        cloud = self.cloud
        model = cloud.model.source if cloud.model is not None else "seen values"
        text = _template("base.html").substitute(
            title=esc(title),
            page=esc(page),
            device_id=esc(device_id),
            vendor=esc(cloud.vendor),
            mqtt_url=esc(cloud.url),
            model=esc(model),
            version=esc(__version__),
            body=body,
        )
        return HTMLResponse(text, status_code=status, headers=HEADERS)

    def home(self, request: Request) -> Response:
        now = time.time()
        summaries = [
            {**s.as_json(), "upgrade": _json_or_none(self.cloud.latest_upgrade(s.device_id))}
            for s in self.cloud.summaries()
        ]
        online = sum(1 for s in summaries if s["online"])
        body = _template("home.html").substitute(
            rows="".join(device_row(s, now) for s in summaries),
            count=len(summaries),
            online=online,
            empty_hidden="hidden" if summaries else "",
            mqtt_url=esc(self.cloud.url),
            mode=esc(self.cloud.mode),
        )
        return self._page("Devices", "home", body)

    def device(self, request: Request) -> Response:
        device_id = request.path_params["device_id"]
        now = time.time()
        try:
            summary = self.cloud.summary(device_id)
        except UnknownDevice as exc:
            body = _template("unknown.html").substitute(device_id=esc(device_id), message=esc(exc))
            return self._page(device_id, "unknown", body, status=404)
        shadows = self.cloud.get_shadow(device_id)
        model = model_json(self.cloud.model, shadows)
        by_id = {s["service_id"]: s for s in model["services"]}
        ids = [*by_id, *(sid for sid in shadows if sid not in by_id)]
        cards = []
        for sid in ids:
            state = dict(shadows.get(sid) or {})
            desired, reported = state.get("desired", {}), state.get("reported", {})
            state["delta"] = {k: v for k, v in desired.items() if reported.get(k, object()) != v}
            cards.append(service_card(sid, state, by_id.get(sid)))
        address = summary.address
        upgrades = [u.as_json() for u in reversed(self.cloud.upgrades(device_id))]
        body = _template("device.html").substitute(
            device_id=esc(device_id),
            state=_state(summary.online),
            last_seen=_time(summary.last_seen, now),
            connected_at=_time(summary.connected_at, now),
            address=esc(address) if address else _NOTHING,
            fw_version=esc(summary.fw_version) if summary.fw_version else _NOTHING,
            sw_version=esc(summary.sw_version) if summary.sw_version else _NOTHING,
            upgrade_rows="".join(upgrade_row(u, now) for u in upgrades),
            upgrades_hidden="hidden" if upgrades else "",
            services="".join(cards)
            or '<p class="empty-note">No services yet: the device has reported nothing.</p>',
            service_template=service_card("", {}, None),
        )
        return self._page(device_id, "device", body, device_id=device_id)

    def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        found = _files().joinpath(name)
        if not _STATIC_NAME.fullmatch(name) or not found.is_file():
            return Response("not found\n", status_code=404, media_type="text/plain", headers=HEADERS)
        suffix = name[name.rindex(".") :]
        return Response(found.read_bytes(), media_type=STATIC_TYPES[suffix], headers=HEADERS)


def _json_or_none(value: Any) -> Any:
    return None if value is None else value.as_json()


def routes(cloud: LocalCloud, key: AppKey | None) -> list[BaseRoute]:
    """The console's routes: ``GET /``, ``GET /devices/{device_id}`` and ``GET /static/{name}``."""
    return Console(cloud, key).routes()
