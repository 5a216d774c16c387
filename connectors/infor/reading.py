"""Reading M3 fast without holding what is read: calls made a few at a time in threads, each result handed on as soon
as it is in (Pool), and a list split into key ranges read side by side (KeyRanges).

M3 pages a list by key: a page starts at the last key of the page before, so one range is read one page after
another. A list is therefore read as several ranges at once, each split again as its first page shows how densely
its keys lie. Every record is read once: the ranges never overlap and together cover the whole key space, a range's
end key belongs to the range after it, and the last key of a full page is read again, whole, by the page after.

UNCONFIRMED (docs/ASSUMPTIONS.md I17): M3 sorts and compares a list's keys in code-point order, as the range
boundaries are chosen here; a from/to key may hold any printable character. A page that comes back out of that
order stops the parallel read: the list is then read again from its start one page after another, which relies on
M3's own order only (records already handed on come again; the ledger counts them unchanged).
"""

import logging
import threading
from bisect import bisect_right
from collections import deque
from dataclasses import dataclass, replace

from django.db import connection as db_connection

from connectors.errors import TransientError
from connectors.http import threads_allowed

logger = logging.getLogger(__name__)

# Ranges read at once, and the most a range is split into when its first page shows how many records it holds.
LIST_WORKERS = 8
# Characters past the first one where a page's first and last keys differ that count in placing a boundary.
PRECISION = 3

_END = object()


class Pool:
    """`work(task)` for every task, up to `workers` at a time in threads; iterating the pool hands back each result as
    it comes in. `work` returns (result, more tasks): a result of None is not handed back, and the tasks it gives are
    done before the next of `tasks` is begun (a page's work is finished before the next page is started). At most
    `ahead` results wait to be taken: the workers wait there for the reader, so a read holds a few results in memory,
    never the whole of it. An error stops the workers and is raised to the reader once the results before it are
    taken. Without threads (threads_allowed) a task runs when the reader asks for a result.

    Use it as a context manager: leaving it stops the workers and waits for the calls under way."""

    def __init__(self, tasks, work, workers, ahead):
        self.tasks = iter(tasks)
        self.queued = deque()
        self.work = work
        self.ahead = max(1, ahead)
        self.results = deque()
        self.running = 0
        self.exhausted = False
        self.error = None
        self.closed = False
        self.cond = threading.Condition()
        self.threads = []
        if workers > 1 and threads_allowed():
            self.threads = [threading.Thread(target=self.worker, name="infor-read", daemon=True)
                            for _ in range(workers)]
            for thread in self.threads:
                thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        for thread in self.threads:
            thread.join()

    def next_task(self):
        if self.queued:
            return self.queued.popleft()
        if not self.exhausted:
            task = next(self.tasks, _END)
            if task is not _END:
                return task
            self.exhausted = True
        return _END

    def done(self):
        return self.exhausted and not self.queued and not self.running

    def worker(self):
        try:
            while True:
                with self.cond:
                    while True:
                        if self.closed or self.error is not None:
                            return
                        task = self.next_task() if len(self.results) < self.ahead else _END
                        if task is not _END:
                            self.running += 1
                            break
                        if self.done():
                            self.cond.notify_all()
                            return
                        self.cond.wait()
                try:
                    result, more = self.work(task)
                finally:
                    with self.cond:
                        self.running -= 1
                        self.cond.notify_all()
                with self.cond:
                    self.queued.extendleft(reversed(more))
                    if result is not None:
                        self.results.append(result)
                    self.cond.notify_all()
        except BaseException as exc:  # handed to the reader, whatever it was
            with self.cond:
                if self.error is None:
                    self.error = exc
                self.cond.notify_all()
        finally:
            db_connection.close()

    def __iter__(self):
        if not self.threads:
            while (task := self.next_task()) is not _END:
                result, more = self.work(task)
                self.queued.extendleft(reversed(more))
                if result is not None:
                    yield result
            return
        while True:
            with self.cond:
                while not self.results and self.error is None and not self.done():
                    self.cond.wait()
                if self.results:
                    result = self.results.popleft()
                    self.cond.notify_all()
                elif self.error is not None:
                    raise self.error
                else:
                    return
            yield result


class OutOfOrder(Exception):
    """A page came back outside its range or out of key order: M3 does not order this list as the ranges assume."""


@dataclass(frozen=True)
class Span:
    """Part of a list's key space: from `start` (that key included; "" from the list's first key) up to `end` (that
    key left out; None: to the list's last key). `reach`: how many pages' worth of keys the next bounded span an open
    span hands on covers; it doubles along the chain, so the end of a long list is found in a few steps."""

    start: str
    end: str | None
    page_size: int
    reach: int = 1


