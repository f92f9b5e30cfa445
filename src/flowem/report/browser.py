"""Open a page in headless Chromium and check it: every image loaded, no console errors, the
elements that must be on the first screen inside the viewport, every ``<details>`` opening
onto content, and screenshots of the first screen and of the whole page. Chromium is driven
through the DevTools protocol over a pipe (``--remote-debugging-pipe``: JSON messages
separated by NUL bytes on file descriptors 3 and 4), so only the standard library is needed.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowem.errors import FlowemError
from flowem.io import atomic_path

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1280,900",
)
MAX_SCREENSHOT_PX = 16000
_IMAGES_JS = """
Promise.all(Array.from(document.images).map(i => i.decode().catch(() => null))).then(() =>
  Array.from(document.images).map(i => ({src: (i.getAttribute('src') || '').slice(0, 80),
                                          naturalWidth: i.naturalWidth})))
"""

_FIRST_SCREEN_JS = """
JSON.parse(%s).map(id => {
  const e = document.getElementById(id);
  if (!e) return {id: id, found: false, within: false};
  const r = e.getBoundingClientRect();
  return {id: id, found: true, top: r.top, bottom: r.bottom, right: r.right,
          within: r.height > 0 && r.top >= 0 && r.bottom <= innerHeight && r.right <= innerWidth};
})
"""
# open every <details> (document order: outer before inner); its box must grow when it opens
_DETAILS_JS = """
Array.from(document.querySelectorAll('details')).map((d, i) => {
  const closed = d.open ? null : d.getBoundingClientRect().height;
  d.open = true;
  return {index: i, id: d.id || '', closed_height: closed,
          open_height: d.getBoundingClientRect().height};
})
"""


class BrowserError(FlowemError):
    """Chromium is missing, failed to start, or did not answer in time."""


@dataclass
class PageCheck:
    """What the browser saw: each image's ``naturalWidth`` and every console error."""

    url: str
    images: list[dict[str, Any]] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    screenshot: Path | None = None
    first_screen: list[dict[str, Any]] = field(default_factory=list)
    first_screen_shot: Path | None = None
    details: list[dict[str, Any]] = field(default_factory=list)

    @property
    def broken_images(self) -> list[dict[str, Any]]:
        return [i for i in self.images if not i.get("naturalWidth")]

    @property
    def off_first_screen(self) -> list[str]:
        return [e["id"] for e in self.first_screen if not e.get("within")]

    @property
    def folded_shut(self) -> list[dict[str, Any]]:
        """``<details>`` that show nothing more when opened."""
        return [d for d in self.details if not d["open_height"] > (d["closed_height"] or 0) + 1]

    @property
    def ok(self) -> bool:
        return not (
            self.broken_images or self.console_errors or self.off_first_screen or self.folded_shut
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "ok": self.ok,
            "images": len(self.images),
            "broken_images": self.broken_images,
            "console_errors": self.console_errors,
            "screenshot": self.screenshot,
            "first_screen": self.first_screen,
            "off_first_screen": self.off_first_screen,
            "first_screen_shot": self.first_screen_shot,
            "details": len(self.details),
            "folded_shut": self.folded_shut,
        }


def find_chromium() -> str | None:
    for candidate in CHROMIUM_CANDIDATES:
        path = shutil.which(candidate)
        if path:
            return path
    return None


