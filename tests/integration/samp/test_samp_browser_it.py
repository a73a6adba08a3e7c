"""The Web Profile in a real browser: headless Chromium, a JavaScript SAMP client, astropy.

The page (``browser/samp_page.html`` with ``browser/samp_webclient.js``, written for
these tests) is served from a loopback origin of its own and talks XML-RPC to our hub's
Web Profile with ``fetch``. What is tested is what the browser enforces:

* CORS: every call is cross-origin with a ``text/xml`` body, so Chromium preflights it
  and refuses the answer unless the hub's headers allow it (the Standard Profile port,
  which sends none, is refused);
* a page on a *public* origin (a second loopback port that
  ``--ip-address-space-overrides`` makes public) reaching the loopback hub: Chromium
  156 enforces this with its Local Network Access permission, the successor of the
  Private Network Access preflight (which the hub still answers, see
  ``test_samp_web_it.py``); without the user's permission the page cannot register;
* the URL translator: the page fetches the file URL an astropy client offered, is
  refused ``file:///etc/passwd``, and cannot fetch ``file:`` URLs itself;
* consent: with no consent hook the page's registration fails with the hub's error.

Chromium comes from Debian (``chromium``, ``chromium-driver``), driven by selenium.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _browser import PageServer, chromium
from _samphelpers import WAIT_S, PeerProcess

from hop.samp import SAMPHubServer

# The first test may install chromium with apt-get (CI): more than the default timeout.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(1200)]

ASTROPY_PEER = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
from astropy.samp import SAMPIntegratedClient
astro = SAMPIntegratedClient(name="astro")
astro.connect()
astro.bind_receive_notification("table.highlight.row", lambda k, s, m, p, e: print(
    "HIGHLIGHT", json.dumps({"sender": s, "params": p}), flush=True))
print("READY", json.dumps(astro.get_public_id()), flush=True)
for line in sys.stdin:
    cmd, _, arg = line.strip().partition(" ")
    if cmd == "describe":
        print("DESCRIBED", json.dumps({"meta": astro.get_metadata(arg),
                                      "subs": sorted(astro.get_subscriptions(arg))}), flush=True)
    elif cmd == "point":
        astro.enotify(arg, "coord.pointAt.sky", ra="10.684708", dec="41.26875")
        print("POINTED", flush=True)
    elif cmd == "call":
        print("CALLED", json.dumps(astro.ecall_and_wait(arg, "test.echo", "10", text="hello")),
              flush=True)
    elif cmd == "table":
        page, url = arg.split(" ", 1)
        astro.enotify(page, "table.load.votable", url=url, name="t1")
        print("TABLED", flush=True)
    elif cmd == "stop":
        break
astro.disconnect()
"""


@pytest.fixture(scope="module")
def pages() -> Iterator[tuple[PageServer, PageServer]]:
    """The test page on two loopback origins; the browser counts the second as public."""
    with PageServer() as local, PageServer() as public:
        yield local, public


@pytest.fixture(scope="module")
def driver(pages: tuple[PageServer, PageServer]) -> Iterator[Any]:
    _, public = pages
    started = time.monotonic()
    with chromium([f"--ip-address-space-overrides=127.0.0.1:{public.port}=public"]) as d:
        print(f"\nchromium started in {time.monotonic() - started:.2f} s")
        yield d


@pytest.fixture
def page(driver: Any) -> Iterator[Callable[[str, str], None]]:
    """Open the test page from an origin, for a hub URL; blank the tab afterwards."""

    def open_page(origin: str, hub_url: str) -> None:
        driver.get(f"{origin}/samp_page.html?hub={hub_url}")

    yield open_page
    driver.execute_script("window.sampStop = true")
    driver.get("about:blank")


def _text(driver: Any, element_id: str) -> str:
    return str(driver.find_element("id", element_id).text)


def _wait_text(driver: Any, element_id: str, *wanted: str, timeout: float = WAIT_S) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = _text(driver, element_id)
        if all(w in text for w in wanted):
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"#{element_id} never showed {wanted}; it shows:\n{text}")
        time.sleep(0.05)  # polling the DOM, bounded by the deadline


def _wait_status(driver: Any, timeout: float = WAIT_S) -> str:
    deadline = time.monotonic() + timeout
    while True:
        status = _text(driver, "status")
        if status != "starting":
            return status
        if time.monotonic() > deadline:
            raise AssertionError("the page never finished registering")
        time.sleep(0.02)


class _Consent:
    def __init__(self) -> None:
        self.infos: list[dict[str, Any]] = []

    def __call__(self, info: dict[str, Any]) -> bool:
        self.infos.append(info)
        return True


def _web_url(hub: SAMPHubServer) -> str:
    return f"http://127.0.0.1:{hub.web_port}/"


