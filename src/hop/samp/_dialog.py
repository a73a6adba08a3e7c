"""astropy's Web Profile consent-dialog interface: :class:`WebProfileDialog`.

``SAMPHubServer(web_profile_dialog=dialog)`` gives the dialog two queues, as astropy's
hub does: ``dialog.queue_request`` receives ``(identity_info, client_address, origin)``
for each Web Profile registration, and the answer (True or False) is read from
``dialog.queue_result``. A GUI polls :meth:`WebProfileDialog.handle_queue` from its
event loop; that calls ``show_dialog``, and the user's answer calls :meth:`consent`
or :meth:`reject`.

The hub waits for the answer in the registering request's own thread, never in a
server loop, and for at most :data:`DIALOG_TIMEOUT_S`: no answer is a refusal.
"""

from __future__ import annotations

import contextlib
import queue
from collections.abc import Callable
from typing import Any

__all__ = ["DIALOG_TIMEOUT_S", "WebProfileDialog", "dialog_consent"]

#: Seconds the hub waits for a dialog's answer before refusing the registration.
DIALOG_TIMEOUT_S = 120.0


class WebProfileDialog:
    """Base class of a GUI consent dialog for Web Profile registrations (astropy's API).

    A subclass defines ``show_dialog(samp_name, details, client, origin)``, where
    ``details`` is the identity map the page sent, ``client`` the ``(host, port)`` of
    the request and ``origin`` its ``Origin`` header; it shows the question and, on the
    user's answer, calls :meth:`consent` or :meth:`reject`. The GUI must call
    :meth:`handle_queue` periodically (from a timer of its event loop).

    The hub gives the dialog its ``queue_request`` and ``queue_result`` queues (the
    attributes astropy's hub sets, so any object with this interface works).
    """

    def show_dialog(self, samp_name: str, details: Any, client: Any, origin: str) -> None:
        """Show the question; subclasses must implement it."""
        raise NotImplementedError("subclasses of WebProfileDialog define show_dialog")

    def handle_queue(self) -> None:
        """Show the dialog for a waiting registration request, if there is one."""
        requests = getattr(self, "queue_request", None)
        if requests is None:  # no hub has attached its queues yet
            return
        try:
            request = requests.get_nowait()
        except queue.Empty:
            return
        details = request[0]
        samp_name = details if isinstance(details, str) else details.get("samp.name", "")
        self.show_dialog(samp_name, details, request[1], request[2])

    def consent(self) -> None:
        """Allow the registration being asked about."""
        self._results().put(True)

    def reject(self) -> None:
        """Refuse the registration being asked about."""
        self._results().put(False)

    def _results(self) -> queue.Queue[bool]:
        results: queue.Queue[bool] | None = getattr(self, "queue_result", None)
        if results is None:
            raise RuntimeError("no SAMP hub uses this dialog yet: nothing to answer")
        return results


def dialog_consent(
    dialog: Any, timeout: float = DIALOG_TIMEOUT_S
) -> Callable[[dict[str, Any]], bool]:
    """Attach astropy-style queues to ``dialog`` and return a ``web_consent`` hook using them.

    Any object works (duck typing, as in astropy): only the ``queue_request`` and
    ``queue_result`` attributes are set and used.
    """
    requests: queue.Queue[Any] = queue.Queue(1)
    results: queue.Queue[bool] = queue.Queue(1)
    dialog.queue_request = requests
    dialog.queue_result = results

    def consent(info: dict[str, Any]) -> bool:
        # The Web Profile asks one question at a time, so the queues hold one item.
        while True:  # an answer left over from a question that timed out is stale
            try:
                results.get_nowait()
            except queue.Empty:
                break
        address = (info.get("address") or "unknown", info.get("port") or 0)
        requests.put((info["identity"], address, info.get("origin") or "unknown"), timeout=timeout)
        try:
            return bool(results.get(timeout=timeout))
        except queue.Empty:
            with contextlib.suppress(queue.Empty):  # nobody looked: take the question back
                requests.get_nowait()
            return False

    return consent
