"""Code written for igwn-alert 0.7, as its users test it (issue 13, section 4).

Run by tests/integration/test_compat_examples.py with skyhop's python and with upstream
igwn-alert's (the peers' virtualenv); the observations must match except where
skyhop fixes an upstream defect on purpose (the runner names those). No broker: like
igwn-alert's own tests, it replaces ``client.open`` and ``hop.list_topics``.
Prints one JSON object.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from unittest import mock

import igwn_alert
from igwn_alert import client

os.environ["HOME"] = tempfile.mkdtemp()  # no ~/.netrc, no stored credential
os.environ["XDG_CONFIG_HOME"] = os.environ["HOME"]
seen: dict[str, object] = {"version": igwn_alert.__version__}


def error_of(call, *types):
    try:
        call()
    except BaseException as exc:
        return [isinstance(exc, t) for t in types] + [str(exc)[:60]]
    return None


seen["base_url"] = client(server="kafka://test.server/", port=1234, group="test",
                          noauth=True).base_url_prefix
# Upstream gives kafka://test.server:1234test here; skyhop fixes it (the runner knows).
seen["base_url_without_slash"] = client(server="kafka://test.server", port=1234, group="test",
                                        noauth=True).base_url_prefix
seen["bad_server"] = error_of(lambda: client(server=None, noauth=True), AssertionError)
seen["username_only"] = error_of(lambda: client(username="u"), RuntimeError)

with mock.patch.object(client, "open") as opened:
    alerts = client(group="test", noauth=True)
    seen["publish_unconnected"] = error_of(lambda: alerts.publish_to_topic("t", "{}"), RuntimeError)
    alerts.connect(["topic1", "topic2"])
    alerts.publish_to_topic("topic1", '{"a": 1}')
    alerts.disconnect()
    seen["sessions_after_bare_disconnect"] = sorted(alerts.sessions)
    alerts.disconnect("topic1")
    seen["sessions_after_disconnect_topic1"] = sorted(alerts.sessions)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        alerts.disconnect("nope")
    seen["disconnect_unknown"] = [w.category.__name__ for w in caught]

    metadata = mock.MagicMock()
    metadata.topic = "test.topic1"
    # As in igwn-alert's tests, the stand-in stream yields the alert's JSON text.
    opened.return_value.__enter__.return_value.read.return_value = [('{"uid": "S1"}', metadata)]
    received = []

    def callback(topic, payload):
        received.append([topic, payload])
        raise InterruptedError  # how igwn-alert's tests leave listen()

    seen["listen_ended_by"] = error_of(lambda: alerts.listen(callback, "topic1"), InterruptedError)
    seen["listen_callback"] = received

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    results = [alerts.get_subscriptions(), alerts.subscribe("a"), alerts.subscribe(),
               alerts.unsubscribe("a")]
seen["deprecated_methods"] = [results, [w.category.__name__ for w in caught]]

with mock.patch("hop.list_topics") as listing:
    listing.list_topics.return_value = {"test1.topic1": None, "test2.topic4": None}
    seen["get_topics"] = [client(group=g, noauth=True).get_topics() for g in ("test1", "test3")]

print(json.dumps(seen, sort_keys=True))
