"""Credentials: the Auth value type, selection rules, and the auth.toml store."""

from __future__ import annotations

import os
import stat
import types
from pathlib import Path

import certifi
import pytest

from hop import auth
from hop.auth import Auth, SASLMethod, select_matching_auth
from hop.errors import (
    AmbiguousCredentialError,
    CredentialError,
    CredentialFileError,
    InsecureFileError,
    NoMatchingCredentialError,
)


def _write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


# ------------------------------------------------------------------------------ Auth


def test_auth_defaults_to_scram_sha_512_over_ssl_with_certifi_bundle():
    cred = Auth("alice", "pw")
    assert (cred.username, cred.password, cred.hostname) == ("alice", "pw", "")
    assert cred.mechanism == "SCRAM-SHA-512"
    assert cred.protocol == "SASL_SSL"
    assert cred.ssl is True
    assert cred.ssl_ca_location == certifi.where()
    assert cred.is_scram and not cred.is_token


def test_auth_without_ssl_is_sasl_plaintext_and_has_no_ca():
    cred = Auth("alice", "pw", ssl=False, ssl_ca_location="/ca.pem")
    assert cred.protocol == "SASL_PLAINTEXT"
    assert cred.ssl_ca_location is None


@pytest.mark.parametrize(
    ("method", "reported"),
    [
        (SASLMethod.SCRAM_SHA_256, "SCRAM-SHA-256"),
        ("SCRAM-SHA-256", "SCRAM-SHA-256"),
        ("scram_sha_256", "scram_sha_256"),
        ("SCRAM_SHA_256", "SCRAM_SHA_256"),
    ],
)
def test_auth_reports_a_mechanism_string_as_given_and_a_member_by_its_name(method, reported):
    # hop-client's Auth.mechanism is str(method): a string comes back as the user wrote it.
    cred = Auth("a", "b", method=method)
    assert cred.mechanism == reported
    assert cred.is_scram is True
    assert cred == Auth("a", "b", method=SASLMethod.SCRAM_SHA_256)
    assert cred()["sasl.mechanism"] == "SCRAM-SHA-256"  # librdkafka gets the standard name


def test_sasl_method_str_is_the_librdkafka_name():
    assert [str(m) for m in SASLMethod] == [
        "PLAIN",
        "SCRAM-SHA-256",
        "SCRAM-SHA-512",
        "OAUTHBEARER",
    ]


