"""``client.listen_async``: igwn_alert's listen loop for asyncio programs and notebooks.

The same loop as :meth:`igwn_alert.client.listen` (topics, consumer group, retries,
mark-done after each alert, ``stop()``), reading through :mod:`hop.aio` so that the
event loop goes on while no alert arrives.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Iterable
from typing import Any

from hop import aio, errors
from igwn_alert._payload import payload_of, printable

# The client is typed Any: igwn_alert._client imports this module, not the reverse.
Callback = Callable[..., Any]

__all__ = ["listen_async"]

logger = logging.getLogger("igwn_alert.client")


async def _deliver(
    alert_client: Any, callback: Callback | None, kafka_topic: str, model: Any
) -> None:
    payload = payload_of(model)
    if callback is None:
        text = printable(payload, alert_client.jsonpp_on)
        print(f"New message from topic {kafka_topic}:\n{text}", flush=True)
        return
    result = callback(topic=alert_client._short_topic(kafka_topic), payload=payload)
    if inspect.isawaitable(result):
        await result


async def listen_async(
    alert_client: Any, callback: Callback | None, topic: str | Iterable[str] | None
) -> None:
    """The body of :meth:`igwn_alert.client.listen_async`."""
    try:
        if topic is None:
            # Finding the topics may ask the broker (get_topics): not on the loop.
            topics = await asyncio.to_thread(alert_client._listen_topics, None)
        else:
            topics = alert_client._listen_topics(topic)
        url = alert_client._construct_topic_url(topics)
        group_id = alert_client._listen_group()
        failures = 0
        while not alert_client.stop_listening.is_set():
            received = alert_client._received
            try:
                await _read_until_stopped(alert_client, url, group_id, callback)
                return
            except errors.KafkaException as exc:
                if alert_client._received != received:
                    failures = 0  # alerts got through since the last failure
                failures += 1
                if not alert_client.retry_on_fatal or failures > alert_client.listen_retries:
                    raise
                logger.warning(
                    "listening to %s failed (%s); reconnecting in %g s (retry %d of %d)",
                    url, exc, alert_client.retry_wait, failures, alert_client.listen_retries,
                )  # fmt: skip
                await asyncio.sleep(alert_client.retry_wait)
    finally:
        alert_client.stop_listening.clear()


async def _read_until_stopped(
    alert_client: Any, url: str, group_id: str, callback: Callback | None
) -> None:
    options: dict[str, Any] = {}
    if alert_client.session_timeout is not None:
        options["session_timeout"] = alert_client.session_timeout
    creds = alert_client.auth
    stream = aio.Stream(
        auth=creds if creds else False,
        start_at=alert_client.start_at,
        until_eos=alert_client.until_eos,
    )
    async with stream.open(url, "r", group_id=group_id, **options) as s:
        with alert_client._lock:
            alert_client._listen_stream = s
            if alert_client.stop_listening.is_set():
                s.stop()
        try:
            reader = s.read(metadata=True, autocommit=False, batch_size=alert_client.batch_size)
            async for model, metadata in reader:
                logger.info("New message from topic %s", metadata.topic)
                await _deliver(alert_client, callback, metadata.topic, model)
                alert_client._received += 1
                await s.mark_done(metadata)
                if alert_client.stop_listening.is_set():
                    break
        finally:
            with alert_client._lock:
                alert_client._listen_stream = None