class Scale:
    """Keys as numbers, so that a span can be cut where about a page of keys lies: each character a digit of its rank
    among the characters the page's keys are written in (a character they do not use counts as the one below it: a
    rougher estimate, never a wrong order), the key's end the digit 0, `depth` digits from the key's start. A
    boundary is written in those characters, never a blank (M3 trims trailing blanks of an input) nor a control."""

    def __init__(self, keys, depth):
        self.alphabet = sorted({c for key in keys for c in key[:depth] if c > " "})
        self.base, self.depth = len(self.alphabet) + 1, depth

    def position(self, key):
        value = 0
        for i in range(self.depth):
            value = value * self.base + (bisect_right(self.alphabet, key[i]) if i < len(key) else 0)
        return value

    def key_at(self, value):
        digits = []
        for _ in range(self.depth):
            value, digit = divmod(value, self.base)
            digits.append(digit)
        chars = []
        for digit in reversed(digits):
            if not digit:
                break
            chars.append(self.alphabet[digit - 1])
        return "".join(chars)


def differ_at(a, b):
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


class KeyRanges:
    """One list read by key range: `transaction` with `inputs`, rows keyed by `key`, a range given by the inputs
    `start_field` (from, included) and `end_field` (to, included: the row at the end key is the next range's).

    pages() yields the list's rows a page at a time, every row once, pages in the order they come in; a key's rows
    (an invoice's lines) always in the same page."""

    def __init__(self, client, transaction, inputs, key, start_field, end_field, page_size, columns=None,
                 workers=LIST_WORKERS):
        self.client, self.transaction, self.inputs, self.key = client, transaction, dict(inputs), key
        self.start_field, self.end_field = start_field, end_field
        self.page_size, self.columns, self.workers = page_size, columns, workers
        self.length = transaction.input(start_field).length
        self.in_order = workers > 1

    def pages(self):
        try:
            # The first page in the caller's thread: a list of one page (a quiet run's) starts no threads.
            page, rest = self.read(Span("", None, self.page_size))
            if page:
                yield page
            if not rest:
                return
            with Pool(rest, self.read, self.workers, self.workers) as pool:
                yield from pool
        except OutOfOrder as exc:
            logger.warning("Infor: %s; reading %s again from its start, one page after another.", exc,
                           self.transaction)
            self.in_order = False
            with Pool([Span("", None, self.page_size)], self.read, 1, 1) as pool:
                yield from pool

    def read(self, span):
        """One page of a span: (its complete rows, the spans of the rest)."""
        inputs = {**self.inputs, **({self.start_field: span.start} if span.start else {}),
                  **({self.end_field: span.end} if span.end is not None else {})}
        rows = self.client.execute(self.transaction, inputs, maxrecs=span.page_size, columns=self.columns)
        keys = [row.get(self.key) for row in rows]
        if None in keys:
            raise TransientError(f"{self.transaction} answered a record without its key {self.key}; the list cannot "
                                 "be paged safely.")
        if self.in_order and keys and (any(a > b for a, b in zip(keys, keys[1:], strict=False))
                                       or keys[0] < span.start or span.end is not None and keys[-1] > span.end):
            raise OutOfOrder(f"{self.transaction} answered keys {keys[0]!r} to {keys[-1]!r} out of order or outside "
                             f"{span.start!r} to {span.end!r}")
        inside = [row for row in rows if span.end is None or row[self.key] < span.end]
        if len(rows) < span.page_size or len(inside) < len(rows):
            return inside or None, []  # the span ends in this page
        last = keys[-1]
        complete = [row for row in rows if row[self.key] != last]  # the last key's rows may go on past the page
        if not complete:
            return None, [replace(span, page_size=span.page_size * 2)]  # one key fills the page: read it whole
        rest = replace(span, start=last)
        return complete, self.split(rest, keys) if self.in_order else [rest]

    def split(self, rest, keys):
        """The rest of a span, from the page's last key on, in spans of about a page each (at most `workers` of them),
        placed by how densely the page's keys (`keys`, in order) lay. An open rest also hands on an open span
        beyond them."""
        last = rest.start
        depth = min(self.length, differ_at(keys[0], last) + PRECISION)
        scale = Scale([*keys, *([rest.end] if rest.end else [])], depth)
        low = scale.position(last)
        page = low - scale.position(keys[0])
        if page <= 0:
            return [rest]
        if rest.end is None:
            high, count = min(scale.base ** scale.depth - 1, low + page * rest.reach), min(rest.reach, self.workers)
        else:
            high = scale.position(rest.end)
            count = min(self.workers, -(-(high - low) // page))
        bounds = [scale.key_at(low + (high - low) * i // count) for i in range(1, count)]
        if rest.end is None:
            bounds.append(scale.key_at(high))
        starts = [last]
        for bound in bounds:
            if starts[-1] < bound and (rest.end is None or bound < rest.end):
                starts.append(bound)
        spans = [replace(rest, start=a, end=b) for a, b in zip(starts, [*starts[1:], rest.end], strict=True)]
        if rest.end is None and len(starts) > 1:
            spans[-1] = replace(spans[-1], reach=rest.reach * 2)
        return spans