def test_token_endpoint_selects_oauthbearer():
    cred = Auth("client", "secret", token_endpoint="https://idp.example/token")
    assert cred.mechanism == "OAUTHBEARER"
    assert cred.token_endpoint == "https://idp.example/token"
    assert cred.is_token


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"user": "", "password": "x"}, "non-empty username"),
        ({"user": "a", "password": "x", "method": "MD5"}, "unknown SASL mechanism 'MD5'"),
        ({"user": "a", "password": "x", "method": "OAUTHBEARER"}, "no token_endpoint"),
    ],
)
def test_auth_rejects_bad_arguments_eagerly_with_value_error(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        Auth(**kwargs)


def test_auth_repr_hides_the_password():
    text = repr(Auth("alice", "hunter2", host="kafka.example:9092"))
    assert "hunter2" not in text
    assert "alice" in text and "kafka.example:9092" in text


def test_auth_equality_and_hash_follow_all_fields():
    assert Auth("a", "b", host="h") == Auth("a", "b", host="h")
    assert len({Auth("a", "b"), Auth("a", "b")}) == 1
    assert Auth("a", "b") != Auth("a", "c")
    assert Auth("a", "b") != Auth("a", "b", ssl=False)


# ------------------------------------------------------------------------- selection


def test_select_prefers_hostname_match_over_hostless():
    wild, specific = Auth("wild", "p"), Auth("spec", "p", host="kafka.example:9092")
    assert select_matching_auth([wild, specific], "kafka.example:9092") is specific


def test_select_treats_missing_port_as_9092_on_either_side():
    cred = Auth("u", "p", host="kafka.example")
    assert select_matching_auth([cred], "kafka.example:9092") is cred
    cred2 = Auth("u", "p", host="kafka.example:9092")
    assert select_matching_auth([cred2], "kafka.example") is cred2


def test_select_does_not_match_a_different_port():
    cred = Auth("u", "p", host="kafka.example:9093")
    with pytest.raises(NoMatchingCredentialError, match=r"kafka\.example:9092"):
        select_matching_auth([cred], "kafka.example:9092")


def test_select_matches_ipv6_literals_and_ignores_host_case():
    cred = Auth("u", "p", host="[::1]:9092")
    assert select_matching_auth([cred], "[::1]") is cred
    upper = Auth("v", "p", host="KAFKA.Example:9092")
    assert select_matching_auth([upper], "kafka.example:9092") is upper


def test_single_hostless_credential_is_used_for_any_host():
    cred = Auth("only", "p")
    assert select_matching_auth([cred], "anywhere.example:1234") is cred


def test_username_from_url_restricts_the_candidates():
    a, b = Auth("alice", "p"), Auth("bob", "p")
    assert select_matching_auth([a, b], "h:9092", "bob") is b


def test_username_restricts_before_hostname_preference():
    # bob's credential is host-specific, alice's is a wildcard: asking for alice must
    # still find her wildcard credential rather than fail on bob's exact match.
    alice, bob = Auth("alice", "p"), Auth("bob", "p", host="h:9092")
    assert select_matching_auth([alice, bob], "h:9092", "alice") is alice


def test_ambiguity_lists_every_candidate():
    creds = [Auth("alice", "p"), Auth("bob", "p")]
    with pytest.raises(AmbiguousCredentialError) as info:
        select_matching_auth(creds, "h:9092")
    message = str(info.value)
    assert "with no username specified" in message
    assert "alice which has no associated hostname" in message
    assert "bob which has no associated hostname" in message


def test_no_match_names_host_and_username_and_lists_what_exists():
    with pytest.raises(NoMatchingCredentialError) as info:
        select_matching_auth([Auth("alice", "p", host="a:9092")], "b:9092", "carol")
    message = str(info.value)
    assert "'b:9092'" in message and "'carol'" in message and "alice for a:9092" in message
    assert isinstance(info.value, KeyError)


def test_select_accepts_a_single_auth():
    cred = Auth("u", "p")
    assert select_matching_auth(cred, "h") is cred


# ---------------------------------------------------------------------------- store


def test_write_then_load_round_trips_and_file_is_private(tmp_path):
    path = tmp_path / "deep" / "hop" / "auth.toml"
    creds = [
        Auth("alice", "pw1"),
        Auth("bob", "pw2", host="kafka.example:9092", ssl=False, method="SCRAM-SHA-256"),
        Auth("carol", "s", token_endpoint="https://idp.example/token", ssl_ca_location="/ca.pem"),
    ]
    auth.write_auth_data(path, creds)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert auth.load_auth(path) == creds
    text = path.read_text()
    assert "[[auth]]" in text
    assert certifi.where() not in text  # environment-specific path is not stored


def test_write_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "auth.toml"
    auth.write_auth_data(path, [Auth("a", "b")])
    auth.write_auth_data(path, [Auth("c", "d")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["auth.toml"]
    assert auth.load_auth(path) == [Auth("c", "d")]


def test_load_reads_legacy_single_auth_table(tmp_path):
    path = _write(tmp_path / "auth.toml", '[auth]\nusername = "old"\npassword = "pw"\n')
    assert auth.load_auth(path) == [Auth("old", "pw")]


def test_load_reads_upstream_file_with_dashed_mechanism_and_plaintext(tmp_path):
    path = _write(
        tmp_path / "auth.toml",
        '[[auth]]\nusername = "bob"\npassword = "pw2"\nprotocol = "SASL_PLAINTEXT"\n'
        'mechanism = "SCRAM-SHA-256"\nhostname = "kafka.scimma.org:9092"\n',
    )
    (cred,) = auth.load_auth(path)
    assert (cred.mechanism, cred.protocol, cred.hostname) == (
        "SCRAM-SHA-256",
        "SASL_PLAINTEXT",
        "kafka.scimma.org:9092",
    )


def test_load_skips_token_command_entries_and_keeps_the_rest(tmp_path, caplog):
    path = _write(
        tmp_path / "auth.toml",
        '[[auth]]\nusername = "dave"\npassword = ""\ntoken_command = "get-token"\n'
        '[[auth]]\nusername = "erin"\npassword = "pw"\n',
    )
    assert auth.load_auth(path) == [Auth("erin", "pw")]
    assert "token_command" in caplog.text


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_store_readable_by_others_is_refused_with_the_fix(tmp_path, mode):
    path = _write(tmp_path / "auth.toml", '[[auth]]\nusername = "a"\npassword = "b"\n', mode)
    with pytest.raises(InsecureFileError) as info:
        auth.load_auth(path)
    assert f"chmod 600 {path}" in str(info.value)
    assert f"{mode:04o}" in str(info.value)
    assert isinstance(info.value, PermissionError)


def test_missing_store_is_file_not_found_naming_path_and_remedy(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(FileNotFoundError) as info:
        auth.load_auth(path)
    assert info.value.filename == str(path)
    assert "hop auth add" in str(info.value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[[auth]\n", "not valid TOML"),
        ("[config]\nfetch_external = true\n", "no auth section"),
        ('[[auth]]\nusername = "a"\n', "entry 1 (a): missing auth property 'password'"),
        ('[[auth]]\nusername = "a"\npassword = "b"\nhostame = "x"\n', "unknown key 'hostame'"),
        ('[[auth]]\nusername = "a"\npassword = 3\n', "'password' must be a string"),
        ('[[auth]]\nusername = "a"\npassword = "b"\nprotocol = "SSL"\n', "protocol 'SSL'"),
        ('[[auth]]\nusername = "a"\npassword = "b"\nmechanism = "GSSAPI"\n', "GSSAPI"),
        ("auth = 5\n", "must be a table or an array"),
    ],
)
def test_malformed_store_names_file_and_entry(tmp_path, text, fragment):
    path = _write(tmp_path / "auth.toml", text)
    with pytest.raises(CredentialFileError) as info:
        auth.load_auth(path)
    assert fragment in str(info.value)
    assert str(path) in str(info.value)
    assert isinstance(info.value, KeyError)


def test_default_location_follows_xdg_config_home(tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    auth.write_auth_data(tmp_path / "hop" / "auth.toml", [Auth("x", "y")])
    assert auth.load_auth(env=env) == [Auth("x", "y")]


def test_credentials_in_legacy_config_toml_are_read_when_auth_toml_is_missing(tmp_path):
    _write(tmp_path / "hop" / "config.toml", '[auth]\nusername = "old"\npassword = "pw"\n')
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    assert auth.load_auth(env=env) == [Auth("old", "pw")]


def test_world_readable_config_toml_without_credentials_gives_file_not_found(tmp_path):
    _write(tmp_path / "hop" / "config.toml", "[config]\nfetch_external = false\n", 0o644)
    with pytest.raises(FileNotFoundError) as info:
        auth.load_auth(env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert info.value.filename == str(tmp_path / "hop" / "auth.toml")


def test_world_readable_config_toml_with_credentials_is_refused(tmp_path):
    _write(tmp_path / "hop" / "config.toml", '[auth]\nusername = "o"\npassword = "p"\n', 0o644)
    with pytest.raises(InsecureFileError):
        auth.load_auth(env={"XDG_CONFIG_HOME": str(tmp_path)})


def test_prune_outdated_auth_removes_only_the_auth_table(tmp_path):
    path = _write(
        tmp_path / "config.toml",
        '[config]\nfetch_external = false\n[auth]\nusername = "o"\npassword = "p"\n',
    )
    auth.prune_outdated_auth(path)
    text = path.read_text()
    assert "auth" not in text and "fetch_external = false" in text


def test_prune_outdated_auth_leaves_a_file_without_auth_untouched(tmp_path):
    path = _write(tmp_path / "config.toml", "# my comment\n[config]\n", 0o644)
    auth.prune_outdated_auth(path)
    assert path.read_text() == "# my comment\n[config]\n"


# ------------------------------------------------------------------------ CSV import


def test_csv_import_reads_header_and_optional_columns(tmp_path):
    csv_file = tmp_path / "cred.csv"
    csv_file.write_text(
        "username,password,hostname,mechanism,protocol\n"
        "user2,pass2,example.com,SCRAM_SHA_256,SASL_PLAINTEXT\n"
    )
    cred = auth.read_new_credential(csv_file)
    assert cred == Auth("user2", "pass2", host="example.com", ssl=False, method="SCRAM-SHA-256")
    # As hop-client's import (its own test asserts this spelling); Kafka still gets
    # the standard name.
    assert cred.mechanism == "SCRAM_SHA_256"
    assert cred()["sasl.mechanism"] == "SCRAM-SHA-256"


def test_csv_import_tolerates_bom_and_spaces(tmp_path):
    csv_file = tmp_path / "cred.csv"
    csv_file.write_bytes("\ufeffusername, password\n alice , pw \n".encode())
    assert auth.read_new_credential(csv_file) == Auth("alice", "pw")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "is empty"),
        ("username\nalice\n", "no 'password' column"),
        ("username,password,nickname\na,b,c\n", "unknown column 'nickname'"),
        ("username,password\n,pw\n", "line 2: the username is empty"),
        ("username,password\nalice,\n", "line 2: the password is empty"),
        ("username,password\n", "no credential"),
        ("username,password\na,b,c\n", "line 2: more fields"),
    ],
)
def test_bad_csv_names_file_and_line(tmp_path, text, fragment):
    csv_file = tmp_path / "cred.csv"
    csv_file.write_text(text)
    with pytest.raises(CredentialFileError) as info:
        auth.read_new_credential(csv_file)
    assert fragment in str(info.value) and str(csv_file) in str(info.value)


def test_csv_import_of_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        auth.read_new_credential(tmp_path / "missing.csv")


def test_interactive_credential_uses_the_prompts():
    answers = iter(["alice", "kafka://kafka.example:9092/", ""])
    cred = auth.read_new_credential(prompt=lambda _: next(answers), secret_prompt=lambda _: "pw")
    assert cred == Auth("alice", "pw", host="kafka.example:9092")


def test_interactive_empty_username_is_refused():
    with pytest.raises(CredentialError, match="Username may not be empty"):
        auth.read_new_credential(prompt=lambda _: "", secret_prompt=lambda _: "pw")


def test_interactive_bad_hostname_is_refused():
    answers = iter(["alice", "not a/host", ""])
    with pytest.raises(RuntimeError, match="hostname:port"):  # upstream's type
        auth.read_new_credential(prompt=lambda _: next(answers), secret_prompt=lambda _: "pw")


# ------------------------------------------------------------ add / delete / list


def _args(cred_file, force=False):
    return types.SimpleNamespace(cred_file=str(cred_file) if cred_file else None, force=force)


def test_add_credential_imports_every_csv_row_into_a_new_store(tmp_path):
    store = tmp_path / "hop" / "auth.toml"
    csv_file = tmp_path / "c.csv"
    csv_file.write_text("username,password,hostname\na,1,\nb,2,h:9092\n")
    added = auth.add_credential(_args(csv_file), config_file=str(store))
    assert added == [Auth("a", "1"), Auth("b", "2", host="h:9092")]
    assert auth.load_auth(store) == added
    assert stat.S_IMODE(store.stat().st_mode) == 0o600


def test_add_conflicting_credential_logs_and_changes_nothing_without_force(tmp_path, caplog):
    store = tmp_path / "auth.toml"
    auth.write_auth_data(store, [Auth("a", "old", host="h")])
    csv_file = tmp_path / "c.csv"
    csv_file.write_text("username,password,hostname\na,new,h\n")
    # hop-client logs the conflict and returns; it raises nothing.
    assert auth.add_credential(_args(csv_file), config_file=str(store)) == []
    assert "Credential already exists; overwrite with --force" in caplog.text
    assert auth.load_auth(store) == [Auth("a", "old", host="h")]
    auth.add_credential(_args(csv_file, force=True), config_file=str(store))
    assert auth.load_auth(store) == [Auth("a", "new", host="h")]


def test_same_user_for_another_host_is_not_a_conflict(tmp_path):
    store = tmp_path / "auth.toml"
    auth.write_auth_data(store, [Auth("a", "1", host="h1")])
    csv_file = tmp_path / "c.csv"
    csv_file.write_text("username,password,hostname\na,2,h2\n")
    auth.add_credential(_args(csv_file), config_file=str(store))
    assert [c.hostname for c in auth.load_auth(store)] == ["h1", "h2"]


def test_add_to_default_store_migrates_legacy_config_and_prunes_it(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    config = _write(
        tmp_path / "hop" / "config.toml",
        '[config]\nautomatic_offload = false\n[auth]\nusername = "old"\npassword = "p"\n',
    )
    csv_file = tmp_path / "c.csv"
    csv_file.write_text("username,password\nnew,q\n")
    auth.add_credential(_args(csv_file))
    assert auth.load_auth() == [Auth("old", "p"), Auth("new", "q")]
    assert "auth" not in config.read_text()


def test_delete_by_username_and_by_user_at_host(tmp_path):
    store = tmp_path / "auth.toml"
    auth.write_auth_data(
        store, [Auth("a", "1", host="h1"), Auth("a", "2", host="h2"), Auth("b", "3")]
    )
    with pytest.raises(AmbiguousCredentialError, match="a for h1"):
        auth.delete_credential("a", config_file=str(store))
    removed = auth.delete_credential("a@h2", config_file=str(store))
    assert removed == Auth("a", "2", host="h2")
    auth.delete_credential("b", config_file=str(store))
    assert auth.load_auth(store) == [Auth("a", "1", host="h1")]


def test_delete_username_containing_at_sign(tmp_path):
    store = tmp_path / "auth.toml"
    auth.write_auth_data(store, [Auth("me@uni.edu", "1"), Auth("me@uni.edu", "2", host="h")])
    auth.delete_credential("me@uni.edu@h", config_file=str(store))
    assert auth.load_auth(store) == [Auth("me@uni.edu", "1")]


def test_delete_unknown_name_raises_no_matching(tmp_path):
    store = tmp_path / "auth.toml"
    auth.write_auth_data(store, [Auth("a", "1")])
    with pytest.raises(NoMatchingCredentialError, match="'zed'"):
        auth.delete_credential("zed", config_file=str(store))


def test_list_credentials_shows_names_but_never_passwords(tmp_path, capsys):
    store = tmp_path / "auth.toml"
    auth.write_auth_data(store, [Auth("alice", "secret1"), Auth("bob", "secret2", host="h:1")])
    auth.list_credentials(config_file=str(store))
    out = capsys.readouterr().out
    assert "alice" in out and "bob" in out and "for h:1" in out
    assert "secret" not in out


def test_list_of_empty_store_says_so_on_stderr(tmp_path, capsys):
    store = tmp_path / "auth.toml"
    auth.write_auth_data(store, [])
    auth.list_credentials(config_file=str(store))
    captured = capsys.readouterr()
    assert captured.out == "" and "No credentials configured" in captured.err


def test_public_names_of_hop_auth():
    assert set(auth.__all__) == {
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
    }
    assert all(hasattr(auth, name) for name in auth.__all__)
    assert os.path.basename(auth.__file__) == "auth.py"


def test_calling_an_auth_gives_librdkafka_settings_for_oidc():
    cred = Auth("client", "secret", token_endpoint="https://idp.example/token")
    settings = cred()
    assert settings["sasl.mechanism"] == "OAUTHBEARER"
    assert settings["sasl.oauthbearer.method"] == "oidc"
    assert settings["sasl.oauthbearer.client.id"] == "client"
    assert settings["sasl.oauthbearer.client.secret"] == "secret"
    assert settings["sasl.oauthbearer.token.endpoint.url"] == "https://idp.example/token"


def test_calling_a_scram_auth_gives_username_and_password_settings():
    settings = Auth("alice", "pw", ssl=False)()
    assert settings["security.protocol"] == "SASL_PLAINTEXT"
    assert (settings["sasl.username"], settings["sasl.password"]) == ("alice", "pw")


def test_positional_arguments_follow_upstream_order():
    cred = Auth("client", "secret", "idp-broker:9092", True, "OAUTHBEARER", "https://idp/token")
    assert (cred.hostname, cred.token_endpoint) == ("idp-broker:9092", "https://idp/token")


def test_token_command_is_refused_clearly():
    with pytest.raises(ValueError, match="token_command"):
        Auth("dave", "", token_command="get-token")
