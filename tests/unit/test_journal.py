"""The journal's record format, its file handling and PublicationJournal's bookkeeping."""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import KafkaError
from hypothesis import given, settings
from hypothesis import strategies as st

from hop._robust import file as journal_file
from hop._robust import format as journal_format
from hop._robust import journal as publication_journal
from hop._robust.file import JournalFile, write_journal
from hop._robust.format import (
    HEADER_SIZE,
    JournalMessage,
    decode_message,
    encode_header,
    encode_message,
    encode_sent,
    load,
    salvage,
    scan,
)
from hop.cli._journal import journal_main, salvage_main
from hop.errors import InsecureFileError, JournalCorruptError, JournalError
from hop.robust_publisher import PublicationJournal

headers_st = st.lists(
    st.tuples(st.text(max_size=12), st.one_of(st.none(), st.binary(max_size=20))), max_size=4
)
message_st = st.builds(
    JournalMessage,
    seq=st.integers(0, 2**64 - 1),
    value=st.binary(max_size=200),
    headers=headers_st,
    topic=st.one_of(st.none(), st.text(max_size=20)),
    key=st.one_of(st.none(), st.binary(max_size=20)),
)


def _msg(seq: int, payload: bytes = b"payload") -> JournalMessage:
    return JournalMessage(seq, payload, [("_id", os.urandom(16)), ("k", b"v")], "topic", b"key")


def _journal_bytes(*records: bytes) -> bytes:
    return encode_header() + b"".join(records)


# ----------------------------------------------------------------- record format


@settings(max_examples=200, deadline=None)
@given(message_st)
def test_message_record_round_trips_every_field(msg: JournalMessage) -> None:
    record = encode_message(msg)
    records, damage = scan(_journal_bytes(record))
    assert damage is None
    [(offset, rtype, body)] = records
    assert (offset, rtype) == (HEADER_SIZE, journal_format.RECORD_MESSAGE)
    assert decode_message(body) == msg


def test_sent_record_finishes_the_messages_it_names() -> None:
    data = _journal_bytes(
        encode_message(_msg(0)), encode_message(_msg(1)), encode_message(_msg(2)),
        encode_sent([0, 2]),
    )
    live, end = load(data, "j")
    assert list(live) == [1]
    assert end == len(data)


def test_an_empty_file_loads_as_an_empty_journal() -> None:
    assert load(b"", "j") == ({}, 0)


@pytest.mark.parametrize("cut", [1, 5, 9, 20, -1])
def test_torn_last_record_is_cut_off_with_a_warning_naming_its_offset(
    cut: int, caplog: pytest.LogCaptureFixture
) -> None:
    first = encode_message(_msg(0))
    second = encode_message(_msg(1))
    data = _journal_bytes(first, second)
    torn = data[: HEADER_SIZE + len(first) + (cut % len(second))]
    with caplog.at_level(logging.WARNING, logger="hop"):
        live, end = load(torn, "j")
    assert list(live) == [0]
    assert end == HEADER_SIZE + len(first)
    assert f"byte offset {HEADER_SIZE + len(first)}" in caplog.text


def test_crc_mismatch_in_a_middle_record_reports_its_byte_offset() -> None:
    records = [encode_message(_msg(i)) for i in range(3)]
    data = bytearray(_journal_bytes(*records))
    bad_offset = HEADER_SIZE + len(records[0])
    data[bad_offset + 20] ^= 0x01
    with pytest.raises(JournalCorruptError) as info:
        load(bytes(data), "/x/pub.journal")
    assert info.value.offset == bad_offset
    assert info.value.path == "/x/pub.journal"
    assert f"byte offset {bad_offset}" in str(info.value)
    assert "salvage" in str(info.value)


def test_damaged_final_record_that_is_complete_is_corruption_not_a_torn_tail() -> None:
    records = [encode_message(_msg(i)) for i in range(2)]
    data = bytearray(_journal_bytes(*records))
    data[-1] ^= 0xFF
    with pytest.raises(JournalCorruptError) as info:
        load(bytes(data), "j")
    assert info.value.offset == HEADER_SIZE + len(records[0])


def test_length_running_past_the_end_with_intact_records_after_it_is_corruption() -> None:
    records = [encode_message(_msg(i)) for i in range(3)]
    data = bytearray(_journal_bytes(*records))
    # Inflate the first record's length so it seems to run past the end of the file.
    data[HEADER_SIZE : HEADER_SIZE + 4] = (10**6).to_bytes(4, "big")
    with pytest.raises(JournalCorruptError) as info:
        load(bytes(data), "j")
    assert info.value.offset == HEADER_SIZE


