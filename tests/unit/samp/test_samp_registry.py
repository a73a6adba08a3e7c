"""The hub's registry: pure state, tested without sockets."""

from __future__ import annotations

import threading

import pytest

from hop.samp import SAMPHubError
from hop.samp._registry import Registry, SyncWaiter, check_message, mtype_matches


@pytest.fixture
def registry() -> Registry:
    return Registry("hub", {"samp.name": "hub"}, {"samp.app.ping": {}})


@pytest.mark.parametrize(
    ("pattern", "mtype", "expected"),
    [
        ("*", "table.load.votable", True),
        ("table.*", "table.load.votable", True),
        ("table.load.*", "table.load.votable", True),
        ("table.load.votable", "table.load.votable", True),
        ("table.*", "table", False),
        ("table.*", "tablex.load", False),
        ("table.load.votable", "table.load.fits", False),
    ],
)
def test_mtype_patterns_match_like_the_standard(pattern: str, mtype: str, expected: bool) -> None:
    assert mtype_matches(pattern, mtype) is expected


def test_ids_and_keys_are_unique_and_never_reused(registry: Registry) -> None:
    first = registry.register()
    registry.unregister(first.private_key)
    second = registry.register()
    assert second.public_id != first.public_id
    assert second.private_key != first.private_key


def test_registered_clients_exclude_the_caller_and_include_the_hub(registry: Registry) -> None:
    a, b = registry.register(), registry.register()
    assert sorted(registry.registered_ids(a.private_key)) == sorted(["hub", b.public_id])


def test_a_fresh_client_has_empty_metadata_and_subscriptions(registry: Registry) -> None:
    a = registry.register()
    assert registry.get_metadata(a.public_id) == {}
    assert registry.get_subscriptions(a.public_id) == {}


def test_unknown_private_key_is_fault_5(registry: Registry) -> None:
    with pytest.raises(SAMPHubError) as info:
        registry.client("nope")
    assert info.value.code == 5


def test_unknown_client_id_is_fault_6(registry: Registry) -> None:
    with pytest.raises(SAMPHubError) as info:
        registry.get_metadata("c999")
    assert info.value.code == 6


def test_metadata_must_be_a_map(registry: Registry) -> None:
    a = registry.register()
    with pytest.raises(SAMPHubError, match="metadata must be a map"):
        registry.declare_metadata(a.private_key, ["not", "a", "map"])


def test_returned_metadata_is_a_copy(registry: Registry) -> None:
    a = registry.register()
    registry.declare_metadata(a.private_key, {"samp.name": "a"})
    registry.get_metadata(a.public_id)["samp.name"] = "changed"
    assert registry.get_metadata(a.public_id) == {"samp.name": "a"}


def test_subscribed_clients_return_annotations_and_exclude_caller(registry: Registry) -> None:
    a, b = registry.register(), registry.register()
    registry.declare_subscriptions(b.private_key, {"table.*": {"x-samp.mostly-harmless": "1"}})
    registry.declare_subscriptions(a.private_key, {"*": {}})
    assert registry.subscribed_clients(a.private_key, "table.load.votable") == {
        b.public_id: {"x-samp.mostly-harmless": "1"}
    }


def test_recipient_not_subscribed_is_fault_2(registry: Registry) -> None:
    a, b = registry.register(), registry.register()
    registry.set_callback(b.private_key, "http://127.0.0.1:1/")
    with pytest.raises(SAMPHubError) as info:
        registry.recipient(a, b.public_id, "x.y")
    assert info.value.code == 2


def test_recipients_skip_clients_that_cannot_be_called(registry: Registry) -> None:
    a, b, c = registry.register(), registry.register(), registry.register()
    for rec in (b, c):
        registry.declare_subscriptions(rec.private_key, {"x.*": {}})
    registry.set_callback(b.private_key, "http://127.0.0.1:1/")
    assert [r.public_id for r in registry.recipients(a, "x.y")] == [b.public_id]


def test_only_the_recipient_may_reply_and_only_once(registry: Registry) -> None:
    a, b, c = registry.register(), registry.register(), registry.register()
    msg_id = registry.new_call(a, b, "tag")
    with pytest.raises(SAMPHubError, match="not sent to"):
        registry.take_call(c, msg_id)
    pending = registry.take_call(b, msg_id)
    assert (pending.sender_id, pending.msg_tag) == (a.public_id, "tag")
    with pytest.raises(SAMPHubError, match="no pending call"):
        registry.take_call(b, msg_id)


def test_unregister_hands_back_calls_waiting_on_the_client(registry: Registry) -> None:
    a, b = registry.register(), registry.register()
    waiter = SyncWaiter()
    msg_id = registry.new_call(a, b, None, waiter)
    _, orphans = registry.unregister(b.private_key)
    assert [p.msg_id for p in orphans] == [msg_id]
    assert orphans[0].waiter is waiter


def test_a_reply_resolved_before_the_wait_is_not_lost() -> None:
    waiter = SyncWaiter()
    waiter.resolve({"samp.status": "samp.ok"})
    assert waiter.wait(0.0)
    assert waiter.response == {"samp.status": "samp.ok"}


def test_sync_waiter_wakes_a_thread_waiting_on_it() -> None:
    waiter = SyncWaiter()
    results: list[bool] = []
    thread = threading.Thread(target=lambda: results.append(waiter.wait(10.0)))
    thread.start()
    waiter.resolve({})
    thread.join(10.0)
    assert results == [True]


def test_message_without_mtype_is_fault_3() -> None:
    with pytest.raises(SAMPHubError) as info:
        check_message({"samp.params": {}})
    assert info.value.code == 3


@pytest.mark.parametrize("message", ["text", ["list"], {"samp.mtype": "a", "samp.params": "x"}])
def test_malformed_messages_are_refused(message: object) -> None:
    with pytest.raises(SAMPHubError):
        check_message(message)


def test_find_by_meta_matches_key_and_value(registry: Registry) -> None:
    a, b = registry.register(), registry.register()
    registry.declare_metadata(a.private_key, {"samp.name": "topcat"})
    registry.declare_metadata(b.private_key, {"samp.name": "ds9"})
    assert registry.find_by_meta("samp.name", "ds9") == [b.public_id]


def test_the_hub_client_cannot_be_unregistered(registry: Registry) -> None:
    with pytest.raises(SAMPHubError):
        registry.unregister(registry.hub.private_key)
