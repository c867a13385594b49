"""rediss:// against a TLS server with a throwaway CA (Debian's redis-server is built with TLS;
the pip-provided one is not). Certificate verification is on by default."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from redis_ckpt import RedisSaver, RedisStore, TLSError, TLSMismatchError
from redis_ckpt.integrations.embedded_redis import EmbeddedRedis, free_port
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
    """An untrusted certificate is a setting, not an outage: a typed error at once, naming the fix."""
    url, _ = tls_server
    start = time.monotonic()
    with pytest.raises(TLSError, match=r"(?i)certificate.*ssl_ca_certs"):
        RedisSaver(url).get_tuple(config("t"))
    assert time.monotonic() - start < 5


def test_rediss_at_a_plain_port_fails_fast_with_a_hint(redis_url: str) -> None:
    """Against a plain port the TLS handshake gets no answer (or garbage): before, 35 s of
    timeouts and retries ending in 'Timeout connecting to server'."""
    plain = redis_url.replace("redis://", "rediss://", 1)
    for build in (
        lambda: RedisSaver(plain).get_tuple(config("t")),
        lambda: RedisStore(plain).get(("ns",), "k"),
    ):
        start = time.monotonic()
        with pytest.raises(TLSMismatchError, match=r"rediss:// \(TLS\) but the port answers in plain text"):
            build()
        assert time.monotonic() - start < 5


def test_redis_at_a_tls_port_fails_fast_with_a_hint(tls_server: tuple[str, Path]) -> None:
    plain = tls_server[0].replace("rediss://", "redis://", 1)
    for call in (
        lambda: RedisSaver(plain).put(config("t"), checkpoint({"x": 1}), {}, {"x": 1}),
        lambda: RedisStore(plain).put(("ns",), "k", {"v": 1}),
    ):
        start = time.monotonic()
        with pytest.raises(TLSMismatchError, match="speaks TLS but the URL says redis://"):
            call()
        assert time.monotonic() - start < 5