def test_sent_record_for_an_unknown_message_is_corruption() -> None:
    data = _journal_bytes(encode_message(_msg(0)), encode_sent([7]))
    with pytest.raises(JournalCorruptError, match="unknown sequence number 7"):
        load(data, "j")


def test_duplicate_sequence_number_is_corruption() -> None:
    data = _journal_bytes(encode_message(_msg(3)), encode_message(_msg(3)))
    with pytest.raises(JournalCorruptError, match="recorded twice"):
        load(data, "j")


def test_foreign_file_is_refused_at_offset_zero() -> None:
    with pytest.raises(JournalCorruptError, match="bad magic") as info:
        load(b"this is not a journal at all", "j")
    assert info.value.offset == 0


def test_upstream_hop_client_journal_is_recognised_in_the_message() -> None:
    upstream_start = (2).to_bytes(8, "big") + (40).to_bytes(8, "big") + b"\0" * 8
    with pytest.raises(JournalCorruptError, match="upstream hop-client"):
        load(upstream_start, "j")


def test_newer_format_version_is_refused_naming_both_versions() -> None:
    data = encode_header(version=2)
    with pytest.raises(JournalCorruptError, match="version 2; this skyhop reads version 1"):
        load(data, "j")


# ----------------------------------------------------------------- salvage


def test_salvage_keeps_every_intact_unsent_message_around_damage() -> None:
    records = [encode_message(_msg(i, f"m{i}".encode())) for i in range(6)]
    data = bytearray(_journal_bytes(*records[:3], encode_sent([0]), *records[3:]))
    damaged_at = HEADER_SIZE + len(records[0]) + len(records[1])  # message 2
    data[damaged_at + 30] ^= 0x55
    messages, report = salvage(bytes(data))
    assert [m.value for m in messages] == [b"m1", b"m3", b"m4", b"m5"]
    assert [m.seq for m in messages] == [0, 1, 2, 3]
    assert report.kept == 4
    assert report.finished == 1
    assert [d.offset for d in report.damaged] == [damaged_at]


def test_salvage_cli_writes_a_loadable_private_journal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = tmp_path / "old.journal", tmp_path / "new.journal"
    records = [encode_message(_msg(i)) for i in range(4)]
    data = bytearray(_journal_bytes(*records))
    data[HEADER_SIZE + 12] ^= 0x01
    old.write_bytes(bytes(data))
    assert salvage_main([str(old), str(new)]) == 0
    out = capsys.readouterr().out
    assert f"damaged at byte offset {HEADER_SIZE}" in out
    assert "salvaged 3 unsent message(s)" in out
    assert stat.S_IMODE(new.stat().st_mode) == 0o600
    live, _ = load(new.read_bytes(), str(new))
    assert len(live) == 3
    # Salvage never overwrites.
    assert salvage_main([str(old), str(new)]) == 1
    assert "already exists" in capsys.readouterr().err


# ----------------------------------------------------------------- files


def test_new_journal_is_created_0600_whatever_the_umask(tmp_path: Path) -> None:
    old_umask = os.umask(0)
    try:
        jf = JournalFile(str(tmp_path / "j"))
    finally:
        os.umask(old_umask)
    jf.close()
    assert stat.S_IMODE((tmp_path / "j").stat().st_mode) == 0o600


def test_existing_journal_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j"
    JournalFile(str(path)).close()
    path.chmod(0o644)
    with pytest.raises(InsecureFileError, match="chmod 600") as info:
        JournalFile(str(path))
    assert isinstance(info.value, PermissionError)


def test_a_journal_cannot_be_opened_twice(tmp_path: Path) -> None:
    first = JournalFile(str(tmp_path / "j"))
    try:
        with pytest.raises(JournalError, match="in use by another publisher"):
            JournalFile(str(tmp_path / "j"))
    finally:
        first.close()


def test_torn_tail_is_truncated_on_open_and_appending_continues(tmp_path: Path) -> None:
    path = tmp_path / "j"
    write_journal(str(path), [_msg(0), _msg(1)])
    whole = path.read_bytes()
    path.write_bytes(whole[:-3])
    jf = JournalFile(str(path))
    assert list(jf.messages) == [0]
    jf.append(encode_message(_msg(5)))
    jf.close()
    live, end = load(path.read_bytes(), str(path))
    assert list(live) == [0, 5]
    assert end == path.stat().st_size


