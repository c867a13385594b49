"""A rolling upgrade (issue 19, docs/upgrading.md): the previous release's package, built from git
into its own venv, and this one write and read the same threads alternately on one server (a graph
interrupted by one and resumed by the other, pending writes, update_state, prune, delete_thread,
list). Nothing is lost, and each reads everything the other wrote. Then a deployment marker naming
a newer format makes this release's writers refuse with the typed error.

The previous release is the commit in tests/previous_release.txt (each release moves it on). CI
clones with full history: there a missing commit fails the test instead of skipping it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import venv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import _Servers, client_for, purge_prefix

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).resolve().parent / "rolling_worker.py"


def _previous_commit() -> str:
    commit = (Path(__file__).parent / "previous_release.txt").read_text().strip()
    found = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{commit}^{{commit}}"], capture_output=True)
    if found.returncode != 0:
        reason = f"the previous release's commit {commit} is not in this clone (shallow?)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return commit


@pytest.fixture(scope="module")
def previous_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The interpreter of a venv holding the previous release (and langgraph), pinned by
    constraints.txt like CI's own install."""
    commit = _previous_commit()
    base = tmp_path_factory.mktemp("previous")
    source = base / "src"
    source.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
    venv.create(base / "venv", with_pip=True)
    python = base / "venv" / "bin" / "python"
    install = [str(python), "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt"), str(source), "langgraph"]
    quiet = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    done = subprocess.run(install, capture_output=True, text=True, env=quiet)
    assert done.returncode == 0, done.stderr[-3000:]
    return python


class Worker:
    """A worker process on one release, answering rolling_worker.py requests."""

    def __init__(self, name: str, python: Path, url: str, prefix: str, pythonpath: str | None) -> None:
        self.name = name
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        if pythonpath:
            env["PYTHONPATH"] = pythonpath
        self.process = subprocess.Popen(
            [str(python), str(WORKER), url, prefix],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tempfile.gettempdir(),  # nothing of this checkout on the previous release's path
        )

    def send(self, op: str, **args: Any) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, f"the {self.name} worker died"
        reply: dict[str, Any] = json.loads(line)
        return reply

    def __call__(self, op: str, **args: Any) -> Any:
        reply = self.send(op, **args)
        assert "error" not in reply, f"{self.name} {op}: {reply.get('trace')}"
        return reply["ok"]

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture
def url() -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    servers = _Servers()
    try:
        yield servers.url("plain")
    finally:
        servers.stop()


def test_the_previous_and_this_release_share_threads_alternately(previous_python: Path, url: str) -> None:
    prefix = "rolling" + os.urandom(4).hex()
    old = Worker("previous", previous_python, url, prefix, None)
    new = Worker("new", Path(sys.executable), url, prefix, str(ROOT))
    try:
        assert old("where").startswith(str(previous_python.parent.parent))
        assert new("where").startswith(str(ROOT))
        new("setup")
        old("setup")

        def same(thread: str) -> list[Any]:
            seen = old("history", thread=thread)
            assert new("history", thread=thread) == seen, f"the releases read {thread} differently"
            return seen

        # a: started by the previous release, resumed by this one, then the other way round
        old("start", thread="a", input="a0")
        assert same("a")["states"][0]["next"] == ["ask"]
        new("resume", thread="a", answer="yes-new")
        new("start", thread="a", input="a1")
        old("update_state", thread="a", item="edited-by-old")
        old("resume", thread="a", answer="yes-old")
        final_a = same("a")
        assert final_a["states"][0]["values"]["items"] == [
            "a0", "work-1", "approved-yes-new", "done",
            "a1", "work-5", "edited-by-old", "approved-yes-old", "done",
        ]  # fmt: skip
        # b: started by this release, pending writes from both, resumed by the previous one
        new("start", thread="b", input="b0")
        old("put_writes", thread="b", item="from-old", task="task-old")
        new("put_writes", thread="b", item="from-new", task="task-new")
        writes = same("b")["tuples"][0]["writes"]
        assert any("from-old" in w for w in writes) and any("from-new" in w for w in writes)
        old("resume", thread="b", answer="ok")
        new("update_state", thread="b", item="edited-by-new")
        same("b")
        # c: written by both, then left alone: it must survive every prune and delete of the others
        old("start", thread="c", input="c0")
        new("resume", thread="c", answer="c")
        kept_c = same("c")
        assert old("threads") == new("threads") == ["a", "b", "c"]

        # prune by one, read by the other
        old("prune", thread="a", keep_last=1)
        pruned_a = same("a")
        assert pruned_a["states"][0] == final_a["states"][0] and len(pruned_a["tuples"]) < len(final_a["tuples"])
        new("prune", thread="b", keep_last=2)
        assert len(same("b")["tuples"]) == 2
        # a thread written on after a prune by the other release
        new("start", thread="a", input="a2")
        old("resume", thread="a", answer="after-prune")
        assert same("a")["states"][0]["values"]["items"][-4:] == ["a2", "work-10", "approved-after-prune", "done"]

        # delete by one, gone for both; the untouched thread is intact
        new("delete_thread", thread="a")
        old("delete_thread", thread="b")
        assert old("threads") == new("threads") == ["c"]
        assert same("a") == same("b") == {"states": [], "tuples": []}
        assert same("c") == kept_c
    finally:
        old.close()
        new.close()
        purge_prefix(url, prefix)


def hashed(raw: Any, key: bytes) -> Any:
    kind = raw.type(key)
    if kind == b"hash":
        return raw.hgetall(key)
    return raw.dump(key)


def test_a_newer_format_marker_makes_this_release_refuse(url: str) -> None:
    """A later release raised the deployment's format: this one refuses to write, typed, and
    writes nothing; a namespace stamped newer refuses its reads too."""
    prefix = "rolling" + os.urandom(4).hex()
    new = Worker("new", Path(sys.executable), url, prefix, str(ROOT))
    raw = client_for(url)
    try:
        new("start", thread="c", input="c0")
        raw.hset(f"{prefix}:chunk:{{c}}:", "\0format", "3")
        refused = new.send("history", thread="c")
        assert refused["error"] == "FormatTooNewError"
        assert refused["message"].startswith("thread 'c' namespace '' holds storage format 3;")
        raw.hdel(f"{prefix}:chunk:{{c}}:", "\0format")
        raw.set(f"{prefix}:format", "3")
        before = {k: hashed(raw, k) for k in raw.scan_iter(match=f"{prefix}*")}
        late = Worker("new, started after the raise", Path(sys.executable), url, prefix, str(ROOT))
        try:
            writes = (("setup", {}), ("resume", {"thread": "c", "answer": "x"}), ("delete_thread", {"thread": "c"}))
            for op, args in writes:
                reply = late.send(op, **args)
                assert reply["error"] == "FormatTooNewError", reply
                assert "storage format 3" in reply["message"] and "writes formats up to 2" in reply["message"]
            assert {k: hashed(raw, k) for k in raw.scan_iter(match=f"{prefix}*")} == before
            assert late("threads") == ["c"]  # reads go on
        finally:
            late.close()
    finally:
        new.close()
        raw.close()
        purge_prefix(url, prefix)
