"""Every ```python block of README.md and docs/**/*.md runs, as written, against a real server.

A block is run exactly as the reader sees it: top-level `await`, `async with` and `async for` are
compiled with PyCF_ALLOW_TOP_LEVEL_AWAIT and the coroutine is driven by asyncio.run. What a block
takes for granted (`builder`, `inputs`, an embedding function, a server at a fixed address) is
declared next to it in the markdown, in HTML comments right before its fence, which neither
mkdocs nor GitHub render:

    <!-- docs-test: setup
    from tests.docs_glue import builder, inputs
    -->
    <!-- docs-test: check
    assert saved_state("redis://localhost:6379", "t1").next == ("approve",)
    -->

Directives (any number of them, before the fence, nothing but blank lines between them and it):
- `setup CODE`: runs first, in the block's namespace. It may set `DOCS_REPLACE` (a dict of
  literal text replacements applied to the block, e.g. a host:port the docs name) and use
  `docs_stack` (a contextlib.ExitStack closed at the end of the test) for servers it starts.
- `check CODE`: runs after the block, in its namespace; asserts what the block should have done.
  The value of a block's last line, when it is an expression, is in `_` (as in the REPL).
  Every block that runs needs one: a block that silently does nothing useful must fail.
- `teardown CODE`: runs last, also when the block failed.
- `continue`: the block runs in the namespace of the previous block of the page (which is
  run first, with its own directives), for pages that build on a previous block.
- `server cluster`: the block runs against a Redis Cluster (the search server's run only).
- `skip REASON`: the block is not run (it needs what a test cannot have); keep these rare.

Setup, check and teardown code may use `await` as well. In all code, `redis://localhost:6379` is
replaced by the test server's URL. Each block gets a fresh key prefix: the library's default
prefixes (`checkpoint`, `checkpoint_write`, the store's `store`) are swapped for unique ones while it
runs, so a block never touches default-prefix keys of a server given by REDIS_URL, nor sees another
block's data; its keys and search indexes are deleted afterwards. Environment variables a block or
its glue sets are restored afterwards.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import os
import re
import textwrap
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis

from redis_ckpt.store.store_core import StoreCore
from redis_ckpt.sync.saver_core import SaverCore
from tests.conftest import _Servers, client_for, purge_prefix

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "redis://localhost:6379"
# A fence opens with 3+ backticks or tildes and closes with a run of the same, at least as long
# (CommonMark), so a ````markdown example may show a ```python fence without it being run.
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+-]*)[^\n]*$")
DIRECTIVE = re.compile(r"<!--\s*docs-test:\s*(?P<kind>[\w-]+)(?P<body>.*?)-->", re.S)
KINDS = {"setup", "check", "teardown", "continue", "server", "skip"}
URL_LITERAL = re.compile(r"(?:rediss?|unix|redis\+sentinel)://[^\s\"')]*")

# Pages whose blocks other branches are rewriting right now: their glue is added when those land
# (for reliability.md, ready in tests/pending/reliability-docs-glue.patch: `git apply` it, then
# delete it and the entry). The blocks still run, as expected failures, and strict: a block that
# starts passing (its glue is in) fails the run until its page is taken off this list.
GLUE_PENDING: dict[str, str] = {}


@dataclass
class Block:
    path: str  # relative to the repository, with forward slashes
    line: int  # 1-based line of the opening fence
    code: str
    # Glue code, each with the markdown line its first line is on (for tracebacks).
    setup: list[tuple[int, str]] = field(default_factory=list)
    check: list[tuple[int, str]] = field(default_factory=list)
    teardown: list[tuple[int, str]] = field(default_factory=list)
    continues: bool = False
    server: str = ""
    skip: str | None = None

    @property
    def id(self) -> str:
        return f"{self.path}:{self.line}"


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def parse(path: Path) -> list[Block]:
    """The python blocks of one markdown file, each with the directives right before its fence."""
    return parse_text(path.relative_to(ROOT).as_posix(), path.read_text())


def parse_text(rel: str, text: str) -> list[Block]:
    lines = text.splitlines()
    blocks: list[Block] = []
    pending: list[tuple[str, str, int]] = []  # (kind, body, line) of directives waiting for a fence
    gap: list[str] = []  # text since the last directive: must be blank for them to apply
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = FENCE.match(line)
        if fence:
            close = re.compile(re.escape(fence["fence"][0]) + "{" + str(len(fence["fence"])) + r",}[ \t]*$")
            end = next((j for j in range(i + 1, len(lines)) if close.match(lines[j].strip())), None)
            if end is None:
                raise ValueError(f"{rel}:{i + 1}: unclosed code fence")
            if fence["lang"] == "python":
                indent = len(fence["indent"])
                code = "\n".join(body[indent:] for body in lines[i + 1 : end]) + "\n"
                blocks.append(_with_directives(Block(rel, i + 1, code), pending))
            elif pending:
                kind = fence["lang"] or "plain"
                raise ValueError(f"{rel}:{pending[0][2]}: docs-test directive before a {kind} block, not python")
            pending, gap = [], []
            i = end + 1
            continue
        if "<!--" in line and "docs-test" in line:
            # A directive may span lines: read up to its closing -->.
            end = next(j for j in range(i, len(lines)) if "-->" in lines[j])
            text = "\n".join(lines[i : end + 1])
            match = DIRECTIVE.search(text)
            if match is None:
                raise ValueError(f"{rel}:{i + 1}: malformed docs-test directive")
            if pending and any(g.strip() for g in gap):
                raise ValueError(f"{rel}:{pending[0][2]}: docs-test directive not right before a ```python fence")
            pending.append((match["kind"], match["body"], i + 1))
            gap = []
            i = end + 1
            continue
        if pending and line.strip():
            raise ValueError(f"{rel}:{pending[0][2]}: docs-test directive not right before a ```python fence")
        gap.append(line)
        i += 1
    if pending:
        raise ValueError(f"{rel}:{pending[0][2]}: docs-test directive with no ```python block after it")
    return blocks


def _with_directives(block: Block, directives: list[tuple[str, str, int]]) -> Block:
    for kind, body, line in directives:
        if kind not in KINDS:
            raise ValueError(f"{block.path}:{line}: unknown docs-test directive {kind!r} (one of {sorted(KINDS)})")
        if kind in ("setup", "check", "teardown"):
            getattr(block, kind).append(_glue_code(body, line, block))
        elif kind == "continue":
            block.continues = True
        elif kind == "server":
            block.server = body.strip()
        else:
            block.skip = body.strip() or "no reason given"
    return block


def _glue_code(body: str, line: int, block: Block) -> tuple[int, str]:
    """(line of its first line, code) of a directive's code: on the lines after `docs-test: KIND`
    (dedented like a block), or all on that one line."""
    first, newline, rest = body.partition("\n")
    if not newline:
        return line, body.strip()
    if first.strip():
        raise ValueError(f"{block.path}:{line}: a directive's code goes on the lines after its `docs-test: KIND`")
    return line + 1, textwrap.dedent(rest)


def all_blocks() -> list[Block]:
    return [block for path in doc_files() for block in parse(path)]


BLOCKS = all_blocks()


def chain(block: Block, blocks: list[Block] = BLOCKS) -> list[Block]:
    """The block and the blocks of its page it continues, first to last."""
    same_page = [b for b in blocks if b.path == block.path and b.line <= block.line]
    run = [same_page.pop()]
    while run[0].continues:
        if not same_page:
            raise ValueError(f"{block.id}: `continue` on the first python block of its page")
        run.insert(0, same_page.pop())
    return run


def _compile(code: str, block: Block, first_line: int) -> Any:
    """Compile with top-level await allowed, line numbers those of the markdown file (so a
    traceback shows the docs' lines), and the value of a last expression kept in `_`."""
    filename = str(ROOT / block.path)
    tree = ast.parse(code, filename=filename, mode="exec")
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = tree.body[-1]
        tree.body[-1] = ast.copy_location(ast.Assign(targets=[ast.Name("_", ast.Store())], value=last.value), last)
    ast.fix_missing_locations(tree)
    ast.increment_lineno(tree, first_line - 1)
    # pytest's own assertion rewriting, so a failing `assert` in a check shows its values. Internal
    # API: without it the asserts still work, with bare messages.
    with contextlib.suppress(ImportError):
        from _pytest.assertion.rewrite import rewrite_asserts

        rewrite_asserts(tree, code.encode())
    return compile(tree, filename, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


def run_code(code: str, namespace: dict[str, Any], block: Block, first_line: int) -> None:
    compiled = _compile(code, block, first_line)
    result = eval(compiled, namespace)  # the docs' own code: running it is the point
    if compiled.co_flags & inspect.CO_COROUTINE:
        asyncio.run(result)


def replace_urls(code: str, url: str, replacements: dict[str, str]) -> str:
    # The block's own replacements first, so that they may map an address to DEFAULT_URL.
    for old, new in replacements.items():
        code = code.replace(old, new)
    return code.replace(DEFAULT_URL, url)


def unreachable_urls(code: str, url: str, replacements: dict[str, str]) -> list[str]:
    """URLs left in a block that name no server of the test (neither the test server's URL nor
    holding an address the setup put in): the block would wait on DNS or a dead port, with
    retries, before failing, so it is refused up front with a pointer to the fix."""
    return [
        literal
        for literal in URL_LITERAL.findall(code)
        if not literal.startswith(url) and not any(new and new in literal for new in replacements.values())
    ]


def fresh_default_prefixes(monkeypatch: pytest.MonkeyPatch, prefix: str) -> None:
    """Savers and stores built with the default prefixes use `prefix` instead while a block runs.
    They are keyword-only parameters, so swapping __kwdefaults__ is all it takes; refuse to run if a
    refactor moved them (the block would then write the server's real default prefixes)."""
    for init, name, value in (
        (SaverCore.__init__, "checkpoint_prefix", prefix),
        (SaverCore.__init__, "checkpoint_write_prefix", f"{prefix}_write"),
        (StoreCore.__init__, "prefix", f"{prefix}_store"),
    ):
        defaults = init.__kwdefaults__
        assert defaults is not None and name in defaults, f"{init.__qualname__} has no keyword default {name!r}"
        monkeypatch.setitem(defaults, name, value)  # undone by the fixture after the test


def purge(url: str, prefix: str) -> None:
    """Delete a block's keys and every search index named under its prefix (the saver's and the
    store's item and vector indexes)."""
    purge_prefix(url, prefix)
    client = client_for(url)
    try:
        with contextlib.suppress(redis.ResponseError, redis.exceptions.RedisClusterException):
            for name in client.execute_command("FT._LIST"):
                name = name.decode() if isinstance(name, bytes) else name
                if name.startswith(prefix):
                    client.execute_command("FT.DROPINDEX", name)
    finally:
        client.close()


def server_for(block: Block, request: pytest.FixtureRequest, redis_url: str) -> str:
    if block.server == "":
        return redis_url
    if block.server != "cluster":
        raise ValueError(f"{block.id}: unknown server {block.server!r} (only `cluster`)")
    kind = request.node.callspec.params["redis_url"]
    if kind == "env":
        if not os.environ.get("REDIS_CLUSTER_URL"):
            pytest.skip("a cluster block, and REDIS_URL names one server: set REDIS_CLUSTER_URL too")
        return os.environ["REDIS_CLUSTER_URL"]
    if kind != "search":
        pytest.skip("cluster blocks run once, in the search server's run (a cluster with the modules)")
    servers: _Servers = request.getfixturevalue("servers")
    return servers.url("cluster-search")


def run_chain(blocks: list[Block], url: str) -> None:
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    with contextlib.ExitStack() as stack:
        namespace["docs_stack"] = stack
        for block in blocks:
            namespace.pop("DOCS_REPLACE", None)
            try:
                for line, code in block.setup:
                    run_code(replace_urls(code, url, {}), namespace, block, line)
                replacements: dict[str, str] = namespace.get("DOCS_REPLACE", {})
                code = replace_urls(block.code, url, replacements)
                bad = unreachable_urls(code, url, replacements)
                assert not bad, f"{block.id} names {bad}: point them at a test server in its setup (DOCS_REPLACE)"
                run_code(code, namespace, block, block.line + 1)
                for line, code in block.check:
                    run_code(replace_urls(code, url, replacements), namespace, block, line)
            finally:
                for line, code in block.teardown:
                    run_code(replace_urls(code, url, {}), namespace, block, line)


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_docs_block(
    block: Block, redis_url: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = chain(block)
    for skipped in blocks:  # a block continuing a skipped one cannot run either
        if skipped.skip:
            pytest.skip(skipped.skip if skipped is block else f"continues {skipped.id}, skipped: {skipped.skip}")
    if block.path in GLUE_PENDING:
        request.applymarker(pytest.mark.xfail(reason=GLUE_PENDING[block.path], strict=True))
    assert block.check, f"{block.id} has no `<!-- docs-test: check ... -->`: assert what the block should have done"
    url = server_for(block, request, redis_url)
    prefix = f"d{uuid.uuid4().hex[:12]}"
    environ = dict(os.environ)
    try:
        fresh_default_prefixes(monkeypatch, prefix)
        run_chain(blocks, url)
    finally:
        os.environ.clear()
        os.environ.update(environ)
        purge(url, prefix)


def test_every_python_block_is_collected() -> None:
    """The harness finds the blocks (a fence syntax it does not know would drop them silently)."""
    fences = sum(
        1 for path in doc_files() for line in path.read_text().splitlines() if line.strip().startswith("```python")
    )
    assert fences == len(BLOCKS) > 20


PAGE = """# A page

<!-- docs-test: setup
x = 1
-->
<!-- docs-test: check
assert y == 2
-->

```python
y = x + 1
```

Prose.

<!-- docs-test: continue -->
<!-- docs-test: check assert z == 3 -->
```python
z = y + 1
```

```bash
echo not run
```
"""


def test_directives_attach_to_the_next_python_block() -> None:
    first, second = parse_text("page.md", PAGE)
    assert (first.line, first.setup, first.check) == (10, [(4, "x = 1\n")], [(7, "assert y == 2\n")])
    assert not first.continues
    assert (second.line, second.check, second.continues) == (18, [(17, "assert z == 3")], True)
    assert chain(second, [first, second]) == [first, second]


@pytest.mark.parametrize(
    ("page", "error"),
    [
        ("<!-- docs-test: setup\nx = 1\n-->\nProse.\n```python\nx\n```\n", "not right before"),
        ("<!-- docs-test: skip why -->\n```bash\necho\n```\n", "before a bash block"),
        ("<!-- docs-test: sertup x -->\n```python\nx\n```\n", "unknown docs-test directive"),
        ("<!-- docs-test: check assert x\nassert y\n-->\n```python\nx\n```\n", "goes on the lines after"),
        ("text\n<!-- docs-test: check assert x -->\n", "no ```python block after it"),
        ("````markdown\n<!-- docs-test: check assert x -->\n```python\nx\n```\n````\n```python\n", "unclosed"),
    ],
)
def test_misplaced_or_misspelt_directives_are_errors(page: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_text("page.md", page)


def test_a_block_runs_as_written_top_level_await_included() -> None:
    code = "import asyncio\nawait asyncio.sleep(0)\nasync with contextlib.nullcontext():\n    x = 1\nx + 1\n"
    block = Block("page.md", 1, code)
    namespace: dict[str, Any] = {"contextlib": contextlib}
    run_code(block.code, namespace, block, 2)
    assert namespace["_"] == 2  # the last expression's value


def test_a_url_no_test_server_answers_is_refused_up_front() -> None:
    url = "redis://127.0.0.1:1234"
    assert unreachable_urls('RedisSaver("redis://127.0.0.1:1234/0")', url, {}) == []
    assert unreachable_urls('RedisSaver("redis://127.0.0.1:6379")', url, {}) == ["redis://127.0.0.1:6379"]
    assert unreachable_urls('RedisSaver("unix:///tmp/x.sock")', url, {"/run/r.sock": "/tmp/x.sock"}) == []
