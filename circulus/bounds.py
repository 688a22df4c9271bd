"""The bounds every input is checked against before any work starts, in one place for every app.

- **Time window**: no recorded instant (a reading, an event, a purchase) lies before
  `INPUT_TIME_FLOOR` (1990-01-01 by default) or later than now plus `INPUT_CLOCK_SKEW_SECONDS`
  (15 minutes by default: a meter or a laptop whose clock runs a little ahead). The window keeps
  a typo'd year from reaching the database, where it would make storage for it (the readings'
  monthly partitions) or overflow a date computation.
- **Sizes**: an upload larger than its limit is refused with HTTP 413 naming the limit, before
  it is read; an XLSX workbook is refused (400) when it is not a zip archive, when it would
  unpack to more than `XLSX_MAX_UNPACKED_BYTES` or when it holds more than `IMPORT_MAX_CELLS`
  cells; no file may have more than `IMPORT_MAX_COLUMNS` columns.
- **Text**: a file is UTF-8 (with or without a byte-order mark) or UTF-16 with its byte-order
  mark; anything else, or a NUL character, is refused naming the encoding expected.

The limits are settings (environment variables, documented in docs/operations.md). Pure code
apart from reading those settings.
"""

from __future__ import annotations

import codecs
import datetime as dt
import io
import itertools
import zipfile
from collections.abc import Iterable, Iterator
from typing import IO

from django.conf import settings

MB = 1024 * 1024


class Refused(ValueError):
    """An input outside its bounds: `reason` is for the person who sent it."""

    status = 400

    def __init__(self, reason: str, *, line: int = 0, field: str = "file"):
        super().__init__(reason)
        self.reason, self.line, self.field = reason, line, field

    def as_error(self) -> dict:
        return {"line": self.line, "field": self.field, "reason": self.reason}


class TooLarge(Refused):
    """An upload larger than its limit (HTTP 413)."""

    status = 413


# --- time window ---------------------------------------------------------------------------------


def time_floor() -> dt.date:
    """The earliest date any input may name (`INPUT_TIME_FLOOR`)."""
    return settings.INPUT_TIME_FLOOR


def clock_skew() -> dt.timedelta:
    return dt.timedelta(seconds=settings.INPUT_CLOCK_SKEW_SECONDS)


def earliest() -> dt.datetime:
    """The first instant of the window (the floor's midnight, UTC)."""
    return dt.datetime.combine(time_floor(), dt.time(0), tzinfo=dt.UTC)


def latest(now: dt.datetime | None = None) -> dt.datetime:
    """The last instant of the window: now plus the allowed clock skew."""
    return (now or dt.datetime.now(dt.UTC)) + clock_skew()


def instant_refusal(moment: dt.datetime, now: dt.datetime | None = None) -> str | None:
    """Why an aware instant lies outside the window, or None when it is inside."""
    if moment < earliest():
        return f"lies before {time_floor().isoformat()}, the earliest date accepted"
    if moment > latest(now):
        return f"lies in the future (more than {_skew_text()} ahead of the server clock)"
    return None


def bound_refusal(moment: dt.datetime) -> str | None:
    """Why an aware instant that may lie ahead (the end of a validity, a planned change) cannot
    be stored, or None: before the floor, or past the end of the calendar once in UTC."""
    if moment < earliest():
        return f"lies before {time_floor().isoformat()}, the earliest date accepted"
    try:
        moment.astimezone(dt.UTC)
    except OverflowError:
        return "lies past the end of the calendar (9999-12-31 UTC)"
    return None


def date_refusal(day: dt.date, today: dt.date | None = None) -> str | None:
    """Why a calendar date lies outside the window (a date up to today is inside), or None."""
    if day < time_floor():
        return f"lies before {time_floor().isoformat()}, the earliest date accepted"
    if day > (today or dt.datetime.now(dt.UTC).date()):
        return "lies in the future"
    return None


def _skew_text() -> str:
    seconds = settings.INPUT_CLOCK_SKEW_SECONDS
    return f"{seconds // 60} minutes" if seconds % 60 == 0 else f"{seconds} seconds"


# --- sizes ---------------------------------------------------------------------------------------


def size_text(size: int) -> str:
    return f"{size / MB:g} MB" if size >= MB else f"{size:,} bytes"


def check_size(size: int | None, limit: int, what: str) -> None:
    """Refuse (413) an upload of `size` bytes beyond `limit`."""
    if size is not None and size > limit:
        raise TooLarge(
            f"{what} is {size_text(size)}, larger than the {size_text(limit)} limit; "
            "split it into smaller files"
        )


def declared_length(meta) -> int | None:
    """The body length a request declares (its Content-Length header), before it is read."""
    try:
        return int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None


FORM_SLACK = 64 * 1024  # a form's other fields and multipart boundaries around its file


