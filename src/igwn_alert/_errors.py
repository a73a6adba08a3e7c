"""igwn_alert's additions to the :mod:`hop.errors` tree.

Each class derives from a :mod:`hop.errors` class (so ``except HopError`` catches it)
and from the built-in type upstream igwn-alert raised in the same situation, so code
written for upstream keeps catching what it caught before::

    HopError
     +-- ConfigurationError (ValueError)
     |    +-- InvalidSettingError (AssertionError)    bad server/port/group type
     +-- CredentialError
     |    +-- IncompleteCredentialError (RuntimeError)  username without password
     +-- StateError (RuntimeError)
          +-- NotConnectedError                          publish before connect()
"""

from __future__ import annotations

from hop.errors import ConfigurationError, CredentialError, StateError

__all__ = ["IncompleteCredentialError", "InvalidSettingError", "NotConnectedError"]


class InvalidSettingError(ConfigurationError, AssertionError):
    """A constructor argument has the wrong type or value.

    Upstream checked ``server``, ``port`` and ``group`` with ``assert``; callers that
    catch ``AssertionError`` keep working, and the check survives ``python -O``.
    """


class IncompleteCredentialError(CredentialError, RuntimeError):
    """Only one of username and password was given."""


class NotConnectedError(StateError):
    """A producer session was used for a topic that :meth:`client.connect` never opened."""
