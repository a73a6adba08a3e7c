"""Headless Chromium for the Web Profile tests: Debian's chromium driven by selenium.

:func:`ensure_chromium` finds ``chromium`` and ``chromedriver``. When they are absent
it installs Debian's ``chromium`` and ``chromium-driver`` with apt-get if it may (CI,
which runs as root), and otherwise skips with a message naming the packages; in CI a
browser that cannot be had fails the test instead. :class:`PageServer` serves the test
page from a loopback origin of its own.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

PAGE_DIR = Path(__file__).with_name("browser")
PACKAGES = ("chromium", "chromium-driver")
_INSTALL_TIMEOUT_S = 900


def _find() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@functools.cache
def ensure_chromium() -> tuple[str, str]:
    """Return ``(chromium, chromedriver)`` paths, installing or skipping as described."""
    found = _find()
    if found:
        return found
    in_ci = bool(os.environ.get("CI"))
    names = " ".join(PACKAGES)
    if not in_ci or os.geteuid() != 0 or not shutil.which("apt-get"):
        message = f"needs Debian's {names} (apt-get install -y {names})"
        if in_ci:
            pytest.fail(f"{message}: cannot install it here (not root, or no apt-get)")
        pytest.skip(message)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", *PACKAGES]):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env,
                              timeout=_INSTALL_TIMEOUT_S, check=False)
        if proc.returncode != 0:
            pytest.fail(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    found = _find()
    if not found:
        pytest.fail(f"apt-get installed {names} but chromium/chromedriver are not on PATH")
    return found


@contextmanager
def chromium(extra_args: Sequence[str] = ()) -> Iterator[Any]:
    """A headless Chromium WebDriver, quit afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = ensure_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=900,700", "--no-first-run", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--metrics-recording-only", "--no-default-browser-check",
                "--disable-features=MediaRouter,OptimizationHints,Translate", *extra_args):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: selenium's own manager would try to download one.
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class PageServer:
    """Serves :data:`PAGE_DIR` on ``127.0.0.1`` at a port of its own, in a thread."""

    def __init__(self) -> None:
        handler = functools.partial(_Quiet, directory=str(PAGE_DIR))
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="test-page-server", daemon=True)

    def __enter__(self) -> PageServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
