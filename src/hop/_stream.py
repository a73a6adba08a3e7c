"""``Stream``: defaults shared by the streams it opens, and credential selection."""

from __future__ import annotations

import logging
import os
import secrets
import string
import sys
import warnings
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, overload

import confluent_kafka

from hop import errors
from hop._config import DEFAULT_CONNECT_TIMEOUT, seconds
from hop._consumer import Consumer, StartPosition, fetch_metadata
from hop._kafka_errors import ClientErrors, kafka_errors, translate
from hop._producer import Producer
from hop._url import parse_url

if TYPE_CHECKING:
    from hop._auth.credential import AuthOption

__all__ = ["Stream", "list_topics"]

logger = logging.getLogger("hop")

_GROUP_ALPHABET = string.ascii_uppercase + string.digits


def _public(name: str, default: Any) -> Any:
    """``hop.io.<name>`` as it is now, else ``default``.

    hop-client's Stream.open calls Producer and Consumer as globals of hop.io, so a
    test that patches ``hop.io.Consumer`` changes what it opens. Looked up in
    sys.modules rather than imported: hop.io is built on this module.
    """
    module = sys.modules.get("hop.io")
    return getattr(module, name, default) if module is not None else default


def _credential_function(name: str) -> Any:
    """``load_auth`` or ``select_matching_auth``, wherever a test has replaced it.

    hop-client's Stream calls the names it imported into hop.io, so tests written for
    it patch ``hop.io.load_auth``; code written for skyhop (and igwn-alert's tests)
    patch ``hop.auth.load_auth``. A replacement in hop.io wins; otherwise hop.auth's
    current attribute is used.
    """
    from hop import auth as _auth

    replaced = _public(name, None)
    if replaced is not None and getattr(replaced, "__module__", None) != "hop.auth":
        return replaced
    return getattr(_auth, name)


def _generate_group_id(user: str | None, n: int = 10) -> str:
    rand = "".join(secrets.choice(_GROUP_ALPHABET) for _ in range(n))
    return f"{user}-{rand}" if user else rand


def _select_credential(creds: Any, broker: str, username: str | None, url: str) -> Any:
    """Pick the credential for ``broker`` from what a Stream was given."""
    if creds is None or creds is False:
        return None
    from hop import auth as _auth

    if isinstance(creds, _auth.Auth):
        return creds
    try:
        return _credential_function("select_matching_auth")(list(creds), broker, username)
    except errors.AmbiguousCredentialError as exc:
        raise errors.AmbiguousCredentialError(
            f"{exc}\nTo select a specific credential to use, embed its username in the URL:\n"
            f"  kafka://<username>@{url.split('://', 1)[-1].split('@')[-1]}"
        ) from exc


class Stream:
    """Defines an event stream.

    Sets the defaults used by every stream opened from this instance.

    Parameters
    ----------
    auth : bool, hop.auth.Auth or list of hop.auth.Auth
        True loads the credential store (``hop auth locate``) on first use; False
        disables authentication; an ``Auth`` or a list of them is used as given (the
        best match for each URL is picked from a list).
    start_at : StartPosition or datetime.datetime
        Where reading starts when the group has no committed offset. A ``datetime``
        starts every partition at its first message at or after that time.
    until_eos : bool
        Stop reading once every partition has been read to its end.
    deduplicate : bool
        Readers opened from this stream drop messages whose ``_id`` they already handed
        over (see :meth:`hop.io.Consumer.read`). Keyword only.
    dedupe_path : path, optional
        A file in which readers record the ids they handed over, so that a restarted
        reader, or another of its group on the same machine, does not hand them over
        again. Implies ``deduplicate``. Keyword only.
    """

    def __init__(
        self,
        auth: AuthOption = True,
        start_at: StartPosition | datetime = StartPosition.LATEST,
        until_eos: bool = False,
        *,
        deduplicate: bool = False,
        dedupe_path: str | os.PathLike[str] | None = None,
    ) -> None:
        if not isinstance(start_at, StartPosition | datetime):
            raise errors.ConfigurationError(
                f"start_at must be a hop.io.StartPosition or a datetime, got {start_at!r}"
            )
        self._auth_arg = auth
        self._auth_loaded: Any = None
        self.start_at = start_at
        self.until_eos = until_eos
        self.deduplicate = deduplicate or dedupe_path is not None
        self.dedupe_path = dedupe_path

    @property
    def auth(self) -> list[Any] | None:
        """The credentials this stream chooses from (None when authentication is off)."""
        if self._auth_loaded is None:
            arg = self._auth_arg
            if arg is False or arg is None:
                return None
            if arg is True:
                self._auth_loaded = list(_credential_function("load_auth")())
            elif isinstance(arg, Sequence) and not isinstance(arg, str | bytes):
                self._auth_loaded = list(arg)
            else:
                self._auth_loaded = [arg]
        return list(self._auth_loaded)

    @overload
    def open(
        self,
        url: str,
        mode: Literal["r"] = ...,
        group_id: str | None = ...,
        ignoretest: bool = ...,
        **kwargs: Any,
    ) -> Consumer: ...

    @overload
    def open(
        self,
        url: str,
        mode: Literal["w"],
        group_id: str | None = ...,
        ignoretest: bool = ...,
        **kwargs: Any,
    ) -> Producer: ...

    def open(
        self,
        url: str,
        mode: str = "r",
        group_id: str | None = None,
        ignoretest: bool = True,
        **kwargs: Any,
    ) -> Producer | Consumer:
        """Open a connection to an event stream.

        Parameters
        ----------
        url : str
            ``kafka://[username@]broker[:port][,broker2]/topic[,topic2]``; a username
            picks the credential to use.
        mode : {"r", "w"}
            Read or write.
        group_id : str, optional
            Consumer group to read as; a random one when not given.
        ignoretest : bool
            In read mode, skip messages marked as tests.
        **kwargs
            Options of the opened stream (see :class:`hop._config.ConsumerConfig` and
            :class:`hop._config.ProducerConfig`; in read mode also ``deduplicate``,
            ``dedupe_path`` and ``dedupe_window``, see :class:`hop.io.Consumer`);
            unknown options raise.

        Returns
        -------
        Producer or Consumer

        Raises
        ------
        ValueError
            (:class:`hop.errors.ConfigurationError`) for a bad mode or URL, or more
            than one topic in write mode.
        """
        if mode not in ("r", "w"):
            raise errors.ConfigurationError(f"mode must be either 'w' or 'r', got {mode!r}")
        parsed = parse_url(url)
        credential = _select_credential(self.auth, parsed.brokers[0], parsed.username, url)
        if mode == "w":
            if len(parsed.topics) > 1:
                raise errors.ConfigurationError(
                    f"a stream opened for writing takes at most one topic; {url!r} names "
                    f"{len(parsed.topics)}"
                )
            if group_id is not None:
                warnings.warn(
                    "group ID has no effect when opening a stream in write mode",
                    stacklevel=2,
                )
            producer_class = _public("Producer", Producer)
            return producer_class(  # type: ignore[no-any-return]
                list(parsed.brokers), list(parsed.topics), auth=credential, **kwargs
            )
        if not parsed.topics:
            raise errors.ConfigurationError(f"no topic(s) specified in kafka URL {url!r}")
        if group_id is None:
            group_id = _generate_group_id(getattr(credential, "username", None))
            logger.info("reading as new consumer group %s", group_id)
        kwargs.setdefault("deduplicate", self.deduplicate)
        if self.dedupe_path is not None:
            kwargs.setdefault("dedupe_path", self.dedupe_path)
        kwargs.setdefault("start_at", self.start_at)
        kwargs.setdefault("read_forever", not self.until_eos)
        consumer_class = _public("Consumer", Consumer)
        return consumer_class(  # type: ignore[no-any-return]
            group_id,
            list(parsed.brokers),
            list(parsed.topics),
            ignoretest=ignoretest,
            auth=credential,
            **kwargs,
        )


