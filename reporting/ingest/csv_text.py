"""Reading CSV text: numbered rows, blocks of plain lines for the bulk checks, and a read-ahead
thread that checks the next block while the database loads this one."""

from __future__ import annotations

import contextlib
import csv
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain, islice

from circulus import bounds
from reporting.ingest.reports import Listing

CHUNK_ROWS = 50_000


def read_header(rows, required: tuple[str, ...], report) -> list[str] | None:
    """The lower-cased header row, or None after recording why the file cannot be read."""
    try:
        _, header = next(rows)
    except StopIteration:
        report.errors.add({"line": 1, "field": "header", "reason": "empty file"})
        return None
    except Unreadable as exc:
        report.errors.add(exc.as_error())
        return None
    try:
        bounds.check_columns(len(header))
    except bounds.Refused as exc:
        report.errors.add(exc.as_error())
        return None
    header = [h.strip().lower() for h in header]
    missing = [c for c in required if c not in header]
    if missing:
        reason = f"missing column(s) {', '.join(missing)}; expected {','.join(required)}"
        report.errors.add({"line": 1, "field": "header", "reason": reason})
        return None
    return header


class Unreadable(Exception):
    """A line that is not CSV text (bad encoding, NUL, stray CR, oversized field)."""

    def __init__(self, line: int, reason: str):
        super().__init__(reason)
        self.line, self.reason = line, reason

    def as_error(self) -> dict:
        return {"line": self.line, "field": "file", "reason": self.reason}


def csv_rows(lines: Iterable[str], *, start: int = 1) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) from CSV text lines; the header is line 1, `start` the first given.

    Raises Unreadable, naming the line, where the text cannot be read as UTF-8 CSV.
    """
    reader = csv.reader(lines)
    line = start - 1
    while True:
        line += 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:
            bad = exc.object[exc.start : exc.start + 1]
            raise Unreadable(line, bounds.not_text(bad)) from None
        except csv.Error as exc:
            raise Unreadable(line, f"not readable as CSV: {exc}") from None
        if any("\x00" in value for value in row):
            raise Unreadable(line, bounds.NUL_OR_UTF16)
        yield line, row


@dataclass
class Block:
    """Up to `CHUNK_ROWS` CSV lines in which each line is one record (`_plain`)."""

    lines: list[str]
    data: bytes  # the lines as UTF-8
    first_line: int


def csv_blocks(lines: Iterator[str], *, start: int, bulk: bool = True):
    """The lines after the header as `Block`s while the text is plain, then as (line, fields)
    from `csv_rows` for the rest of the file (a quote may open a field spanning lines).

    The line numbers are those `csv_rows` gives: in plain text a record is a line.
    """
    line = start
    while bulk:
        block: list[str] = []
        try:
            block.extend(islice(lines, CHUNK_ROWS))  # keeps the lines read before an error
        except UnicodeDecodeError as exc:
            failed = exc
        else:
            failed = None
        data = "".join(block).encode()
        if failed is None and len(block) == CHUNK_ROWS and _plain(block, data):
            yield Block(block, data, line)
            line += len(block)
            continue
        if block and _plain(block, data):
            yield Block(block, data, line)
            line += len(block)
            block = []
        rest = _raise(failed) if failed else lines
        yield from csv_rows(chain(block, rest), start=line)
        return
    yield from csv_rows(lines, start=line)


def _plain(block: list[str], data: bytes) -> bool:
    """Whether each given line is one CSV record: no quote (a quoted field may hold a comma or a
    line end), no NUL, no carriage return but in CRLF, one line end per line (the last may lack
    it)."""
    ends = data.count(b"\n")
    return (
        b'"' not in data
        and b"\x00" not in data
        and data.count(b"\r") == data.count(b"\r\n")
        and (ends == len(block) or (ends == len(block) - 1 and not block[-1].endswith("\n")))
    )


def _raise(exc: BaseException):
    raise exc
    yield  # a generator: raises when first read


def read_ahead(items: Iterable, work: Callable) -> Iterator[tuple]:
    """(item, work(item)) for each item, the next one read and worked on in a thread while the
    caller handles this one: a block is parsed and checked while the database loads the one
    before it. `work` must not touch the database (the thread has its own connection). An
    exception met in the thread is raised here, in order, where the item would have been."""
    ahead: queue.Queue = queue.Queue(maxsize=1)  # one block waiting: memory stays flat
    stop = threading.Event()

    def produce():
        try:
            for item in items:
                if stop.is_set():
                    return
                ahead.put((item, work(item), None))
        except BaseException as exc:  # handed to the caller, which raises it
            ahead.put((None, None, exc))
        else:
            ahead.put(_DONE)

    thread = threading.Thread(target=produce, name="ingest-read-ahead", daemon=True)
    thread.start()
    try:
        while (got := ahead.get()) is not _DONE:
            item, result, exc = got
            if exc is not None:
                raise exc
            yield item, result
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting to put
            with contextlib.suppress(queue.Empty):
                ahead.get(timeout=0.05)
        thread.join()


_DONE = (None, None, None)


def readable(rows, errors: Listing):
    """`rows` up to the first unreadable line, which is recorded as an error (the file is then
    rejected: what follows a decoding error cannot be trusted)."""
    try:
        yield from rows
    except Unreadable as exc:
        errors.add(exc.as_error())