class _DevTools:
    """A DevTools protocol connection over Chromium's debugging pipe."""

    def __init__(self, chromium: str, user_data_dir: Path, deadline: float) -> None:
        self.deadline = deadline
        to_browser_r, self._out = os.pipe()
        self._in, from_browser_w = os.pipe()
        # the child's ends go above 4 first, so placing them on fds 3 and 4 clobbers nothing
        child_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD_CLOEXEC, 10)
        child_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_browser_r)
        os.close(from_browser_w)

        def place_pipe_fds() -> None:  # runs in the child between fork and exec
            os.dup2(child_r, 3)
            os.dup2(child_w, 4)

        self._stderr = open(user_data_dir / "chromium.log", "wb")
        try:
            self.proc = subprocess.Popen(
                [chromium, *FLAGS, f"--user-data-dir={user_data_dir}", "--remote-debugging-pipe"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
                close_fds=False,
                preexec_fn=place_pipe_fds,  # only dup2 between fork and exec
            )
        finally:
            os.close(child_r)
            os.close(child_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def _receive(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = self.deadline - time.monotonic()
            if left <= 0 or not select.select([self._in], [], [], left)[0]:
                raise BrowserError("Chromium did not answer in time")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise BrowserError("Chromium closed the debugging pipe (did it start?)")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._receive()
            if reply.get("id") != self._next_id:
                self.events.append(reply)
            elif "error" in reply:
                raise BrowserError(f"{method}: {reply['error'].get('message', reply['error'])}")
            else:
                return reply.get("result", {})

    def wait_event(self, method: str) -> dict[str, Any]:
        while True:
            for event in self.events:
                if event.get("method") == method:
                    return event
            self.events.append(self._receive())

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                os.write(
                    self._out, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0"
                )
                self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        finally:
            os.close(self._in)
            os.close(self._out)
            self._stderr.close()


def _errors(events: list[dict[str, Any]]) -> list[str]:
    """Console errors, uncaught exceptions and browser log errors (failed loads, CSP)."""
    errors = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            exc = details.get("exception", {})
            errors.append(f"exception: {exc.get('description') or details.get('text')}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in {"error", "assert"}:
            args = [str(a.get("value", a.get("description", ""))) for a in params.get("args", [])]
            errors.append(f"console.{params['type']}: {' '.join(args)}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            errors.append(
                f"{entry.get('source', 'log')}: {entry.get('text')} {entry.get('url', '')}"
            )
    return errors


def check_page(
    page: str | Path,
    screenshot: str | Path | None = None,
    chromium: str | None = None,
    timeout_s: float = 20.0,
    *,
    viewport: tuple[int, int] = (1280, 900),
    first_screen: str | Path | None = None,
    first_screen_ids: tuple[str, ...] = (),
) -> PageCheck:
    """Load ``page`` (a local HTML file) in headless Chromium at ``viewport`` (CSS px, width
    and height); report images, errors, whether the elements ``first_screen_ids`` lie inside
    the first screen, and whether every ``<details>`` shows content once opened.

    With ``screenshot`` the full page, with ``first_screen`` the first screen, is saved there
    as PNG (atomically). Raises :class:`BrowserError` if Chromium is absent, fails or exceeds
    ``timeout_s``.
    """
    chromium = chromium or find_chromium()
    if chromium is None:
        raise BrowserError(
            "Chromium is not installed (looked for " + ", ".join(CHROMIUM_CANDIDATES) + ")"
        )
    url = Path(page).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="flowem-chromium-") as profile:
        tools = _DevTools(chromium, Path(profile), time.monotonic() + timeout_s)
        try:
            target = tools.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = tools.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
                "sessionId"
            ]
            for domain in ("Runtime", "Log", "Page"):
                tools.call(f"{domain}.enable", session=session)
            width, height = viewport
            tools.call(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                session,
            )
            navigation = tools.call("Page.navigate", {"url": url}, session)
            if navigation.get("errorText"):
                raise BrowserError(f"{url}: {navigation['errorText']}")
            tools.wait_event("Page.loadEventFired")
            result = tools.call(
                "Runtime.evaluate",
                {"expression": _IMAGES_JS, "awaitPromise": True, "returnByValue": True},
                session,
            )
            check = PageCheck(url, images=result.get("result", {}).get("value") or [])
            if first_screen_ids:
                check.first_screen = _evaluate(
                    tools, session, _FIRST_SCREEN_JS % json.dumps(json.dumps(first_screen_ids))
                )
            if first_screen is not None:
                clip = {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}
                check.first_screen_shot = _save_png(
                    tools.call("Page.captureScreenshot", {"format": "png", "clip": clip}, session),
                    Path(first_screen),
                )
            if screenshot is not None:
                check.screenshot = _screenshot(tools, session, Path(screenshot))
            check.details = _evaluate(tools, session, _DETAILS_JS)
            check.console_errors = _errors(
                [e for e in tools.events if e.get("sessionId") == session]
            )
        finally:
            tools.close()
    return check


def _screenshot(tools: _DevTools, session: str, path: Path) -> Path:
    size = tools.call("Page.getLayoutMetrics", session=session)["cssContentSize"]
    clip = {
        "x": 0,
        "y": 0,
        "width": max(1, int(size["width"])),
        "height": max(1, min(int(size["height"]), MAX_SCREENSHOT_PX)),
        "scale": 1,
    }
    shot = tools.call(
        "Page.captureScreenshot",
        {"format": "png", "captureBeyondViewport": True, "clip": clip},
        session,
    )
    return _save_png(shot, path)


def _save_png(shot: dict, path: Path) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(base64.b64decode(shot["data"]))
    return path


def _evaluate(tools: _DevTools, session: str, expression: str) -> list[dict[str, Any]]:
    result = tools.call(
        "Runtime.evaluate", {"expression": expression, "returnByValue": True}, session
    )
    if "exceptionDetails" in result:
        raise BrowserError(f"page script failed: {result['exceptionDetails'].get('text')}")
    return result.get("result", {}).get("value") or []
