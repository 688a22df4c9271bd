"""Vectorised checks of a block of readings CSV lines (pyarrow), and PostgreSQL binary COPY data.

Pure code, no Django. `check` accepts a block only when every row passes a strict subset of the
ingest rules, written as patterns and array comparisons:

- the meter code is one of the known codes exactly (no surrounding blanks), at an allowed site;
- the timestamp is `YYYY-MM-DDThh:mm[:ss[.ffffff]]` with `Z` or an offset within ±14:00, inside
  the meter's validity;
- the value is `[-]digits[.digits]` (at most 14 integer and 12 decimal digits), not negative on
  an interval meter, and once rounded half-even to 6 decimals (as `Decimal.quantize` does) it
  fits a 64-bit count of millionths (|value| < 9.2e12).

Anything else — a bad row, or a good row written in a form these patterns do not cover (`+1`,
`1e3`, a blank around a field, a comma as decimal mark, a blank line) — makes `check` answer None,
and the caller checks that block row by row with the exact messages of today. So the fast path
never decides that a row is bad, and never accepts a row the row-by-row checker would refuse.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

TIMESTAMP_PATTERN = (
    r"^[1-9]\d{3}-\d{2}-\d{2}T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?"
    r"(Z|[+-](0\d|1[0-3]):[0-5]\d|[+-]14:00)$"
)
VALUE_PATTERN = r"^-?\d{1,14}(\.\d{1,12})?$"
WIDE = pa.decimal128(38, 12)  # every value the pattern admits, and its rounding, fit
STORED = pa.decimal128(38, 6)
INT64_MIN, INT64_MAX = np.iinfo(np.int64).min, np.iinfo(np.int64).max
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
# Python datetimes (the row-by-row path) end at 9999-12-31 UTC: later instants take that path.
LAST_US = (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) - EPOCH) // MICROSECOND
PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in microseconds since 1970-01-01


@dataclass(frozen=True)
class Meters:
    """The known meters as arrays, aligned with `codes`."""

    codes: pa.Array
    ids: np.ndarray
    interval: np.ndarray  # bool: negative values are refused
    allowed: np.ndarray  # bool: at a site the user may write
    valid_from: np.ndarray  # microseconds since 1970 UTC; INT64_MIN when open
    valid_to: np.ndarray  # INT64_MAX when open

    @classmethod
    def build(cls, meters: list[dict], *, interval: str, allowed_site_ids) -> Meters:
        # A code with blanks around it can only be matched after stripping: leave it to the
        # row-by-row checker, which strips the file's field first.
        usable = [m for m in meters if m["code"] == m["code"].strip()]

        def micros(moment, default):
            if moment is None:
                return default
            return (moment - EPOCH) // MICROSECOND

        return cls(
            codes=pa.array([m["code"] for m in usable], pa.string()),
            ids=np.array([m["id"] for m in usable], np.int64),
            interval=np.array([m["register"] == interval for m in usable], bool),
            allowed=np.array(
                [allowed_site_ids is None or m["site_id"] in allowed_site_ids for m in usable],
                bool,
            ),
            valid_from=np.array([micros(m["valid_from"], INT64_MIN) for m in usable], np.int64),
            valid_to=np.array([micros(m["valid_to"], INT64_MAX) for m in usable], np.int64),
        )


def window(first: datetime, last: datetime) -> tuple[int, int]:
    """The accepted instants [first, last] as microseconds since 1970 UTC."""
    return (first - EPOCH) // MICROSECOND, (last - EPOCH) // MICROSECOND


@dataclass
class Checked:
    """A block whose every row passed: the staged columns."""

    line: np.ndarray  # int64, the file's line numbers
    meter_id: np.ndarray  # int64
    ts_us: np.ndarray  # int64, microseconds since 1970 UTC
    micros: np.ndarray  # int64, the value rounded to 6 decimals, in millionths
    values: pa.Array  # the same values as decimal128(38, 6)

    def __len__(self) -> int:
        return len(self.line)


def check(
    data: bytes,
    *,
    lines: int,
    first_line: int,
    width: int,
    positions: tuple[int, int, int],
    meters: Meters,
    field_limit: int,
    window: tuple[int, int] = (INT64_MIN, INT64_MAX),
) -> Checked | None:
    """The staged columns of a plain block of `lines` CSV lines (UTF-8), or None (check row by
    row). `field_limit`: the csv module's field size limit, beyond which it refuses a line."""
    names = [f"f{i}" for i in range(width)]
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(
                column_names=names, use_threads=False, block_size=max(1 << 20, len(data) + 1)
            ),
            parse_options=pacsv.ParseOptions(quote_char=False, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False
            ),
        )
    except pa.ArrowInvalid:  # a row with another number of fields
        return None
    if table.num_rows != lines:
        return None
    for index, name in enumerate(names):  # the three read columns fail their patterns anyway
        if index not in positions and pc.max(pc.utf8_length(table.column(name))).as_py() > (
            field_limit
        ):
            return None
    code, stamp, value = (table.column(names[p]) for p in positions)

    found = pc.index_in(code, value_set=meters.codes)
    if found.null_count:
        return None
    meter = found.to_numpy()
    if not meters.allowed[meter].all():
        return None

    # A file repeats each timestamp for every meter: check and parse each distinct text once.
    stamp = stamp.combine_chunks().dictionary_encode()
    distinct = stamp.dictionary
    if not pc.all(pc.match_substring_regex(distinct, TIMESTAMP_PATTERN)).as_py():
        return None
    try:  # Arrow's ISO 8601 parser applies the offset; it refuses Feb 30 and the like
        parsed = pc.cast(distinct, pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy()
    except pa.ArrowInvalid:
        return None
    ts_us = parsed[stamp.indices.to_numpy()]
    if (ts_us < meters.valid_from[meter]).any() or (ts_us > meters.valid_to[meter]).any():
        return None
    if (ts_us > LAST_US).any() or (ts_us < window[0]).any() or (ts_us > window[1]).any():
        return None

    if not pc.all(pc.match_substring_regex(value, VALUE_PATTERN)).as_py():
        return None
    try:  # at most 6 decimals (the usual case): nothing to round
        rounded = wide = pc.cast(value, STORED)
    except pa.ArrowInvalid:
        wide = pc.cast(value, WIDE)
        rounded = None
    # The sign is judged before rounding, as the row-by-row check does (-0.0000001 is negative).
    negative = pc.less(wide, pa.scalar(0, wide.type)).to_numpy(zero_copy_only=False)
    if (negative & meters.interval[meter]).any():
        return None
    if rounded is None:
        rounded = pc.cast(pc.round(wide, ndigits=6, round_mode="half_to_even"), STORED)
    rounded = rounded.combine_chunks() if isinstance(rounded, pa.ChunkedArray) else rounded
    # decimal128 holds the unscaled value as a 128-bit little-endian integer: the millionths.
    pairs = np.frombuffer(rounded.buffers()[1], dtype="<i8").reshape(-1, 2)
    pairs = pairs[rounded.offset : rounded.offset + len(rounded)]
    low, high = pairs[:, 0], pairs[:, 1]
    if not (high == (low >> 63)).all() or (low == INT64_MIN).any():
        return None
    return Checked(
        line=np.arange(first_line, first_line + lines, dtype=np.int64),
        meter_id=meters.ids[meter],
        ts_us=ts_us,
        micros=low.copy(),
        values=rounded,
    )


# --- PostgreSQL binary COPY ---------------------------------------------------------------------

COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension length
COPY_TRAILER = b"\xff\xff"
NUMERIC_GROUPS = 6  # 4 base-10000 groups of integer part (< 1e16), 2 of the 6 decimals
# A value as numeric: fixed width, since every value is written with the same 6 digit groups
# (PostgreSQL strips the zero ones).
NUMERIC = [
    ("value_len", ">i4"),
    ("ndigits", ">i2"),
    ("weight", ">i2"),
    ("sign", ">u2"),
    ("dscale", ">i2"),
    ("digits", ">i2", (NUMERIC_GROUPS,)),
]
KEY = [("meter_len", ">i4"), ("meter", ">i8"), ("ts_len", ">i4"), ("ts", ">i8")]
# A staging row (line bigint, meter_id bigint, ts timestamptz, value numeric), and a reading
# (meter_id bigint, timestamp timestamptz, value numeric).
RECORD = np.dtype([("fields", ">i2"), ("line_len", ">i4"), ("line", ">i8"), *KEY, *NUMERIC])
READING_RECORD = np.dtype([("fields", ">i2"), *KEY, *NUMERIC])


def copy_binary(checked: Checked, *, line: bool = True) -> bytes:
    """The rows in PostgreSQL's binary COPY format (header to trailer), as staging rows (with
    their line) or, `line=False`, as readings."""
    record = np.empty(len(checked), RECORD if line else READING_RECORD)
    record["fields"] = 4 if line else 3
    if line:
        record["line_len"] = 8
        record["line"] = checked.line
    record["meter_len"] = record["ts_len"] = 8
    record["meter"] = checked.meter_id
    record["ts"] = checked.ts_us - PG_EPOCH_US
    record["value_len"] = 8 + 2 * NUMERIC_GROUPS
    record["ndigits"] = NUMERIC_GROUPS
    record["weight"] = 3  # the first group counts 10000**3
    record["sign"] = np.where(checked.micros < 0, 0x4000, 0)
    record["dscale"] = 6
    whole, fraction = np.divmod(np.abs(checked.micros), 1_000_000)
    digits = record["digits"]
    digits[:, 0] = whole // 10**12
    digits[:, 1] = whole // 10**8 % 10**4
    digits[:, 2] = whole // 10**4 % 10**4
    digits[:, 3] = whole % 10**4
    digits[:, 4] = fraction // 100
    digits[:, 5] = fraction % 100 * 100
    return COPY_HEADER + record.tobytes() + COPY_TRAILER


def sqlite_rows(checked: Checked) -> list[tuple]:
    """The rows as the row-by-row path stages them on SQLite: naive UTC text, decimal text."""
    stamps = checked.ts_us.astype("datetime64[us]")
    whole_second = checked.ts_us % 1_000_000 == 0
    # Python's isoformat(" ") leaves out a zero microsecond part.
    texts = np.where(
        whole_second,
        np.datetime_as_string(stamps, unit="s"),
        np.datetime_as_string(stamps, unit="us"),
    )
    texts = np.char.replace(texts.astype(str), "T", " ")
    return list(
        zip(
            checked.line.tolist(),
            checked.meter_id.tolist(),
            texts.tolist(),
            [str(v) for v in checked.values.to_pylist()],
            strict=True,
        )
    )
