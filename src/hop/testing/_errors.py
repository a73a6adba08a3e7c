"""Errors of the test broker harness, all under :class:`BrokerError`."""

from __future__ import annotations

from hop.errors import HopError


class BrokerError(HopError, RuntimeError):
    """The test broker could not be prepared, started, or asked to do something."""


class JarDownloadError(BrokerError):
    """Maven could not fetch the Kafka jars."""


class TLSSetupError(BrokerError):
    """The certificates for the test broker could not be made."""
