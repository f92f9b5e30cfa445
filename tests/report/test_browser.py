"""The report page opened in headless Chromium: every image loaded, no console errors, and a
screenshot kept beside it. Chromium is installed by install_chromium.sh when missing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from flowem.report.browser import check_page
from flowem.report.build import main

INSTALL = Path(__file__).with_name("install_chromium.sh")
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def chromium() -> str:
    if not CHROMIUM.exists():
        try:
            done = subprocess.run(["sh", str(INSTALL)], capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as exc:
            pytest.skip(f"could not install chromium: {exc}")
        if done.returncode != 0 or not CHROMIUM.exists():
            pytest.skip(f"could not install chromium: {done.stderr.strip()[-300:]}")
    return str(CHROMIUM)


def test_report_page_loads_every_image_without_console_errors(tree, chromium):
    argv = ["--results", str(tree["results"]), "--out", str(tree["page"])]
    argv += ["--resources", str(tree["resources"]), "--params", '{"check_page": true}']
    assert main(argv) == 0
    check = json.loads((tree["page"].parent / "page_check.json").read_text())
    assert check["ok"] and check["images"] == 4
    assert check["broken_images"] == [] and check["console_errors"] == []
    screenshot = tree["page"].parent / "screenshot.png"
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    width = int.from_bytes(screenshot.read_bytes()[16:20], "big")
    height = int.from_bytes(screenshot.read_bytes()[20:24], "big")
    assert width >= 800 and height > 900  # the whole page, not just the first screen


def test_the_check_sees_broken_images_and_errors(tmp_path, chromium):
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">'
        '</head><body><img src="missing.png"><script>console.error("boom");</script>'
        "</body></html>"
    )
    check = check_page(page, chromium=chromium)
    assert not check.ok
    assert [i["src"] for i in check.broken_images] == ["missing.png"]
    assert any("boom" in e for e in check.console_errors)
    assert any("missing.png" in e for e in check.console_errors)