def test_rewrite_replaces_content_and_keeps_the_file_private(tmp_path: Path) -> None:
    path = tmp_path / "j"
    jf = JournalFile(str(path))
    for i in range(10):
        jf.append(encode_message(_msg(i)))
    jf.rewrite([_msg(3), _msg(7)])
    jf.append(encode_sent([3]))
    jf.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert list(load(path.read_bytes(), str(path))[0]) == [7]
    assert sorted(os.listdir(tmp_path)) == ["j"]


# ----------------------------------------------------------------- PublicationJournal


def test_message_lifecycle_and_sequence_restart_when_empty(tmp_path: Path) -> None:
    with PublicationJournal(str(tmp_path / "j")) as journal:
        assert journal.queue_message(b"a", "t", [("h", b"1")], b"k") == 0
        assert journal.queue_message(b"b") == 1
        assert journal.has_messages_to_send() and not journal.has_messages_in_flight()
        # hop-client's shape: (sequence number, message, topic, headers, key).
        assert journal.get_next_message_to_send() == (0, b"a", "t", [("h", b"1")], b"k")
        assert journal.has_messages_in_flight()
        journal.mark_message_sent(0)
        assert journal.get_next_message_to_send() == (1, b"b", None, [], None)
        journal.mark_message_sent(1)
        assert not journal.has_messages_to_send() and not journal.has_messages_in_flight()
        assert (tmp_path / "j").stat().st_size == HEADER_SIZE
        assert journal.queue_message(b"c") == 0


def test_requeued_message_goes_before_newer_ones(tmp_path: Path) -> None:
    with PublicationJournal(str(tmp_path / "j")) as journal:
        for payload in (b"a", b"b", b"c"):
            journal.queue_message(payload)
        first = journal.get_next_message_to_send()
        assert first is not None
        journal.requeue_message(first[0])
        assert journal.get_next_message_to_send() == first


def test_marking_a_message_that_is_not_in_flight_raises_runtime_error(tmp_path: Path) -> None:
    with PublicationJournal(str(tmp_path / "j")) as journal:
        seq = journal.queue_message(b"a")
        with pytest.raises(RuntimeError, match="not in flight"):
            journal.mark_message_sent(seq)
        with pytest.raises(RuntimeError, match="not in flight"):
            journal.requeue_message(99)


def test_delivery_callback_for_a_message_not_in_flight_raises_runtime_error(
    tmp_path: Path,
) -> None:
    with PublicationJournal(str(tmp_path / "j")) as journal:
        seq = journal.queue_message(b"a", "t")
        # As hop-client's docstring says: only a message in flight has a callback.
        with pytest.raises(RuntimeError, match="not in flight"):
            journal.get_delivery_callback(seq)
        taken = journal.get_next_message_to_send()
        assert taken is not None
        journal.get_delivery_callback(taken[0])(None, None)
        assert not journal.has_messages_in_flight()


def test_queue_message_refuses_non_bytes(tmp_path: Path) -> None:
    with PublicationJournal(str(tmp_path / "j")) as journal, pytest.raises(TypeError):
        journal.queue_message("text")  # type: ignore[arg-type]


def test_unsent_and_in_flight_messages_with_headers_and_keys_survive_a_restart(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "j")
    journal = PublicationJournal(path)
    for i in range(5):
        journal.queue_message(f"m{i}".encode(), f"t{i}", [("n", "é")], b"k")
    for _ in range(3):
        taken = journal.get_next_message_to_send()
        assert taken is not None
    journal.mark_message_sent(1)
    # A crash: the descriptor goes away without PublicationJournal.close() writing the
    # pending ack, so message 1 may be resent (at-least-once) but nothing is lost.
    journal._file.close()
    journal2 = PublicationJournal(path)
    try:
        msgs = journal2._take(10)
        values = [m.value for m in msgs]
        assert {b"m0", b"m2", b"m3", b"m4"} <= set(values)
        assert all(m.headers == [("n", "é".encode())] and m.key == b"k" for m in msgs)
        assert {m.topic for m in msgs} >= {"t0", "t2", "t3", "t4"}
    finally:
        journal2.close()


def test_acknowledgements_written_at_close_are_not_resent(tmp_path: Path) -> None:
    path = str(tmp_path / "j")
    with PublicationJournal(path) as journal:
        for i in range(4):
            journal.queue_message(bytes([i]))
        for _ in range(3):
            seq = journal.get_next_message_to_send()
            assert seq is not None
            journal.mark_message_sent(seq[0])
    with PublicationJournal(path) as journal:
        assert [m.value for m in journal._take(10)] == [b"\x03"]