class _ListTopicsTimeout(errors.BrokerUnreachableError, confluent_kafka.KafkaException):
    """A list_topics timeout: also the ``confluent_kafka.KafkaException`` hop-client documents.

    hop-client's callers may read ``exc.args[0]`` as the ``KafkaError``; ``str()``
    stays skyhop's message.
    """

    def __init__(self, message: str, cause: errors.BrokerUnreachableError) -> None:
        super().__init__(
            message,
            error=cause.error,
            name=cause.name,
            reason=cause.reason,
            retriable=cause.retriable,
            fatal=cause.fatal,
        )
        if cause.error is not None:
            self.args = (cause.error,)

    def __str__(self) -> str:
        return self.message


def list_topics(
    url: str, auth: AuthOption = True, timeout: float | timedelta = -1.0
) -> dict[str, Any]:
    """List the accessible topics on the Kafka broker named by ``url``.

    Parameters
    ----------
    url : str
        The broker URL. Topics named in it restrict the answer to those that exist. A
        username in it picks the credential when ``auth`` is True.
    auth : bool or hop.auth.Auth
        As for :class:`Stream`.
    timeout : float or datetime.timedelta
        Longest wait for the broker, in seconds. Negative (the upstream default) means
        the default of 10 s: listing never waits forever.

    Returns
    -------
    dict
        ``{topic name: confluent_kafka.admin.TopicMetadata}``.

    Raises
    ------
    ValueError
        (:class:`hop.errors.ConfigurationError`) The URL names more than one broker.
    confluent_kafka.KafkaException
        When no broker answers in time: a :class:`hop.errors.BrokerUnreachableError`
        that is also a ``confluent_kafka.KafkaException`` (what hop-client documents),
        whose ``args[0]`` is the ``KafkaError`` when librdkafka gave one.
    """
    from hop._config import connection_settings

    parsed = parse_url(url)
    if len(parsed.brokers) > 1:
        raise errors.ConfigurationError(
            f"Multiple broker addresses are not supported (list_topics of {url!r})"
        )
    creds = Stream(auth=auth).auth if auth is not False else None
    credential = _select_credential(creds, parsed.brokers[0], parsed.username, url)
    limit = seconds(timeout, "timeout")
    if limit is None or limit < 0:
        limit = DEFAULT_CONNECT_TIMEOUT.total_seconds()
    action = f"listing topics on {parsed.bootstrap}"
    client_errors = ClientErrors(action)
    conf = connection_settings(parsed.bootstrap, credential, int(limit * 1000))
    conf.update({"group.id": _generate_group_id(None), "error_cb": client_errors})
    with kafka_errors(action):
        consumer = confluent_kafka.Consumer(conf)

    try:
        try:
            if parsed.topics:
                found: dict[str, Any] = {}
                for topic in parsed.topics:
                    found.update(fetch_metadata(consumer, topic, limit, client_errors).topics)
            else:
                found = dict(fetch_metadata(consumer, None, limit, client_errors).topics)
        except confluent_kafka.KafkaException as exc:
            err = translate(exc, action=action)
            if isinstance(err, errors.BrokerUnreachableError):
                err = _ListTopicsTimeout(
                    f"no broker at {parsed.bootstrap} answered within {limit:g} s "
                    f"({err.reason}); check the host and port and that the broker is up",
                    err,
                )
            raise err from exc
    finally:
        consumer.close()
    return {name: t for name, t in found.items() if t.error is None}
