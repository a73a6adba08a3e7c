"""The exceptions and warning raised by :mod:`hop.samp`.

::

    hop.errors.SAMPError
     +-- SAMPHubError                 the hub cannot start, or cannot be found/reached
     +-- SAMPClientError              a client-side misuse or failure
     +-- SAMPProxyError (xmlrpc.client.Fault)   the hub answered a call with a fault
          +-- SAMPProxyTimeoutError   ... because ``callAndWait`` timed out

:class:`SAMPProxyError` is also an :class:`xmlrpc.client.Fault` (as in astropy), so code
that catches ``Fault`` or reads ``faultCode``/``faultString`` keeps working.
"""

from __future__ import annotations

import xmlrpc.client
from typing import Any

from hop.errors import HopWarning, SAMPError

__all__ = [
    "SAMPClientError",
    "SAMPHubError",
    "SAMPProxyError",
    "SAMPProxyTimeoutError",
    "SAMPWarning",
]


class SAMPHubError(SAMPError):
    """The SAMP hub failed: it cannot start, or a client cannot find or reach it.

    Inside the hub it also carries the XML-RPC fault code sent to the caller.

    Attributes
    ----------
    code : int
        Fault code used when this error is sent over XML-RPC (1 = generic).
    """

    def __init__(self, message: str = "", *, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class SAMPClientError(SAMPError):
    """A SAMP client was misused (e.g. not connected) or could not do its job."""


class SAMPProxyError(SAMPError, xmlrpc.client.Fault):
    """The hub answered an XML-RPC call with a fault.

    Parameters
    ----------
    faultCode : int
        The fault code the hub sent.
    faultString : str
        The hub's explanation.
    **extra
        Further attributes, as :class:`xmlrpc.client.Fault` takes them.
    """

    def __init__(self, faultCode: int, faultString: str, **extra: Any) -> None:
        SAMPError.__init__(self, faultString)
        self.faultCode = faultCode
        self.faultString = faultString
        # Fault's own __init__ is skipped (SAMPError's runs instead): keep its extras.
        self.__dict__.update(extra)

    def __str__(self) -> str:
        return f"SAMP hub fault {self.faultCode}: {self.faultString}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.faultCode}: {self.faultString!r}>"

    def __reduce__(self) -> tuple[type, tuple[int, str]]:
        return (type(self), (self.faultCode, self.faultString))


class SAMPProxyTimeoutError(SAMPProxyError):
    """A ``callAndWait`` got no response within its timeout."""


class SAMPWarning(HopWarning):
    """Something went wrong in SAMP that does not stop the program."""
