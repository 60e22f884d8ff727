"""The render budget: what rendering one notice may spend, enforced inside the sandbox.

A template is code an editor writes, and a loop nested in a loop, a string doubled in
a ``namespace`` or ``"%0999999999d"|format`` would hold a send thread (and a core)
for as long as it runs. So every place where the sandbox sees a template act spends
from the budget of the render in progress: each step of any ``for`` loop (over a
list, a ``range`` or anything else), each call, filter, attribute or item access and
intercepted operator, and every piece of output. Spending over a limit raises
:class:`BudgetExceeded` right there, so a runaway render stops itself; the renderer
reports it as a ``TemplateBudgetError`` (reason code ``template_budget``).

Operations that would build a huge value in one C call (padding to a width,
``%``-formatting, ``replace``, ``join``, ``**``) are checked *before* they run; every
value a step produces is checked after (strings, lists and integers have a size
limit), so growth stops at the limit however it was built.

Time is the CPU time of the rendering thread (:func:`time.thread_time`): a notice
is not blamed for the GIL waits of a busy process. The wall clock has a ceiling too
(10 s: only a safety net; a legitimate notice on a starved machine must not reach it).

The budget of the render in progress lives in a thread-local (a send thread renders
one notice at a time). Outside a render (Jinja folds constant expressions while
compiling) the size checks still apply; time and loop steps are not counted.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

#: Sizes no limit is set below: values this small are let through at once (fast path).
_SMALL = 1024


@dataclass(frozen=True, slots=True)
class Limits:
    cpu_seconds: float = 0.2  # CPU time of the rendering thread
    # wall clock, whatever the thread waits for: a ceiling only (the CPU time and the
    # step and size limits stop a runaway); generous, so that a notice rendered in a
    # process starved of CPU (a busy node, 20 runnable threads) is never parked for it
    wall_seconds: float = 10.0
    iterations: int = 10_000  # loop steps of all loops together (range, for, business days)
    output_chars: int = 256_000  # characters output or captured, all blocks together
    value_chars: int = 100_000  # length of any one string, list or mapping a step builds
    width: int = 1_000  # padding width or precision (center, ljust, %-format, indent)
    int_bits: int = 4_096  # size of an integer a step builds

    def __post_init__(self) -> None:
        if self.value_chars < _SMALL or self.int_bits < 64:
            raise ValueError(f"value_chars must be at least {_SMALL}, int_bits at least 64")


#: The limits of every render: delivery, ``templates check``, start-up and hot reload.
DEFAULT_LIMITS = Limits()


class BudgetExceeded(Exception):
    """A render went over its budget; ``what`` says which limit, in English and Korean."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def _over(english: str, korean: str) -> str:
    return f"{english} ({korean})"


class Budget:
    """What one render has spent."""

    __slots__ = ("cpu_end", "exceeded", "iterations", "limits", "output", "steps", "wall_end")

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self.cpu_end = time.thread_time() + limits.cpu_seconds
        self.wall_end = time.monotonic() + limits.wall_seconds
        self.steps = 0
        self.iterations = 0
        self.output = 0
        self.exceeded: str | None = None

    def fail(self, what: str) -> NoReturn:
        if self.exceeded is None:  # the first reason stays, even if a filter swallowed it
            self.exceeded = what
        raise BudgetExceeded(self.exceeded)

    def step(self) -> None:
        if self.exceeded is not None:
            raise BudgetExceeded(self.exceeded)
        self.steps += 1
        if not self.steps & 31:
            self.check_clock()

    def check_clock(self) -> None:
        if time.thread_time() > self.cpu_end:
            ms = round(self.limits.cpu_seconds * 1000)
            self.fail(_over(f"rendering took over {ms} ms", f"실행 시간이 {ms}ms를 넘었습니다"))
        if time.monotonic() > self.wall_end:
            ms = round(self.limits.wall_seconds * 1000)
            self.fail(_over(f"rendering took over {ms} ms of wall-clock time",
                            f"실행 시간이 {ms}ms를 넘었습니다"))

    def iterate(self, count: int = 1) -> None:
        self.iterations += count
        if self.iterations > self.limits.iterations:
            n = f"{self.limits.iterations:,}"
            self.fail(_over(f"loops ran over {n} steps", f"반복이 {n}회를 넘었습니다"))
        self.step()

    def emit(self, chars: int) -> None:
        self.output += chars
        if self.output > self.limits.output_chars:
            n = f"{self.limits.output_chars:,}"
            self.fail(_over(f"the output is over {n} characters",
                            f"출력이 {n}자를 넘었습니다"))
        self.step()


_local = threading.local()


def current() -> Budget | None:
    """The budget of the render in progress on this thread, if any."""
    budget: Budget | None = getattr(_local, "budget", None)
    return budget


@contextmanager
def spending(limits: Limits = DEFAULT_LIMITS) -> Iterator[Budget]:
    """Render within a fresh budget on this thread."""
    outer = current()
    budget = Budget(limits)
    _local.budget = budget
    try:
        yield budget
    finally:
        _local.budget = outer


