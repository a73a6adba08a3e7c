"""``AlertBridge``: read Kafka alert streams, forward each alert to SAMP tools.

One reader thread per URL reads messages and hands each to the :class:`Pipeline`
(decode, sky map files, notifications), then to the :class:`HubLink` (deliver), then
records the alert in :class:`ForwardedIds` and commits its offset, in that order:

* the offset is committed only after the hub accepted the alert, so a crash before
  that delivers it again after the restart (at least once);
* the alert's key is on disk before the offset is committed, so a crash between the
  two does not deliver it twice: the restarted bridge finds the key and skips it.

Malformed alerts are logged with ``topic[partition]@offset`` and skipped (their offset
is committed: reading them again would fail again). Broker outages are librdkafka's
to ride out; the reader logs them (bounded) and goes on; a reader that cannot open its
stream at all retries with backoff.
"""

from __future__ import annotations

import enum
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from hop import errors
from hop.samp.bridge._alerts import Alert, MalformedAlert
from hop.samp.bridge._cache import DEFAULT_CACHE_BYTES, SkyMapCache, default_cache_dir
from hop.samp.bridge._hublink import BRIDGE_NAME, Delivery, HubLink
from hop.samp.bridge._memory import ForwardedIds
from hop.samp.bridge._messages import Origin, SkyMapFiles
from hop.samp.bridge._pipeline import DEFAULT_FLATTEN_ORDER, Filters, Pipeline, Prepared

__all__ = ["AlertBridge", "ForwardedAlert", "require_extra"]

logger = logging.getLogger("hop.samp.bridge")

_EXTRA_MODULES = ("numpy", "astropy.io.fits", "astropy.coordinates", "mocpy")
_RETRY_FIRST_S = 1.0
_RETRY_MAX_S = 30.0
# The bridge stops reading while it waits for a hub, which may take hours (TOPCAT
# closed overnight); librdkafka would leave the group after max.poll.interval.ms.
_MAX_POLL_INTERVAL_MS = 24 * 3600 * 1000


def require_extra() -> None:
    """Import the bridge's optional dependencies, or say how to install them.

    Raises
    ------
    hop.errors.MissingDependencyError
        Naming the missing modules and the extra, ``skyhop[bridge]``.
    """
    import importlib

    missing = []
    for name in _EXTRA_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name.split(".")[0])
    if missing:
        names = ", ".join(dict.fromkeys(missing))
        raise errors.MissingDependencyError(
            f"the alert bridge needs {names}, from the optional extra 'bridge'; install it "
            "with: pip install 'skyhop[bridge]'",
            extra="bridge",
            name=missing[0],
        )


@dataclass(frozen=True, slots=True)
class ForwardedAlert:
    """An alert the hub accepted, as passed to ``on_forward``."""

    origin: Origin
    """Where it was read (topic, partition, offset, timestamp, format, id)."""
    alert: Alert
    """What it says."""
    messages: tuple[Mapping[str, Any], ...]
    """The notifications sent."""
    recipients: frozenset[str]
    """Public IDs of the clients that got at least one of them."""
    files: SkyMapFiles | None
    """The sky map files, for an IGWN alert with a sky map."""
    timings: Mapping[str, float]
    """Seconds per stage: decode, read, write, flatten, moc (sky maps), notify."""


def _warm_up() -> None:
    from hop.samp.bridge import _skymap
    from hop.samp.bridge._alerts import SkyPosition
    from hop.samp.bridge._coords import to_icrs

    _skymap.warm_up()
    for frame in ("fk5", "galactic"):
        to_icrs(SkyPosition(0.0, 0.0, frame))


