"""One lifecycle vocabulary, and one way to report a thread that does not stop."""

from __future__ import annotations

import threading

import pytest

from hop._lifecycle import State, join_threads, report_stuck_threads
from hop.errors import HopWarning, StateError, StreamClosedError


def test_join_threads_names_only_the_threads_still_alive_after_the_shared_timeout() -> None:
    release = threading.Event()
    stuck = threading.Thread(target=release.wait, name="stuck-one", daemon=True)
    quick = threading.Thread(target=lambda: None, name="quick-one", daemon=True)
    never_started = threading.Thread(target=lambda: None, name="never", daemon=True)
    stuck.start()
    quick.start()
    try:
        assert join_threads([stuck, quick, never_started, None], 0.05) == ["stuck-one"]
    finally:
        release.set()
        stuck.join(5)
    assert not stuck.is_alive()


def test_a_stuck_thread_is_reported_once_with_its_owner_name_and_timeout() -> None:
    with pytest.warns(HopWarning, match=r"RobustProducer for kafka://x/t: thread\(s\) a, b "
                      r"did not stop within 2.5 s"):
        report_stuck_threads("RobustProducer for kafka://x/t", ["a", "b"], 2.5)


def test_nothing_is_reported_when_every_thread_stopped(recwarn: pytest.WarningsRecorder) -> None:
    report_stuck_threads("owner", [], 1.0)
    assert len(recwarn) == 0


def test_states_are_named_for_messages() -> None:
    assert [s.value for s in State] == ["created", "running", "stopping", "stopped"]


def test_misuse_errors_are_hop_errors_and_runtime_errors() -> None:
    assert issubclass(StreamClosedError, StateError)
    assert issubclass(StateError, RuntimeError)


def test_a_closed_producer_refuses_writes_with_stream_closed_error() -> None:
    from hop.io import Producer

    producer = Producer("127.0.0.1:1", "t")  # librdkafka connects lazily: no broker needed
    producer.close(timeout=0)
    with pytest.raises(StreamClosedError, match="closed"):
        producer.write("x")
    with pytest.raises(StreamClosedError, match="closed"):
        producer.flush()
