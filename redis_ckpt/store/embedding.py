"""Which texts of a put get embedded (IndexConfig `fields`, or the put's own `index`). Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langgraph.store.base import IndexConfig, get_text_at_path, tokenize_path

from redis_ckpt.errors import ConfigurationError

Path = tuple[str, "str | list[str]"]  # (path as written, its tokens; "$" is the whole value)


def configured_paths(index: IndexConfig) -> list[Path]:
    if "dims" not in index or not isinstance(index["dims"], int) or index["dims"] <= 0:
        raise ConfigurationError(f"index needs 'dims', a positive int, got {index.get('dims')!r}")
    if index.get("embed") is None:
        raise ConfigurationError("index needs 'embed': an Embeddings, an embedding function or a provider string")
    return tokenized(index.get("fields") or ["$"])


def tokenized(paths: Sequence[str]) -> list[Path]:
    return [(p, p if p == "$" else tokenize_path(p)) for p in paths]


def texts_to_embed(value: Mapping[str, Any], paths: Sequence[Path]) -> list[str]:
    """Every text the put embeds, in order: one vector each (a path matching several texts gives several)."""
    texts: list[str] = []
    for _, tokens in paths:
        texts.extend(get_text_at_path(value, tokens))
    return texts
