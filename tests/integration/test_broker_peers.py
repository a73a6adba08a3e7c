"""The upstream peers' virtualenv works and its hop-client reaches the test broker."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from confluent_kafka import Consumer

from _peers import run_peer
from hop.testing import KafkaBroker

_PUBLISH = """
import sys
from hop import Stream
with Stream(auth=False).open(sys.argv[1], "w") as stream:
    stream.write({"greeting": sys.argv[2]})
print("sent")
"""


def test_peers_venv_imports_upstream_hop_not_ours(peers_python: Path) -> None:
    result = run_peer(peers_python, "import hop, igwn_alert; print(hop.__file__)")

    assert "site-packages" in result.stdout
    assert "/src/hop/" not in result.stdout


def test_upstream_hop_publishes_to_the_test_broker(
    peers_python: Path,
    kafka_broker: KafkaBroker,
    unique_topic: str,
    unique_group: str,
    kafka_url: Callable[..., str],
) -> None:
    run_peer(peers_python, _PUBLISH, kafka_url(unique_topic), "from-upstream", timeout=60)

    consumer = Consumer({
        **kafka_broker.admin_config(),
        "group.id": unique_group,
        "auto.offset.reset": "earliest",
    })
    try:
        consumer.subscribe([unique_topic])
        deadline = time.monotonic() + 30
        msg = None
        while msg is None and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
    finally:
        consumer.close()
    assert msg is not None and msg.error() is None
    assert b"from-upstream" in (msg.value() or b"")
