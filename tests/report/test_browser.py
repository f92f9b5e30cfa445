"""The report page opened in headless Chromium: every image loaded, no console errors, the
FlowDPS answer on the first 1400 x 900 screen, every folded section opening, and screenshots of
the first screen and the whole page kept beside it. Chromium is installed by
install_chromium.sh when missing."""

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


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_report_page_loads_every_image_without_console_errors(tree, chromium):
    argv = ["--results", str(tree["results"]), "--out", str(tree["page"])]
    argv += ["--resources", str(tree["resources"]), "--params", '{"check_page": true}']
    assert main(argv) == 0
    check = json.loads((tree["page"].parent / "page_check.json").read_text())
    page = tree["page"].read_text()
    assert check["ok"] and check["images"] == page.count("<img ") > 10
    assert check["broken_images"] == [] and check["console_errors"] == []
    # the FlowDPS answer, its table and verdict, is on the first 1400 x 900 screen
    assert [e["id"] for e in check["first_screen"]] == ["flowdps-table", "flowdps-verdict"]
    assert all(e["within"] for e in check["first_screen"]) and check["off_first_screen"] == []
    # every folded <details> opens onto content
    assert check["details"] == page.count("<details") > 5 and check["folded_shut"] == []
    assert png_size(tree["page"].parent / "first_screen.png") == (1400, 900)
    width, height = png_size(tree["page"].parent / "screenshot.png")
    assert width == 1400 and height > 900  # the whole page, not just the first screen


def test_the_check_sees_what_is_off_the_first_screen_and_shut_details(tmp_path, chromium):
    page = tmp_path / "tall.html"
    page.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">'
        '</head><body><p id="top">top</p><div style="height:2000px"></div><p id="low">low</p>'
        "<details><summary>empty</summary></details>"
        "<details><summary>full</summary><p>inside</p></details></body></html>"
    )
    check = check_page(
        page, chromium=chromium, viewport=(1400, 900), first_screen_ids=("top", "low")
    )
    assert check.off_first_screen == ["low"]
    assert [d["index"] for d in check.folded_shut] == [0] and len(check.details) == 2
    assert not check.ok


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
