"""``./run demo bridge``: alerts from Kafka to a desktop SAMP client, all started here.

Starts a local Apache Kafka broker, a SAMP hub (with a private lockfile, so a real
desktop's hub is left alone), a SAMP client that prints what it receives (an
astropy-style ``SAMPIntegratedClient``, subscribed to the MTypes Aladin, TOPCAT and
DS9 listen to) and the alert bridge; publishes the package's own sample alerts; and
stops everything once the client has received all of them.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from hop._demo_console import say

__all__ = ["run"]

_WAIT_S = 60.0


class _Printer:
    """The desktop client's callbacks: print each notification, count the alerts."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.alerts = 0
        self.done = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, private_key: str, sender: str, mtype: str, params: Any, extra: Any) -> None:
        from hop.samp.bridge import MTYPE_ALERT

        with self._lock:
            print(f"desktop client received {mtype}", flush=True)
            for name, value in params.items():
                print(f"    {name:10} {value}", flush=True)
            if mtype == MTYPE_ALERT:
                print(flush=True)
                self.alerts += 1
                if self.alerts >= self.expected:
                    self.done.set()


def run() -> int:
    """Run the bridge demo; return the exit status."""
    from hop import Stream
    from hop._samples import sample_alerts
    from hop.io import StartPosition
    from hop.models import format_name
    from hop.samp import SAMPHubServer, SAMPIntegratedClient
    from hop.samp.bridge import BRIDGE_MTYPES, AlertBridge
    from hop.testing import KafkaBroker

    alerts = sample_alerts()
    printer = _Printer(len(alerts))
    with tempfile.TemporaryDirectory(prefix="skyhop-bridge-demo-") as tmp:
        folder = Path(tmp)
        lockfile = folder / "samp.lock"
        say("starting a local Apache Kafka broker (first run downloads its jars)...")
        started = time.monotonic()
        with KafkaBroker() as broker:
            say(f"broker up at {broker.bootstrap['plaintext']} in "
                 f"{time.monotonic() - started:.1f} s")  # fmt: skip
            topic = "demo.alerts"
            broker.create_topic(topic, partitions=1)
            url = f"kafka://{broker.bootstrap['plaintext']}/{topic}"
            with SAMPHubServer(web_profile=False, lockfile=lockfile) as hub:
                say(f"SAMP hub up at {hub.params['samp.hub.xmlrpc.url']}")
                desktop = SAMPIntegratedClient("demo desktop", "prints what it receives")
                desktop.connect(hub=hub)
                try:
                    for mtype in BRIDGE_MTYPES:
                        desktop.bind_receive_notification(mtype, printer)
                    say(f"desktop client subscribed to {', '.join(BRIDGE_MTYPES)}")
                    bridge = AlertBridge(
                        url,
                        auth=False,
                        start_at=StartPosition.EARLIEST,
                        test=True,  # the samples are a mock event (MS...) and a test
                        hub_url=str(lockfile),
                        cache_dir=folder / "skymaps",
                        memory_file=False,
                    )
                    with bridge:
                        say("alert bridge registered as 'skyhop bridge'; publishing")
                        with Stream(auth=False).open(url, "w") as writer:
                            for label, message in alerts:
                                writer.write(message)
                                say(f"published the {label} "
                                     f"({format_name(type(message))})")  # fmt: skip
                        if not printer.done.wait(_WAIT_S):
                            print(f"hop demo: error: the desktop client got "
                                  f"{printer.alerts} of {len(alerts)} alerts in "
                                  f"{_WAIT_S:.0f} s", file=sys.stderr)  # fmt: skip
                            return 1
                finally:
                    desktop.disconnect()
        say(f"the desktop client received all {len(alerts)} alerts; stopped everything")
    return 0
