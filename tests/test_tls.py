"""rediss:// against a TLS server with a throwaway CA (Debian's redis-server is built with TLS;
the pip-provided one is not). Certificate verification is on by default."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from redis_ckpt import RedisSaver, StoreUnavailableError
from redis_ckpt.embedded import EmbeddedRedis, free_port
from tests.helpers import checkpoint, config

TLS_SERVER = "/usr/bin/redis-server"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca_and_server_cert(where: Path) -> None:
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=redis-ckpt test CA",
             "-keyout", "ca.key", "-out", "ca.crt", cwd=where)  # fmt: skip
    (where / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key",
             "-out", "server.csr", cwd=where)  # fmt: skip
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "1", "-extfile", "san.cnf", "-out", "server.crt", cwd=where)  # fmt: skip


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    if not (os.path.exists(TLS_SERVER) and shutil.which("openssl")):
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's redis-server and openssl (see .ci/run)")
        pytest.skip("needs Debian's redis-server (built with TLS) and openssl: apt-get install redis-server")
    certs = tmp_path_factory.mktemp("tls")
    make_ca_and_server_cert(certs)
    port = free_port()
    server = EmbeddedRedis(modules=False, binary=TLS_SERVER, port=free_port())
    server.extra_args = [
        "--tls-port", str(port), "--tls-cert-file", str(certs / "server.crt"),
        "--tls-key-file", str(certs / "server.key"), "--tls-ca-cert-file", str(certs / "ca.crt"),
        "--tls-auth-clients", "no",
    ]  # fmt: skip
    server.start()
    yield f"rediss://127.0.0.1:{port}", certs
    server.stop()


def test_rediss_with_the_servers_ca_works(tls_server: tuple[str, Path]) -> None:
    url, certs = tls_server
    with RedisSaver.from_conn_string(url, connection_args={"ssl_ca_certs": str(certs / "ca.crt")}) as saver:
        saver.setup()
        saver.put(config("t"), checkpoint({"x": "over tls"}), {}, {"x": 1})
        assert saver.get_tuple(config("t")).checkpoint["channel_values"] == {"x": "over tls"}


def test_rediss_verifies_the_certificate_by_default(tls_server: tuple[str, Path]) -> None:
    url, _ = tls_server
    saver = RedisSaver(url, retry=None)
    with pytest.raises(StoreUnavailableError, match=r"(?i)certificate"):
        saver.get_tuple(config("t"))
