"""Encryption at rest (redis_ckpt/format/encryption.py): no plaintext in any key, the same history
as without it, memory close to it, typed errors for plain data under `require` and for missing or
wrong keys (nothing lost), key rotation with `reencrypt_thread` and the CLI."""

from __future__ import annotations

import asyncio
import base64
import os
import random
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from langchain_core.messages import HumanMessage

from benchmarks.chat_agent import build_graph, run_turns
from redis_ckpt import (
    AsyncRedisSaver,
    ConfigurationError,
    DecryptionError,
    Encryption,
    RedisSaver,
    UnencryptedDataError,
)
from redis_ckpt.cli import cli
from redis_ckpt.format.encoding import is_write_field, unpack_list
from redis_ckpt.format.encryption import SEALED, is_sealed, key_id_of
from tests.conftest import client_for, fresh_saver, purge_prefix, saver_kwargs

MARKER = "ZQ-SECRET-MARKER-7f3a"
K1, K2 = os.urandom(32), os.urandom(32)


def _config(thread_id: str, ns: str = "") -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns}}


def _chat_with_marker(saver: RedisSaver, thread_id: str, turns: int) -> None:
    """The benchmark chat, then a turn whose message and metadata hold the marker, a pending
    write holding it, and a large (spilled) value holding it."""
    graph = build_graph(saver)
    run_turns(graph, thread_id, turns)
    config = {**_config(thread_id), "metadata": {"note": f"{MARKER} in metadata"}}
    graph.invoke({"messages": [HumanMessage(content=f"{MARKER} in a message", id="m-marker")]}, config)
    latest = saver.get_tuple(_config(thread_id))
    assert latest is not None
    rng = random.Random(5)
    large = MARKER + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(300_000))
    saver.put_writes(latest.config, [("scratch", f"{MARKER} in a write"), ("big", large)], "task-marker")


def _every_stored_string(client: Any, prefix: str) -> Iterator[tuple[bytes, bytes]]:
    """(key, string) for every field name, value, member and string under the prefix."""
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        kind = client.type(key)
        if kind == b"hash":
            for field, value in client.hgetall(key).items():
                yield key, field
                yield key, value
        elif kind == b"set":
            for member in client.smembers(key):
                yield key, member
        elif kind == b"zset":
            for member in client.zrange(key, 0, -1):
                yield key, member
        elif kind == b"string":
            yield key, client.get(key)
        elif kind == b"list":
            for item in client.lrange(key, 0, -1):
                yield key, item
        else:
            raise AssertionError(f"unexpected key type {kind!r} of {key!r}")


def _memory(client: Any, prefix: str) -> int:
    return sum(client.memory_usage(k, samples=0) or 0 for k in client.scan_iter(match=f"{prefix}*", count=1000))


def _history(saver: RedisSaver, thread_id: str) -> list[tuple[Any, Any, Any, Any]]:
    """Values, metadata, writes and channels of every checkpoint, newest first (without what
    differs between two runs of one chat: ids, random version suffixes, run ids)."""
    return [
        (
            t.checkpoint["channel_values"],
            {k: v for k, v in t.metadata.items() if k != "run_id"},
            [(channel, value) for _, channel, value in t.pending_writes or []],
            sorted(t.checkpoint["channel_versions"]),
        )
        for t in saver.list(_config(thread_id))
    ]


def _key_ids(client: Any, saver: RedisSaver, thread_id: str) -> set[str | None]:
    """The key ids of the thread's stored pieces (None: a plain piece), read raw: chunks, values,
    document bodies, pending-write values."""
    found: set[str | None] = set()
    layout = saver.layout
    for f, v in client.hgetall(layout.chunks(thread_id, "")).items():
        if f != b"\0format":
            found.add(key_id_of(v))
    for f, v in client.hgetall(layout.blobs(thread_id, "")).items():
        if f[:1] == b"\0" or v[:1] not in (b"\0", b"\2", b"\3"):
            found.add(key_id_of(v))
    for checkpoint_id in saver.checkpoint_ids(thread_id):
        fields = client.hgetall(layout.checkpoint(thread_id, "", checkpoint_id))
        pieces = [fields[b"d"]]
        while b"d%d" % len(pieces) in fields:
            pieces.append(fields[b"d%d" % len(pieces)])
        found.add(key_id_of(unpack_list(b"".join(pieces))[2]))
        for f, v in fields.items():
            if is_write_field(f) and (value := unpack_list(v)[2])[:1] not in (b"\0", b"\2", b"\3"):
                found.add(key_id_of(value))
            elif f[:1] == b"\0" and len(f) > 1:
                found.add(key_id_of(v))
    return found


