"""Drive headless Chromium over the DevTools protocol, to check and picture a report.

No Selenium, no WebDriver, no websockets: Chromium's ``--remote-debugging-pipe`` speaks the
DevTools protocol as NUL-separated JSON over file descriptors 3 (commands in) and 4 (replies
out), and this module talks to it with the standard library only. Used by the report's browser
tests and to make the screenshot in the docs::

    python -m memlens.report.browser RUN/report.html shot.png [--width 1280] [--height 2400]
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

#: the flags the issue asks for, plus what keeps a headless run quiet and repeatable
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
    "--hide-scrollbars",
    "--force-color-profile=srgb",
    "--font-render-hinting=none",
)


def chromium_path() -> str | None:
    """The Chromium binary: ``$MEMLENS_CHROMIUM``, else ``chromium`` or ``google-chrome`` on PATH."""
    env = os.environ.get("MEMLENS_CHROMIUM")
    if env:
        return env if Path(env).exists() else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


class BrowserError(RuntimeError):
    """Chromium could not be started or stopped answering."""


class Browser:
    """One headless Chromium process. Use as a context manager; open pages with :meth:`page`."""

    def __init__(self, binary: str | None = None, *, timeout: float = 30.0, extra_flags=()):
        binary = binary or chromium_path()
        if binary is None:
            raise BrowserError(
                "No Chromium found: install the `chromium` package or set MEMLENS_CHROMIUM."
            )
        self.timeout = timeout
        self._profile = tempfile.mkdtemp(prefix="memlens-chromium-")
        to_child_r, self._to_child = os.pipe()  # Chromium reads commands on its fd 3
        self._from_child, from_child_w = os.pipe()  # and writes replies on its fd 4

        def wire_fds():  # runs in the child: put the pipe ends at 3 and 4, inheritable
            a = fcntl.fcntl(to_child_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_child_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        args = [
            binary,
            *FLAGS,
            *extra_flags,
            "--remote-debugging-pipe",
            f"--user-data-dir={self._profile}",
            "about:blank",
        ]
        self._proc = subprocess.Popen(
            args, preexec_fn=wire_fds, close_fds=False, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict] = []
        self.version = self.call("Browser.getVersion")

    # --- the protocol ------------------------------------------------------------------------

    def _send(self, method: str, params: dict | None, session: str | None) -> int:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self._to_child, data) :]
        return self._next_id

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("Chromium did not answer in time.")
            ready, _, _ = select.select([self._from_child], [], [], left)
            if ready:
                chunk = os.read(self._from_child, 1 << 20)
                if not chunk:
                    raise BrowserError("Chromium closed the DevTools pipe (it crashed or exited).")
                self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def call(
        self, method: str, params: dict | None = None, *, session: str | None = None, timeout=None
    ) -> dict:
        """Send one command and wait for its reply; events that arrive meanwhile are kept."""
        wanted = self._send(method, params, session)
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            message = self._receive(deadline)
            if message.get("id") == wanted:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error'].get('message')}")
                return message.get("result", {})
            if "method" in message:
                self._events.append(message)

    def pump(self, seconds: float = 0.0) -> None:
        """Collect the events that arrive within ``seconds``."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._from_child], [], [], max(left, 0))
            if not ready:
                return
            chunk = os.read(self._from_child, 1 << 20)
            if not chunk:
                return
            self._buffer += chunk
            while b"\0" in self._buffer:
                message, _, self._buffer = self._buffer.partition(b"\0")
                message = json.loads(message)
                if "method" in message:
                    self._events.append(message)

    def events(self, session: str) -> list[dict]:
        return [e for e in self._events if e.get("sessionId") == session]

    # --- pages -------------------------------------------------------------------------------

    def page(self, *, width: int = 1280, height: int = 900) -> Page:
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        page = Page(self, target, session)
        for domain in ("Page", "Runtime", "Log"):
            page.call(f"{domain}.enable")
        page.resize(width, height)
        return page

    def close(self) -> None:
        if self._proc.poll() is None:
            with contextlib.suppress(Exception):
                self.call("Browser.close", timeout=5)
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)
        for fd in (self._to_child, self._from_child):
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Page:
    """One tab: navigate, evaluate JavaScript, read console errors, take screenshots."""

    def __init__(self, browser: Browser, target: str, session: str):
        self.browser, self.target, self.session = browser, target, session

    def call(self, method: str, params: dict | None = None, **kw) -> dict:
        return self.browser.call(method, params, session=self.session, **kw)

    def resize(self, width: int, height: int) -> None:
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})  # fmt: skip

    def open(
        self, path, *, ready: str = "document.readyState === 'complete'", timeout: float = 30.0
    ) -> float:
        """Load a file or URL and wait until ``ready`` (a JS expression) is true; return seconds taken."""
        url = Path(path).resolve().as_uri() if "://" not in str(path) else str(path)
        self.eval(
            "window.__memlensLeft = true"
        )  # marks the old document, so it never counts as ready
        start = time.monotonic()
        self.call("Page.navigate", {"url": url})
        self.wait_for(f"!window.__memlensLeft && ({ready})", timeout=timeout)
        return time.monotonic() - start

    def wait_for(self, expression: str, *, timeout: float = 30.0) -> None:
        """Poll until ``expression`` is truthy (an expression that throws counts as false)."""
        deadline = time.monotonic() + timeout
        probe = f"(() => {{ try {{ return !!({expression}); }} catch (e) {{ return false; }} }})()"
        while not self.eval(probe):
            if time.monotonic() > deadline:
                raise BrowserError(f"timed out waiting for {expression}")
            time.sleep(0.02)

    def eval(self, expression: str):
        """Evaluate JavaScript in the page and return its (JSON-able) value."""
        reply = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in reply:
            raise BrowserError(f"{expression!r} threw: {reply['exceptionDetails'].get('text')} "
                               f"{reply['exceptionDetails'].get('exception', {}).get('description', '')}")  # fmt: skip
        return reply.get("result", {}).get("value")

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and browser log errors (CSP violations, failed loads)."""
        self.browser.pump(0.05)
        found = []
        for e in self.browser.events(self.session):
            method, params = e["method"], e.get("params", {})
            if method == "Runtime.exceptionThrown":
                d = params.get("exceptionDetails", {})
                found.append(
                    f"exception: {d.get('text')} {d.get('exception', {}).get('description', '')}"
                )
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(
                    "console: "
                    + " ".join(
                        str(a.get("value", a.get("description"))) for a in params.get("args", [])
                    )
                )
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                found.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")
        return found

    def screenshot(
        self, out, *, full_page: bool = True, width: int | None = None, max_height: int = 16000
    ) -> Path:
        """Save a PNG of the page (the whole scrollable height when ``full_page``)."""
        params = {"format": "png", "captureBeyondViewport": full_page}
        if full_page:
            w = width or self.eval("document.documentElement.clientWidth")
            h = min(int(self.eval("document.documentElement.scrollHeight")), max_height)
            params["clip"] = {"x": 0, "y": 0, "width": w, "height": h, "scale": 1}
        data = self.call("Page.captureScreenshot", params, timeout=60)["data"]
        out = Path(out)
        out.write_bytes(base64.b64decode(data))
        return out

    def close(self) -> None:
        with contextlib.suppress(BrowserError):
            self.browser.call("Target.closeTarget", {"targetId": self.target})


def screenshot(report, out, *, width: int = 1280, height: int | None = None) -> Path:
    """Render ``report`` in headless Chromium and save a PNG ``width`` wide (full page by default)."""
    with Browser() as browser:
        page = browser.page(width=width, height=900)
        page.open(report, ready="document.body && document.body.hasAttribute('data-ready')")
        return page.screenshot(out, width=width, max_height=height or 16000)


def main(argv=None) -> None:
    import argparse

    parser = argparse.ArgumentParser(
        description="Screenshot a memlens report in headless Chromium."
    )
    parser.add_argument("report")
    parser.add_argument("out")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument(
        "--height", type=int, default=None, help="crop to this many pixels (default: full page)"
    )
    args = parser.parse_args(argv)
    print(screenshot(args.report, args.out, width=args.width, height=args.height))


if __name__ == "__main__":
    main()
