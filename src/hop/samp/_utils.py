"""astropy.samp's utilities: the replier decorator and the XXE-safe XML-RPC parsing.

Parsing uses the standard library's expat-based XML-RPC parser. expat never fetches
external entities (no handler for them is installed) and limits entity expansion, so
:func:`safe_xmlrpc_loads` and :class:`SAMPXXEServerProxy` are as safe as astropy 8's,
which had to switch external entities off by hand.
"""

from __future__ import annotations

import functools
import traceback
import xmlrpc.client
from collections.abc import Callable
from typing import Any

from hop.samp import _constants as C

__all__ = ["SAMPMsgReplierWrapper", "SAMPXXEServerProxy", "safe_xmlrpc_loads"]


def safe_xmlrpc_loads(
    data: str | bytes, use_datetime: bool = False, use_builtin_types: bool = False
) -> tuple[tuple[Any, ...], str | None]:
    """Parse an XML-RPC request or response without resolving external entities.

    Parameters
    ----------
    data : str or bytes
        The XML-RPC document.
    use_datetime, use_builtin_types : bool
        As for :func:`xmlrpc.client.loads`.

    Returns
    -------
    tuple
        ``(params, method_name)``; ``method_name`` is None for a response.

    Raises
    ------
    xmlrpc.client.Fault
        For a fault response.
    xml.parsers.expat.ExpatError
        For a document that is not well-formed XML.
    """
    return xmlrpc.client.loads(data, use_datetime, use_builtin_types)


class SAMPXXEServerProxy(xmlrpc.client.ServerProxy):
    """An :class:`xmlrpc.client.ServerProxy` whose responses are parsed XXE-safely.

    Takes the same arguments as :class:`xmlrpc.client.ServerProxy`; the standard
    library's transports already parse with expat, which loads no external entity.
    """

    def __init__(self, uri: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(uri, *args, **kwargs)


class SAMPMsgReplierWrapper:
    """Decorator that replies to a call with what the bound function returns.

    A function bound with ``bind_receive_call`` and decorated with
    ``@SAMPMsgReplierWrapper(client)`` need not call ``reply``: a returned map is sent
    as the ``samp.result`` of an ``samp.ok`` response, and an exception becomes a
    ``samp.error`` response carrying its text and traceback. Notifications (five
    arguments, or a ``msg_id`` of None) just run the function.

    Parameters
    ----------
    cli : SAMPIntegratedClient or SAMPClient
        The client that receives the calls (its ``hub`` and ``get_private_key`` reply).

    Notes
    -----
    astropy's wrapper marks a successful reply ``samp.error``; this one says
    ``samp.ok``. Its error reply keeps astropy's ``samp.result = {"txt": traceback}``
    and adds the standard ``samp.error`` map.
    """

    def __init__(self, cli: Any) -> None:
        self.cli = cli

    def __call__(self, f: Callable[..., Any]) -> Callable[..., None]:
        @functools.wraps(f)
        def wrapped_f(*args: Any) -> None:
            if len(args) == 5 or args[2] is None:  # a notification: nothing to reply
                f(*args)
                return
            msg_id = args[2]
            try:
                result = f(*args)
            except Exception as exc:
                text = traceback.format_exc()
                response: dict[str, Any] = {
                    "samp.status": C.SAMP_STATUS_ERROR,
                    "samp.result": {"txt": text},
                    "samp.error": {"samp.errortxt": str(exc) or type(exc).__name__,
                                   "samp.debugtxt": text},
                }
            else:
                if not result:
                    return  # the function replied itself, as astropy allows
                response = {"samp.status": C.SAMP_STATUS_OK, "samp.result": dict(result)}
            self.cli.hub.reply(self.cli.get_private_key(), msg_id, response)

        return wrapped_f
