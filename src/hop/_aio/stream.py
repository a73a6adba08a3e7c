"""``hop.aio.Stream``: opens hop.aio streams with the arguments of ``hop.io.Stream``."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Generator
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, overload

from hop import errors
from hop._aio.consumer import Consumer
from hop._aio.producer import Producer
from hop._aio.worker import Worker
from hop._consumer import Consumer as SyncConsumer
from hop._consumer import StartPosition
from hop._stream import Stream as SyncStream

if TYPE_CHECKING:
    from hop._auth.credential import AuthOption

__all__ = ["Stream"]

S = TypeVar("S", Consumer, Producer)


class _Box:
    """What the worker opened, so that a cancelled open can still close it."""

    value: Any = None


class Opening(Generic[S]):
    """What :meth:`Stream.open` returns: ``await`` it, or use it in ``async with``.

    ``await stream.open(...)`` gives the open stream, which the caller closes;
    ``async with stream.open(...) as s`` closes it on leaving the block, whatever
    happens inside.
    """

    def __init__(self, stream: Stream, url: str, mode: str, args: tuple[Any, ...], kwargs: Any):
        self._stream = stream
        self._url = url
        self._mode = mode
        self._args = args
        self._kwargs = kwargs
        self._opened: S | None = None

    def __await__(self) -> Generator[Any, None, S]:
        return self._open().__await__()

    async def _open(self) -> S:
        loop = asyncio.get_running_loop()
        worker = Worker(f"hop.aio-{'reader' if self._mode == 'r' else 'writer'}", loop)
        box = _Box()
        sync_stream = self._stream._sync

        def open_job() -> Any:
            box.value = sync_stream.open(
                self._url,
                self._mode,
                *self._args,
                **self._kwargs,  # type: ignore[call-overload]
            )
            return box.value

        try:
            sync = await asyncio.shield(worker.submit(open_job))
        except BaseException:
            # Cancelled or failed: whatever the worker opened (or opens still) is closed
            # on the worker, after the open, and the thread ends.
            def close_job() -> None:
                if box.value is not None:
                    box.value.close()

            worker.submit(close_job).add_done_callback(_retrieve)
            worker.stop_soon()
            raise
        if isinstance(sync, SyncConsumer):
            return Consumer(sync, worker)  # type: ignore[return-value]
        return Producer(sync, worker, loop)  # type: ignore[return-value]

    async def __aenter__(self) -> S:
        self._opened = await self._open()
        return self._opened

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        opened, self._opened = self._opened, None
        if opened is not None:
            await opened.__aexit__(exc_type, exc, tb)


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


class Stream:
    """Defines an event stream for asyncio programs.

    Takes the arguments of :class:`hop.io.Stream`, with the same meaning; the streams
    it opens are read with ``async for`` and written with ``await``.

    Parameters
    ----------
    auth : bool, hop.auth.Auth or list of hop.auth.Auth
        True loads the credential store on first use; False disables authentication; an
        ``Auth`` or a list of them is used as given.
    start_at : StartPosition or datetime.datetime
        Where reading starts when the group has no committed offset.
    until_eos : bool
        Stop reading once every partition has been read to its end.
    """

    def __init__(
        self,
        auth: AuthOption = True,
        start_at: StartPosition | datetime = StartPosition.LATEST,
        until_eos: bool = False,
    ) -> None:
        # The synchronous Stream holds the defaults and makes the streams: one
        # configuration path for both APIs.
        self._sync = SyncStream(auth=auth, start_at=start_at, until_eos=until_eos)

    @property
    def start_at(self) -> StartPosition | datetime:
        """Where reading starts when the group has no committed offset."""
        return self._sync.start_at

    @property
    def until_eos(self) -> bool:
        """Whether reading stops at the end of every partition."""
        return self._sync.until_eos

    @property
    def auth(self) -> list[Any] | None:
        """The credentials this stream chooses from (None when authentication is off)."""
        return self._sync.auth

    @overload
    def open(
        self,
        url: str,
        mode: Literal["r"] = ...,
        group_id: str | None = ...,
        ignoretest: bool = ...,
        **kwargs: Any,
    ) -> Opening[Consumer]: ...

    @overload
    def open(
        self,
        url: str,
        mode: Literal["w"],
        group_id: str | None = ...,
        ignoretest: bool = ...,
        **kwargs: Any,
    ) -> Opening[Producer]: ...

    def open(
        self,
        url: str,
        mode: str = "r",
        group_id: str | None = None,
        ignoretest: bool = True,
        **kwargs: Any,
    ) -> Opening[Any]:
        """Open a connection to an event stream: ``await`` it or ``async with`` it.

        Parameters
        ----------
        url : str
            ``kafka://[username@]broker[:port][,broker2]/topic[,topic2]``.
        mode : {"r", "w"}
            Read or write.
        group_id : str, optional
            Consumer group to read as; a random one when not given.
        ignoretest : bool
            In read mode, skip messages marked as tests.
        **kwargs
            The options of :meth:`hop.io.Stream.open` (``connect_timeout``,
            ``produce_timeout``, ``kafka_config``...); unknown options raise.

        Returns
        -------
        Opening
            Awaitable giving a :class:`hop.aio.Consumer` or :class:`hop.aio.Producer`,
            and an async context manager that closes it.

        Raises
        ------
        ValueError
            (:class:`hop.errors.ConfigurationError`) for a bad mode, URL or option,
            raised when awaited (the mode at once).
        hop.errors.BrokerUnreachableError, hop.errors.AuthenticationError
            As for :meth:`hop.io.Stream.open`.
        """
        if mode not in ("r", "w"):
            raise errors.ConfigurationError(f"mode must be either 'w' or 'r', got {mode!r}")
        if mode == "w" and group_id is not None:
            warnings.warn(
                "group ID has no effect when opening a stream in write mode", stacklevel=2
            )
            group_id = None
        return Opening(self, url, mode, (group_id, ignoretest), kwargs)
