"""hop.aio's private parts: the worker thread, the async reader and writer, and Stream."""
