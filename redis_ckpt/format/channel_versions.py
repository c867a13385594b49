"""The saver's channel versions (`get_next_version`). Pure functions.

A version is `v` + the counter in 5 base-62 digits + 6 random characters, 12 characters:
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

import functools
import random

DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_VALUE = {c: i for i, c in enumerate(DIGITS)}
SHORT, LONG = 5, 11  # counter digits after `v` and after `w`
# The suffix only tells forks apart (the counter orders versions), so any 64 characters do:
# 6 random bits each, 36 bits in all.
_SUFFIX_DIGITS = DIGITS + "-_"


@functools.lru_cache(maxsize=4096)  # get_next_version runs per channel per step: keep it cheap
def _counter_text(n: int) -> str:
    width, mark = (SHORT, "v") if n < 62**SHORT else (LONG, "w")
    out = []
    for _ in range(width):
        n, digit = divmod(n, 62)
        out.append(DIGITS[digit])
    return mark + "".join(reversed(out))


def counter(version: str | int | float | None) -> int:
    """The counter of a version of any format this saver or InMemorySaver produced (or an int)."""
    if version is None:
        return 0
    if isinstance(version, (int, float)):
        return int(version)
    width = {"v": SHORT, "w": LONG}.get(version[:1])
    if width is not None and len(version) > width:
        value = 0
        try:
            for c in version[1 : 1 + width]:
                value = value * 62 + _VALUE[c]
            return value
        except KeyError:
            pass  # not this saver's format after all
    try:
        return int(version.split(".")[0])
    except ValueError:
        raise ValueError(f"not a version this saver can count from: {version!r}") from None


def next_version(current: str | int | float | None) -> str:
    bits = random.getrandbits(36)
    suffix = "".join(_SUFFIX_DIGITS[(bits >> shift) & 63] for shift in (0, 6, 12, 18, 24, 30))
    return _counter_text(counter(current) + 1) + suffix