class _State(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    STOPPED = "stopped"


class AlertBridge:
    """Forwards alerts from Kafka topics to the desktop's SAMP tools.

    Registers with the SAMP hub as ``skyhop bridge`` and sends, for each alert, the
    standard notifications tools such as Aladin, TOPCAT and DS9 act on
    (``image.load.fits``, ``coverage.load.moc.fits``, ``coord.pointAt.sky``) and an
    ``x-hop.alert`` notification describing it.

    Parameters
    ----------
    urls : str or sequence of str
        ``kafka://`` URLs of the topics to read; one reader each.
    auth : bool, hop.auth.Auth or list of Auth
        As for :class:`hop.io.Stream`.
    group_id : str, optional
        Consumer group; a random one by default (which starts at ``start_at``).
    start_at : hop.io.StartPosition or datetime.datetime
        Where to start when the group has no committed offset.
    test : bool
        Forward test and mock alerts (``_test`` header, VOEvent role ``test``,
        mock superevents such as ``MS...``).
    significant_only : bool
        IGWN alerts: forward only significant ones (retractions always pass).
    far_max : float, optional
        IGWN alerts: forward only those with a false alarm rate at most this, in Hz.
    to : str, optional
        Send only to the client with this ``samp.name`` (waits for it to register).
    hub_url : str, optional
        Where the hub's lockfile is (path, ``file:``/``http:`` URL or
        ``std-lockurl:<url>``); ``SAMP_HUB`` or ``~/.samp`` by default.
    cache_dir : path, optional
        Folder for sky map files (default ``~/.cache/skyhop/skymaps``).
    cache_bytes : int
        Bound on that folder's size; the oldest alerts' files go first.
    flatten_order : int
        Finest HEALPix order of the flattened sky map sent as ``image.load.fits``.
    memory_file : path, False or None
        File remembering forwarded alerts across restarts; default
        ``~/.cache/skyhop/bridge/<group or default>.forwarded``; False keeps them in
        memory only.
    on_forward : callable, optional
        Called with a :class:`ForwardedAlert` after each alert the hub accepted.
    name : str
        ``samp.name`` to register with.
    poll_interval : float
        Seconds between looks at the lockfile while no hub is up.
    kafka_options : dict, optional
        More options for :meth:`hop.io.Stream.open` (``connect_timeout``...).
    environ : mapping, optional
        Environment for hub discovery and default paths (``os.environ``).

    Raises
    ------
    hop.errors.MissingDependencyError
        When the ``skyhop[bridge]`` extra is not installed.
    ValueError
        For bad options (no URL, a negative FAR, an order out of range...).

    Examples
    --------
    Nothing connects until :meth:`start`; :meth:`wait` then runs until :meth:`stop`:

    >>> bridge = AlertBridge("kafka://localhost:9092/igwn.gwalert", significant_only=True)
    >>> bridge.filters.significant_only, bridge.running
    (True, False)
    """

    def __init__(
        self,
        urls: str | Sequence[str],
        *,
        auth: Any = True,
        group_id: str | None = None,
        start_at: Any = None,
        test: bool = False,
        significant_only: bool = False,
        far_max: float | None = None,
        to: str | None = None,
        hub_url: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        flatten_order: int = DEFAULT_FLATTEN_ORDER,
        memory_file: str | os.PathLike[str] | bool | None = None,
        on_forward: Callable[[ForwardedAlert], None] | None = None,
        name: str = BRIDGE_NAME,
        poll_interval: float = 0.5,
        kafka_options: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._state = _State.NEW
        require_extra()
        from hop._url import parse_url
        from hop.io import StartPosition

        self.urls = [urls] if isinstance(urls, str) else list(urls)
        if not self.urls:
            raise errors.ConfigurationError("the alert bridge needs at least one kafka:// URL")
        for url in self.urls:
            if not parse_url(url).topics:
                raise errors.ConfigurationError(f"no topic in kafka URL {url!r}")
        if far_max is not None and not far_max > 0:
            raise errors.ConfigurationError(f"far_max must be a positive rate in Hz, not {far_max}")
        if start_at is not None and not isinstance(start_at, StartPosition | datetime):
            raise errors.ConfigurationError(
                f"start_at must be a hop.io.StartPosition or a datetime, got {start_at!r}"
            )
        env = os.environ if environ is None else environ
        self.group_id = group_id
        self.start_at = start_at if start_at is not None else StartPosition.LATEST
        self.filters = Filters(test, significant_only, far_max)
        self.cache = SkyMapCache(cache_dir or default_cache_dir(dict(env)), cache_bytes)
        self._pipeline = Pipeline(self.cache, self.filters, flatten_order)
        self.hub = HubLink(name=name, hub_url=hub_url, to=to, environ=env,
                           poll_interval=poll_interval)  # fmt: skip
        if memory_file is None or memory_file is True:
            label = (group_id or "default").replace(os.sep, "_")
            self.memory_file: Path | None = (
                default_cache_dir(dict(env)).parent / "bridge" / f"{label}.forwarded"
            )
        elif memory_file is False:
            self.memory_file = None
        else:
            self.memory_file = Path(memory_file)
        self._auth = auth
        self._kafka_options = dict(kafka_options or {})
        self._on_forward = on_forward
        self._memory: ForwardedIds | None = None
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._send_lock = threading.Lock()
        self._stop_lock = threading.Lock()
        self._readers: list[_Reader] = []
        self._failure: BaseException | None = None
        self._cache_trouble = _Throttle()

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether started and not yet stopped."""
        return self._state is _State.RUNNING

    @property
    def failure(self) -> BaseException | None:
        """The error that stopped a reader, if one did."""
        return self._failure

    def start(self) -> None:
        """Open the streams and start forwarding (the hub may come later).

        Raises
        ------
        hop.errors.HopError
            An error the bridge cannot get past: a missing topic, refused credentials,
            a memory file another bridge holds. An unreachable broker is not one: the
            readers retry.
        OSError
            When the cache folder cannot be created.
        """
        if self._state is not _State.NEW:
            raise errors.BridgeError("an AlertBridge can be started only once")
        self.cache.open()
        self._memory = ForwardedIds(self.memory_file)
        try:
            _warm_up()
        except Exception as exc:  # only costs the first alert some time
            logger.debug("warm-up failed: %s", exc)
        readers = [_Reader(self, url) for url in self.urls]
        try:
            for reader in readers:
                reader.open_first()
        except BaseException:
            for reader in readers:
                reader.close()
            self._memory.close()
            raise
        self._readers = readers
        self.hub.try_connect()
        self._state = _State.RUNNING
        for reader in readers:
            reader.thread.start()
        logger.info(
            "bridging %s to SAMP (lockfile %s) as %r",
            ", ".join(self.urls), self.hub.location(), self.hub.name,
        )  # fmt: skip

    def stop(self, timeout: float = 30.0) -> None:
        """Stop reading, commit what was delivered, unregister (idempotent).

        Raises
        ------
        hop.errors.BridgeError
            If a reader thread did not end within ``timeout`` seconds (it is named).
        """
        # A second caller (a signal handler's thread and the main thread) waits for
        # the first to finish, so nobody returns while offsets are still being committed.
        with self._stop_lock:
            self._stop_once(timeout)

    def _stop_once(self, timeout: float) -> None:
        if self._state is _State.STOPPED:
            return
        was_running = self._state is _State.RUNNING
        self._state = _State.STOPPED
        self._stop.set()
        stuck = []
        try:
            if was_running:
                for reader in self._readers:
                    reader.interrupt()
                deadline = time.monotonic() + timeout
                for reader in self._readers:
                    reader.thread.join(max(0.0, deadline - time.monotonic()))
                    if reader.thread.is_alive():
                        stuck.append(reader.thread.name)
        finally:
            self.hub.close()
            if self._memory is not None:
                self._memory.close()
            self._stopped.set()
        if stuck:
            raise errors.BridgeError(f"bridge threads did not stop in time: {', '.join(stuck)}")

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the bridge stops (``stop()`` or a reader's failure).

        Returns
        -------
        bool
            True if it stopped, False on timeout.

        Raises
        ------
        BaseException
            The error that stopped a reader, if one did.
        """
        stopped = self._stop.wait(timeout)
        if self._failure is not None:
            raise self._failure
        return stopped

    def __enter__(self) -> AlertBridge:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __del__(self) -> None:
        if getattr(self, "_state", None) is _State.RUNNING:
            warnings.warn(
                "an AlertBridge was garbage-collected while running; call stop() or use "
                "it as a context manager",
                ResourceWarning,
                stacklevel=2,
            )

    # -- one message ---------------------------------------------------------------------

    def _fail(self, exc: BaseException) -> None:
        if self._failure is None:
            self._failure = exc
        self._stop.set()

    def _handle(self, value: bytes | None, meta: Any) -> bool:
        """Forward one message; return True when its offset may be committed."""
        where = f"{meta.topic}[{meta.partition}]@{meta.offset}"
        try:
            prepared, reason = self._pipeline.prepare(value, meta)
        except MalformedAlert as exc:
            logger.warning("skipping malformed alert %s: %s", where, exc)
            return True
        except OSError as exc:
            # The cache folder (disk full, removed): the alert is fine, so retry it later.
            self._cache_trouble.log("cannot write sky map files for %s: %s; retrying", where, exc)
            self._stop.wait(_RETRY_FIRST_S)
            return False
        except Exception as exc:  # a bug must not stop the stream: say where, go on
            logger.warning("skipping alert %s: %s: %s", where, type(exc).__name__, exc,
                           exc_info=logger.isEnabledFor(logging.DEBUG))  # fmt: skip
            return True
        if prepared is None:
            logger.info("not forwarding %s: %s", where, reason)
            return True
        memory = self._memory
        assert memory is not None
        if prepared.key in memory:
            logger.info("already forwarded %s (%s); skipping it", where, prepared.alert.event)
            return True
        started = time.perf_counter()
        with self._send_lock:
            delivery = self.hub.deliver(prepared.messages, self._stop)
        if delivery is None:
            return False  # stopping before the hub took it: leave it for the next run
        prepared.timings["notify"] = time.perf_counter() - started
        memory.add(prepared.key)
        self._report(prepared, delivery)
        return True

    def _report(self, prepared: Prepared, delivery: Delivery) -> None:
        logger.info(
            "forwarded %s %s to %d SAMP client(s)",
            prepared.origin.where, prepared.alert.summary, len(delivery.recipients),
        )  # fmt: skip
        if self._on_forward is None:
            return
        report = ForwardedAlert(
            prepared.origin,
            prepared.alert,
            tuple(prepared.messages),
            delivery.recipients,
            prepared.files,
            dict(prepared.timings),
        )
        try:
            self._on_forward(report)
        except Exception:
            logger.exception("the bridge's on_forward callback failed")


class _Throttle:
    """Bounded logging of one kind of trouble: the first time, then once a minute."""

    def __init__(self, interval: float = 60.0) -> None:
        self.interval = interval
        self._last: float | None = None
        self._count = 0

    def log(self, text: str, *args: Any) -> None:
        now = time.monotonic()
        self._count += 1
        if self._last is None or now - self._last >= self.interval:
            suffix = f" ({self._count} times)" if self._count > 1 else ""
            logger.warning(text + suffix, *args)
            self._last = now

    def reset(self) -> None:
        self._last = None
        self._count = 0


class _Reader:
    """Reads one URL in its own thread and hands each message to the bridge."""

    def __init__(self, bridge: AlertBridge, url: str) -> None:
        self.bridge = bridge
        self.url = url
        self.consumer: Any = None
        self.thread = threading.Thread(target=self._run, name=f"hop-bridge-{url}", daemon=True)
        self._trouble = _Throttle()
        self._lock = threading.Lock()

    def _open(self) -> Any:
        from hop.io import Stream

        bridge = self.bridge
        options = dict(bridge._kafka_options)
        kafka_config = dict(options.pop("kafka_config", {}) or {})
        kafka_config.setdefault("max.poll.interval.ms", _MAX_POLL_INTERVAL_MS)
        stream = Stream(auth=bridge._auth, start_at=bridge.start_at)
        return stream.open(
            self.url,
            "r",
            group_id=bridge.group_id,
            ignoretest=not bridge.filters.test,
            kafka_config=kafka_config,
            **options,
        )

    def open_first(self) -> None:
        """Open the stream; an unreachable broker is left for the thread to retry."""
        try:
            self.consumer = self._open()
        except errors.KafkaException as exc:
            if not exc.retriable:
                raise
            self._trouble.log("cannot read %s yet: %s; retrying", self.url, exc)

    def interrupt(self) -> None:
        with self._lock:
            if self.consumer is not None:
                self.consumer.stop()

    def close(self) -> None:
        with self._lock:
            consumer, self.consumer = self.consumer, None
        if consumer is not None:
            try:
                consumer.close()
            except errors.HopError as exc:
                logger.warning("closing the reader of %s: %s", self.url, exc)

    def _run(self) -> None:
        bridge = self.bridge
        stop = bridge._stop
        delay = _RETRY_FIRST_S
        try:
            while not stop.is_set():
                if self.consumer is None:
                    try:
                        consumer = self._open()
                    except errors.KafkaException as exc:
                        if not exc.retriable:
                            raise
                        self._trouble.log("cannot read %s: %s; retrying", self.url, exc)
                        stop.wait(delay)
                        delay = min(delay * 2, _RETRY_MAX_S)
                        continue
                    with self._lock:
                        self.consumer = consumer
                    if stop.is_set():
                        break
                    if self._trouble._count:
                        logger.warning("reading %s again", self.url)
                    self._trouble.reset()
                    delay = _RETRY_FIRST_S
                try:
                    self._read(self.consumer)
                except errors.KafkaException as exc:
                    if not exc.retriable:
                        raise
                    self._trouble.log("reading %s failed: %s; reopening", self.url, exc)
                    self.close()
                    stop.wait(delay)
        except BaseException as exc:
            logger.error("the bridge stopped reading %s: %s", self.url, exc)
            bridge._fail(exc)
        finally:
            self.close()

    def _read(self, consumer: Any) -> None:
        stop = self.bridge._stop
        for value, meta in consumer.read_raw(metadata=True, autocommit=False):
            # Until it is handled, the same message: the cache may come back.
            while not self.bridge._handle(value, meta):
                if stop.is_set():
                    return
            try:
                consumer.mark_done(meta)
            except errors.KafkaException as exc:
                # Stored already: the next commit (or close) takes it to the broker.
                logger.warning("committing %s[%d]@%d: %s", meta.topic, meta.partition,
                               meta.offset, exc)  # fmt: skip
            if stop.is_set():
                return
