"""The console's versions and upgrades in headless Chromium: an upgrade appears, moves and ends on
the device page without a reload, the home page's row follows, and the page logs no error. The
device is played by hand over MQTT (tests/cloud/wire.py), in IoTDA's ``$ota`` payloads."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from thingmodel.cloud import LocalCloud

from ..wire import WireDevice, huawei_event

pytestmark = pytest.mark.broker

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright for Python is not installed (pip install playwright)"
)

CHROMIUM = os.environ.get("THINGMODEL_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-quic",
]
expect = sync_api.expect
DEVICE = "console-ota-1"
UP = f"$oc/devices/{DEVICE}/sys/events/up"


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(vendor="huawei", port=0, http_port=0) as local:
        yield local


@pytest.fixture
def page(cloud: LocalCloud) -> Iterator[tuple[Any, list[str]]]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set THINGMODEL_CHROMIUM)")
    errors: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = browser.new_context(base_url=cloud.http_url)
            context.set_default_timeout(5000)
            tab = context.new_page()
            tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            tab.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
            yield tab, errors
            context.close()
        finally:
            browser.close()


def progress(wire: WireDevice, **paras: Any) -> None:
    wire.publish(UP, huawei_event("$ota", "upgrade_progress_report", paras))


def test_an_upgrade_moves_and_ends_on_the_open_device_page_and_the_versions_follow(
    cloud: LocalCloud, page: tuple[Any, list[str]]
) -> None:
    tab, errors = page
    wire = WireDevice(cloud, DEVICE, f"$oc/devices/{DEVICE}/sys/events/down")
    try:
        wire.publish(UP, huawei_event("$ota", "version_report", {"fw_version": "1.0", "sw_version": "app-7"}))
        tab.goto(f"/devices/{DEVICE}")
        tab.wait_for_selector("body[data-ready=true]")
        expect(tab.locator("#live")).to_have_class("live is-live")
        expect(tab.locator("#fw-version")).to_have_text("1.0")
        expect(tab.locator("#sw-version")).to_have_text("app-7")
        expect(tab.locator("#no-upgrades")).to_be_visible()
        tab.evaluate("window.__notReloaded = true")

        upgrade = cloud.upgrade(DEVICE, b"FW" + b"\x00" * 5000, version="2.0")
        row = tab.locator(f'#upgrade-rows tr[data-task-id="{upgrade.task_id}"]')
        expect(row).to_have_attribute("data-state", "pending")
        expect(tab.locator("#no-upgrades")).to_be_hidden()
        progress(wire, result_code=0, progress=45, version="2.0")
        expect(row).to_have_attribute("data-state", "downloading")
        expect(row.locator(".percent")).to_have_text("45%")
        expect(row.locator("progress")).to_have_attribute("value", "45")
        progress(wire, result_code=0, progress=100, version="2.0")
        expect(row).to_have_attribute("data-state", "succeeded")
        expect(tab.locator("#fw-version")).to_have_text("2.0")

        failed = cloud.upgrade(DEVICE, b"FW3", version="3.0")
        progress(wire, result_code=10, version="2.0", description="flash <write> failed")
        second = tab.locator(f'#upgrade-rows tr[data-task-id="{failed.task_id}"]')
        expect(second).to_have_attribute("data-state", "failed")
        expect(second.locator(".ustate")).to_have_text("failed (install)")
        expect(second.locator(".reason")).to_have_text("flash <write> failed")  # text, not markup
        assert tab.locator("#upgrade-rows tr").first.get_attribute("data-task-id") == failed.task_id
        assert tab.evaluate("window.__notReloaded === true")

        tab.goto("/")
        home = tab.locator(f'#devices tr[data-device-id="{DEVICE}"]')
        expect(home.locator("td.versions")).to_have_text("fw 2.0 · sw app-7")
        expect(home.locator("td.upgrade")).to_have_text("to 3.0: failed (install)")
        fourth = cloud.upgrade(DEVICE, b"FW4", version="4.0")
        expect(home.locator("td.upgrade")).to_have_text("to 4.0: pending")
        cloud.cancel_upgrade(fourth.task_id)
        expect(home.locator("td.upgrade")).to_have_text("to 4.0: failed (cancelled)")
    finally:
        wire.close()
    assert errors == []