def _snapshot(client: Any, prefix: str) -> dict[bytes, list[bytes]]:
    found: dict[bytes, list[bytes]] = {}
    for key, item in _every_stored_string(client, prefix):
        found.setdefault(key, []).append(item)
    return {k: sorted(v) for k, v in found.items()}


@pytest.fixture
def two_prefixes(redis_url: str) -> Iterator[tuple[str, str]]:
    prefixes = (f"t{uuid.uuid4().hex[:12]}", f"t{uuid.uuid4().hex[:12]}")
    yield prefixes
    for p in prefixes:
        purge_prefix(redis_url, p)


def test_a_chat_stores_no_plaintext_reads_the_same_and_costs_little_more(
    redis_url: str, two_prefixes: tuple[str, str]
) -> None:
    plain_prefix, sealed_prefix = two_prefixes
    client = client_for(redis_url)
    encryption = Encryption({"k1": K1})
    with (
        RedisSaver(redis_url, **saver_kwargs(plain_prefix)) as plain,
        RedisSaver(redis_url, **saver_kwargs(sealed_prefix), encryption=encryption) as sealed,
    ):
        plain.setup()
        sealed.setup()
        _chat_with_marker(plain, "chat", 50)
        _chat_with_marker(sealed, "chat", 50)
        marker = MARKER.encode()
        # The scan finds the marker where it is stored plain (zstd keeps literals), so it would
        # find it under encryption too.
        assert any(marker in s for _, s in _every_stored_string(client, plain_prefix))
        leaks = [(k, s[:80]) for k, s in _every_stored_string(client, sealed_prefix) if marker in s]
        assert not leaks
        history = _history(sealed, "chat")
        assert history == _history(plain, "chat")
        assert any(MARKER in str(m.get("note")) for _, m, _, _ in history)
        assert any(value == f"{MARKER} in a write" for _, _, writes, _ in history for _, value in writes)
        # read again by a fresh saver (nothing from this process's caches)
        with RedisSaver(redis_url, **saver_kwargs(sealed_prefix), encryption=encryption) as reader:
            assert _history(reader, "chat") == history
        ratio = _memory(client, sealed_prefix) / _memory(client, plain_prefix)
        print(f"\nmemory, 50 turns, encrypted / plain: {ratio:.3f}")
        assert ratio <= 1.2
    client.close()


def test_every_piece_is_sealed_and_names_its_key(redis_url: str, prefix: str) -> None:
    with fresh_saver(RedisSaver, redis_url, prefix, encryption=Encryption({"kA": K1})) as saver:
        _chat_with_marker(saver, "t", 3)
        client = client_for(redis_url)
        chunk_hash = client.hgetall(saver.layout.chunks("t", ""))
        assert chunk_hash and all(is_sealed(v) and key_id_of(v) == "kA" for v in chunk_hash.values())
        blobs = client.hgetall(saver.layout.blobs("t", ""))
        plain_values = [v for v in blobs.values() if v[:1] not in (b"\x00", b"\x02", b"\x03")]
        assert plain_values and all(v[:1] == SEALED for v in plain_values)
        client.close()


def test_require_refuses_plain_data_with_a_typed_error(redis_url: str, prefix: str) -> None:
    with fresh_saver(RedisSaver, redis_url, prefix) as plain:
        run_turns(build_graph(plain), "t", 2)
        required = Encryption({"k1": K1}, require=True)
        with RedisSaver(redis_url, **saver_kwargs(prefix), encryption=required) as strict:
            with pytest.raises(UnencryptedDataError):
                strict.get_tuple(_config("t"))
            with pytest.raises(UnencryptedDataError):
                list(strict.list(_config("t")))
        # without require, plain data reads, and new pieces are sealed
        with RedisSaver(redis_url, **saver_kwargs(prefix), encryption=Encryption({"k1": K1})) as lenient:
            assert _history(lenient, "t") == _history(plain, "t")


def test_a_missing_or_wrong_key_is_one_typed_error_and_loses_nothing(redis_url: str, prefix: str) -> None:
    client = client_for(redis_url)
    with fresh_saver(RedisSaver, redis_url, prefix, encryption=Encryption({"k1": K1})) as writer:
        _chat_with_marker(writer, "t", 3)
        expected = _history(writer, "t")
        before = _snapshot(client, prefix)
        for encryption in (Encryption({"k2": K2}), Encryption({"k1": K2}), None):
            with RedisSaver(redis_url, **saver_kwargs(prefix), encryption=encryption) as reader:
                with pytest.raises(DecryptionError) as raised:
                    reader.get_tuple(_config("t"))
                assert raised.value.key_id == "k1" and "'k1'" in str(raised.value)
                with pytest.raises(DecryptionError):
                    list(reader.list(_config("t")))
        assert _snapshot(client, prefix) == before
        with RedisSaver(
            redis_url, **saver_kwargs(prefix), encryption=Encryption({"k2": K2, "k1": K1}, current="k2")
        ) as ok:
            assert _history(ok, "t") == expected
    client.close()


