"""astropy/pyvo drop-in pieces that need no hub: conf, typed values, utilities, dialog."""

from __future__ import annotations

import queue
import threading
import xmlrpc.client
from pathlib import Path
from typing import Any

import pytest

import hop.samp
from hop.samp import SAMPClientError, SAMPMsgReplierWrapper, WebProfileDialog, conf
from hop.samp._dialog import dialog_consent
from hop.samp._xmlrpc import to_xmlrpc
from hop.samp.hub_script import _parser


def test_conf_has_astropys_items_and_defaults() -> None:
    assert conf.keys() == ["use_internet", "n_retries"]
    assert conf.use_internet is True
    assert conf.n_retries == 10
    assert conf.get_default("n_retries") == 10


def test_conf_set_temp_restores_the_value() -> None:
    with conf.set_temp("n_retries", 3):
        assert conf.n_retries == 3
    assert conf.n_retries == 10


def test_conf_refuses_unknown_items_and_bad_values() -> None:
    with pytest.raises(AttributeError, match="no item 'retries'"):
        conf.retries = 3
    with pytest.raises(ValueError, match="n_retries must be an integer >= 1"):
        conf.n_retries = 0
    with pytest.raises(ValueError, match="use_internet must be a boolean"):
        conf.use_internet = "perhaps"
    assert conf.n_retries == 10


def test_conf_reset_puts_defaults_back() -> None:
    conf.use_internet = False
    conf.reset()
    assert conf.use_internet is True


def test_values_keep_their_xmlrpc_types() -> None:
    value = {"n": 1331, "x": 2.5, "ok": True, "s": "t", "l": (1, [2, {"k": False}]), "z": None}
    assert to_xmlrpc(value) == {"n": 1331, "x": 2.5, "ok": True, "s": "t",
                                "l": [1, [2, {"k": False}]], "z": None}


def test_values_xmlrpc_cannot_carry_are_refused_with_their_place() -> None:
    with pytest.raises(SAMPClientError, match=r"message\['p'\]: 4294967296 does not fit"):
        to_xmlrpc({"p": 2**32}, where="message")
    with pytest.raises(SAMPClientError, match=r"message\['b'\]: bytes"):
        to_xmlrpc({"b": b"raw"}, where="message")
    with pytest.raises(SAMPClientError, match="map key 1 is not a string"):
        to_xmlrpc({1: "x"}, where="message")


class _FakeHub:
    def __init__(self) -> None:
        self.replies: list[tuple[str, str, dict[str, Any]]] = []

    def reply(self, key: str, msg_id: str, response: dict[str, Any]) -> None:
        self.replies.append((key, msg_id, response))


class _FakeClient:
    def __init__(self) -> None:
        self.hub = _FakeHub()

    def get_private_key(self) -> str:
        return "key"


def test_replier_wrapper_replies_ok_with_the_returned_map() -> None:
    cli = _FakeClient()

    @SAMPMsgReplierWrapper(cli)
    def handler(key: str, sender: str, msg_id: str, mtype: str, params: Any, extra: Any) -> Any:
        return {"sum": params["a"] + params["b"]}

    handler("k", "c1", "m1", "calc.add", {"a": 1, "b": 2}, {})
    assert cli.hub.replies == [("key", "m1", {"samp.status": "samp.ok",
                                              "samp.result": {"sum": 3}})]


def test_replier_wrapper_turns_an_exception_into_an_error_reply() -> None:
    cli = _FakeClient()

    @SAMPMsgReplierWrapper(cli)
    def handler(key: str, sender: str, msg_id: str, mtype: str, params: Any, extra: Any) -> Any:
        raise KeyError("ra")

    handler("k", "c1", "m2", "coord.pointAt.sky", {}, {})
    (_, msg_id, response), = cli.hub.replies
    assert msg_id == "m2"
    assert response["samp.status"] == "samp.error"
    assert "KeyError" in response["samp.result"]["txt"]
    assert response["samp.error"]["samp.errortxt"] == "'ra'"


def test_replier_wrapper_does_not_reply_to_notifications() -> None:
    cli = _FakeClient()
    seen = []

    @SAMPMsgReplierWrapper(cli)
    def handler(key: str, sender: str, mtype: str, params: Any, extra: Any) -> Any:
        seen.append(mtype)
        return {"ignored": "1"}

    handler("k", "c1", "x.y", {}, {})
    assert seen == ["x.y"]
    assert cli.hub.replies == []