def limits() -> Limits:
    budget = current()
    return budget.limits if budget is not None else DEFAULT_LIMITS


def fail(what: str) -> NoReturn:
    budget = current()
    if budget is not None:
        budget.fail(what)
    raise BudgetExceeded(what)


def step() -> None:
    budget = current()
    if budget is not None:
        budget.step()


def iterations(count: int) -> None:
    """Spend ``count`` loop steps at once (a filter that loops ``count`` times)."""
    budget = current()
    if budget is not None:
        budget.iterate(max(0, count))
    elif count > DEFAULT_LIMITS.iterations:
        fail(_over(f"a loop of {count:,} steps", f"반복이 {count:,}회입니다"))


def metered(iterable: Iterable[Any]) -> Iterable[Any]:
    """``iterable`` spending one loop step per item (what every ``for`` loops over)."""
    budget = current()
    if budget is None:
        return iterable
    return _Metered(iterable, budget)


class _Metered:
    __slots__ = ("_budget", "_iterable", "_iterator")

    def __init__(self, iterable: Iterable[Any], budget: Budget) -> None:
        self._iterable = iterable
        self._iterator = iter(iterable)
        self._budget = budget

    def __iter__(self) -> _Metered:
        return self

    def __next__(self) -> Any:
        item = next(self._iterator)
        self._budget.iterate()
        return item

    def __len__(self) -> int:  # Jinja's loop.length, when the iterable knows it
        return len(self._iterable)  # type: ignore[arg-type]


# -- size checks ------------------------------------------------------------------------
def check_value(value: Any) -> Any:
    """``value``, unless it is a string, list or mapping or integer over the limits."""
    if isinstance(value, str | list | tuple | dict):
        if len(value) > _SMALL and len(value) > limits().value_chars:
            n = f"{limits().value_chars:,}"
            fail(_over(f"a text or list of {len(value):,} items, over {n}",
                       f"글자나 항목이 {n}개를 넘었습니다"))
    elif isinstance(value, int) and value.bit_length() > 64 \
            and value.bit_length() > limits().int_bits:
        fail(_over("a number too large", "숫자가 너무 큽니다"))
    return value


def check_size(size: int) -> None:
    """Refuse to build a text or list of ``size`` items."""
    n = limits().value_chars
    if size > n:
        fail(_over(f"a text or list of {size:,} items, over {n:,}",
                   f"글자나 항목이 {n:,}개를 넘었습니다"))


def check_width(width: Any) -> None:
    """A padding width (or an indent given as a number or a text)."""
    size = len(width) if isinstance(width, str) else width
    if isinstance(size, int) and abs(size) > limits().width:
        n = f"{limits().width:,}"
        fail(_over(f"a width of {size:,}, over {n}", f"너비가 {n}을 넘었습니다"))


# A %-conversion: flags, width, precision (a ``*`` takes them from the arguments).
_PRINTF = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")
# A {}-field's format spec: every number in it (width, precision), nested fields.
_FORMAT_FIELD = re.compile(r"\{[^{}]*\}")


def check_printf(template: str, args: Any) -> None:
    """``template % args`` pads to no more than the width limit, and takes no width
    from its arguments."""
    for found in _PRINTF.finditer(template):
        for part in found.groups():
            if part == "*":
                fail(_over("a %-format taking its width from the data",
                           "% 서식의 너비를 데이터에서 가져올 수 없습니다"))
            if part is not None:
                check_width(int(part))
    check_size(len(template) + _args_size(args))


def _args_size(args: Any) -> int:
    values = args.values() if isinstance(args, Mapping) else \
        args if isinstance(args, tuple) else (args,)
    return sum(len(v) for v in values if isinstance(v, str))


def check_format(template: str) -> None:
    """``template.format(...)``: widths within the limit, no width from the data."""
    if "{" not in template:
        return
    if re.search(r"\{[^{}]*\{", template.replace("{{", "")):
        fail(_over("a format width taken from the data",
                   "서식의 너비를 데이터에서 가져올 수 없습니다"))
    for field in _FORMAT_FIELD.finditer(template):
        spec = field.group(0).partition(":")[2]
        for number in re.findall(r"\d+", spec):
            check_width(int(number))


def check_replace(text: str, old: Any, new: Any, count: Any = -1) -> None:
    if not isinstance(old, str) or not isinstance(new, str):
        return
    times = len(text) + 1 if old == "" else text.count(old)
    if isinstance(count, int) and count >= 0:
        times = min(times, count)
    check_size(len(text) + times * max(0, len(new) - len(old)))


def check_join(items: Any, separator: Any) -> None:
    if not isinstance(items, list | tuple):
        return
    sep = len(separator) if isinstance(separator, str) else 0
    check_size(sum(len(i) for i in items if isinstance(i, str)) + sep * max(0, len(items) - 1))
