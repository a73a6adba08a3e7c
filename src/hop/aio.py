"""Streams for asyncio programs and Jupyter notebooks: ``async for`` and ``await``.

The same streams as :mod:`hop.io`, read and written without blocking the event loop::

    from hop.aio import Stream

    async with Stream(auth=False).open("kafka://localhost:9092/gcn", "w") as s:
        await s.write({"alert": 1})          # returns once the broker has it

    async with Stream(auth=False).open("kafka://localhost:9092/gcn", "r") as s:
        async for message in s:
            print(message)

Everything but the waiting is :mod:`hop.io`'s: the arguments of ``Stream`` and
``open``, the configuration, the codec and headers, the models and the errors. Each
open stream owns one thread (named ``hop.aio-reader`` or ``hop.aio-writer``) that
makes its blocking librdkafka calls; it ends when the stream is closed. Start
positions (:class:`hop.io.StartPosition`) and message metadata (:class:`hop.io.Metadata`)
are hop.io's own classes.
"""

from __future__ import annotations

from hop._aio.consumer import Consumer
from hop._aio.producer import Producer
from hop._aio.stream import Opening, Stream

__all__ = ["Consumer", "Opening", "Producer", "Stream"]