def test_a_browser_page_exchanges_messages_with_astropy_through_our_hub(
    peers_python: Path, samp_lockfile: Path, driver: Any, page: Callable[[str, str], None],
    pages: tuple[PageServer, PageServer], tmp_path: Path,
) -> None:
    local, _ = pages
    table = tmp_path / "t1.xml"
    table.write_text('<?xml version="1.0"?>\n<VOTABLE version="1.4"></VOTABLE>\n')
    consent = _Consent()
    started = time.monotonic()
    with SAMPHubServer(web_port=0, lockfile=samp_lockfile, web_consent=consent) as hub:
        peer = PeerProcess(peers_python, ASTROPY_PEER, env={})
        try:
            astro = peer.expect("READY")
            page(local.origin, _web_url(hub))
            assert _wait_status(driver).startswith("registered as ")
            page_id = _text(driver, "self-id")
            assert consent.infos[0]["origin"] == local.origin
            assert consent.infos[0]["samp.name"] == "browser-page"

            peer.send(f"describe {page_id}")
            described = peer.expect("DESCRIBED")
            assert described["meta"]["samp.description.text"] == "skyhop browser test page"
            assert described["subs"] == ["coord.pointAt.sky", "table.load.votable", "test.echo"]

            # astropy notifies the page; the page answers with a notification of its own.
            peer.send(f"point {page_id}")
            peer.expect("POINTED")
            highlight = peer.expect("HIGHLIGHT")
            assert highlight == {"sender": page_id, "params": {
                "table-id": "t1", "url": "http://example.org/t1.xml", "row": "7"}}

            # astropy calls the page and gets its reply.
            peer.send(f"call {page_id}")
            response = peer.expect("CALLED")
            assert response == {"samp.status": "samp.ok",
                                "samp.result": {"echo": "browser got hello"}}

            # astropy offers a local file; the page loads it through the URL translator.
            peer.send(f"table {page_id} {table.as_uri()}")
            peer.expect("TABLED")
            log = _wait_text(driver, "log", "translator refused", "direct file fetch")
            exchanged = time.monotonic() - started
            assert f"notification coord.pointAt.sky from {astro}: ra=10.684708 dec=41.26875" in log
            assert f"sent table.highlight.row to {astro}" in log
            assert f"call test.echo from {astro}: hello" in log
            assert 'fetched t1 via translator: HTTP 200 <?xml version="1.0"?>' in log
            assert "translator refused file:///etc/passwd: HTTP 403" in log
            assert "browser refused direct file fetch" in log

            shot = tmp_path / "samp_page.png"
            assert driver.save_screenshot(str(shot))
            assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
            assert shot.stat().st_size > 5000  # a rendered page, not an empty image

            times = driver.execute_script("return window.sampTimes")
            driver.execute_script("window.sampStop = true")
            _wait_text(driver, "status", "unregistered")
            assert page_id not in [r.public_id for r in hub.registry.clients()]
            print(f"\nbrowser exchange: register {times['register']:.1f} ms, ready "
                  f"{times['ready']:.1f} ms, whole exchange {exchanged:.2f} s; "
                  f"screenshot {shot}")
            peer.send("stop")
        finally:
            assert peer.close() == 0


def test_consent_is_denied_by_default_and_the_page_shows_the_samp_error(
    samp_lockfile: Path, driver: Any, page: Callable[[str, str], None],
    pages: tuple[PageServer, PageServer],
) -> None:
    local, _ = pages
    with SAMPHubServer(web_port=0, lockfile=samp_lockfile) as hub:
        page(local.origin, _web_url(hub))
        status = _wait_status(driver)
        assert status.startswith("registration failed: SAMP fault 403: Web Profile "
                                 "registration refused")
        assert hub.registry.clients() == []


def test_the_browser_refuses_a_hub_port_that_sends_no_cors_headers(
    samp_lockfile: Path, driver: Any, page: Callable[[str, str], None],
    pages: tuple[PageServer, PageServer],
) -> None:
    # The Standard Profile answers XML-RPC but has no CORS headers: Chromium's own
    # CORS check must then stop the page, which shows that the Web Profile's pass.
    local, _ = pages
    with SAMPHubServer(web_port=0, lockfile=samp_lockfile, web_consent=_Consent()) as hub:
        page(local.origin, hub.params["samp.hub.xmlrpc.url"])
        assert _wait_status(driver) == "registration failed: Failed to fetch"
        logs = " ".join(entry["message"] for entry in driver.get_log("browser"))
        assert "CORS policy" in logs


def test_a_public_page_reaches_the_hub_only_with_the_browsers_loopback_permission(
    samp_lockfile: Path, driver: Any, page: Callable[[str, str], None],
    pages: tuple[PageServer, PageServer],
) -> None:
    _, public = pages
    consent = _Consent()
    with SAMPHubServer(web_port=0, lockfile=samp_lockfile, web_consent=consent) as hub:
        page(public.origin, _web_url(hub))
        assert _wait_status(driver) == "registration failed: Failed to fetch"
        logs = " ".join(entry["message"] for entry in driver.get_log("browser"))
        assert "loopback" in logs and "address space" in logs
        assert consent.infos == []  # the browser stopped it before the hub heard anything
        # What the user's "Allow" in Chromium's prompt grants.
        driver.execute_cdp_cmd("Browser.setPermission", {
            "origin": public.origin, "permission": {"name": "loopback-network"},
            "setting": "granted"})
        try:
            page(public.origin, _web_url(hub))
            assert _wait_status(driver).startswith("registered as ")
            assert consent.infos[0]["origin"] == public.origin
        finally:
            driver.execute_cdp_cmd("Browser.resetPermissions", {})
