"""The local cloud's web console in a real headless Chromium, against a live cloud and device.

A ``LocalCloud`` (Huawei dialect, embedded broker, an app key and a product model) serves the
console; a thingmodel ``Device`` with a thermostat service is connected over MQTT; the browser
drives the pages as a person would, and each test checks both what the page shows and what the
device itself got. Every test also checks that the page logged no error.

``THINGMODEL_SCREENSHOT=PATH pytest tests/cloud/http/test_console_browser.py -k screenshot``
saves a screenshot of a device page with data (docs/console.png is made this way).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import attrs
import pytest

from thingmodel import InvalidValue, Property, Service, command
from thingmodel.cloud import LocalCloud
from thingmodel.device import Device
from thingmodel.model.product import ProductModel

pytestmark = pytest.mark.broker

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright for Python is not installed (pip install playwright)"
)
pytest.importorskip("starlette", reason="the console needs the local extra's Starlette")
pytest.importorskip("uvicorn", reason="the console needs the local extra's uvicorn")

CHROMIUM = os.environ.get("THINGMODEL_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
KEY_ID, KEY_SECRET = "console-test", "s3cret-for-the-console"

# A thermostat, as a Tencent data template (the model the console's forms follow): a boolean, an
# enum with labels, a bounded integer, a string, a read-only decimal and one command.
TEMPLATE: dict[str, Any] = {
    "version": "1.0",
    "properties": [
        {"id": "power", "name": "Power", "desc": "Heating on or off", "mode": "rw",
         "define": {"type": "bool", "mapping": {"0": "off", "1": "on"}}},
        {"id": "mode", "name": "Mode", "desc": "Operating mode", "mode": "rw",
         "define": {"type": "enum", "mapping": {"0": "Eco", "1": "Comfort", "2": "Boost"}}},
        {"id": "target", "name": "Target", "desc": "Set point", "mode": "rw",
         "define": {"type": "int", "unit": "°C", "min": "5", "max": "30", "step": "1", "start": "20"}},
        {"id": "label", "name": "Label", "desc": "Where it hangs", "mode": "rw",
         "define": {"type": "string", "min": "0", "max": "32"}},
        {"id": "temperature", "name": "Temperature", "desc": "Measured", "mode": "r",
         "define": {"type": "float", "unit": "°C", "min": "-20", "max": "60", "step": "0.1"}},
    ],
    "actions": [
        {"id": "boost", "name": "Boost", "desc": "Heat at full power for a while",
         "input": [{"id": "minutes", "name": "Minutes", "define": {"type": "int", "min": "1", "max": "120"}}],
         "output": [{"id": "until", "name": "Until",
                     "define": {"type": "int", "min": "0", "max": "2147483647"}}]},
    ],
}  # fmt: skip


class Thermostat(Service):
    """The device side of TEMPLATE; its setter refuses a target above 26 °C unless in Boost."""

    service_id = "thermostat"
    power = Property(bool, writeable=True, default=False)
    mode = Property(int, writeable=True, enum=[0, 1, 2], default=1)
    target = Property(int, writeable=True, minimum=5, maximum=30, default=20)
    label = Property(str, writeable=True, max_length=32, default="hall")
    temperature = Property(float, default=19.5)

    def __init__(self) -> None:
        self.targets: list[int] = []
        self.boosts: list[int] = []

    def set_target(self, value: int) -> None:
        if value > 26 and self.mode != 2:
            raise InvalidValue(f"{value} °C is above 26 °C: set mode Boost first")
        self.targets.append(value)

    @command("boost")
    def boost(self, minutes: int = 30) -> dict[str, int]:
        self.boosts.append(minutes)
        return {"until": 1_700_000_000 + 60 * minutes}


@attrs.define
class Tab:
    """A browser page and the errors it logged (console errors and uncaught exceptions)."""

    page: Any
    errors: list[str] = attrs.Factory(list)

    def assert_clean(self, allowed: tuple[str, ...] = ()) -> None:
        unexpected = [e for e in self.errors if not any(a in e for a in allowed)]
        assert unexpected == [], f"the page logged errors: {unexpected}"

    def mark(self) -> None:
        """Tag the page's window: :meth:`same_page` is then true until a reload."""
        self.page.evaluate("window.__notReloaded = true")

    def same_page(self) -> bool:
        return bool(self.page.evaluate("window.__notReloaded === true"))


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    from thingmodel.cloud.http.server import AppKey

    model = ProductModel.from_json(TEMPLATE, source="thermostat.json", fallback_id="thermostat")
    local = LocalCloud(vendor="huawei", port=0, http_port=0, app_key=AppKey(KEY_ID, KEY_SECRET), model=model)
    local.start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="module")
