"""pyvo.samp's helpers for sending tables, images and spectra to SAMP tools.

``connection`` opens a registered client for a ``with`` block; ``find_client_id``
finds a client by ``samp.name``; the ``send_*_to`` functions ask one named client, or
every client subscribed to the MType, to load a table, image or spectrum. Tables are
written to a temporary VOTable file by ``accessible_table`` for as long as the
receivers take to load them.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import Any

from hop.samp._integrated import SAMPIntegratedClient

__all__ = [
    "accessible_table",
    "connection",
    "find_client_id",
    "send_image_to",
    "send_product_to",
    "send_spectrum_to",
    "send_table_to",
]

#: The ``callAndWait`` timeout (seconds, as a SAMP int) used for each table receiver.
_TABLE_TIMEOUT = "10"


def find_client_id(conn: Any, name: str) -> str:
    """Return the public ID of the client whose ``samp.name`` is ``name``.

    Parameters
    ----------
    conn : SAMPIntegratedClient
        A connected client.
    name : str
        The ``samp.name`` to look for.

    Raises
    ------
    KeyError
        When no registered client has that name (the key is the name).
    """
    for client_id in conn.get_registered_clients():
        if conn.get_metadata(client_id).get("samp.name") == name:
            return str(client_id)
    raise KeyError(name)


def _load_message(mtype: str, url: str, name: str) -> dict[str, Any]:
    return {"samp.mtype": mtype, "samp.params": {"url": url, "name": name}}


def send_table_to(
    conn: Any, table: Any, client_name: str | None = None, name: str = "data"
) -> None:
    """Ask clients to load ``table`` (``table.load.votable``), waiting for each to answer.

    Parameters
    ----------
    conn : SAMPIntegratedClient
        A connected client.
    table : astropy.table.Table or astropy.io.votable.tree.VOTableFile
        The table; written to a temporary VOTable file while the receivers load it.
    client_name : str, optional
        ``samp.name`` of the one receiver; by default every client subscribed to
        ``table.load.votable``.
    name : str
        The table's name, sent as the ``name`` parameter.

    Raises
    ------
    KeyError
        When no client is called ``client_name``.
    SAMPProxyError
        When a receiver refuses the table or does not answer in 10 s.

    Notes
    -----
    pyvo calls every registered client, the hub included, so its broadcast fails at
    the first client that does not take tables; this calls the subscribed ones.
    """
    with accessible_table(table) as url:
        message = _load_message("table.load.votable", url, name)
        if client_name is None:
            targets = list(conn.get_subscribed_clients("table.load.votable"))
        else:
            targets = [find_client_id(conn, client_name)]
        for client_id in targets:
            conn.call_and_wait(client_id, message, _TABLE_TIMEOUT)


def send_product_to(
    conn: Any, url: str, mtype: str, client_name: str | None = None, name: str = "data"
) -> None:
    """Notify clients to load the document at ``url`` with MType ``mtype``.

    Parameters
    ----------
    conn : SAMPIntegratedClient
        A connected client.
    url : str
        Where the receivers fetch the document.
    mtype : str
        E.g. ``image.load.fits`` or ``spectrum.load.ssa-generic``.
    client_name : str, optional
        ``samp.name`` of the one receiver; by default every subscribed client.
    name : str
        The document's name, sent as the ``name`` parameter.

    Raises
    ------
    KeyError
        When no client is called ``client_name``.
    """
    message = _load_message(mtype, url, name)
    if client_name is None:
        conn.notify_all(message)
    else:
        conn.notify(find_client_id(conn, client_name), message)


def send_spectrum_to(
    conn: Any, url: str, client_name: str | None = None, name: str = "data"
) -> None:
    """Notify clients to load the spectrum at ``url`` (``spectrum.load.ssa-generic``)."""
    send_product_to(conn, url, "spectrum.load.ssa-generic", client_name=client_name, name=name)


def send_image_to(conn: Any, url: str, client_name: str | None = None, name: str = "data") -> None:
    """Notify clients to load the FITS image at ``url`` (``image.load.fits``)."""
    send_product_to(conn, url, "image.load.fits", client_name=client_name, name=name)


@contextlib.contextmanager
def accessible_table(table: Any) -> Iterator[str]:
    """Write ``table`` to a temporary VOTable file and yield its ``file://`` URL.

    The file is removed when the block ends.

    Parameters
    ----------
    table : astropy.table.Table or astropy.io.votable.tree.VOTableFile
        Anything with ``write(output=..., format="votable")`` (an astropy ``Table``)
        or ``to_xml(file)`` (a parsed VOTable).

    Raises
    ------
    TypeError
        For an object that is neither.
    """
    if not (hasattr(table, "to_xml") or hasattr(table, "write")):
        raise TypeError(
            f"accessible_table needs an astropy Table or VOTableFile, not {type(table).__name__}"
        )
    handle, path = tempfile.mkstemp(suffix=".xml")
    try:
        with open(handle, "w", encoding="utf-8") as f:
            # astropy's VOTableFile writes with to_xml; a Table with its votable writer.
            if hasattr(table, "to_xml"):
                table.to_xml(f)
            else:
                table.write(output=f, format="votable")
        yield "file://" + path
    finally:
        os.unlink(path)


@contextlib.contextmanager
def connection(
    client_name: str = "pyvo client", description: str = "A generic PyVO client", **kwargs: Any
) -> Iterator[SAMPIntegratedClient]:
    """Connect a :class:`SAMPIntegratedClient` for the ``with`` block, then disconnect it.

    Parameters
    ----------
    client_name : str
        ``samp.name`` of the client.
    description : str
        ``samp.description.text``.
    **kwargs
        Further :class:`SAMPIntegratedClient` arguments.

    Raises
    ------
    SAMPHubError
        When no hub is running.
    """
    client = SAMPIntegratedClient(name=client_name, description=description, **kwargs)
    client.connect()
    try:
        yield client
    finally:
        client.disconnect()
