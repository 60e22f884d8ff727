"""Summaries of py-spy's collapsed stacks (``--format raw``): where the samples are,
by function (inclusive and self), for the report."""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")


def _short(frame: str) -> str:
    m = _FRAME.match(frame)
    if not m:
        return frame
    path = m.group("file")
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{m.group('func')} ({path})"


Ranked = list[tuple[str, int]]


def summarize(path: Path, top: int = 25) -> tuple[int, Ranked, Ranked]:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text("utf-8", "replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_short(f) for f in stack.split(";")]
        for f in set(frames):
            inclusive[f] += n
        own[frames[-1]] += n
    return total, inclusive.most_common(top), own.most_common(top)


def main(argv: list[str]) -> int:
    top = 30
    for name in argv:
        total, inc, own = summarize(Path(name), top)
        print(f"== {name}: {total} samples")
        print("-- inclusive")
        for f, n in inc:
            print(f"{100 * n / max(total, 1):5.1f}%  {f}")
        print("-- self")
        for f, n in own:
            print(f"{100 * n / max(total, 1):5.1f}%  {f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
