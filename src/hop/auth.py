"""Credentials: the :class:`Auth` value type, the credential store, and selection.

A credential is a SASL username and password (or an OIDC client id and secret),
optionally tied to one broker host. Credentials are stored in ``auth.toml``
(:func:`hop.configure.get_config_path` ``("auth")``) as an array of tables::

    [[auth]]
    username = "alice"
    password = "secret"
    hostname = "kafka.example.org:9092"   # optional
    protocol = "SASL_SSL"                 # or "SASL_PLAINTEXT"
    mechanism = "SCRAM-SHA-512"           # PLAIN, SCRAM-SHA-256, OAUTHBEARER

The legacy single ``[auth]`` table, and credentials kept in ``config.toml`` by old
releases, are still read. The store is written atomically with mode 0600, and a
store that other users can read is refused rather than used.

This module only describes credentials; the translation into librdkafka settings
lives with the rest of the Kafka configuration in ``hop._config``.
"""

from __future__ import annotations

from hop._auth.credential import Auth, SASLMethod, select_matching_auth
from hop._auth.store import (
    add_credential,
    delete_credential,
    list_credentials,
    load_auth,
    prune_outdated_auth,
    read_new_credential,
    write_auth_data,
)
from hop.errors import AmbiguousCredentialError

__all__ = [
    "AmbiguousCredentialError",
    "Auth",
    "SASLMethod",
    "add_credential",
    "delete_credential",
    "list_credentials",
    "load_auth",
    "prune_outdated_auth",
    "read_new_credential",
    "select_matching_auth",
    "write_auth_data",
]

# Documented (and pickled) under their public home.
Auth.__module__ = __name__
SASLMethod.__module__ = __name__
