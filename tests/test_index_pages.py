"""The checkpoint index in pages (lua/common.lua, checkpoint_index; docs/design.md, "Key layout"):
each page a small sorted set in Redis' compact encoding, and every read, write and deletion
exactly as with one sorted set, for indexes written before pages too."""

from __future__ import annotations

import random
import time
import uuid

import pytest
import redis

from redis_ckpt import RedisSaver
from redis_ckpt.format.encoding import text
from tests.conftest import fresh_saver, keys_under
from tests.helpers import checkpoint, config, put_chain

PAGE_MAX = 120  # INDEX_PAGE_MAX in lua/common.lua


def index_keys(raw: redis.Redis, saver: RedisSaver, thread_id: str, ns: str = "") -> list[str]:
    """The index's page keys in bound order, as keys.py names them, checked against the server."""
    layout = saver.layout
    bounds = [text(b) for b in raw.zrange(layout.index_directory(thread_id, ns), 0, -1)]
    pages = [layout.index(thread_id, ns), *(layout.index_page(thread_id, ns, b) for b in bounds)]
    under = {text(k) for k in raw.scan_iter(match=layout.index(thread_id, ns) + "*", count=1000)}
    assert under <= {*pages, layout.index_directory(thread_id, ns)}  # the scripts name keys as keys.py does
    return pages


def check_pages(raw: redis.Redis, saver: RedisSaver, thread_id: str, expected: list[str]) -> None:
    """Pages hold every id once, each within its bounds, none over PAGE_MAX ids."""
    pages = index_keys(raw, saver, thread_id)
    bounds = ["", *(text(b) for b in raw.zrange(saver.layout.index_directory(thread_id, ""), 0, -1))]
    seen: list[str] = []
    for i, page in enumerate(pages):
        ids = [text(x) for x in raw.zrange(page, 0, -1)]
        assert len(ids) <= PAGE_MAX or i == 0  # a first page from before pages may be larger
        upper = bounds[i + 1] if i + 1 < len(bounds) else None
        assert all(bounds[i] <= x and (upper is None or x < upper) for x in ids)
        seen += ids
    assert seen == sorted(expected)


def listed(saver: RedisSaver, thread_id: str, **kwargs: object) -> list[str]:
    return [t.config["configurable"]["checkpoint_id"] for t in saver.list(config(thread_id), **kwargs)]  # type: ignore[arg-type]


def test_a_long_thread_keeps_its_index_in_small_compact_pages(saver: RedisSaver, raw: redis.Redis) -> None:
    ids = put_chain(saver, "t", 400)
    check_pages(raw, saver, "t", ids)
    pages = index_keys(raw, saver, "t")
    assert len(pages) >= 4
    assert {raw.object("encoding", p) for p in pages} == {b"listpack"}
    newest_first = sorted(ids, reverse=True)
    assert listed(saver, "t") == newest_first
    latest = saver.get_tuple(config("t"))
    assert latest is not None and latest.config["configurable"]["checkpoint_id"] == newest_first[0]
    bounds = [text(b) for b in raw.zrange(saver.layout.index_directory("t", ""), 0, -1)]
    for before in [*bounds, newest_first[0], newest_first[-1], newest_first[150]]:
        expected = [i for i in newest_first if i < before][:7]
        assert listed(saver, "t", before=config("t", "", before), limit=7) == expected, before


def test_ids_in_any_order_read_back_sorted_and_deletions_empty_pages(saver: RedisSaver, raw: redis.Redis) -> None:
    rng = random.Random(11)
    ids = [f"id-{rng.randrange(10**9):09d}" for _ in range(500)]
    for cid in ids:  # random order: inserts land in every page, and split any of them
        saver.put(config("t"), checkpoint({"x": 1}, {"x": 1}, checkpoint_id=cid), {"run_id": cid[-1]}, {"x": 1})
    check_pages(raw, saver, "t", ids)
    assert listed(saver, "t") == sorted(ids, reverse=True)
    saver.delete_for_runs(["1", "2", "3", "4", "5"])
    remaining = [i for i in ids if i[-1] not in "12345"]
    check_pages(raw, saver, "t", remaining)
    assert listed(saver, "t") == sorted(remaining, reverse=True)
    saver.prune(["t"], keep_last=3)
    check_pages(raw, saver, "t", sorted(remaining)[-3:])
    assert len(index_keys(raw, saver, "t")) <= 2  # emptied pages are gone
    saver.delete_thread("t")
    assert keys_under(raw, saver.layout.prefix) == []


def test_an_index_written_before_pages_keeps_working(saver: RedisSaver, raw: redis.Redis) -> None:
    """One large sorted set (the layout before pages): read as the first page; the next put
    moves only the top ids out, and everything stays listed in order."""
    ids = put_chain(saver, "t", 300)
    layout = saver.layout
    for page in index_keys(raw, saver, "t")[1:]:
        raw.delete(page)
    raw.delete(layout.index_directory("t", ""))
    raw.zadd(layout.index("t", ""), {i: 0 for i in ids})
    assert listed(saver, "t") == sorted(ids, reverse=True)
    more = put_chain(saver, "t", 1)
    check_pages(raw, saver, "t", ids + more)
    assert raw.zcard(layout.index("t", "")) == 300 + 1 - 60  # INDEX_PAGE_MOVE ids moved, no more
    assert listed(saver, "t") == sorted(ids + more, reverse=True)


