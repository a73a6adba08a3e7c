"""Deduplication by ``_id``: the bounded window, the shared store, the per-message check."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest

from hop import errors
from hop._dedupe import DEFAULT_DEDUPE_WINDOW, Deduplicator, IdStore, IdWindow, message_id


def _ids(n: int) -> list[bytes]:
    return [uuid.uuid4().bytes for _ in range(n)]


def test_window_drops_repeats_and_forgets_the_oldest_beyond_its_capacity() -> None:
    a, b, c, d, e = _ids(5)
    for add in (IdWindow(3).add, IdWindow(3).checker()):
        assert [add(k) for k in (a, b, a, c, d)] == [True, True, False, True, True]
        assert not add(a)  # within the slack above the capacity: still remembered
        assert add(e)  # over it: back to the three most recent, c, d, e
        assert add(a) and add(b)
        assert not add(e)


def test_window_memory_stays_bounded_over_a_million_ids() -> None:
    capacity = DEFAULT_DEDUPE_WINDOW
    window = IdWindow()
    add = window.checker()
    sizes = []
    for n in range(1_000_000):
        add(n.to_bytes(16, "big"))
        if n % 100_000 == 99_999 and n > capacity:
            sizes.append(sys.getsizeof(window._ids) + sys.getsizeof(window._order))
    # A million ids went through; only the last `capacity` are held, and the containers
    # do not grow after the first fill (the set keeps its size through the evictions).
    assert capacity <= len(window) == len(window._order) <= 1.1 * capacity
    assert max(sizes) <= 2 * sizes[0]
    assert sizes[0] < 16 * 1024 * 1024
    assert (999_999).to_bytes(16, "big") in window
    assert (999_999 - capacity + 1).to_bytes(16, "big") in window  # the last `capacity`
    assert (999_999 - 2 * capacity).to_bytes(16, "big") not in window


def test_window_refuses_a_capacity_below_one() -> None:
    with pytest.raises(errors.ConfigurationError, match="dedupe_window"):
        IdWindow(0)


def test_message_id_reads_the_first_id_header_in_bytes_or_text() -> None:
    assert message_id([("x", b"1"), ("_id", b"\x01\x02"), ("_id", b"other")]) == b"\x01\x02"
    assert message_id([("_id", "abc")]) == b"abc"
    assert message_id([("x", b"1")]) is None
    assert message_id(None) is None


def test_messages_without_an_id_always_pass_and_copies_are_counted() -> None:
    dedupe = Deduplicator(10)
    headers = [("_id", uuid.uuid4().bytes)]
    assert dedupe.first_time(headers)
    assert not dedupe.first_time(headers)
    assert all(dedupe.first_time(h) for h in ([("_format", b"json")], None, [], None))
    assert dedupe.dropped == 1


def test_store_remembers_across_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "ids"
    first = IdStore(path, 100)
    keys = _ids(5)
    assert all(first.check_and_add(k) for k in keys)
    first.close()  # as a killed process would leave it: every append was written
    again = IdStore(path, 100)
    assert not any(again.check_and_add(k) for k in keys)
    assert again.check_and_add(uuid.uuid4().bytes)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    again.close()


def test_store_drops_a_line_cut_short_by_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "ids"
    keep, torn = _ids(2)
    path.write_bytes(keep.hex().encode() + b"\n" + torn.hex().encode()[:7])
    store = IdStore(path, 100)
    assert not store.check_and_add(keep)
    assert store.check_and_add(torn)  # was never completely recorded, so never handed over
    store.close()
    assert path.read_bytes() == (keep.hex() + "\n" + torn.hex() + "\n").encode()


def test_readers_sharing_a_store_see_each_others_ids(tmp_path: Path) -> None:
    path = tmp_path / "ids"
    one, two = IdStore(path, 100), IdStore(path, 100)
    a, b = _ids(2)
    assert one.check_and_add(a)
    assert not two.check_and_add(a)
    assert two.check_and_add(b)
    assert not one.check_and_add(b)
    one.close()
    two.close()


def test_store_compacts_to_its_window_and_other_readers_follow(tmp_path: Path) -> None:
    path = tmp_path / "ids"
    one, two = IdStore(path, 10), IdStore(path, 10)
    keys = _ids(60)
    for k in keys:
        assert one.check_and_add(k)
    # More than four windows were appended: the file holds about one window now.
    assert len(path.read_bytes().splitlines()) <= 4 * 10 + 1
    assert not path.with_name("ids.tmp").exists()
    assert not two.check_and_add(keys[-1])  # two reopened the compacted file
    assert two.check_and_add(keys[0])  # long forgotten by the window
    one.close()
    two.close()


def test_an_unusable_store_path_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(errors.ConfigurationError, match="deduplication store"):
        IdStore(tmp_path / "file" / "ids")
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(errors.ConfigurationError, match=str(locked)):
            Deduplicator(path=locked / "ids")