def test_rotation_reads_old_and_new_and_reencrypt_frees_the_old_key(redis_url: str, prefix: str) -> None:
    client = client_for(redis_url)
    with fresh_saver(RedisSaver, redis_url, prefix, encryption=Encryption({"k1": K1})) as old:
        graph = build_graph(old)
        run_turns(graph, "t", 3)
        large = "".join(random.Random(3).choice("abcdefghij") for _ in range(400_000))
        old.put_writes(old.get_tuple(_config("t")).config, [("big", large)], "task-big")  # type: ignore[union-attr]
        both = Encryption({"k2": K2, "k1": K1}, current="k2")
        with RedisSaver(redis_url, **saver_kwargs(prefix), encryption=both) as rotated:
            run_turns(build_graph(rotated), "t", 3, start=3)
            expected = _history(rotated, "t")
            assert len(expected) > 25 and any(w[0] == "big" for _, _, ws, _ in expected for w in ws)
            assert _key_ids(client, rotated, "t") == {"k1", "k2"}
            report = rotated.reencrypt_thread("t")
            assert report.rewritten > 0 and report.changed == 0
            again = rotated.reencrypt_thread("t")
            assert again.rewritten == 0 and again.current == report.rewritten + report.current
        with RedisSaver(redis_url, **saver_kwargs(prefix), encryption=Encryption({"k2": K2})) as new_only:
            assert _history(new_only, "t") == expected
            assert _key_ids(client, new_only, "t") == {"k2"}
    client.close()


def test_reencrypt_seals_plain_data_then_require_reads_it(redis_url: str, prefix: str) -> None:
    with fresh_saver(RedisSaver, redis_url, prefix) as plain:
        _chat_with_marker(plain, "t", 3)
        expected = _history(plain, "t")
        encryption = Encryption({"k1": K1})
        with RedisSaver(redis_url, **saver_kwargs(prefix), encryption=encryption) as saver:
            report = saver.reencrypt_thread("t")
            assert report.rewritten > 0
            client = client_for(redis_url)
            assert _key_ids(client, saver, "t") == {"k1"}
            client.close()
        client = client_for(redis_url)
        assert not any(MARKER.encode() in s for _, s in _every_stored_string(client, prefix))
        client.close()
        strict = Encryption({"k1": K1}, require=True)
        with RedisSaver(redis_url, **saver_kwargs(prefix), encryption=strict) as reader:
            assert _history(reader, "t") == expected


def test_reencrypt_leaves_pieces_changed_meanwhile(redis_url: str, prefix: str) -> None:
    """A piece is replaced only where it is still as read (rewrite.lua's compare-and-set)."""
    with fresh_saver(RedisSaver, redis_url, prefix, encryption=Encryption({"k1": K1})) as saver:
        run_turns(build_graph(saver), "t", 1)
        client = client_for(redis_url)
        key = saver.layout.chunks("t", "")
        field, value = next(iter(client.hgetall(key).items()))
        from redis_ckpt.redis_io import scripts, wire

        args = [b"each", field, b"not what is stored", b"new"]
        assert wire.execute(saver.client, [scripts.call_by_source("rewrite", [key], args)])[0] == 0
        assert client.hget(key, field) == value
        client.close()


def test_the_cli_reencrypts_with_keys_from_the_environment(redis_url: str, prefix: str) -> None:
    with fresh_saver(RedisSaver, redis_url, prefix, encryption=Encryption({"k1": K1})) as old:
        run_turns(build_graph(old), "a", 2)
        run_turns(build_graph(old), "b", 1)
        expected = {t: _history(old, t) for t in ("a", "b")}
        base = ["--url", redis_url, "--prefix", prefix, "--write-prefix", f"{prefix}_write"]
        keys = f"k2={base64.b64encode(K2).decode()},k1={base64.b64encode(K1).decode()}"
        runner = CliRunner()
        refused = runner.invoke(cli, [*base, "reencrypt", "--all"], env={"REDIS_CKPT_ENCRYPTION_KEYS": ""})
        assert refused.exit_code != 0 and "REDIS_CKPT_ENCRYPTION_KEYS" in refused.output
        done = runner.invoke(cli, [*base, "--json", "reencrypt", "--all"], env={"REDIS_CKPT_ENCRYPTION_KEYS": keys})
        assert done.exit_code == 0, done.output
        assert '"current_key": "k2"' in done.stdout and '"thread_id": "a"' in done.stdout
        with RedisSaver(redis_url, **saver_kwargs(prefix), encryption=Encryption({"k2": K2})) as new_only:
            assert {t: _history(new_only, t) for t in ("a", "b")} == expected
        # other commands read encrypted data with the same variable, and fail clearly without it
        shown = runner.invoke(cli, [*base, "show", "a"], env={"REDIS_CKPT_ENCRYPTION_KEYS": keys})
        assert shown.exit_code == 0, shown.output
        blind = runner.invoke(cli, [*base, "show", "a"], env={"REDIS_CKPT_ENCRYPTION_KEYS": ""})
        assert blind.exit_code != 0 and "'k2'" in blind.output


