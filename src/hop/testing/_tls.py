"""Throw-away TLS material for the test broker, made with the ``openssl`` command.

Two unrelated certificate authorities: the first signs the broker's certificate
(SAN ``DNS:localhost,IP:127.0.0.1``, since librdkafka checks the host name by
default), the second signs nothing and lets tests prove that a client trusting the
wrong CA is refused. The broker reads a PKCS12 keystore; clients read PEM files.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from hop.testing._errors import TLSSetupError

_DAYS = "3650"
_CURVE = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]



@dataclass(frozen=True)
class TLSFiles:
    """Where the broker's TLS material lives."""

    ca_file: Path
    """PEM of the CA that signed the broker's certificate (a client's ``ssl.ca.location``)."""
    wrong_ca_file: Path
    """PEM of an unrelated CA; a client trusting only it must fail the handshake."""
    keystore: Path
    """PKCS12 keystore with the broker's key and certificate chain."""
    keystore_password: str
    """Password of :attr:`keystore` (and of the key inside it)."""


def ensure_tls_files(folder: Path) -> TLSFiles:
    """Create the CA, the broker certificate and the wrong CA in ``folder`` once.

    Files already there are reused, so a restarted broker keeps the CA its clients trust.

    Raises
    ------
    TLSSetupError
        When ``openssl`` is missing or fails.
    """
    files = TLSFiles(
        ca_file=folder / "ca.pem",
        wrong_ca_file=folder / "wrong-ca.pem",
        keystore=folder / "broker.p12",
        keystore_password="",
    )
    password_file = folder / "keystore.password"
    if files.keystore.exists() and password_file.exists() and files.wrong_ca_file.exists():
        return _with_password(files, password_file.read_text().strip())
    if shutil.which("openssl") is None:
        raise TLSSetupError("cannot make the test broker's certificates: 'openssl' is not on PATH")
    folder.mkdir(parents=True, exist_ok=True)
    password = secrets.token_hex(16)
    _make_ca(folder, "ca", "skyhop test CA")
    _make_ca(folder, "wrong-ca", "skyhop unrelated CA")
    ext = folder / "broker.ext"
    ext.write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
        "basicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
    )
    _openssl("req", *_CURVE, "-keyout", folder / "broker.key", "-out", folder / "broker.csr",
             "-subj", "/CN=localhost")
    _openssl("x509", "-req", "-in", folder / "broker.csr", "-CA", files.ca_file,
             "-CAkey", folder / "ca.key", "-CAcreateserial", "-days", _DAYS,
             "-extfile", ext, "-out", folder / "broker.pem")
    _openssl("pkcs12", "-export", "-in", folder / "broker.pem", "-inkey", folder / "broker.key",
             "-certfile", files.ca_file, "-name", "broker", "-out", files.keystore,
             "-passout", f"pass:{password}")
    # Written last: its presence means the set is complete.
    password_file.write_text(password + "\n")
    return _with_password(files, password)


def _with_password(files: TLSFiles, password: str) -> TLSFiles:
    return TLSFiles(files.ca_file, files.wrong_ca_file, files.keystore, password)


def _make_ca(folder: Path, stem: str, name: str) -> None:
    _openssl("req", "-x509", *_CURVE, "-keyout", folder / f"{stem}.key",
             "-out", folder / f"{stem}.pem", "-days", _DAYS, "-subj", f"/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")


def _openssl(*args: str | Path) -> None:
    cmd = ["openssl", *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        raise TLSSetupError(
            f"openssl failed (exit {proc.returncode}): {' '.join(cmd[:2])}\n{proc.stderr.strip()}"
        )