def test_journal_stays_bounded_while_always_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publication_journal, "_COMPACT_MIN_BYTES", 64 * 1024)
    path = tmp_path / "j"
    biggest = 0
    with PublicationJournal(str(path)) as journal:
        journal.queue_message(b"x" * 100)
        for _ in range(20_000):
            journal.queue_message(b"y" * 100)
            seq, *_ = journal.get_next_message_to_send()  # type: ignore[misc]
            journal.mark_message_sent(seq)
            biggest = max(biggest, path.stat().st_size)
        remaining = journal._counts()
    assert biggest < 200 * 1024
    assert remaining == (1, 0)
    with PublicationJournal(str(path)) as journal:
        assert journal._counts() == (1, 0)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["queue", "take", "ack", "requeue", "compact"]), max_size=60))
def test_reopened_journal_holds_exactly_the_unfinished_messages(
    tmp_path_factory: pytest.TempPathFactory, ops: list[str]
) -> None:
    path = str(tmp_path_factory.mktemp("j") / "j")
    expected: dict[bytes, None] = {}
    in_flight: list[tuple[int, bytes]] = []
    counter = 0
    with PublicationJournal(path) as journal:
        for op in ops:
            if op == "queue":
                payload = counter.to_bytes(4, "big")
                counter += 1
                journal.queue_message(payload)
                expected[payload] = None
            elif op == "take":
                got = journal.get_next_message_to_send()
                if got is not None:
                    in_flight.append((got[0], got[1]))
            elif op == "ack" and in_flight:
                seq, payload = in_flight.pop(0)
                journal.mark_message_sent(seq)
                del expected[payload]
            elif op == "requeue" and in_flight:
                journal.requeue_message(in_flight.pop()[0])
            elif op == "compact":
                with journal._lock:
                    journal._pending_acks.clear()
                    journal._file.rewrite(journal._live.values())
    with PublicationJournal(path) as journal:
        assert sorted(m.value for m in journal._take(10**6)) == sorted(expected)