def test_the_async_face_encrypts_and_reencrypts(redis_url: str, prefix: str) -> None:
    encryption = Encryption({"k2": K2, "k1": K1}, current="k2")

    async def scenario(saver: AsyncRedisSaver) -> None:
        graph = build_graph(saver)
        await graph.ainvoke({"messages": [HumanMessage(content=MARKER, id="h")]}, _config("t"))
        found = await saver.aget_tuple(_config("t"))
        assert found is not None and found.checkpoint["channel_values"]["messages"][0].content == MARKER
        report = await saver.areencrypt_thread("t")
        assert report.rewritten == 0 and report.current > 0
        async with AsyncRedisSaver.from_conn_string(redis_url, **saver_kwargs(prefix), encryption=encryption) as other:
            assert (await other.aget_tuple(_config("t"))) == found

    with fresh_saver(AsyncRedisSaver, redis_url, prefix, encryption=encryption) as saver:
        asyncio.run(scenario(saver))
        client = client_for(redis_url)
        assert not any(MARKER.encode() in s for _, s in _every_stored_string(client, prefix))
        client.close()


def test_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="at least one key"):
        Encryption({})
    with pytest.raises(ConfigurationError, match="32 bytes"):
        Encryption({"k1": b"short"})
    with pytest.raises(ConfigurationError, match="current="):
        Encryption({"k1": K1, "k2": K2})
    with pytest.raises(ConfigurationError, match="not among keys"):
        Encryption({"k1": K1}, current="k9")
    with pytest.raises(ConfigurationError, match="encryption must be"):
        RedisSaver("redis://localhost:1", encryption={"k1": K1})  # type: ignore[arg-type]
    assert "K1" not in repr(Encryption({"k1": K1})) and base64.b64encode(K1).decode() not in repr(
        Encryption({"k1": K1})
    )
    from_env = Encryption.from_env(
        {"REDIS_CKPT_ENCRYPTION_KEYS": f"a={Encryption.generate_key()},b={Encryption.generate_key()}"}
    )
    assert from_env is not None and from_env.current == "a" and not from_env.require
    assert Encryption.from_env({}) is None


def test_a_piece_moved_elsewhere_does_not_decrypt(redis_url: str, prefix: str) -> None:
    """The associated data binds a value to its channel, a body to its checkpoint id."""
    with fresh_saver(RedisSaver, redis_url, prefix, encryption=Encryption({"k1": K1})) as saver:
        run_turns(build_graph(saver), "t", 1)
        client = client_for(redis_url)
        ids = list(saver.checkpoint_ids("t"))
        first, last = (saver.layout.checkpoint("t", "", i) for i in (ids[0], ids[-1]))
        # the last checkpoint's document replaced by the first's: its body is bound to another id
        doc_fields = [f for f in client.hkeys(last) if f[:1] == b"d"]
        moved = {f: v for f, v in client.hgetall(first).items() if f[:1] == b"d"}
        client.hdel(last, *doc_fields)
        client.hset(last, mapping=moved)
        with pytest.raises(DecryptionError):
            saver.get_tuple({"configurable": {**_config("t")["configurable"], "checkpoint_id": ids[-1]}})
        client.hdel(last, *moved)
        blobs = saver.layout.blobs("t", "")
        sealed = {f: v for f, v in client.hgetall(blobs).items() if v[:1] == SEALED}
        fields = sorted(sealed)
        victim = next(f for f in fields if not f.startswith(fields[0].split(b"\0")[0] + b"\0"))
        client.hset(blobs, victim, sealed[fields[0]])  # a value of one channel under another
        fresh = RedisSaver(redis_url, **saver_kwargs(prefix), encryption=Encryption({"k1": K1}))
        with pytest.raises(DecryptionError):
            for _ in fresh.list(_config("t")):
                pass
        fresh.close()
        client.close()


def test_langgraph_encrypted_serializer_gets_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    from langgraph.checkpoint.serde.encrypted import EncryptedSerializer

    serde = EncryptedSerializer.from_pycryptodome_aes(key=b"0123456789abcdef")
    with caplog.at_level("WARNING", logger="redis_ckpt"):
        RedisSaver("redis://127.0.0.1:1", serde=serde).close()
    assert "nothing is deduplicated or compressed" in caplog.text and "Encryption" in caplog.text
