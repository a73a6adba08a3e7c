"""The exceptions and warnings that skyhop raises.

Every error the library raises on purpose derives from :class:`HopError`, so one
``except HopError`` catches them all. Where the hop-client documentation names a
built-in type (``ValueError`` for a bad URL, ``KeyError`` for an unknown format,
``PermissionError`` for an unsafe file), the class also derives from that type, so
code written for upstream keeps catching what it caught before. The whole tree, with
the classes that :mod:`hop.samp`, :mod:`hop.testing` and :mod:`igwn_alert` add to it
(in brackets), and each class's other bases in parentheses::

    HopError
     +-- ConfigurationError (ValueError)          bad URL, option, config file
     |    +-- ConfigFileError (RuntimeError)        malformed config.toml, HOP_* variable
     |    +-- InvalidSettingError (AssertionError)  [igwn_alert] bad server/port/group
     +-- CredentialError (RuntimeError)            credential store and selection
     |    +-- NoMatchingCredentialError (KeyError)
     |    +-- AmbiguousCredentialError
     |    +-- InsecureFileError (PermissionError)
     |    +-- CredentialFileError (ConfigurationError, KeyError)  malformed auth.toml/CSV
     |    +-- IncompleteCredentialError (RuntimeError)  [igwn_alert] no password
     +-- KafkaException                            anything librdkafka or the broker said
     |    +-- AuthenticationError                   SASL / TLS refused
     |    +-- AuthorizationError                    ACLs refused a topic or group
     |    +-- BrokerUnreachableError (TimeoutError)
     |    +-- UnknownTopicError (ValueError)
     |    +-- MessageTooLargeError (ValueError)
     |    +-- DeliveryError                         a message was not delivered
     +-- SerializationError (ValueError)          a message could not be encoded/decoded
     |    +-- AvroRecordCountError (TypeError)      [hop.models] several Avro records
     +-- JournalError (RuntimeError)              the RobustProducer's journal
     |    +-- JournalCorruptError
     +-- StateError (RuntimeError)                misuse: the object's state forbids it
     |    +-- StreamClosedError                     a stream used after close()
     |    +-- NotConnectedError                     [igwn_alert] publish before connect()
     +-- SAMPError                                 base of hop.samp's errors
     |    +-- SAMPHubError                          [hop.samp]
     |    +-- SAMPClientError                       [hop.samp]
     |    +-- SAMPProxyError (Fault)                [hop.samp] the hub answered a fault
     |    |    +-- SAMPProxyTimeoutError            [hop.samp]
     |    +-- BridgeError                           the alert bridge cannot run
     +-- MissingDependencyError (ImportError)      an optional extra is not installed
     +-- BrokerError (RuntimeError)                [hop.testing] the test broker
          +-- JarDownloadError                      [hop.testing]
          +-- TLSSetupError                         [hop.testing]

    HopWarning (UserWarning)                       something the user should know
     +-- SAMPWarning                               [hop.samp]

:class:`KafkaException` keeps the name of adc-streaming's exception, which upstream
hop-client users already catch, and carries the same attributes (``error``, ``name``,
``reason``, ``retriable``, ``fatal``). What a librdkafka error means for the message
or client at hand (retry, drop, stop) is decided in one place,
:func:`hop._kafka_errors.classify`. A :class:`StateError` is a programming error (a
call in the wrong order); the others are conditions a program may meet at run time.
A test checks that this drawing matches the classes.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AmbiguousCredentialError",
    "AuthenticationError",
    "AuthorizationError",
    "BridgeError",
    "BrokerUnreachableError",
    "ConfigFileError",
    "ConfigurationError",
    "CredentialError",
    "CredentialFileError",
    "DeliveryError",
    "HopError",
    "HopWarning",
    "InsecureFileError",
    "JournalCorruptError",
    "JournalError",
    "KafkaException",
    "MessageTooLargeError",
    "MissingDependencyError",
    "NoMatchingCredentialError",
    "SAMPError",
    "SerializationError",
    "StateError",
    "StreamClosedError",
    "UnknownTopicError",
]


class HopError(Exception):
    """Root of every error skyhop raises on purpose."""


class ConfigurationError(HopError, ValueError):
    """A URL, option or configuration file is not valid."""


class ConfigFileError(ConfigurationError, RuntimeError):
    """The general configuration (``config.toml``, a ``HOP_*`` variable) cannot be used.

    Also a ``RuntimeError``: hop-client raises that type for a malformed configuration
    file or variable, and code written for it catches it.
    """


class CredentialError(HopError, RuntimeError):
    """A credential could not be loaded, stored or selected.

    Also a ``RuntimeError``: the hop-client documentation promises that type for these
    failures, and code written for upstream catches it.
    """


class NoMatchingCredentialError(CredentialError, KeyError):
    """No stored credential fits the broker (and username) being connected to."""

    def __str__(self) -> str:
        # KeyError quotes its argument; a user-facing message should not be quoted.
        return str(self.args[0]) if self.args else ""


class AmbiguousCredentialError(CredentialError):
    """More than one stored credential fits; the message lists the candidates."""

    @property
    def message(self) -> str:
        """The error text (upstream exposes it under this name)."""
        return str(self.args[0]) if self.args else ""


class InsecureFileError(CredentialError, PermissionError):
    """A file holding secrets is readable or writable by other users."""


class KafkaException(HopError):
    """An error reported by librdkafka or by the broker.

    Attributes
    ----------
    error : confluent_kafka.KafkaError or None
        The underlying librdkafka error, when there is one.
    name : str
        The librdkafka error name, e.g. ``"_TRANSPORT"`` or ``"TOPIC_AUTHORIZATION_FAILED"``.
    reason : str
        librdkafka's human-readable explanation.
    retriable : bool
        Whether repeating the operation may succeed.
    fatal : bool
        Whether the client instance is unusable after this error.
    topic, partition, offset :
        Where the error happened, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        error: Any = None,
        name: str = "",
        reason: str = "",
        retriable: bool = False,
        fatal: bool = False,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error = error
        self.name = name
        self.reason = reason
        self.retriable = retriable
        self.fatal = fatal
        self.topic = topic
        self.partition = partition
        self.offset = offset