def test_delivery_callback_marks_requeues_or_drops(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    held = []

    class SpyLock:
        def __enter__(self) -> None:
            held.append(True)

        def __exit__(self, *exc: object) -> None:
            return None

    with PublicationJournal(str(tmp_path / "j")) as journal:
        for payload in (b"ok", b"retry", b"too-big"):
            journal.queue_message(payload)
        seqs = [journal.get_next_message_to_send()[0] for _ in range(3)]  # type: ignore[index]
        journal.get_delivery_callback(seqs[0], SpyLock())(None, None)
        journal.get_delivery_callback(seqs[1])(KafkaError(KafkaError._MSG_TIMED_OUT), None)
        with caplog.at_level(logging.ERROR, logger="hop"):
            journal.get_delivery_callback(seqs[2])(
                KafkaError(KafkaError.MSG_SIZE_TOO_LARGE), None
            )
        assert held == [True]
        assert "dropped" in caplog.text
        assert journal._counts() == (1, 0)
        assert journal.get_next_message_to_send()[1] == b"retry"  # type: ignore[index]
        PublicationJournal.error_callback(KafkaError(KafkaError._TRANSPORT))


def test_fsync_mode_batches_fsyncs_of_concurrent_writers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real = journal_file._datasync

    def counting(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(journal_file, "_datasync", counting)
    path = str(tmp_path / "j")
    writers, per_writer = 8, 100
    with PublicationJournal(path, durability="fsync") as journal:

        def write() -> None:
            for i in range(per_writer):
                journal.queue_message(i.to_bytes(4, "big"))

        threads = [threading.Thread(target=write) for _ in range(writers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads)
    assert 0 < len(calls) < writers * per_writer
    with PublicationJournal(path) as journal:
        assert sum(journal._counts()) == writers * per_writer


def _slow_counted_syncs(monkeypatch: pytest.MonkeyPatch, seconds: float) -> list[int]:
    calls: list[int] = []
    real = journal_file._datasync

    def slow(fd: int) -> None:
        calls.append(fd)
        time.sleep(seconds)  # a slow disk: writers pile up behind each fdatasync
        real(fd)

    monkeypatch.setattr(journal_file, "_datasync", slow)
    return calls


def test_a_group_commit_leader_gathers_the_writers_the_last_fsync_released(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without gathering, the first writer back from an fsync starts the next one alone
    # and the rest wait for the one after: about two fsyncs per round of writers.
    calls = _slow_counted_syncs(monkeypatch, 0.01)
    monkeypatch.setattr(journal_file, "_GATHER_MAX_S", 0.5)  # never the limit here
    writers, per_writer = 8, 15
    with PublicationJournal(str(tmp_path / "j"), durability="fsync") as journal:
        start = threading.Barrier(writers)

        def write() -> None:
            start.wait()
            for i in range(per_writer):
                journal.queue_message(i.to_bytes(4, "big"))

        threads = [threading.Thread(target=write) for _ in range(writers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads)
        syncs = len(calls)
    # One fsync per round of the 8 writers (per_writer rounds), with a little slack
    # for the first rounds, before every writer is under way.
    assert syncs <= per_writer + 4, f"{syncs} fsyncs for {writers * per_writer} records"


def test_a_lone_fsync_writer_never_waits_to_gather(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _slow_counted_syncs(monkeypatch, 0.0)
    monkeypatch.setattr(journal_file, "_GATHER_MAX_S", 5.0)
    with PublicationJournal(str(tmp_path / "j"), durability="fsync") as journal:
        began = time.monotonic()
        for i in range(20):
            journal.queue_message(i.to_bytes(4, "big"))
        elapsed = time.monotonic() - began
    assert len(calls) >= 20  # one fdatasync per record: nobody to share with
    assert elapsed < 4.0  # a single wait to gather would have taken 5 s


def test_a_failed_fsync_fails_every_writer_waiting_for_it_and_later_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, go = threading.Event(), threading.Event()

    def failing(fd: int) -> None:
        started.set()
        go.wait(10)  # the other writers queue up behind this fdatasync
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(journal_file, "_datasync", failing)
    journal = PublicationJournal(str(tmp_path / "j"), durability="fsync")
    errors: list[BaseException] = []

    def write() -> None:
        try:
            journal.queue_message(b"m")
        except JournalError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(6)]
    threads[0].start()
    assert started.wait(10)
    for t in threads[1:]:
        t.start()
    time.sleep(0.2)  # they append and wait for the failing fdatasync
    go.set()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads)
    assert len(errors) == 6
    assert all("Input/output error" in str(e) for e in errors)
    with pytest.raises(JournalError):
        journal.queue_message(b"later")
    monkeypatch.setattr(journal_file, "_datasync", lambda fd: None)
    journal.close()


def test_invalid_durability_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="durability"):
        PublicationJournal(str(tmp_path / "j"), durability="sometimes")


def test_journal_check_command_reports_clean_and_damaged_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:

    path = tmp_path / "j"
    write_journal(str(path), [_msg(0), _msg(1)])
    assert journal_main(["check", str(path)]) == 0
    assert "2 unsent message(s)" in capsys.readouterr().out
    data = bytearray(path.read_bytes())
    data[HEADER_SIZE + 10] ^= 0x10
    path.write_bytes(bytes(data))
    assert journal_main(["check", str(path)]) == 1
    assert f"damaged at byte offset {HEADER_SIZE}" in capsys.readouterr().out
    assert journal_main(["salvage", str(path), str(tmp_path / "new")]) == 0
    assert "salvaged 1 unsent message(s)" in capsys.readouterr().out
    assert journal_main(["bogus"]) == 2


def test_dropped_journal_releases_its_lock(tmp_path: Path) -> None:
    import gc

    journal = PublicationJournal(str(tmp_path / "j"))
    journal.queue_message(b"kept")
    del journal
    gc.collect()
    with PublicationJournal(str(tmp_path / "j")) as again:
        assert [m.value for m in again._take(5)] == [b"kept"]


def test_batch_of_acknowledgements_is_one_record_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "j"
    with PublicationJournal(str(path)) as journal:
        for i in range(10):
            journal.queue_message(bytes([i]))
        taken = [m.seq for m in journal._take(7)]
        before = path.stat().st_size
        journal._mark_sent_many(taken[:6])
        assert path.stat().st_size - before == len(encode_sent(taken[:6]))
        with pytest.raises(RuntimeError, match="not in flight"):
            journal._mark_sent_many([taken[0]])
    with PublicationJournal(str(path)) as journal:
        assert sorted(m.value for m in journal._take(10)) == [bytes([i]) for i in range(6, 10)]


def test_hop_journal_is_a_command_of_the_hop_program(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hop import cli

    path = tmp_path / "j"
    write_journal(str(path), [_msg(0)])
    assert cli.main(["journal", "check", str(path)]) == 0
    assert "1 unsent message(s)" in capsys.readouterr().out
