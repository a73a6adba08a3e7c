"""The ``client`` class: a :class:`hop.io.Stream` that speaks GraceDB's alert topics."""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

from hop import aio, errors
from hop._internal import generate_group_id
from hop.io import Consumer, Producer, Stream
from igwn_alert import _credentials
from igwn_alert._errors import InvalidSettingError, NotConnectedError
from igwn_alert._payload import payload_of, printable
from igwn_alert._subscriptions import SubscriptionStore

# No __all__ here: the public names are listed once, in igwn_alert.client, which
# re-exports them under upstream's module path.

logger = logging.getLogger("igwn_alert.client")

DEFAULT_SERVER = "kafka://kafka.scimma.org/"
"""The SCiMMA Hopskotch broker."""
DEFAULT_PORT = 9092
DEFAULT_GROUP = "gracedb"
"""The production GraceDB instance; others are ``gracedb-playground``, ``gracedb-test``."""
DEFAULT_BATCH_SIZE = 1
DEFAULT_BATCH_TIMEOUT = timedelta(seconds=0.2)
DEFAULT_LISTEN_RETRIES = 3
DEFAULT_RETRY_WAIT = 0.1
DEFAULT_TIMEOUT = 10.0
"""Seconds that listing or deleting topics waits for the broker (upstream waits forever)."""

Callback = Callable[..., Any]


def _as_list(topics: str | Iterable[str] | None) -> list[str]:
    if topics is None:
        return []
    if isinstance(topics, str):
        return [topics]
    return list(topics)


def _check_type(name: str, value: Any, kind: type | tuple[type, ...]) -> None:
    if not isinstance(value, kind) or isinstance(value, bool):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        # The text of igwn-alert's assertion, which names the type as its repr.
        raise InvalidSettingError(f'"{name}" must be {names}, not {type(value)}')