def bare_cloud() -> Iterator[LocalCloud]:
    """A cloud with neither app key nor model: the forms follow the values seen."""
    local = LocalCloud(vendor="huawei", port=0, http_port=0)
    local.start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set THINGMODEL_CHROMIUM)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def tab(browser: Any, cloud: LocalCloud) -> Iterator[Tab]:
    context = browser.new_context(
        base_url=cloud.http_url,
        http_credentials={"username": KEY_ID, "password": KEY_SECRET},
        viewport={"width": 1360, "height": 900},
    )
    context.set_default_timeout(5000)
    page = context.new_page()
    found = Tab(page)
    page.on("console", lambda m: found.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: found.errors.append(f"uncaught: {exc}"))
    try:
        yield found
    finally:
        context.close()  # closes its event streams before the cloud stops


@contextmanager
def thermostat(cloud: LocalCloud, device_id: str) -> Iterator[tuple[Thermostat, Device]]:
    service = Thermostat()
    device = Device([service], device_id=device_id, broker=cloud.url)
    device.connect()
    device.report()
    try:
        yield service, device
    finally:
        device.disconnect()


def _events(*services: dict[str, Any]) -> bytes:
    return json.dumps({"services": list(services)}).encode()


def publish(cloud: LocalCloud, device_id: str, *messages: tuple[str, bytes]) -> None:
    """Publish on the device's IoTDA topics (``sys/`` + each topic) as another MQTT client would:
    the device core has no message or event API of its own yet."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{device_id}-publisher")
    client.connect(cloud.host, cloud.port)
    client.loop_start()
    try:
        for topic, payload in messages:
            client.publish(f"$oc/devices/{device_id}/sys/{topic}", payload, qos=1).wait_for_publish(5)
    finally:
        client.loop_stop()
        client.disconnect()


def open_device(tab: Tab, device_id: str) -> Any:
    page = tab.page
    page.goto(f"/devices/{device_id}")
    page.wait_for_selector("body[data-ready=true]")
    sync_api.expect(page.locator("#live")).to_have_class("live is-live")
    return page


def http_get(url: str, auth: tuple[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url)
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_the_pages_and_static_files_ask_for_the_app_key(cloud: LocalCloud) -> None:
    base = cloud.http_url
    assert base is not None
    for path in ("/", "/devices/anything", "/static/console.js", "/thingmodel/v1/devices"):
        for auth in (None, (KEY_ID, "wrong"), ("someone-else", KEY_SECRET)):
            status, headers, _ = http_get(base + path, auth)
            assert status == 401, (path, auth)
            assert headers["www-authenticate"] == 'Basic realm="thingmodel"', path
    status, headers, body = http_get(base + "/", (KEY_ID, KEY_SECRET))
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in headers["content-security-policy"]
    status, headers, body = http_get(base + "/static/console.js", (KEY_ID, KEY_SECRET))
    assert status == 200 and headers["content-type"].startswith("text/javascript")
    assert b"EventSource" in body
    for bad in ("/static/..%2Fconsole.py", "/static/nothing.js", "/static/base.html"):
        assert http_get(base + bad, (KEY_ID, KEY_SECRET))[0] == 404, bad
    # an unknown device: 404, and the id it was asked for comes back escaped
    status, _, body = http_get(base + "/devices/%3Cb%3E%22x%26", (KEY_ID, KEY_SECRET))
    assert status == 404
    assert b"&lt;b&gt;&quot;x&amp;" in body and b'<b>"x' not in body


def test_a_device_is_listed_within_2_s_of_connecting_and_goes_offline_live(
    cloud: LocalCloud, tab: Tab
) -> None:
    page = tab.page
    page.goto("/")
    sync_api.expect(page.locator("#live")).to_have_class("live is-live")  # the stream is open
    tab.mark()
    row = page.locator('#devices tr[data-device-id="home-1"]')
    assert row.count() == 0
    started = time.monotonic()
    with thermostat(cloud, "home-1"):
        connected = time.monotonic()
        page.wait_for_selector('#devices tr[data-device-id="home-1"] .state.online', timeout=2000)
        listed = time.monotonic()
        print(
            f"listed {listed - started:.3f} s after connect() began, "
            f"{listed - connected:.3f} s after it returned"
        )
        assert listed - started < 2.0
        sync_api.expect(row.locator(".last-seen")).to_have_text("just now")
        sync_api.expect(row.get_by_role("link", name="home-1")).to_have_attribute("href", "/devices/home-1")
    sync_api.expect(row.locator(".state")).to_have_text("offline")
    assert tab.same_page()
    tab.assert_clean()


def test_desired_values_set_in_the_form_reach_the_device_and_a_refusal_shows_its_reason(
    cloud: LocalCloud, tab: Tab
) -> None:
    with thermostat(cloud, "thermo-desire") as (service, _):
        page = open_device(tab, "thermo-desire")
        tab.mark()
        form = page.locator('form.desired-form[data-service-id="thermostat"]')
        outcome = form.locator(".outcome")
        reported = page.locator(
            '.service[data-service-id="thermostat"] tr[data-property="target"] td.reported'
        )
        sync_api.expect(reported).to_have_text("20")
        # the form is typed from the model
        assert form.get_by_label("target").get_attribute("type") == "number"
        assert form.get_by_label("target").get_attribute("max") == "30"
        assert form.get_by_label("power").get_attribute("type") == "checkbox"
        assert form.get_by_label("mode").locator("option").all_inner_texts() == [
            "Eco (0)",
            "Comfort (1)",
            "Boost (2)",
        ]
        assert form.get_by_label("temperature").count() == 0  # read-only: no field

        form.get_by_label("target").fill("22")
        form.get_by_label("power").check()
        form.get_by_label("mode").select_option(label="Eco (0)")
        form.get_by_role("button", name="Set desired").click()
        sync_api.expect(outcome).to_contain_text("Applied")
        assert service.targets == [22]  # the device's setter got it
        assert (service.power, service.mode) == (True, 0)
        sync_api.expect(reported).to_have_text("22")  # the device's report, without a reload
        row = page.locator('.service[data-service-id="thermostat"] tr[data-property="mode"]')
        sync_api.expect(row.locator("td.reported")).to_have_text("0 Eco")
        sync_api.expect(
            page.locator('.service[data-service-id="thermostat"] tr[data-property="power"] td.reported')
        ).to_have_text("true")
        version = int(page.locator(".service .version-number").inner_text())
        assert version == cloud.get_shadow("thermo-desire")["thermostat"]["version"]

        form.get_by_label("target").fill("28")
        form.get_by_role("button", name="Set desired").click()
        sync_api.expect(outcome).to_contain_text("Refused by the device")
        sync_api.expect(outcome).to_contain_text("28 °C is above 26 °C: set mode Boost first")
        sync_api.expect(form.get_by_label("target")).to_have_attribute("aria-invalid", "true")
        assert service.targets == [22]
        sync_api.expect(reported).to_have_text("22")
        assert tab.same_page()
    tab.assert_clean()


def test_a_command_sent_from_its_form_runs_on_the_device_and_its_answer_is_shown(
    cloud: LocalCloud, tab: Tab
) -> None:
    with thermostat(cloud, "thermo-command") as (service, device):
        page = open_device(tab, "thermo-command")
        form = page.locator('form.command-form[data-command="boost"]')
        outcome = form.locator(".outcome")
        assert form.get_by_label("minutes").get_attribute("min") == "1"
        form.get_by_label("minutes").fill("15")
        form.get_by_role("button", name="Send boost").click()
        sync_api.expect(outcome).to_contain_text("code 0")
        assert json.loads(outcome.locator("pre").inner_text()) == {"until": 1_700_000_900}
        assert service.boosts == [15]
        tab.assert_clean()

        device.disconnect()
        sync_api.expect(page.locator("#device-state .state")).to_have_text("offline")
        form.get_by_role("button", name="Send boost").click()
        sync_api.expect(outcome).to_contain_text("DeviceOffline")
        sync_api.expect(outcome).to_contain_text("is offline")
        assert service.boosts == [15]
    # Chromium itself logs each HTTP error status it fetches; the 409 is the answer shown above
    tab.assert_clean(allowed=("the server responded with a status of 409",))


def test_the_trace_shows_uplinks_and_downlinks_live_and_filter_and_pause_work(
    cloud: LocalCloud, tab: Tab
) -> None:
    with thermostat(cloud, "thermo-trace") as (service, device):
        page = open_device(tab, "thermo-trace")
        rows = page.locator("#trace-rows tr")
        assert cloud.set_desired("thermo-trace", "thermostat", {"target": 21}).ok
        down = page.locator("#trace-rows tr.k-down", has_text="/sys/properties/set/request_id=")
        sync_api.expect(down).to_have_count(1)
        assert down.locator(".t-dir").inner_text().startswith("↓")
        sync_api.expect(down.locator(".t-payload")).to_contain_text('"target":21')
        up = page.locator("#trace-rows tr.k-up", has_text="/sys/properties/set/response/")
        sync_api.expect(up).to_have_count(1)
        assert up.locator(".t-dir").inner_text().startswith("↑")
        report = page.locator(
            "#trace-rows tr.k-up", has_text="$oc/devices/thermo-trace/sys/properties/report"
        )
        sync_api.expect(report.first).to_be_visible()

        # filter
        search = page.get_by_label("Filter the trace")
        search.fill("properties/set/response")
        sync_api.expect(page.locator("#trace-rows tr:visible")).to_have_count(1)
        sync_api.expect(page.locator("#trace-count")).to_contain_text("1 of")
        search.fill("no-such-topic")
        sync_api.expect(page.locator("#trace-rows tr:visible")).to_have_count(0)
        sync_api.expect(page.locator("#trace-empty")).to_have_text("No message matches the filter.")
        search.fill("")
        total = rows.count()
        sync_api.expect(page.locator("#trace-rows tr:visible")).to_have_count(total)

        # pause: new entries are held and counted, and shown on resume
        pause = page.get_by_role("button", name="Pause")
        pause.click()
        sync_api.expect(page.locator("#trace-pause")).to_have_attribute("aria-pressed", "true")
        service.temperature = 31.5
        device.report()
        sync_api.expect(page.locator("#trace-pause")).to_have_text("Resume (1 new)")
        assert page.locator("#trace-rows tr", has_text="31.5").count() == 0
        assert rows.count() == total
        page.locator("#trace-pause").click()
        sync_api.expect(page.locator("#trace-rows tr", has_text="31.5")).to_have_count(1)
        assert rows.first.inner_text().count("31.5") == 1  # newest first
        sync_api.expect(page.locator("#trace-pause")).to_have_text("Pause")

        # bounded: the last 500 rows stay
        for n in range(520):
            cloud.feed.add("up", "thermo-trace", "$oc/devices/thermo-trace/sys/messages/up", b"n=%d" % n)
        sync_api.expect(rows.first).to_contain_text("n=519")
        sync_api.expect(rows).to_have_count(500)
    tab.assert_clean()


def test_the_devices_messages_events_and_logs_are_shown_as_they_come(cloud: LocalCloud, tab: Tab) -> None:
    with thermostat(cloud, "thermo-activity"):
        page = open_device(tab, "thermo-activity")
        sync_api.expect(page.locator("#count-messages")).to_have_text("0")
        publish(
            cloud,
            "thermo-activity",
            ("messages/up", b"<b>hello</b> from the field"),
            (
                "events/up",
                _events({"service_id": "thermostat", "event_type": "overheat", "paras": {"celsius": 71}}),
            ),
            (
                "events/up",
                _events({"service_id": "$log", "event_type": "log_report", "paras": {"content": "boot ok"}}),
            ),
        )
        messages = page.locator("#activity-messages")
        sync_api.expect(messages).to_contain_text("<b>hello</b> from the field")  # as text, not HTML
        assert messages.locator("b").count() == 0
        sync_api.expect(page.locator("#count-messages")).to_have_text("1")
        sync_api.expect(page.locator("#activity-events")).to_contain_text("thermostat · overheat")
        sync_api.expect(page.locator("#activity-events")).to_contain_text('{"celsius":71}')
        sync_api.expect(page.locator("#activity-logs")).to_contain_text("boot ok")
    tab.assert_clean()


def test_an_error_the_api_answers_is_shown_in_the_page(cloud: LocalCloud, tab: Tab) -> None:
    with thermostat(cloud, "thermo-error") as (service, _):
        page = open_device(tab, "thermo-error")
        form = page.locator("form.desired-form")
        form.get_by_label("target").fill("")  # cleared: the cloud cannot read it as an integer
        form.get_by_role("button", name="Set desired").click()
        outcome = form.locator(".outcome")
        sync_api.expect(outcome).to_contain_text("Not sent. InvalidValue: target:")
        sync_api.expect(outcome).to_contain_text("is not an integer")
        sync_api.expect(form.get_by_label("target")).to_have_attribute("aria-invalid", "true")
        assert service.targets == []
    tab.assert_clean(allowed=("the server responded with a status of 400",))


def test_without_a_model_the_forms_follow_the_values_seen_and_any_command_can_be_sent(
    bare_cloud: LocalCloud, browser: Any
) -> None:
    context = browser.new_context(base_url=bare_cloud.http_url)
    context.set_default_timeout(5000)
    tab = Tab(context.new_page())
    tab.page.on("console", lambda m: tab.errors.append(m.text) if m.type == "error" else None)
    tab.page.on("pageerror", lambda exc: tab.errors.append(f"uncaught: {exc}"))
    try:
        # a device page opened before the device ever connected comes alive when it does
        response = tab.page.goto("/devices/bare-1")
        assert response is not None and response.status == 404
        sync_api.expect(tab.page.locator("h1")).to_have_text("Unknown device")
        sync_api.expect(tab.page.locator("#live")).to_have_class("live is-live")
        with thermostat(bare_cloud, "bare-1") as (service, _):
            page = tab.page
            page.wait_for_selector("body[data-ready=true]")
            form = page.locator('form.desired-form[data-service-id="thermostat"]')
            assert form.get_by_label("target").get_attribute("type") == "number"
            assert form.get_by_label("power").get_attribute("type") == "checkbox"
            assert form.get_by_label("label").get_attribute("type") == "text"
            form.get_by_label("target").fill("24")
            form.get_by_role("button", name="Set desired").click()
            sync_api.expect(form.locator(".outcome")).to_contain_text("Applied")
            assert service.targets == [24]
            sync_api.expect(page.locator('tr[data-property="target"] td.reported')).to_have_text("24")

            free = page.locator("form.command-form.free")
            free.get_by_label("Name").fill("boost")
            free.get_by_label("Parameters (JSON object)").fill('{"minutes": 5}')
            free.get_by_role("button", name="Send command").click()
            sync_api.expect(free.locator(".outcome")).to_contain_text("code 0")
            assert service.boosts == [5]
            free.get_by_label("Parameters (JSON object)").fill("{not json")
            free.get_by_role("button", name="Send command").click()
            sync_api.expect(free.locator(".outcome")).to_contain_text("The parameters are not JSON")
            assert service.boosts == [5]
        tab.assert_clean(allowed=("the server responded with a status of 404",))  # the first page
    finally:
        context.close()


def save_screenshot(cloud: LocalCloud, tab: Tab, path: str) -> None:
    """A device page with data in every part, saved to ``path``."""
    with thermostat(cloud, "thermostat-livingroom") as (service, device):
        page = open_device(tab, "thermostat-livingroom")
        form = page.locator("form.desired-form")
        form.get_by_label("target").fill("22")
        form.get_by_label("label").fill("living room")
        form.get_by_role("button", name="Set desired").click()
        sync_api.expect(form.locator(".outcome")).to_contain_text("Applied")
        service.temperature = 21.4
        device.report()
        command_form = page.locator('form.command-form[data-command="boost"]')
        command_form.get_by_label("minutes").fill("20")
        command_form.get_by_role("button", name="Send boost").click()
        sync_api.expect(command_form.locator(".outcome")).to_contain_text("code 0")
        form.get_by_label("target").fill("28")
        form.get_by_role("button", name="Set desired").click()
        sync_api.expect(form.locator(".outcome")).to_contain_text("Refused")
        window = {"service_id": "thermostat", "event_type": "window_open", "paras": {"room": 3}}
        log = {"service_id": "$log", "event_type": "log_report", "paras": {"content": "heating started"}}
        publish(
            cloud,
            "thermostat-livingroom",
            ("messages/up", b'{"firmware": "2.4.1", "boot": "ok"}'),
            ("events/up", _events(window)),
            ("events/up", _events(log)),
        )
        sync_api.expect(page.locator("#count-logs")).to_have_text("1")
        page.locator("#trace-rows tr").first.click()  # one row opened in full
        page.wait_for_timeout(300)
        page.screenshot(path=path, full_page=True)
    tab.assert_clean()


@pytest.mark.skipif(not os.environ.get("THINGMODEL_SCREENSHOT"), reason="set THINGMODEL_SCREENSHOT=PATH")
def test_screenshot(cloud: LocalCloud, tab: Tab) -> None:
    save_screenshot(cloud, tab, os.environ["THINGMODEL_SCREENSHOT"])
