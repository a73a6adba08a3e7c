"""Code written for hop-client 0.13: large-message offload, HTTP SCRAM, token_command.

Run by tests/integration/test_offload_broker.py with skyhop's python and with upstream
hop-client's (the peers' virtualenv), against the same broker and offload service;
both must print the same observations. Only hop-client's documented API is used. The
test hands over where things are in the environment (COMPAT_*). Prints one JSON object.
"""

from __future__ import annotations

import json
import os
import uuid
import warnings

import requests

from hop import Stream
from hop.auth import Auth
from hop.http_scram import SCRAMAuth
from hop.io import StartPosition
from hop.models import Blob, ExternalMessage

warnings.simplefilter("ignore")  # both warn that the test service is bare HTTP

env = os.environ
seen: dict[str, object] = {}
auth = Auth(env["COMPAT_USER"], env["COMPAT_PASSWORD"], ssl=False)
url = f"kafka://{env['COMPAT_BROKER']}/{env['COMPAT_TOPIC']}"
big = bytes(range(256)) * 1200  # 300 kB, over the topic's limit

with Stream(auth=auth).open(url, "w") as s:
    s.write(Blob(big), headers=[("source", b"LVK")])

reader = Stream(auth=auth, start_at=StartPosition.EARLIEST, until_eos=True)
with reader.open(url, "r", fetch_external=False) as s:
    placeholders = list(s)
seen["placeholder_is_external"] = [isinstance(m, ExternalMessage) for m in placeholders]
seen["placeholder_names_the_service"] = placeholders[0].url.startswith(
    env["COMPAT_SERVICE"] + "/msg/"
)

with reader.open(url, "r") as s:
    messages = list(s.read(metadata=True))
model, meta = messages[0]
seen["fetched_type"] = type(model).__name__
seen["fetched_equal"] = model.content == big
seen["header_kept"] = ("source", b"LVK") in [tuple(h) for h in meta.headers]
seen["topic_kept"] = meta.topic == env["COMPAT_TOPIC"]

answer = requests.get(
    f"{env['COMPAT_SERVICE']}/msg/{uuid.uuid4()}", auth=SCRAMAuth(auth, shortcut=True)
)
seen["scram_get_status"] = answer.status_code

command = Auth("scitoken-user", "", token_command=f"cat {env['COMPAT_TOKEN_FILE']}")
settings = command()
token, expiry, principal, extensions = settings["oauth_cb"](None)
seen["token_command"] = [settings["sasl.mechanism"], principal, extensions, expiry > 0]

print(json.dumps(seen, sort_keys=True))
