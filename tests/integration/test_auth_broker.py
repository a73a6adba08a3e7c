"""Credentials against the real broker: SCRAM over SASL_PLAINTEXT and SASL_SSL, ACLs, TLS."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from hop import Stream, auth, errors
from hop.auth import Auth
from hop.io import StartPosition

# A refused credential or handshake must surface within this bound, never hang.
FAILURE_BOUND_S = 15.0


@pytest.fixture
def broker(kafka_broker):
    return kafka_broker


@pytest.fixture
def config_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg"


def _topic(broker) -> str:
    name = f"auth-{uuid.uuid4().hex[:12]}"
    broker.create_topic(name)
    return name


def _group(user: str) -> str:
    return f"{user}-{uuid.uuid4().hex[:10]}"


def _url(broker, listener: str, topic: str, user: str | None = None) -> str:
    userinfo = f"{user}@" if user else ""
    return f"kafka://{userinfo}{broker.bootstrap[listener]}/{topic}"


def _round_trip(credentials: Any, url: str, group: str, payloads: list[Any]) -> list[Any]:
    with Stream(auth=credentials).open(url, "w") as producer:
        for payload in payloads:
            producer.write(payload)
    reader = Stream(auth=credentials, start_at=StartPosition.EARLIEST, until_eos=True)
    with reader.open(url, "r", group_id=group) as consumer:
        return [message.content for message in consumer]


def _within_bound(action: Callable[[], Any]) -> BaseException | None:
    """Run ``action`` in a thread; return what it raised, failing if it ran past the bound."""
    outcome: list[BaseException | None] = []
    done = threading.Event()

    def target() -> None:
        try:
            action()
            outcome.append(None)
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    assert done.wait(FAILURE_BOUND_S), f"no error within {FAILURE_BOUND_S:.0f} s: it hangs"
    thread.join(5)
    return outcome[0]


def _write_one(stream: Stream, url: str) -> None:
    with stream.open(url, "w") as producer:
        producer.write({"never": "delivered"})


def _read_one(stream: Stream, url: str, group: str) -> None:
    with stream.open(url, "r", group_id=group) as consumer:
        for _ in consumer:
            break


# ------------------------------------------------------------------------ success


def test_scram_credential_from_auth_toml_publishes_and_subscribes(broker, config_home):
    topic = _topic(broker)
    group = _group("alice")
    broker.grant("alice", topic=topic, group=group)
    host = broker.bootstrap["sasl_plaintext"]
    store = config_home / "hop" / "auth.toml"
    auth.write_auth_data(
        store,
        [
            Auth("alice", broker.users["alice"], host=host, ssl=False),
            Auth("bob", "irrelevant", host="elsewhere.example:9092", ssl=False),
        ],
    )
    got = _round_trip(True, _url(broker, "sasl_plaintext", topic), group, [{"n": 1}, "two"])
    assert got == [{"n": 1}, "two"]


def test_auth_objects_over_sasl_ssl_with_the_broker_ca(broker):
    topic = _topic(broker)
    group = _group("alice")
    broker.grant("alice", topic=topic, group=group)
    alice = Auth("alice", broker.users["alice"], ssl_ca_location=str(broker.ca_file))
    got = _round_trip(alice, _url(broker, "sasl_ssl", topic), group, [{"tls": True}])
    assert got == [{"tls": True}]


def test_username_in_url_picks_the_credential_from_a_list(broker):
    topic = _topic(broker)
    group = _group("carol")
    broker.grant("carol", topic=topic, group=group)
    creds = [
        Auth("alice", "wrong-on-purpose", ssl=False),
        Auth("carol", broker.users["carol"], ssl=False),
    ]
    url = _url(broker, "sasl_plaintext", topic, user="carol")
    assert _round_trip(creds, url, group, [7]) == [7]


def test_ambiguous_list_without_username_tells_how_to_choose(broker):
    creds = [Auth("alice", "a", ssl=False), Auth("carol", "c", ssl=False)]
    url = _url(broker, "sasl_plaintext", "whatever")
    with pytest.raises(errors.AmbiguousCredentialError) as info:
        Stream(auth=creds).open(url, "w")
    assert "alice" in str(info.value) and "carol" in str(info.value)
    assert "kafka://<username>@" in str(info.value)


# ------------------------------------------------------------------------ refusals


@pytest.mark.parametrize("listener", ["sasl_plaintext", "sasl_ssl"])
def test_wrong_password_is_a_prompt_authentication_error(broker, listener):
    topic = _topic(broker)
    wrong = Auth(
        "alice",
        "not-the-password",
        ssl=listener == "sasl_ssl",
        ssl_ca_location=str(broker.ca_file),
    )
    error = _within_bound(lambda: _write_one(Stream(auth=wrong), _url(broker, listener, topic)))
    assert isinstance(error, errors.AuthenticationError), repr(error)
    assert "alice" in str(error) or "authentication" in str(error).lower()


def test_wrong_password_when_reading_is_a_prompt_authentication_error(broker):
    topic = _topic(broker)
    wrong = Auth("alice", "not-the-password", ssl=False)
    url = _url(broker, "sasl_plaintext", topic)
    error = _within_bound(lambda: _read_one(Stream(auth=wrong), url, _group("alice")))
    assert isinstance(error, errors.AuthenticationError), repr(error)


def test_user_without_acl_gets_authorization_error_naming_the_topic(broker):
    topic = _topic(broker)
    bob = Auth("bob", broker.users["bob"], ssl=False)
    error = _within_bound(
        lambda: _write_one(Stream(auth=bob), _url(broker, "sasl_plaintext", topic))
    )
    assert isinstance(error, errors.AuthorizationError), repr(error)
    assert topic in str(error)


def test_user_without_read_acl_gets_authorization_error_naming_the_topic(broker):
    topic = _topic(broker)
    group = _group("bob")
    broker.grant("bob", group=group)  # the group is allowed, the topic is not
    bob = Auth("bob", broker.users["bob"], ssl=False)
    url = _url(broker, "sasl_plaintext", topic)
    error = _within_bound(lambda: _read_one(Stream(auth=bob), url, group))
    assert isinstance(error, errors.AuthorizationError), repr(error)
    assert topic in str(error)


def test_tls_with_the_wrong_ca_is_a_clear_tls_error(broker):
    topic = _topic(broker)
    alice = Auth("alice", broker.users["alice"], ssl_ca_location=str(broker.wrong_ca_file))
    error = _within_bound(lambda: _write_one(Stream(auth=alice), _url(broker, "sasl_ssl", topic)))
    assert isinstance(error, errors.AuthenticationError), repr(error)
    text = str(error).lower()
    assert "ssl" in text or "tls" in text or "certificate" in text


def test_auth_toml_readable_by_others_is_refused_before_connecting(broker, config_home):
    store = config_home / "hop" / "auth.toml"
    auth.write_auth_data(store, [Auth("alice", broker.users["alice"], ssl=False)])
    store.chmod(0o644)
    with pytest.raises(errors.InsecureFileError, match="chmod 600"):
        Stream().open(_url(broker, "sasl_plaintext", "anything"), "w")
