"""The built wheel carries what an installed package needs: the Lua scripts, py.typed, the pytest
plugin's entry point, and nothing from tests/ or examples/. (.ci/run also installs it in a fresh
venv and runs the demo.)"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_carries_lua_scripts_py_typed_and_the_plugin_entry_point(tmp_path: Path) -> None:
    had_build_dir = (ROOT / "build").exists()
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        # Built with the venv's own (pinned) setuptools: pip refuses build constraints (CI sets
        # PIP_BUILD_CONSTRAINT for its isolated builds) together with --no-build-isolation.
        env={k: v for k, v in os.environ.items() if k != "PIP_BUILD_CONSTRAINT"},
    )
    if not had_build_dir:  # setuptools builds in the source tree; leave it as we found it
        shutil.rmtree(ROOT / "build", ignore_errors=True)
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("redis_ckpt-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    lua_dir = ROOT / "redis_ckpt" / "redis_io" / "lua"
    lua_in_source = {f"redis_ckpt/redis_io/lua/{p.name}" for p in lua_dir.glob("*.lua")}
    assert lua_in_source and lua_in_source <= names
    assert "redis_ckpt/py.typed" in names
    assert "redis_ckpt/format/zstd_dict_v1.bin" in names  # part of the stored format (compression.py)
    store_lua = {f"redis_ckpt/store/lua/{p.name}" for p in (ROOT / "redis_ckpt" / "store" / "lua").glob("*.lua")}
    assert store_lua and store_lua <= names
    assert "redis_ckpt/testing.py" in names and "redis_ckpt/agent_server.py" in names
    assert not {n for n in names if n.startswith(("tests/", "examples/", "benchmarks/", "docs/"))}
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[pytest11]" in text and "redis_ckpt = redis_ckpt.testing" in text
    assert "redis-ckpt-demo = redis_ckpt.demo:main" in text
