"""Fail when a public name of `redis_ckpt` has no entry in the built API reference.

Usage: python .ci/check_api_reference.py SITE_DIR   (after `mkdocs build -d SITE_DIR`)

Public names: everything in `redis_ckpt.__all__`; for each class among them, every public method,
property and dataclass field that a redis-ckpt class defines or inherits (inherited ones are what
users miss when they are not rendered), and for the stores the `BaseStore` API they inherit
(get, put, search, ...). An entry is the element id mkdocstrings gives it.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys
from pathlib import Path

from langgraph.store.base import BaseStore

import redis_ckpt


def public_members(cls: type) -> set[str]:
    names: set[str] = set()
    for klass in cls.__mro__:
        inherited_api = klass is BaseStore and issubclass(cls, BaseStore)
        if not (klass.__module__.startswith("redis_ckpt") or inherited_api):
            continue
        names |= {name for name in vars(klass) if not name.startswith("_")}
    if dataclasses.is_dataclass(cls):
        names |= {f.name for f in dataclasses.fields(cls)}
    return names


def expected_ids() -> dict[str, set[str]]:
    """For each public name, the ids that render it (any one will do) and those of its members."""
    wanted: dict[str, set[str]] = {}
    for name in redis_ckpt.__all__:
        obj = getattr(redis_ckpt, name)
        wanted[name] = {f"redis_ckpt.{name}", f"{getattr(obj, '__module__', 'redis_ckpt')}.{name}"}
        if inspect.isclass(obj) and not issubclass(obj, BaseException):
            for member in public_members(obj):
                wanted[f"{name}.{member}"] = {f"redis_ckpt.{name}.{member}"}
    return wanted


def main(site: Path) -> int:
    page = (site / "api" / "index.html").read_text()
    rendered = set(re.findall(r'id="(redis_ckpt[^"]*)"', page))
    missing = sorted(name for name, ids in expected_ids().items() if not ids & rendered)
    if missing:
        print(f"API reference (docs/api.md) has no entry for {len(missing)} public name(s):")
        for name in missing:
            print(f"  redis_ckpt.{name}")
        return 1
    print(f"API reference: all {len(expected_ids())} public names rendered")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1])))