def check_form_upload(meta, limit: int) -> None:
    """Refuse (413) a form post whose declared length leaves no doubt that its file is beyond
    `limit`: the body is then never parsed."""
    size = declared_length(meta)
    if size is not None and size > limit + FORM_SLACK:
        raise TooLarge(
            f"the upload is {size_text(size)}, larger than the {size_text(limit)} limit; "
            "split it into smaller files"
        )


def check_columns(count: int) -> None:
    limit = settings.IMPORT_MAX_COLUMNS
    if count > limit:
        raise Refused(
            f"the header has {count:,} columns; at most {limit:,} are read", line=1, field="header"
        )


def check_xlsx(file: IO[bytes]) -> None:
    """Refuse a workbook that is not a zip archive or would unpack beyond its limit (a zip bomb)
    before any XML of it is parsed. `file` is left at its start."""
    limit = settings.XLSX_MAX_UNPACKED_BYTES
    try:
        with zipfile.ZipFile(file) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError):
        raise Refused(NOT_XLSX) from None
    finally:
        file.seek(0)
    if unpacked > limit:
        raise Refused(
            f"the workbook unpacks to {size_text(unpacked)}, beyond the "
            f"{size_text(limit)} limit; save it as CSV or split it"
        )


NOT_XLSX = "not an XLSX workbook (an .xlsx file is a zip archive; this is not)"


def check_cells(count: int, line: int) -> None:
    limit = settings.IMPORT_MAX_CELLS
    if count > limit:
        raise Refused(f"more than {limit:,} cells; split the file", line=line)


def short_name(name: str, limit: int) -> str:
    """A file name of any length shortened to `limit` characters, its end (the extension) kept."""
    if len(name) <= limit:
        return name
    keep = limit - 1
    return f"{name[: keep - keep // 2]}…{name[-(keep // 2) :]}"


# --- text ----------------------------------------------------------------------------------------

ENCODINGS = "UTF-8 (with or without a byte-order mark) or UTF-16 with a byte-order mark"


def encoding_of(start: bytes) -> str:
    """The codec for a file starting with `start` (its first bytes): by byte-order mark."""
    if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # the codec reads the mark and drops it
    return "utf-8-sig"


def decode(raw: bytes) -> str:
    """The text of a whole file, or Refused naming the line where it stops being text."""
    if encoding_of(raw[:4]) != "utf-16" and b"\x00" in raw[:4096]:
        raise Refused(UTF16_UNMARKED, line=raw.count(b"\n", 0, raw.index(b"\x00")) + 1)
    try:
        text = raw.decode(encoding_of(raw[:4]))
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise Refused(not_text(raw[exc.start : exc.start + 1]), line=line) from None
    nul = text.find("\x00")
    if nul >= 0:
        raise Refused(NUL, line=text.count("\n", 0, nul) + 1)
    return text


def text_stream(binary: IO[bytes], *, newline: str | None = "") -> io.TextIOWrapper:
    """A text stream over `binary` (a file opened "rb", an upload, a request body) in the
    encoding its byte-order mark names (UTF-8 without one)."""
    if not hasattr(binary, "peek"):
        binary = io.BufferedReader(_Readable(binary))
    return io.TextIOWrapper(binary, encoding=encoding_of(binary.peek(4)[:4]), newline=newline)


def text_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """The text lines of a file given as byte lines (split at LF, as a request body is read):
    decoded line by line as UTF-8, or re-split as UTF-16 after its byte-order mark."""
    chunks = iter(chunks)
    first = next(chunks, b"")
    if encoding_of(first[:4]) == "utf-16":
        yield from text_stream(_Readable(itertools.chain([first], chunks)))
    else:
        yield from codecs.iterdecode(itertools.chain([first], chunks), "utf-8-sig")


class _Readable(io.RawIOBase):
    """A raw stream over an object with `read(size)`, or over an iterator of byte chunks."""

    def __init__(self, source):
        self.source, self.pending = source, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if hasattr(self.source, "read"):
            data = self.source.read(len(buffer))
        else:
            data = self.pending or next(self.source, b"")
            data, self.pending = data[: len(buffer)], data[len(buffer) :]
        buffer[: len(data)] = data
        return len(data)


def not_text(byte: bytes = b"") -> str:
    found = f" (byte 0x{byte.hex().upper()} is not UTF-8"
    found += "; a Latin-1 or Windows-1252 export?)" if byte and byte[0] >= 0x80 else ")"
    return f"not {ENCODINGS}{found if byte else ''}: save the file as UTF-8"


UTF16_UNMARKED = (
    "looks like UTF-16 without a byte-order mark (NUL bytes between the characters): "
    "save the file as UTF-8"
)
NUL = "contains a NUL character, which no text file holds: save the file as UTF-8 CSV"
NUL_OR_UTF16 = (
    "contains a NUL character (UTF-16 without a byte-order mark?): save the file as UTF-8"
)
