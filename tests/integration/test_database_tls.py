"""CRYPTOTRADES_DB_TLS against a real server that speaks TLS with a certificate from a test CA.

The shared MariaDB on 3306 has no TLS and must not be reconfigured, so this starts a second,
private mariadbd (own datadir and port under a temp dir, TLS on, one user that must use TLS)
and stops it afterwards. The code under test is the Lambda's: the settings' SSL context and
``MySqlStore.open``, as on AWS, where the CA is the shipped RDS roots instead of the test CA.
"""

from __future__ import annotations

import datetime
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from infra import rds_ca
from lambda_aggregator.settings import AggregatorSettings
from minutes.errors import StoreError
from minutes.store import MySqlStore
from tests.fixtures.servers import missing_server

pytestmark = pytest.mark.integration

USER, PASSWORD = "tls_user", "tls-password"
SERVER_NAME = "localhost"  # the name in the server's certificate (no IP address in it)


@dataclass(frozen=True)
class TlsServer:
    port: int
    ca_file: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A test CA, and a server certificate for ``localhost`` signed by it."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("cryptotrades test CA"))
        .issuer_name(_name("cryptotrades test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(_name(SERVER_NAME))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(SERVER_NAME)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "server.pem", folder / "server-key.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ca_file, cert_file, key_file


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    mariadbd, install = shutil.which("mariadbd") or "/usr/sbin/mariadbd", shutil.which("mariadb-install-db")
    if not os.access(mariadbd, os.X_OK) or install is None:
        missing_server(
            "mariadbd and mariadb-install-db, to run a private TLS server (apt-get install mariadb-server)"
        )
    root = tmp_path_factory.mktemp("tls-mariadb")
    ca_file, cert_file, key_file = _write_certificates(root)
    datadir = root / "data"
    # --no-defaults first: the machine's my.cnf describes the shared server, not this one.
    subprocess.run(
        [
            install,
            "--no-defaults",
            f"--datadir={datadir}",
            "--user=root",
            "--skip-test-db",
            "--auth-root-authentication-method=normal",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    init = root / "init.sql"
    init.write_text(
        f"CREATE USER '{USER}'@'%' IDENTIFIED BY '{PASSWORD}' REQUIRE SSL;\n"
        "CREATE DATABASE tls_db;\n"
        f"GRANT SELECT ON tls_db.* TO '{USER}'@'%';\n"
    )
    port = _free_port()
    server = subprocess.Popen(
        [
            mariadbd,
            "--no-defaults",
            f"--datadir={datadir}",
            f"--port={port}",
            "--bind-address=127.0.0.1",
            f"--socket={root / 'mysqld.sock'}",
            f"--pid-file={root / 'mysqld.pid'}",
            f"--log-error={root / 'error.log'}",
            "--user=root",
            "--skip-name-resolve",
            "--innodb-buffer-pool-size=16M",
            f"--ssl-ca={ca_file}",
            f"--ssl-cert={cert_file}",
            f"--ssl-key={key_file}",
            f"--init-file={init}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log = (root / "error.log").read_text() if (root / "error.log").exists() else ""
                    pytest.fail(f"the private TLS mariadbd did not start: {log[-2000:]}")
                time.sleep(0.2)
        yield TlsServer(port, ca_file)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def open_as_lambda(
    server: TlsServer, *, tls: str, ca_file: Path | None, host: str = SERVER_NAME
) -> MySqlStore:
    """Connect the way the Lambda does: settings from its env vars, parameters from the secret."""
    env = {
        "CRYPTOTRADES_DB_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:1:secret:x",
        "CRYPTOTRADES_DB_TLS": tls,
    }
    if ca_file is not None:
        env["CRYPTOTRADES_DB_CA_FILE"] = str(ca_file)
    secret = {"username": USER, "password": PASSWORD, "host": host, "port": server.port, "dbname": "tls_db"}
    return MySqlStore.open(**AggregatorSettings.from_env(env).mysql_params(secret))


def cipher(store: MySqlStore) -> str:
    ((_, value),) = store.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
    return str(value)


def test_verify_connects_when_the_certificate_chains_to_the_ca_and_names_the_host(tls_server) -> None:
    with open_as_lambda(tls_server, tls="verify", ca_file=tls_server.ca_file) as store:
        assert cipher(store)


def test_verify_refuses_a_server_whose_certificate_another_ca_signed(tls_server) -> None:
    # The shipped RDS roots do not know the test CA: exactly what stops an impostor on AWS.
    with pytest.raises(StoreError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        open_as_lambda(tls_server, tls="verify", ca_file=rds_ca.BUNDLE)


def test_verify_refuses_a_certificate_for_another_name(tls_server) -> None:
    with pytest.raises(StoreError, match=r"match|mismatch|IP address"):
        open_as_lambda(tls_server, tls="verify", ca_file=tls_server.ca_file, host="127.0.0.1")


def test_encrypt_connects_over_tls_without_checking_the_certificate(tls_server) -> None:
    with open_as_lambda(tls_server, tls="encrypt", ca_file=None, host="127.0.0.1") as store:
        assert cipher(store)
