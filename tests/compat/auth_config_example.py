"""Code written for hop-client 0.13: credentials and configuration (issue 13, section 1).

Run by tests/integration/test_compat_examples.py with skyhop's python and with upstream
hop-client's (the peers' virtualenv); both must print the same observations. Only
hop-client's documented API is used. Prints one JSON object.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import warnings
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import SimpleNamespace
from unittest import mock

from hop import auth, configure
from hop.auth import Auth

seen: dict[str, object] = {}


def error_of(call):
    """The type facts of what ``call`` raises, as plain data."""
    try:
        call()
    except Exception as exc:
        # The first words only: the rest names temporary paths.
        return {"runtime": isinstance(exc, RuntimeError), "text": str(exc).split()[:2]}
    return None


def hop_command(*args, env):
    proc = subprocess.run([sys.executable, "-m", "hop", *args], capture_output=True, text=True,
                          env=env, timeout=120, stdin=subprocess.DEVNULL)
    return {"status": proc.returncode, "stdout": proc.stdout.strip()}


home = tempfile.mkdtemp()
os.environ["XDG_CONFIG_HOME"] = home
os.makedirs(os.path.join(home, "hop"))
auth_path = os.path.join(home, "hop", "auth.toml")
config_path = os.path.join(home, "hop", "config.toml")

# A hand-written auth.toml: an inline array of tables spread over several lines.
with open(auth_path, "w") as f:
    f.write('auth = [\n  {username = "alice", password = "pw1",\n'
            '   hostname = "kafka.example:9092"},\n'
            '  {username = "bob",\n   password = "pw2", mechanism = "SCRAM_SHA_256"},\n]\n')
os.chmod(auth_path, 0o600)
seen["multi_line_inline_tables"] = [[c.username, c.hostname, c.mechanism]
                                    for c in auth.load_auth()]

# Auth's properties.
sha1 = Auth("u", "p", method="SCRAM-SHA-1")
seen["scram_sha_1"] = [sha1.mechanism, sha1.is_scram, sha1.is_token]
seen["mechanism_as_given"] = Auth("u", "p", method="SCRAM_SHA_256").mechanism
seen["default_mechanism"] = [Auth("u", "p").mechanism, Auth("u", "p").is_scram]
seen["token_of_password_credential"] = error_of(lambda: Auth("u", "p").token)


class TokenEndpoint(BaseHTTPRequestHandler):
    requests: list[object] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        basic = base64.b64decode(self.headers["Authorization"].split()[1]).decode()
        TokenEndpoint.requests.append([body, basic])
        answer = json.dumps({"access_token": "tok-1", "token_type": "Bearer",
                             "expires_in": 300}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", 0), TokenEndpoint)
threading.Thread(target=server.serve_forever, daemon=True).start()
oidc = Auth("client-id", "client-secret",
            token_endpoint=f"http://127.0.0.1:{server.server_port}/token")
seen["oidc"] = [oidc.is_token, oidc.is_scram, oidc.mechanism, oidc.token, oidc.token]
seen["oidc_requests"] = TokenEndpoint.requests  # the second .token came from the cache
server.shutdown()
server.server_close()

# Errors of the configuration functions.
with open(config_path, "w") as f:
    f.write("[config\n")
seen["prune_malformed"] = error_of(auth.prune_outdated_auth)
os.remove(config_path)
os.rename(auth_path, auth_path + ".away")
seen["delete_without_store"] = error_of(lambda: auth.delete_credential("nobody"))
os.rename(auth_path + ".away", auth_path)
seen["config_load_without_section"] = error_of(lambda: configure.Config.load("x = 1\n"))
os.environ["HOP_FETCH_EXTERNAL"] = "maybe"
seen["bad_environment_value"] = error_of(configure.load_config)
del os.environ["HOP_FETCH_EXTERNAL"]
os.mkdir(config_path)  # exists, but cannot be read as a file
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    defaults = configure.load_config()
seen["unreadable_config"] = [defaults.asdict(), [str(w.message).split()[:2] for w in caught]]
os.rmdir(config_path)
configure.write_config_value("fetch_external", False)
with open(config_path) as f:
    seen["write_config_value_writes_one_setting"] = f.read()
seen["config_after_write"] = configure.load_config().asdict()

# Users' tests patch the module attributes, and the functions follow.
with mock.patch("hop.auth.load_auth", return_value=[Auth("mocked", "pw", host="h:9092")]):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        auth.list_credentials()
    seen["patched_load_auth"] = out.getvalue()
elsewhere = tempfile.mkdtemp()
paths = {"auth": os.path.join(elsewhere, "auth.toml"),
         "general": os.path.join(elsewhere, "config.toml")}
csv_file = os.path.join(elsewhere, "cred.csv")
with open(csv_file, "w") as f:
    f.write("username,password\ncarol,pw3\n")
with mock.patch("hop.configure.get_config_path", side_effect=lambda type="general": paths[type]):
    auth.add_credential(SimpleNamespace(cred_file=csv_file, force=False))
seen["patched_config_path"] = [c.username for c in auth.load_auth(paths["auth"])]

# The command line, as a user runs it (stdout is not a terminal here).
env = dict(os.environ)
seen["hop_auth_add_conflict"] = [hop_command("auth", "add", csv_file, env=env),
                                 hop_command("auth", "add", csv_file, env=env)]
seen["hop_auth_list"] = hop_command("auth", "list", env=env)
empty = tempfile.mkdtemp()
os.makedirs(os.path.join(empty, "hop"))
auth.write_auth_data(os.path.join(empty, "hop", "auth.toml"), [])
seen["hop_auth_list_empty"] = hop_command("auth", "list", env={**env, "XDG_CONFIG_HOME": empty})
bare = hop_command(env={**env, "XDG_CONFIG_HOME": tempfile.mkdtemp()})
seen["bare_hop_without_credentials"] = [bare["status"], bare["stdout"].splitlines()[0]]

print(json.dumps(seen, sort_keys=True))