class AuthenticationError(KafkaException):
    """The broker refused the credential, or the TLS handshake failed."""


class AuthorizationError(KafkaException):
    """The credential is valid but an ACL refuses the topic or consumer group."""


class BrokerUnreachableError(KafkaException, TimeoutError):
    """No broker answered within the allowed time."""


class UnknownTopicError(KafkaException, ValueError):
    """The topic does not exist on the broker."""


class MessageTooLargeError(KafkaException, ValueError):
    """A message is larger than the broker or topic accepts."""


class DeliveryError(KafkaException):
    """A message could not be delivered to the broker."""


class SerializationError(HopError, ValueError):
    """A message could not be encoded, or bytes could not be decoded into a model.

    Attributes
    ----------
    raw : bytes or None
        The undecodable input, kept so that nothing is lost.
    source : str or None
        Where the input came from: a file name, or ``topic[partition]@offset``.
    position : str or None
        The line/column or byte position the parser reported, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        raw: bytes | None = None,
        source: str | None = None,
        position: str | None = None,
    ) -> None:
        super().__init__(message)
        self.raw = raw
        self.source = source
        self.position = position


class JournalError(HopError, RuntimeError):
    """The RobustProducer's journal cannot be used.

    Also a ``RuntimeError``, the type the hop-client documentation promises for a
    corrupt journal or a failed append.
    """


class JournalCorruptError(JournalError):
    """The journal holds a damaged record.

    Attributes
    ----------
    path : str
        The journal file.
    offset : int
        Byte offset of the first damaged record.
    """

    def __init__(self, message: str, *, path: str, offset: int) -> None:
        super().__init__(message)
        self.path = path
        self.offset = offset


class StateError(HopError, RuntimeError):
    """A call that the object's state does not allow: not started, stopped, failed.

    A programming error, not a condition met at run time. Also a ``RuntimeError``,
    what upstream raised (or what Python's threads raise) in these cases.
    """


class StreamClosedError(StateError):
    """A stream (or what it wraps) was used after ``close()``."""


class SAMPError(HopError):
    """Base of the errors raised by :mod:`hop.samp`."""


class BridgeError(SAMPError):
    """The alert bridge cannot run (e.g. another bridge holds its memory file)."""


class MissingDependencyError(HopError, ImportError):
    """A feature needs an optional extra that is not installed.

    The message names the extra (``pip install 'skyhop[bridge]'``).

    Attributes
    ----------
    extra : str
        The name of the extra, e.g. ``"bridge"``.
    """

    def __init__(self, message: str, *, extra: str, name: str | None = None) -> None:
        super().__init__(message, name=name)
        self.extra = extra


class HopWarning(UserWarning):
    """Base of the warnings skyhop issues (e.g. a thread that did not stop in time)."""


class CredentialFileError(CredentialError, ConfigurationError, KeyError):
    """A credential file (``auth.toml`` or a CSV import) is malformed.

    The message names the file and the entry or row at fault. It is a ``KeyError``
    because the hop-client documentation promises one for a malformed credential file,
    and a ``ValueError`` like every other configuration error.
    """

    def __str__(self) -> str:
        # KeyError quotes its argument; a user-facing message should not be quoted.
        return str(self.args[0]) if self.args else ""