def test_copy_thread_and_namespace_counts_see_every_page(saver: RedisSaver, raw: redis.Redis) -> None:
    from redis_ckpt.redis_io import inventory

    ids = put_chain(saver, "src", 300)
    saver.copy_thread("src", "dst")
    check_pages(raw, saver, "dst", ids)
    assert listed(saver, "dst") == sorted(ids, reverse=True)
    assert inventory.namespace_counts(raw, saver.layout, "dst") == {"": 300}
    keys = {text(k) for k in keys_under(raw, saver.layout.prefix) if b"{dst}" in k}
    counted = set()
    for _, page in inventory.thread_key_pages(raw, saver.layout, "dst"):
        counted |= {k for k in page if raw.exists(k)}
    assert counted == keys  # sizing a thread counts its index pages


def test_pages_get_the_ttl_and_reads_renew_the_page_of_what_they_read(redis_url: str, raw: redis.Redis) -> None:
    prefix = f"pages-ttl-{uuid.uuid4().hex[:8]}"
    ttl = {"default_ttl": 10, "refresh_on_read": True}
    with fresh_saver(RedisSaver, redis_url, prefix, ttl=ttl) as saver:
        ids = put_chain(saver, "t", 300)
        pages = index_keys(raw, saver, "t")
        assert len(pages) > 2
        directory = saver.layout.index_directory("t", "")
        assert all(0 < raw.ttl(k) <= 600 for k in [*pages, directory])
        oldest_page = pages[0]
        raw.expire(oldest_page, 5)
        assert saver.get_tuple(config("t", "", ids[0])) is not None  # by id: its page is renewed
        assert raw.ttl(oldest_page) > 500
    assert keys_under(raw, prefix) == []


@pytest.mark.parametrize("n", [0, 1, 119, 120, 121, 241])
def test_page_edges(saver: RedisSaver, raw: redis.Redis, n: int) -> None:
    ids = put_chain(saver, "t", n)
    check_pages(raw, saver, "t", ids)
    assert listed(saver, "t") == sorted(ids, reverse=True)
    assert listed(saver, "t", limit=1) == sorted(ids, reverse=True)[:1]


def test_a_delta_history_read_renews_the_pages_of_the_ancestors_it_renews(redis_url: str, raw: redis.Redis) -> None:
    """refresh_on_read: get_delta_channel_history renews every ancestor it walks; the pages that
    list them must live as long, or list() loses checkpoints that still exist."""
    prefix = f"pages-delta-{uuid.uuid4().hex[:8]}"
    with fresh_saver(RedisSaver, redis_url, prefix, ttl={"default_ttl": 10, "refresh_on_read": True}) as saver:
        ids: list[str] = []
        parent = None
        for n in range(300):  # `items` stored once, then only named: the walk goes back to the root
            cp = checkpoint({"items": ["s"]} if n == 0 else {}, {"items": n + 1}, step=n)
            saver.put(config("t", "", parent), cp, {}, {"items": n + 1} if n == 0 else {})
            parent = cp["id"]
            ids.append(parent)
        middle = index_keys(raw, saver, "t")[1]  # neither the first page nor the target's
        raw.pexpire(middle, 300)  # as if its last write were long ago
        history = saver.get_delta_channel_history(config=config("t", "", ids[-1]), channels=["items"])
        assert history["items"]["seed"] == ["s"]
        time.sleep(0.4)
        assert listed(saver, "t") == sorted(ids, reverse=True)


@pytest.mark.slow
def test_a_thread_written_for_longer_than_its_ttl_keeps_no_stale_page_bounds(redis_url: str, raw: redis.Redis) -> None:
    """With a TTL, old pages expire with the ids they list while the directory, renewed by every
    put, lives on: their bounds must not pile up (one per 60 puts, for as long as the thread is
    written), and a walk through the index drops any it passes."""
    prefix = f"pages-stale-{uuid.uuid4().hex[:8]}"
    with fresh_saver(RedisSaver, redis_url, prefix, ttl={"default_ttl": 1 / 60}) as saver:  # 1 second
        parent = None
        for n in range(650):  # ~5 seconds: pages of the first seconds expire meanwhile
            cp = checkpoint({"x": n}, {"x": n + 1}, step=n)
            saver.put(config("t", "", parent), cp, {}, {"x": n + 1})
            parent = cp["id"]
            time.sleep(0.006)
        layout = saver.layout

        def stale() -> list[str]:
            bounds = [text(b) for b in raw.zrange(layout.index_directory("t", ""), 0, -1)]
            return [b for b in bounds if not raw.exists(layout.index_page("t", "", b))]

        assert len(stale()) <= 2
        assert listed(saver, "t")[0] == parent
        assert stale() == []
