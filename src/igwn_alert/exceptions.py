"""igwn-alert's ``igwn_alert.exceptions``: the Kafka exception, and stand-ins for tests.

igwn-alert's own tests, and tests written like them, raise ``FakeFatalKafkaException``
(or the non-fatal one) from a callback to exercise :meth:`igwn_alert.client.listen`'s
reconnection logic; they work here too. ``KafkaException`` is
:class:`hop.errors.KafkaException`, the class ``listen`` catches.
"""

from __future__ import annotations

from hop.errors import KafkaException

__all__ = [
    "FakeFatalKafkaException",
    "FakeNonFatalKafkaException",
    "KafkaException",
    "generic_error",
]


class generic_error:  # upstream's public name, lower case
    """A stand-in for a ``confluent_kafka.KafkaError``, with the same accessors.

    Parameters
    ----------
    code : int
        The error code, returned by :meth:`name`.
    reason : str
        The explanation, returned by :meth:`str`.
    fatal : bool
        Whether the error is fatal; a non-fatal one is retriable.
    """

    def __init__(self, code: int, reason: str, fatal: bool) -> None:
        self.code = code
        self.reason = reason
        self.is_fatal = fatal
        self.is_retriable = not fatal

    def name(self) -> int:
        """The error code."""
        return self.code

    def str(self) -> str:
        """The explanation."""
        return self.reason

    def retriable(self) -> bool:
        """Whether retrying may help (the opposite of :meth:`fatal`)."""
        return self.is_retriable

    def fatal(self) -> bool:
        """Whether the error is fatal."""
        return self.is_fatal


def _fake(code: int, reason: str, fatal: bool) -> KafkaException:
    error = generic_error(code, reason, fatal)
    return KafkaException(
        f"Error communicating with Kafka: code={code} {reason}",
        error=error,
        name=str(code),
        reason=reason,
        retriable=not fatal,
        fatal=fatal,
    )


FakeFatalKafkaException = _fake(100, "fake fatal error", True)
"""A fatal Kafka error to raise in tests."""
FakeNonFatalKafkaException = _fake(101, "fake nonfatal error", False)
"""A non-fatal Kafka error to raise in tests."""
