"""Pure formatting: values to JSON-safe data and short text, sizes, durations, tables."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

SHORT = 60  # characters of a value, where no console width says otherwise


_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def visible(text: str) -> str:
    """`text` with every non-printable character (controls such as ESC or NUL, line and paragraph
    separators, bidi and other format characters) written as an escape (`\\n`, `\\x1b`, `\\u202e`).
    Thread ids and values often come from end users: printed raw, they could colour or rewrite the
    operator's terminal, or make one id read as two lines. JSON output stays exact."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable():
            out.append(ch)
        elif ch in _NAMED_ESCAPES:
            out.append(_NAMED_ESCAPES[ch])
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out)


def ident(text: str) -> str:
    """An id (thread, namespace, key) for human output: escaped as `visible`, and `""` when empty
    so that an empty id is not a blank line."""
    return visible(text) if text else '""'


def jsonable(value: Any, depth: int = 0) -> Any:
    """Any stored value as JSON-safe data: containers kept, models dumped, the rest as text."""
    if depth > 50:
        return repr(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (bytes, bytearray)):
        return {"bytes_b64": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [jsonable(v, depth + 1) for v in items]
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return jsonable(dump(), depth + 1)
        except Exception:  # a model that cannot dump itself is still shown, as text
            return repr(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return {"__type__": type(value).__name__, **jsonable(fields, depth + 1)}
    if hasattr(value, "_asdict"):
        return jsonable(value._asdict(), depth + 1)
    return repr(value)


def short(value: Any, width: int = SHORT) -> str:
    """A value as one line of at most `width` characters."""
    import json

    try:
        text = json.dumps(jsonable(value), ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return cut(visible(" ".join(text.split())), width)


# What `type` a LangChain message has once dumped (model_dump), and how `show` names its role.
_ROLES = {"human": "human", "ai": "ai", "system": "system", "tool": "tool", "function": "function", "chat": "chat"}


def is_message(value: Any) -> bool:
    """Whether a JSON-safe value is a dumped chat message (LangChain's BaseMessage.model_dump())."""
    return (
        isinstance(value, Mapping)
        and "content" in value
        and str(value.get("type", "")).removesuffix("Chunk").lower().removesuffix("message") in _ROLES
    )


def is_messages(value: Any) -> bool:
    """A non-empty list of dumped chat messages (a `messages` channel, or what a step appended)."""
    return isinstance(value, list) and bool(value) and all(is_message(v) for v in value)


def _content_text(content: Any) -> str:
    """A message's content as text: a string as is, content blocks by their text (others by type)."""
    if isinstance(content, str):
        return content
    parts = []
    for block in content if isinstance(content, list) else [content]:
        if isinstance(block, Mapping):
            parts.append(str(block.get("text") or f"[{block.get('type', 'block')}]"))
        else:
            parts.append(str(block))
    return " ".join(parts)


def message_line(message: Mapping[str, Any]) -> str:
    """One chat message as `role: content`, its tool calls as `-> name(args)`, a tool result as
    `tool name: content`: what a person reads first, instead of a dict starting with
    `additional_kwargs`. `--json` keeps the whole message."""
    import json

    role = _ROLES[str(message.get("type", "")).removesuffix("Chunk").lower().removesuffix("message")]
    if role == "tool":
        role = f"tool {message.get('name') or message.get('tool_call_id') or ''}".rstrip()
    line = f"{role}: {_content_text(message.get('content'))}".rstrip()
    for call in message.get("tool_calls") or []:
        args = json.dumps(call.get("args", {}), ensure_ascii=False, default=str)
        line += f" -> {call.get('name', '?')}({args})"
    return visible(" ".join(line.split()))


def cut(text: str, width: int) -> str:
    """`text` in at most `width` characters (an ellipsis marks a cut)."""
    width = max(width, 8)
    return text if len(text) <= width else text[: width - 1] + "…"


def size(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> dt.timedelta:
    """'90s', '15m', '12h', '7d', '2w' -> timedelta; anything else is a ValueError."""
    found = _DURATION.match(text.strip())
    if not found:
        raise ValueError(f"bad duration {text!r}: use a number and s, m, h, d or w (e.g. 7d)")
    return dt.timedelta(seconds=float(found.group(1)) * _SECONDS[found.group(2)])


def parse_ts(ts: str | None) -> dt.datetime | None:
    """A checkpoint's `ts` (ISO 8601) as an aware datetime, or None."""
    if not ts:
        return None
    try:
        parsed = dt.datetime.fromisoformat(ts)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def when(ts: str | None) -> str:
    parsed = parse_ts(ts)
    return parsed.strftime("%Y-%m-%d %H:%M:%S") if parsed else "-"


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]], keep: int = 0) -> Table:
    """A compact table as wide as the console: cells are cut, never wrapped, except the first
    `keep` columns (ids, channel names), which are shown whole."""
    out = Table(title=title, title_justify="left", box=None, pad_edge=False, header_style="bold")
    for name in columns:
        out.add_column(name, overflow="ellipsis", no_wrap=True, min_width=len(name))
    rows = list(rows)
    for i in range(keep):
        out.columns[i].min_width = max([len(visible(str(r[i]))) for r in rows] + [len(columns[i])])
    for row in rows:
        # Text, not str: rich would read `[...]` in an id or value as markup.
        out.add_row(*(Text(visible(str(c))) for c in row))
    return out