class client(Stream):  # upstream's public name, lower case
    """A hop-scotch client configured for igwn_alerts from GraceDB.

    Kafka topics are named ``<group>.<topic>``; every method takes and returns the
    short ``<topic>`` part.

    Parameters
    ----------
    username, password : str, optional
        The SCiMMA credential; both or neither.
    auth : hop.auth.Auth or list of hop.auth.Auth, optional
        The credential(s) to use; wins over every other source.
    authfile : str, optional
        Path of a hop ``auth.toml`` to read credentials from.
    noauth : bool
        Connect without authenticating.
    group : str
        GraceDB group, e.g. ``gracedb``, ``gracedb-playground``, ``gracedb-test``.
    consumer_group : str, optional
        Consumer group to read as. Listeners sharing one split the topics' partitions
        between them, and a listener resumes where its group left off. When not given,
        one is generated per client and kept across reconnections.
    server : str
        ``kafka://host/``; the port comes from ``port``.
    port : int
        The broker's port.
    batch_size : int
        Most messages taken from the client library at a time.
    batch_timeout : datetime.timedelta
        Accepted for compatibility; messages are handled as soon as they arrive.
    retry_on_fatal : bool
        Reconnect when listening fails with a :class:`hop.errors.KafkaException`.
    listen_retries : int
        How many reconnections in a row are tried before the error is raised; the
        count starts again after each message received.
    retry_wait : float
        Seconds to wait before each reconnection.
    jsonpp_on : bool
        Without a callback, pretty-print JSON alerts.
    session_timeout : float, optional
        Seconds after which the broker gives a silent listener's partitions to the
        others in its consumer group (the client library's default, 45 s, when None).
        Lower it so that a crashed listener's share is taken over sooner.
    keep_subscriptions : bool
        Make :meth:`subscribe`, :meth:`unsubscribe` and :meth:`get_subscriptions`
        keep a consumer group's default topics (in the hop configuration directory),
        which :meth:`listen` then reads when given none. Off by default: as with
        igwn-alert, those methods only warn that they are deprecated, and
        :meth:`listen` without topics reads every topic the credential can see.

    Raises
    ------
    InvalidSettingError
        ``server``, ``port``, ``group`` or another setting has the wrong type (an
        ``AssertionError``, as upstream raised).
    IncompleteCredentialError
        Only one of ``username`` and ``password`` was given (a ``RuntimeError``).

    Examples
    --------
    >>> alert_client = client(group="gracedb-playground")  # doctest: +SKIP
    >>> alert_client.listen(process_alert, ["superevent", "cbc_gstlal"])  # doctest: +SKIP
    """

    def __init__(
        self,
        username: str | None = None,
        password: str | None = None,
        auth: Any = None,
        authfile: str | None = None,
        noauth: bool = False,
        group: str = DEFAULT_GROUP,
        consumer_group: str | None = None,
        server: str = DEFAULT_SERVER,
        port: int = DEFAULT_PORT,
        batch_size: int = DEFAULT_BATCH_SIZE,
        batch_timeout: timedelta = DEFAULT_BATCH_TIMEOUT,
        retry_on_fatal: bool = False,
        listen_retries: int = DEFAULT_LISTEN_RETRIES,
        retry_wait: float = DEFAULT_RETRY_WAIT,
        jsonpp_on: bool = False,
        *,
        session_timeout: float | None = None,
        keep_subscriptions: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> None:
        _check_type("server", server, str)
        _check_type("port", port, int)
        _check_type("group", group, str)
        _check_type("batch_size", batch_size, int)
        _check_type("listen_retries", listen_retries, int)
        _check_type("retry_wait", retry_wait, (int, float))
        _check_type("batch_timeout", batch_timeout, (timedelta, int, float))
        if not group or "." in group or "," in group:
            raise InvalidSettingError(f'"group" must be a name without "." or ",", not {group!r}')
        if not 0 < port < 65536:
            raise InvalidSettingError(f'"port" must be between 1 and 65535, not {port}')
        if session_timeout is not None:
            _check_type("session_timeout", session_timeout, (int, float))
        if batch_size < 1 or listen_retries < 0 or retry_wait < 0:
            raise InvalidSettingError(
                "batch_size must be at least 1, listen_retries and retry_wait not negative"
            )
        self.server = server
        self.port = port
        self.group_prefix = group
        self.consumer_group = consumer_group
        self.batch_size = batch_size
        self.batch_timeout = batch_timeout
        self.retry_on_fatal = bool(retry_on_fatal)
        self.listen_retries = listen_retries
        self.retry_wait = float(retry_wait)
        self.jsonpp_on = bool(jsonpp_on)
        self.session_timeout = session_timeout
        self.keep_subscriptions = bool(keep_subscriptions)
        self.stop_listening = threading.Event()
        self.sessions: dict[str, Producer] = {}
        self._env = env
        self._lock = threading.Lock()
        # What stop() stops: the hop.io or hop.aio stream a listen is reading.
        self._listen_stream: Consumer | aio.Consumer | None = None
        self._generated_group: str | None = None
        self._received = 0
        self._host, self._username_in_url, self._path = self._parse_server(server)
        self.base_url_prefix = self._construct_base_url()
        self.auth_obj = _credentials.resolve_auth(
            auth=auth,
            noauth=noauth,
            username=username,
            password=password,
            authfile=authfile,
            host=self._host,
            port=port,
            server=server,
            env=env,
        )
        super().__init__(auth=self.auth_obj)

    # -- names -----------------------------------------------------------------------

    @staticmethod
    def _parse_server(server: str) -> tuple[str, str | None, str]:
        text = server if "://" in server else f"kafka://{server}"
        parsed = urlparse(text)
        if parsed.scheme != "kafka" or not parsed.hostname:
            raise InvalidSettingError(
                f'"server" must look like kafka://host/, not {server!r}'
            )
        return parsed.hostname, parsed.username, parsed.path

    @property
    def _bootstrap(self) -> str:
        return f"{self._host}:{self.port}"

    def _construct_base_url(self) -> str:
        userinfo = f"{self._username_in_url}@" if self._username_in_url else ""
        # A server given without the trailing slash still needs one before the group
        # (upstream gave kafka://host:portgroup).
        path = self._path if self._path.endswith("/") else self._path + "/"
        return f"kafka://{userinfo}{self._bootstrap}{path}{self.group_prefix}"

    def _kafka_topic(self, topic: str) -> str:
        return f"{self.group_prefix}.{topic}"

    def _short_topic(self, kafka_topic: str) -> str:
        prefix = self.group_prefix + "."
        if kafka_topic.startswith(prefix):
            return kafka_topic[len(prefix) :]
        return kafka_topic.split(".", 1)[-1]

    def _construct_topic_url(self, topics: str | Iterable[str]) -> str:
        names = _as_list(topics)
        userinfo = f"{self._username_in_url}@" if self._username_in_url else ""
        joined = ",".join(self._kafka_topic(t) for t in names)
        return f"kafka://{userinfo}{self._bootstrap}/{joined}"

    def _credential(self) -> Any:
        creds = self.auth
        if not creds:
            return None
        from hop import auth as hop_auth

        return hop_auth.select_matching_auth(creds, self._bootstrap, self._username_in_url)

    # -- topics ----------------------------------------------------------------------

    def get_topics(
        self, group: str | None = None, *, timeout: float = DEFAULT_TIMEOUT
    ) -> list[str]:
        """Get a list of all available pubsub topics.

        Parameters
        ----------
        group : str, optional
            Group prefix (e.g. ``gracedb``, ``gracedb-playground``) to show topics for;
            the client's group when not given.
        timeout : float
            Longest wait for the broker, in seconds.

        Returns
        -------
        list of str
            Sorted short topic names the credential can see.

        Raises
        ------
        hop.errors.BrokerUnreachableError
            No broker answered within ``timeout``.
        """
        prefix = (group or self.group_prefix) + "."
        credential = self._credential()
        # Through hop.list_topics, as igwn-alert calls it (its tests patch that); the
        # attribute is looked up at each call so that such a patch takes effect.
        import hop.list_topics

        found = hop.list_topics.list_topics(
            f"kafka://{self._bootstrap}/",
            auth=credential if credential is not None else False,
            timeout=timeout,
        )
        return sorted(name[len(prefix) :] for name in found if name.startswith(prefix))

    def delete(self, topic: str | None = None, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Delete a pubsub topic.

        Parameters
        ----------
        topic : str
            The short topic name; the Kafka topic ``<group>.<topic>`` is deleted.
        timeout : float
            Longest wait for the broker, in seconds.

        Raises
        ------
        hop.errors.AuthorizationError
            The credential may not delete the topic.
        hop.errors.UnknownTopicError
            The topic does not exist.
        hop.errors.BrokerUnreachableError
            No broker answered within ``timeout``.
        hop.errors.KafkaException
            Any other refusal.
        """
        if topic is None:
            # Upstream's delete() took no topic and only warned; keep that call harmless.
            warnings.warn(
                "delete() needs the name of the topic to delete", DeprecationWarning, stacklevel=2
            )
            return
        from igwn_alert._admin import delete_topic

        delete_topic(self._bootstrap, self._credential(), self._kafka_topic(topic), timeout)
        self._store().remove(self.consumer_group, [self._kafka_topic(topic)])

    # -- subscriptions ---------------------------------------------------------------

    def _store(self) -> SubscriptionStore:
        return SubscriptionStore(env=self._env)

    def get_subscriptions(self) -> list[str] | None:
        """Get a list of your subscriptions.

        Deprecated, as in igwn-alert: without ``keep_subscriptions`` it only warns
        (``DeprecationWarning``) and returns None.

        Returns
        -------
        list of str or None
            With ``keep_subscriptions``: the short names of this group's topics that
            :meth:`listen` reads when it is given none, for this client's
            ``consumer_group``.
        """
        if not self.keep_subscriptions:
            warnings.warn(
                "This feature is deprecated. Please refer to the client.listen() method",
                DeprecationWarning,
                stacklevel=2,
            )
            return None
        return self._subscriptions()

    def _subscriptions(self) -> list[str]:
        prefix = self.group_prefix + "."
        return [
            name[len(prefix) :]
            for name in self._store().get(self.consumer_group)
            if name.startswith(prefix)
        ]

    def subscribe(self, *topics: str) -> list[str] | None:
        """Subscribe to one or more pubsub topics.

        Deprecated, as in igwn-alert: without ``keep_subscriptions`` it only warns
        (``DeprecationWarning``) and returns None. With it, the subscriptions are kept
        per consumer group in the hop configuration directory, and are what
        :meth:`listen` reads when it is given no topic.

        Returns
        -------
        list of str or None
            With ``keep_subscriptions``, the subscriptions afterwards.
        """
        if not self.keep_subscriptions:
            warnings.warn(
                "This feature is deprecated. Please supply a list of topics to "
                "client.listen(), and ensure you have permission to read from topics.",
                DeprecationWarning,
                stacklevel=2,
            )
            return None
        names = self._checked_topics(topics)
        self._store().add(self.consumer_group, [self._kafka_topic(t) for t in names])
        return self._subscriptions()

    def unsubscribe(self, *topics: str) -> list[str] | None:
        """Unsubscribe from one or more pubsub topics.

        Deprecated, as in igwn-alert: without ``keep_subscriptions`` it only warns
        (``DeprecationWarning``) and returns None.

        Returns
        -------
        list of str or None
            With ``keep_subscriptions``, the subscriptions afterwards.
        """
        if not self.keep_subscriptions:
            warnings.warn("This feature is deprecated.", DeprecationWarning, stacklevel=2)
            return None
        names = self._checked_topics(topics)
        current = set(self._subscriptions())
        for name in names:
            if name not in current:
                warnings.warn(f"Not subscribed to topic {name}", UserWarning, stacklevel=2)
        self._store().remove(self.consumer_group, [self._kafka_topic(t) for t in names])
        return self._subscriptions()

    @staticmethod
    def _checked_topics(topics: Iterable[str]) -> list[str]:
        names: list[str] = []
        for topic in topics:
            for name in _as_list(topic):
                if not name or not all(c.isalnum() or c in "._-" for c in name):
                    raise errors.ConfigurationError(
                        f"{name!r} is not a valid topic name (letters, digits, '.', '_', '-')"
                    )
                names.append(name)
        if not names:
            raise errors.ConfigurationError("name at least one topic")
        return names

    # -- writing ---------------------------------------------------------------------

    def connect(self, topics: str | Iterable[str]) -> None:
        """Open a writable stream for each topic (publish rights needed).

        Parameters
        ----------
        topics : str or list of str
            Topic or list of topics to publish to.
        """
        names = _as_list(topics)
        for name in names:
            # As igwn-alert, connecting again gives a new stream (the one a bare
            # disconnect() closed, and kept, is replaced); an old one is closed first.
            old = self.sessions.pop(name, None)
            if old is not None:
                old.close()
            self.sessions[name] = self.open(self._construct_topic_url(name), "w")
        logger.info("Connected to topics: %s", ", ".join(names))

    def _session(self, topic: str) -> Producer:
        if not self.sessions:
            raise NotConnectedError(
                "No active sessions. Please connect before publishing to a topic."
            )
        try:
            return self.sessions[topic]
        except KeyError as exc:
            raise NotConnectedError(
                f"Not connected to topic {topic}. Please connect before publishing to a topic."
            ) from exc

    def publish_to_topic(self, topic: str, msg: Any) -> None:
        """Publish to a topic connected with :meth:`connect`.

        Parameters
        ----------
        topic : str
            Topic name to publish to.
        msg : str or dict
            The alert; GraceDB sends a JSON document as a str.

        Raises
        ------
        NotConnectedError
            The topic is not connected (a ``RuntimeError``, as upstream).
        """
        self._session(topic).write(msg)
        logger.info("Published message to topic %s", topic)

    def flush_by_topic(self, topic: str) -> None:
        """Flush the stream of a topic connected with :meth:`connect`.

        Parameters
        ----------
        topic : str
            Topic name to flush.
        """
        self._session(topic).flush()

    def disconnect(self, topics: str | Iterable[str] | None = None) -> None:
        """Close every producer stream, or only those of the given topics.

        Parameters
        ----------
        topics : str or list of str, optional
            Topics to disconnect from; all when not given.
        """
        names = _as_list(topics)
        keep = not names
        if keep:
            # As igwn-alert: disconnect() with no topic closes every stream but keeps
            # them in ``sessions`` (code written for it may count or reuse the keys).
            names = list(self.sessions)
        first_error: BaseException | None = None
        for name in names:
            stream = self.sessions.get(name) if keep else self.sessions.pop(name, None)
            if stream is None:
                warnings.warn(f"Not currently connected to topic {name}", UserWarning, stacklevel=2)
                continue
            try:
                stream.close()
            except errors.HopError as exc:
                first_error = first_error or exc  # close the others before raising
        if first_error is not None:
            raise first_error

    def publish(self, topic: str | Iterable[str], msg: Any = None) -> None:
        """Send an alert without pre-establishing a session.

        Parameters
        ----------
        topic : str or list of str
            Topic or list of topics to publish to.
        msg : str or dict
            The alert.
        """
        names = _as_list(topic)
        if not names:
            raise errors.ConfigurationError("name at least one topic to publish to")
        # What __enter__ returns is the stream, as upstream uses it (a test's stand-in
        # for open() may return something else from __enter__).
        with self.open(self._construct_topic_url(names[0]), "w") as stream:
            for name in names:
                stream.write(msg, topic=self._kafka_topic(name))

    # -- reading ---------------------------------------------------------------------

    def _listen_topics(self, topic: str | Iterable[str] | None) -> list[str]:
        names = _as_list(topic)
        if names:
            return names
        names = self._subscriptions() if self.keep_subscriptions else []
        if names:
            return names
        names = self.get_topics()
        if not names:
            raise errors.UnknownTopicError(
                f"no topics of group {self.group_prefix!r} are visible on {self._bootstrap} "
                "with this credential; name the topics to listen to"
            )
        return names

    def _listen_group(self) -> str:
        if self.consumer_group:
            return self.consumer_group
        # One generated group per client: a reconnection resumes where it left off
        # (upstream drew a new group, starting at the latest message, on every retry).
        if self._generated_group is None:
            credential = self._credential()
            self._generated_group = generate_group_id(getattr(credential, "username", None))
        return self._generated_group

    def _deliver(self, callback: Callback | None, kafka_topic: str, model: Any) -> None:
        payload = payload_of(model)
        if callback is None:
            text = printable(payload, self.jsonpp_on)
            print(f"New message from topic {kafka_topic}:\n{text}", flush=True)
        else:
            callback(topic=self._short_topic(kafka_topic), payload=payload)

    def listen(
        self,
        callback: Callback | None = None,
        topic: str | Iterable[str] | None = None,
        *,
        deduplicate: bool = False,
        dedupe_path: str | os.PathLike[str] | None = None,
    ) -> None:
        """Call ``callback(topic=..., payload=...)`` for each alert received.

        Runs until :meth:`stop` is called (from any thread), or until the end of the
        topics when the client's ``until_eos`` is set. Each alert is marked done once
        the callback returns, so after a reconnection or restart reading resumes with
        the first alert not yet handled.

        Parameters
        ----------
        callback : callable, optional
            Called with keyword arguments ``topic`` (the short name) and ``payload``
            (a str for GraceDB's JSON alerts, a dict when a dict was published). When
            None, each alert is printed.
        topic : str or list of str, optional
            Topic(s) to listen to. When None: the subscriptions of this consumer group
            (:meth:`subscribe`), or else every topic of the group the credential sees.
        deduplicate : bool
            Call ``callback`` once per alert even when the alert arrives twice (a
            publisher's resend, a re-read after a reconnection or rebalance): alerts
            whose ``_id`` was already handed to the callback are marked done and
            skipped. Keyword only; off by default, as upstream.
        dedupe_path : path, optional
            A file recording the ids handed to the callback, so that this listener
            after a restart, or another listener of its group on the same machine
            sharing the file, skips them too. Implies ``deduplicate``. Keyword only.

        Raises
        ------
        hop.errors.KafkaException
            When reading fails, after ``listen_retries`` reconnections if
            ``retry_on_fatal`` is set. Whatever the callback raises propagates too,
            with that alert not marked done.
        """
        from hop._internal import DEFAULT_DEDUPE_WINDOW, Deduplicator

        dedupe = None
        try:
            if deduplicate or dedupe_path is not None:
                # One window for the whole listen(), across reconnections.
                dedupe = Deduplicator(DEFAULT_DEDUPE_WINDOW, dedupe_path)
            # Read by _read_until_stopped (whose signature other work builds on).
            self._listen_dedupe: Any = dedupe
            url = self._construct_topic_url(self._listen_topics(topic))
            group_id = self._listen_group()
            failures = 0
            while not self.stop_listening.is_set():
                received = self._received
                try:
                    self._read_until_stopped(url, group_id, callback)
                    return
                except errors.KafkaException as exc:
                    if self._received != received:
                        failures = 0  # alerts got through since the last failure
                    failures += 1
                    if not self.retry_on_fatal or failures > self.listen_retries:
                        raise  # the exception says what failed; logging it too would repeat it
                    logger.warning(
                        "listening to %s failed (%s); reconnecting in %g s (retry %d of %d)",
                        url, exc, self.retry_wait, failures, self.listen_retries,
                    )
                    self.stop_listening.wait(self.retry_wait)
        finally:
            if dedupe is not None:
                dedupe.close()
            # stop() is sticky until the listen() it ends returns; then listen may run again.
            self.stop_listening.clear()

    async def listen_async(
        self, callback: Callback | None = None, topic: str | Iterable[str] | None = None
    ) -> None:
        """Like :meth:`listen`, for asyncio programs and Jupyter notebooks.

        ``await client.listen_async(callback, topic)`` reads with :mod:`hop.aio`, so
        the event loop (a notebook's kernel, a web server) goes on between alerts.
        Cancelling the awaiting task, or :meth:`stop`, ends it; the alert being handled
        when it is cancelled is not marked done.

        Parameters
        ----------
        callback : callable or coroutine function, optional
            Called as ``callback(topic=..., payload=...)``, as for :meth:`listen`; when
            it returns an awaitable (an ``async def`` callback), that is awaited before
            the alert is marked done and the next one is read.
        topic : str or list of str, optional
            As for :meth:`listen`.

        Raises
        ------
        hop.errors.KafkaException
            As for :meth:`listen`.
        """
        from igwn_alert._listen_async import listen_async

        await listen_async(self, callback, topic)

    def _read_until_stopped(self, url: str, group_id: str, callback: Callback | None) -> None:
        options: dict[str, Any] = {}
        if self.session_timeout is not None:
            options["session_timeout"] = self.session_timeout
        opened = self.open(url, "r", group_id=group_id, **options)
        with self._lock:
            self._listen_stream = opened
            if self.stop_listening.is_set():
                opened.stop()
        try:
            # Duck typing throughout, and __enter__'s result is what is read (as
            # upstream): tests written for igwn-alert replace open() with a mock.
            with opened as stream:
                for model, metadata in stream.read(
                    metadata=True, autocommit=False, batch_size=self.batch_size
                ):
                    dedupe = self._listen_dedupe
                    if dedupe is None or dedupe.first_time(metadata.headers):
                        logger.info("New message from topic %s", metadata.topic)
                        self._deliver(callback, metadata.topic, model)
                        self._received += 1
                    else:
                        logger.info("Skipped a copy of an alert already handled, from topic "
                                    "%s", metadata.topic)
                    stream.mark_done(metadata)
                    if self.stop_listening.is_set():
                        break
        finally:
            with self._lock:
                self._listen_stream = None

    def stop(self) -> None:
        """Make a running :meth:`listen` return promptly (thread-safe)."""
        with self._lock:
            self.stop_listening.set()
            if self._listen_stream is not None:
                self._listen_stream.stop()

    # -- lifecycle -------------------------------------------------------------------

    def __enter__(self) -> client:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self.sessions:
            self.disconnect()
