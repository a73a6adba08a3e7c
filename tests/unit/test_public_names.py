"""The public names of hop, hop.io, hop.errors, hop.robust_publisher and hop.samp.bridge.

Drop-in for hop-client 0.13: a name added here is a promise, a name removed breaks
users; either is a deliberate change of this test. (hop.models and hop.plugins are
pinned in test_models_exports.py, hop.samp in samp/test_samp_public_api.py.)
"""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "hop": {"Stream", "__skyhop_version__", "__version__", "stream"},
    "hop.io": {
        "AmbiguousCredentialError",
        "Consumer",
        "Deserializer",
        "Metadata",
        "Producer",
        "StartPosition",
        "Stream",
        "list_topics",
        "raise_delivery_errors",
    },
    # skyhop's own: streams for asyncio programs (issue 17).
    "hop.aio": {"Consumer", "Opening", "Producer", "Stream"},
    "hop.errors": {
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
    },
    # Upstream's module holds exactly these two public classes; the journal command
    # lives in hop.cli.
    "hop.robust_publisher": {"PublicationJournal", "RobustProducer"},
    # skyhop's own: the alert bridge (issue 16).
    "hop.samp.bridge": {
        "AlertBridge",
        "BRIDGE_MTYPES",
        "BRIDGE_NAME",
        "ForwardedAlert",
        "MTYPE_ALERT",
        "MTYPE_IMAGE",
        "MTYPE_MOC",
        "MTYPE_POINT",
        "Origin",
        "SkyMapFiles",
    },
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_all_lists_exactly_the_pinned_public_names(module: str) -> None:
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == sorted(PUBLIC[module])
    assert len(mod.__all__) == len(set(mod.__all__)), "a name is listed twice"


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_every_listed_name_resolves(module: str) -> None:
    mod = importlib.import_module(module)
    missing = [name for name in mod.__all__ if not hasattr(mod, name)]
    assert missing == []