def test_safe_xmlrpc_loads_parses_and_does_not_read_external_entities(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    params, method = hop.samp.safe_xmlrpc_loads(xmlrpc.client.dumps((1, "a"), "samp.hub.ping"))
    assert (params, method) == ((1, "a"), "samp.hub.ping")
    attack = (
        f'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "{secret.as_uri()}">]>'
        "<methodCall><methodName>m</methodName><params><param><value><string>&x;"
        "</string></value></param></params></methodCall>"
    )
    try:
        params, _ = hop.samp.safe_xmlrpc_loads(attack)
    except Exception:  # expat may refuse the undefined entity outright
        return
    assert "TOP-SECRET" not in str(params)


def test_xxe_server_proxy_is_a_server_proxy() -> None:
    proxy = hop.samp.SAMPXXEServerProxy("http://127.0.0.1:9/", allow_none=True)
    assert isinstance(proxy, xmlrpc.client.ServerProxy)


def test_samp_icon_is_a_png() -> None:
    icon = hop.samp.SAMP_ICON
    assert icon.startswith(b"\x89PNG\r\n\x1a\n")
    assert b"IHDR" in icon[:16] and icon.endswith(b"IEND\xaeB`\x82")


class _Dialog(WebProfileDialog):
    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.shown: list[tuple[Any, ...]] = []

    def show_dialog(self, samp_name: str, details: Any, client: Any, origin: str) -> None:
        self.shown.append((samp_name, details, client, origin))
        (self.consent if self.answer else self.reject)()


def _ask(consent: Any, dialog: _Dialog | None) -> bool:
    answer: list[bool] = []
    asker = threading.Thread(target=lambda: answer.append(consent(
        {"identity": {"samp.name": "page"}, "address": "127.0.0.1", "port": 5555,
         "origin": "http://example.org"})))
    asker.start()
    if dialog is not None:
        while asker.is_alive() and not dialog.shown:
            dialog.handle_queue()  # as a GUI timer would
            asker.join(0.01)
    asker.join(5)
    return answer[0]


@pytest.mark.parametrize("answer", [True, False])
def test_dialog_answers_decide_the_registration(answer: bool) -> None:
    dialog = _Dialog(answer)
    consent = dialog_consent(dialog, timeout=5)
    assert _ask(consent, dialog) is answer
    assert dialog.shown == [("page", {"samp.name": "page"}, ("127.0.0.1", 5555),
                             "http://example.org")]


def test_a_dialog_that_never_answers_refuses_after_its_timeout() -> None:
    dialog = _Dialog(True)
    consent = dialog_consent(dialog, timeout=0.2)
    assert _ask(consent, None) is False
    with pytest.raises(queue.Empty):  # the unanswered question was taken back
        dialog.queue_request.get_nowait()


def test_dialog_handle_queue_is_harmless_before_the_hub_attaches() -> None:
    _Dialog(True).handle_queue()  # no queue_request yet: nothing to show, no error
    assert not hasattr(_Dialog(True), "queue_request")


def test_show_dialog_must_be_defined_by_subclasses() -> None:
    with pytest.raises(NotImplementedError):
        WebProfileDialog().show_dialog("page", {}, ("127.0.0.1", 1), "null")


class _Table:
    def write(self, output: Any, format: str) -> None:
        assert format == "votable"
        output.write("<VOTABLE/>")


def test_accessible_table_writes_a_file_for_the_block_only() -> None:
    with hop.samp.accessible_table(_Table()) as url:
        path = Path(url.removeprefix("file://"))
        assert path.read_text() == "<VOTABLE/>"
    assert not path.exists()


def test_accessible_table_refuses_what_is_not_a_table() -> None:
    with (pytest.raises(TypeError, match="astropy Table or VOTableFile, not dict"),
          hop.samp.accessible_table({"a": 1})):
        pass


def test_hub_script_takes_astropys_flags() -> None:
    args = _parser().parse_args(
        ["-k", "s3", "-d", "127.0.0.1", "-p", "4000", "-f", "/tmp/l", "-w", "-P", "5",
         "-t", "60", "-c", "30", "-L", "DEBUG", "-O", "/tmp/log", "-l", "lab", "-m"]
    )
    assert vars(args) == {
        "secret": "s3", "addr": "127.0.0.1", "port": 4000, "lockfile": "/tmp/l",
        "web_profile": False, "pool_size": 5, "timeout": 60, "client_timeout": 30,
        "loglevel": "DEBUG", "logout": "/tmp/log", "label": "lab", "mode": "multiple",
    }
    long = _parser().parse_args(["--secret", "s", "--no-web-profile", "--multi",
                                 "--client-timeout", "3", "--log-level", "ERROR"])
    assert (long.secret, long.web_profile, long.mode, long.client_timeout, long.loglevel) == (
        "s", False, "multiple", 3, "ERROR")
