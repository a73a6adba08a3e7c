"""Benchmarks, run on demand with ``./run bench [name]`` (never part of the test run).

``./run bench`` with no name runs the streaming benchmarks (:mod:`bench.bench_stream`):
skyhop against raw confluent-kafka in the same process and against upstream
hop-client 0.13 in its own virtualenv, on the project's real Kafka broker. The other
names run the benchmarks of the models, the robust publisher and SAMP.
"""
