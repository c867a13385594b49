"""The saver's channel versions (`get_next_version`). Pure functions.

A version is `v` + the counter in 5 base-62 digits + 6 random base-62 digits, 12 characters:
- monotonic as strings: the digits are in ASCII order and the counter has a fixed width (a
  counter past 62**5 - 1, ~916 million versions of one channel, takes `w` and 11 digits, which
  still sorts above);
- above every earlier format: the saver's previous one (`0000000042.9f3a1c07`) and InMemorySaver's
  (32 digits, a dot, a float) start with a digit, below `v`;
- the random suffix (~36 bits) keeps two forks bumping the same channel from sharing a blob
  field.
A version appears a dozen times in a stored chat checkpoint (its references, `versions_seen`, the
blob fields and records naming it) and barely compresses: 19 characters down to 12 took ~8% off
a chat thread's memory.
"""

from __future__ import annotations

import random

DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_VALUE = {c: i for i, c in enumerate(DIGITS)}
SHORT, LONG = 5, 11  # counter digits after `v` and after `w`
SUFFIX = 6


def _base62(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        n, digit = divmod(n, 62)
        out.append(DIGITS[digit])
    return "".join(reversed(out))


def counter(version: str | int | float | None) -> int:
    """The counter of a version of any format this saver or InMemorySaver produced (or an int)."""
    if version is None:
        return 0
    if isinstance(version, (int, float)):
        return int(version)
    width = {"v": SHORT, "w": LONG}.get(version[:1])
    digits = version[1 : 1 + width] if width is not None else ""
    if width is not None and len(digits) == width and all(c in _VALUE for c in digits):
        value = 0
        for c in digits:
            value = value * 62 + _VALUE[c]
        return value
    try:
        return int(version.split(".")[0])
    except ValueError:
        raise ValueError(f"not a version this saver can count from: {version!r}") from None


def next_version(current: str | int | float | None) -> str:
    n = counter(current) + 1
    suffix = "".join(random.choices(DIGITS, k=SUFFIX))
    if n < 62**SHORT:
        return "v" + _base62(n, SHORT) + suffix
    return "w" + _base62(n, LONG) + suffix
