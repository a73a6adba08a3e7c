"""What :class:`~hop.robust_publisher.RobustProducer` needs from a Kafka producer.

The sender talks to Kafka through :class:`ProducerBackend` only, so unit tests drive it
with an in-memory fake of these four methods instead of patching private parts of
:class:`hop.io.Producer`; :class:`HopProducerBackend` is the real one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from hop._robust.format import Header

if TYPE_CHECKING:
    from hop._producer import Producer

__all__ = ["DeliveryCallback", "HopProducerBackend", "ProducerBackend"]

DeliveryCallback = Callable[[Any, Any], None]
"""``callback(err, msg)``: librdkafka's delivery report for one message."""


class ProducerBackend(Protocol):
    """A Kafka producer as the RobustProducer's sender uses it."""

    def produce(
        self,
        payload: bytes,
        headers: list[Header],
        on_delivery: DeliveryCallback,
        topic: str | None,
        key: bytes | None,
    ) -> None:
        """Hand one message to the client; ``on_delivery`` runs inside a later poll.

        Raises :class:`hop.errors.KafkaException` when the client refuses it at once
        (e.g. its queue is full, or the topic is unknown).
        """

    def poll(self, timeout: float) -> int:
        """Serve delivery reports for up to ``timeout`` seconds; return how many ran."""

    def flush(self) -> int:
        """Wait for every message handed over to be reported; return how many remain."""

    def close(self, timeout: float | None = None) -> int:
        """Shut down; with ``timeout=0`` drop what is still queued instead of waiting."""


class HopProducerBackend:
    """A :class:`hop.io.Producer` seen as a :class:`ProducerBackend`.

    The methods are the producer's own bound methods, not wrappers: ``produce`` runs
    once per message and an extra call frame there is measurable.
    """

    def __init__(self, producer: Producer) -> None:
        self.producer = producer
        # The journal's headers are already normalized, so the producer's write_raw
        # checks are skipped.
        self.produce: Callable[
            [bytes, list[Header], DeliveryCallback, str | None, bytes | None], None
        ] = producer._produce  # type: ignore[assignment]
        self.poll: Callable[[float], int] = producer._poll
        self.flush: Callable[[], int] = producer.flush
        self.close: Callable[..., int] = producer.close
