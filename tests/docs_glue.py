"""Objects the code blocks of README.md and docs/ take for granted (`builder`, `inputs`, ...).

A block's hidden `<!-- docs-test: setup ... -->` comment imports what it needs from here (see
tests/test_docs_examples.py). Everything is small and deterministic: the docs show how to wire
redis-ckpt in, not what a real graph or embedding model does.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from langchain_core.messages import AIMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from pydantic import BaseModel

from redis_ckpt import RedisSaver
from redis_ckpt.integrations.demo_app import build_graph
from redis_ckpt.integrations.embedded_redis import EmbeddedRedis, free_port

# The refund graph of the demo and the integration examples (draft, then an interrupt() for a
# human's approval, then settle): the same shape the integration pages' blocks expect
# (`{"customer": ..., "amount": ...}` in, `"outcome"` out). Taken from the compiled demo graph so
# there is one definition of it.
builder: StateGraph[Any] = build_graph(None).builder
inputs: dict[str, Any] = {"customer": "Ada", "amount": 42.0}


class Refund(BaseModel):
    """The request body of the FastAPI block."""

    customer: str
    amount: float


class Message(BaseModel):
    """The request body of the chat blocks (reliability.md)."""

    text: str


def _reply(state: MessagesState) -> dict[str, list[AIMessage]]:
    return {"messages": [AIMessage(content=f"you said: {state['messages'][-1].content}")]}


# A one-node chat graph (`{"messages": [...]}` in, an AIMessage echo out), for blocks that read
# `result["messages"][-1].content`.
chat_builder: StateGraph[MessagesState] = StateGraph(MessagesState)
chat_builder.add_node("reply", _reply)
chat_builder.add_edge(START, "reply")
chat_builder.add_edge("reply", END)

DIMS = 1536


def embed_texts(texts: list[str]) -> list[list[float]]:
    """A bag-of-words embedding: each word hashed to one of DIMS axes, then normalised, so a query
    scores the texts that share its words (enough to show semantic search finding something)."""
    vectors = []
    for text in texts:
        vector = [0.0] * DIMS
        for word in text.lower().split():
            vector[int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "big") % DIMS] += 1.0
        norm = math.sqrt(sum(x * x for x in vector)) or 1.0
        vectors.append([x / norm for x in vector])
    return vectors


def saved_state(url: str, thread_id: str, **saver_kwargs: Any) -> Any:
    """The latest state of a refund thread, read back by a new saver: what the block left in Redis,
    not what its objects still hold in memory. The harness gives the new saver the block's prefix."""
    with RedisSaver.from_conn_string(url, **saver_kwargs) as saver:
        return builder.compile(checkpointer=saver).get_state({"configurable": {"thread_id": thread_id}})


class TrackedRedisSaver(RedisSaver):
    """RedisSaver that remembers each instance, for blocks that build savers without naming them
    (`RedisSaver("redis://...")` on its own line): the check then sets each one up."""

    made: ClassVar[list[RedisSaver]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        TrackedRedisSaver.made.append(self)


@contextlib.contextmanager
def deployment_server(tls: bool = False) -> Iterator[dict[str, str]]:
    """A server the deployments page's URLs can reach: the ACL user `user` (password `password`),
    a Unix socket and, with `tls`, a TLS port with a throwaway CA (Debian's redis-server: the pip
    one has no TLS). Yields the replacements that point the page's addresses at it."""
    from tests.test_tls import TLS_SERVER, make_ca_and_server_cert

    where = Path(tempfile.mkdtemp(prefix="redis-ckpt-docs-"))
    socket = where / "redis.sock"
    args = ["--unixsocket", str(socket), "--unixsocketperm", "700"]
    args += ["--user", "user", "on", ">password", "~*", "&*", "+@all"]  # one config line: `user user on ...`
    replace = {"redis.internal:6379": "", "/run/redis/redis.sock": str(socket)}
    binary = None
    if tls:
        make_ca_and_server_cert(where)
        tls_port = free_port()
        args += ["--tls-port", str(tls_port), "--tls-cert-file", str(where / "server.crt"),
                 "--tls-key-file", str(where / "server.key"), "--tls-ca-cert-file", str(where / "ca.crt"),
                 "--tls-auth-clients", "no"]  # fmt: skip
        # The certificate is for 127.0.0.1; the CA file is where the page says it is.
        replace.update({"redis.internal:6380": f"127.0.0.1:{tls_port}", "/etc/ssl/redis-ca.pem": str(where / "ca.crt")})
        binary = TLS_SERVER
    try:
        server = EmbeddedRedis(modules=False, binary=binary, extra_args=args).start()
        replace["redis.internal:6379"] = f"127.0.0.1:{server.port}"
        try:
            yield replace
        finally:
            server.stop()
    finally:
        shutil.rmtree(where, ignore_errors=True)


def tls_available() -> bool:
    from tests.test_tls import TLS_SERVER

    return os.path.exists(TLS_SERVER) and shutil.which("openssl") is not None


def cluster_addresses(url: str) -> dict[str, str]:
    """Replacements pointing the cluster page's `node-1:6379` (in URLs and in `host=..., port=...`)
    at the node `url` names."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    return {"node-1:6379": f"{host}:{port}", 'host="node-1", port=6379': f'host="{host}", port={port}'}


@contextlib.contextmanager
def sentinel_deployment() -> Iterator[dict[str, str]]:
    """A primary and three Sentinels monitoring it as `mymaster`, all with the ACL user `user`
    (password `password`), as the Sentinel URL of the deployments page expects. Yields the
    replacements of its `s1:26379`, `s2:26379`, `s3:26379`."""
    import subprocess

    from redis_ckpt.integrations.embedded_redis import server_binary

    user = ["--user", "user", "on", ">password", "~*", "&*", "+@all"]
    where = Path(tempfile.mkdtemp(prefix="redis-ckpt-docs-sentinel-"))
    primary = EmbeddedRedis(modules=False, extra_args=user)
    processes: list[subprocess.Popen[bytes]] = []
    replace = {}
    try:
        primary.start()
        for n in (1, 2, 3):
            port = free_port()
            conf = where / f"sentinel-{port}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {where}\n"
                "user user on >password ~* &* +@all\n"
                f"sentinel monitor mymaster 127.0.0.1 {primary.port} 2\n"
            )
            log = (where / f"sentinel-{port}.log").open("wb")
            processes.append(subprocess.Popen([server_binary(), str(conf), "--sentinel"], stdout=log, stderr=log))
            replace[f"s{n}:26379"] = f"127.0.0.1:{port}"
        for address in replace.values():
            _wait_for_sentinel(int(address.rpartition(":")[2]))
        yield replace
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)
        primary.stop()
        shutil.rmtree(where, ignore_errors=True)


def _wait_for_sentinel(port: int, timeout: float = 20) -> None:
    import time

    import redis

    deadline = time.monotonic() + timeout
    while True:
        try:
            with redis.Redis(port=port, username="user", password="password", socket_timeout=2) as client:
                if client.sentinel_get_master_addr_by_name("mymaster"):
                    return
        except redis.RedisError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)
