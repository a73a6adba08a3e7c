"""Code written for hop-client 0.13: streams, models and the journal (issue 13, section 2).

Usage: ``python streams_models_example.py HOST:PORT TOPIC`` with a PLAINTEXT Kafka
listener and a topic name no one else uses. Run by
tests/integration/test_compat_examples.py with skyhop's python and with upstream
hop-client's; both must print the same observations (one JSON object). Only
hop-client's documented API is used.
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import subprocess
import sys
import tempfile
from unittest import mock

import confluent_kafka

import hop
from hop import Stream
from hop.io import StartPosition, list_topics
from hop.models import AvroBlob, ExternalMessage, JSONBlob, VOEvent
from hop.robust_publisher import PublicationJournal

broker, topic = sys.argv[1], sys.argv[2]
url = f"kafka://{broker}/{topic}"
seen: dict[str, object] = {}


def error_of(call, *types):
    try:
        call()
    except Exception as exc:
        return [isinstance(exc, t) for t in types]
    return None


def command(*args):
    proc = subprocess.run([sys.executable, "-m", "hop", *args], capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)
    return [proc.returncode, " ".join(proc.stdout.split()[:3])]


# Feature detection as code written for hop-client does it.
version = tuple(int(part) for part in hop.__version__.split(".")[:2])
seen["has_token_command_api"] = version >= (0, 13)
seen["python_m_hop_version"] = command("--version")
seen["hop_version_first_line"] = command("version")[1].split()[0]

# Streams against the real broker.
with Stream(auth=False).open(url, "w") as s:
    s.write({"n": 1})
out = io.StringIO()
with contextlib.redirect_stdout(out), Stream(auth=False).open(url, "w") as s:
    s.write({"n": 2})
    raise KeyboardInterrupt  # a user pressing Ctrl-C inside the block
seen["ctrl_c_in_producer"] = out.getvalue()
reader = Stream(auth=False, start_at=StartPosition.EARLIEST, until_eos=True)
with reader.open(url, "r") as s:
    seen["read_back"] = [message.content["n"] for message in s][:1]
seen["list_topics"] = list(list_topics(url, auth=False)) == [topic]
seen["list_topics_two_brokers"] = error_of(
    lambda: list_topics(f"kafka://{broker},{broker}/{topic}", auth=False), ValueError)
with socket.socket() as free:
    free.bind(("127.0.0.1", 0))
    nobody = free.getsockname()[1]
seen["list_topics_timeout"] = error_of(
    lambda: list_topics(f"kafka://127.0.0.1:{nobody}/", auth=False, timeout=1),
    confluent_kafka.KafkaException)

# The objects users replace in their tests.
with mock.patch("hop.io.Consumer") as consumer, mock.patch("hop.io.Producer") as producer:
    seen["patched_consumer"] = Stream(auth=False).open(url, "r") is consumer.return_value
    seen["patched_producer"] = Stream(auth=False).open(url, "w") is producer.return_value

# Models.
xml = ('<?xml version="1.0" ?><voe:VOEvent xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0" '
       'ivorn="ivo://example/test#1" role="test" version="2.0"><Who><Date>2024-05-01T00:00:00'
       '</Date></Who><What><Param name="a" value="1"/></What></voe:VOEvent>')
seen["voevent_from_str"] = VOEvent.deserialize(xml).ivorn
fields = {"ivorn": "x", "Param": [{"name": "a", "value": "1"}], "Group": {"type": "t"}}
VOEvent.label_attributes_dict(fields)
seen["label_attributes_dict"] = fields
listed = [{"name": "b"}]
VOEvent.label_attributes_list(listed, attr_prefix="_")
seen["label_attributes_list"] = listed
seen["ensure_bytes"] = [VOEvent.ensure_bytes("x").decode(),
                        VOEvent.ensure_bytes(io.BytesIO(b"y")).decode(),
                        VOEvent.ensure_bytes(c for c in [b"a", b"b"]).decode()]
seen["is_attribute"] = [VOEvent.is_attribute("ivorn"), VOEvent.is_attribute("Who")]
seen["hash_avro"] = error_of(lambda: hash(AvroBlob({"a": 1})), NotImplementedError)
many = AvroBlob([{"a": 1}, {"a": 2}], single_record=False).serialize()["content"]
seen["avro_many_records_single"] = error_of(lambda: AvroBlob.deserialize(many), TypeError)
seen["avro_many_records_load"] = error_of(
    lambda: AvroBlob.load(many, single_record=True), TypeError)
seen["avro_many_records_list"] = AvroBlob.deserialize(many, single_record=False).content
seen["external_bad_json"] = error_of(lambda: ExternalMessage.load("{bad"), json.JSONDecodeError)
seen["json_bad_json"] = error_of(lambda: JSONBlob.load("{bad"), json.JSONDecodeError)

# The journal, with upstream's argument order and return shapes.
journal = PublicationJournal(tempfile.mkdtemp() + "/publisher.journal")
seq = journal.queue_message(b"payload", "a-topic", [("h", b"v")], b"key")
seen["journal_callback_not_in_flight"] = error_of(
    lambda: journal.get_delivery_callback(seq), RuntimeError)
taken = journal.get_next_message_to_send()
seen["journal_next"] = [taken[0], taken[1].decode(), taken[2],
                        [[k, v.decode()] for k, v in taken[3]],
                        taken[4].decode() if isinstance(taken[4], bytes) else taken[4]]
delivered = mock.Mock(**{"error.return_value": None, "topic.return_value": "a-topic"})
journal.get_delivery_callback(seq)(None, delivered)
seen["journal_after_delivery"] = [journal.has_messages_to_send(), journal.has_messages_in_flight()]

print(json.dumps(seen, sort_keys=True))
