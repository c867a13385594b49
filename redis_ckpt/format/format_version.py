"""The storage format: which stored forms a release reads and writes (docs/design.md, "Storage
format"; the operators' policy: docs/upgrading.md). Pure: numbers, parsing, comparisons, errors.

Format 1 is what this release writes and everything earlier releases wrote that it still reads.
Every release reads and writes the format of the release before it, and keeps writing that one
until the operator raises the deployment's format (`redis-ckpt format --raise N`).
"""

from __future__ import annotations

import re

from redis_ckpt.errors import ConfigurationError, FormatTooNewError
from redis_ckpt.format.key_layout import thread_and_ns_of_namespace_key

# Format 2: a pending write of a list may be a delta record on the value of its checkpoint's
# channel (a list returned whole each step), which readers resolve like channel values; a
# namespace holding one carries the stamp 2.
READS = frozenset({1, 2})  # formats whose stored forms this release reads
WRITES = frozenset({1, 2})  # formats this release can write (the deployment marker picks one)
DEFAULT = 1  # what setup() or the first write records in a deployment that has no marker yet
# The namespace stamp: a field of the namespace's chunk hash naming a format above 1 (format 1 has
# none). lua/common.lua (`check_format`) holds the same name and the same READS.
STAMP_FIELD = b"\0format"
# The error the scripts answer with when a namespace's stamp names a format this release does
# not read: "<REFUSAL> <found> <chunk hash key>".
REFUSAL = "REDISCKPT_FORMAT"
# (Redis appends where a script raised an error, but not to a reply the script returned.)
_REFUSED = re.compile(REFUSAL + r" (\S+) (.*?)(?: script: [0-9a-f]{40}, on @user_script:\d+\.)?", re.S)
UNKNOWN = 1_000_000  # what an unparsable marker or stamp counts as: newer than any release


def parse(raw: bytes | str | None) -> int | None:
    """A stored marker or stamp as a format number; None when absent. Anything that is not a
    positive decimal number was written by something this release does not know: UNKNOWN."""
    if raw is None:
        return None
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    return int(text) if text.isascii() and text.isdigit() and int(text) > 0 else UNKNOWN


def _shown(found: int) -> str:
    return "an unknown format" if found == UNKNOWN else f"format {found}"


def check_writable(found: int, prefix: str) -> int:
    """The format a writer writes in a deployment whose marker names `found`: that one, if this
    release writes it. A newer one is FormatTooNewError (upgrade this worker)."""
    if found in WRITES:
        return found
    if found > max(WRITES):
        raise FormatTooNewError(
            f"the deployment under prefix {prefix!r} holds storage {_shown(found)}; this redis-ckpt release "
            f"writes formats up to {max(WRITES)} - upgrade this worker (docs/upgrading.md). Nothing was written.",
            found=found,
            supported=max(WRITES),
        )
    raise ConfigurationError(
        f"the deployment under prefix {prefix!r} holds storage format {found}; this redis-ckpt release writes "
        f"formats {sorted(WRITES)} only - raise the deployment's format first (redis-ckpt format --raise)"
    )


def check_raise(current: int | None, wanted: int, prefix: str) -> None:
    """Whether the operator may raise the deployment's format from `current` to `wanted` with this
    release: only to a format it writes, and never down (data written in the newer format may not
    be readable by a release that only reads the older one)."""
    if wanted not in WRITES:
        raise ConfigurationError(
            f"this redis-ckpt release writes storage formats {sorted(WRITES)}; it cannot raise the deployment "
            f"to format {wanted}"
        )
    if current is not None and current > wanted:
        raise ConfigurationError(
            f"the deployment under prefix {prefix!r} holds storage {_shown(current)}; a format is never lowered"
        )


def refusal(error: Exception) -> FormatTooNewError | None:
    """The typed form of a script's refusal (a namespace stamp naming a format this release does
    not read), or None for any other error. `error` is the server's reply error (redis-py's
    ResponseError, not named here: the format imports no `redis`)."""
    match = _REFUSED.fullmatch(str(error))
    if match is None:
        return None
    return _namespace_too_new(parse(match[1]) or UNKNOWN, match[2])


def check_stamp(stamp: bytes | None, chunks_key: str) -> None:
    """Raise FormatTooNewError when a namespace stamp (the STAMP_FIELD of the chunk hash
    `chunks_key`, read outside the scripts: copy_thread) names a format this release does not read."""
    found = parse(stamp)
    if found is not None and found not in READS:
        raise _namespace_too_new(found, chunks_key)


def _namespace_too_new(found: int, chunks_key: str) -> FormatTooNewError:
    thread_id, ns = thread_and_ns_of_namespace_key(chunks_key)
    return FormatTooNewError(
        f"thread {thread_id!r} namespace {ns!r} holds storage {_shown(found)}; this redis-ckpt release reads "
        f"formats up to {max(READS)} - upgrade this worker (docs/upgrading.md)",
        found=found,
        supported=max(READS),
    )
