"""The bulk checks (pyarrow, binary COPY) against the row-by-row checker they stand in for.

The row-by-row path (`bulk=False`) is the reference: on any file, the bulk path must give the same
report (counts, every error with its line, row, field and reason, conflicts) and store the same
readings and revisions, with the file cut in blocks of any size.
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reporting import bulk_checks, ingest
from reporting.ingest import csv_text
from reporting.models import MeasurementPoint, Reading, ReadingDay, ReadingRevision, Register
from tests.reporting.conftest import make_meter, make_site
from tests.reporting.test_rollups import assert_rollups_match_a_rebuild

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 1, 1, tzinfo=UTC)
CODES = ["UPS-1", "MAIN", "NEW", "OTHER-UPS", "NOPE", " UPS-1", "MAIN "]
OFFSETS = ["Z", "+00:00", "+01:00", "-05:30", "+14:00", "-14:00", "+14:30", "-13:59", ""]
VALUES = [
    "1",
    "1.5",
    "100.25",
    "-2",
    "0",
    "-0",
    "007",
    "1.000",
    "1.0000004",
    "1.0000005",
    "0.0000015",
    "-0.0000001",
    "1.123456789012",
    "1.1234567890123",
    "9999999999999",
    "9223372036854.775807",
    "12345678901234.5",
    "99999999999999.9999999",
    "1e15",
    "1e3",
    "+1",
    " 1",
    "1 ",
    ".5",
    "1.",
    "1,5",
    "1_000",
    "NaN",
    "abc",
    "",
]


@pytest.fixture
def meters(db):
    site, other = make_site("TST1"), make_site("OTH1")
    make_meter(site, "UPS-1", "eit-ups-output")
    make_meter(site, "MAIN", "edc-supply", register="cumulative")
    make_meter(site, "NEW", "eit-ups-output", valid_from=T0 + timedelta(hours=6))
    make_meter(other, "OTHER-UPS", "eit-ups-output")
    return site


@st.composite
def stamps(draw):
    moment = T0 + timedelta(minutes=15 * draw(st.integers(0, 60)))
    offset = draw(st.sampled_from(OFFSETS))
    shape = draw(st.sampled_from(["seconds", "minutes", "fraction", "space", "date", "junk"]))
    if shape == "junk":
        return draw(st.sampled_from(["yesterday", "2025-02-30T00:00:00Z", "2025-01-01T24:00Z"]))
    if offset and offset != "Z":
        sign = 1 if offset[0] == "+" else -1
        shift = timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])) * sign
        moment = moment + shift
    text = {
        "seconds": "%Y-%m-%dT%H:%M:%S",
        "minutes": "%Y-%m-%dT%H:%M",
        "fraction": "%Y-%m-%dT%H:%M:%S.5",
        "space": "%Y-%m-%d %H:%M:%S",
        "date": "%Y-%m-%d",
    }[shape]
    return moment.strftime(text) + offset


@st.composite
def lines(draw):
    shape = draw(st.sampled_from(["good"] * 8 + ["row"] * 8 + ["short", "long", "blank", "quoted"]))
    if shape == "good":  # mostly rows the bulk check accepts, so that whole blocks pass it
        moment = T0 + timedelta(minutes=15 * draw(st.integers(0, 60)))
        number = draw(st.decimals(min_value=-1000, max_value=10**6, places=draw(st.integers(0, 8))))
        ending = draw(st.sampled_from(["\n", "\r\n"]))
        return f"{draw(st.sampled_from(['UPS-1', 'MAIN']))},{moment.isoformat()},{number}{ending}"
    code, stamp = draw(st.sampled_from(CODES)), draw(stamps())
    value = draw(st.sampled_from(VALUES) | st.integers(-50, 10**6).map(str))
    if shape == "short":
        return f"{code},{stamp}\n"
    if shape == "long":
        return f"{code},{stamp},{value},x\n"
    if shape == "blank":
        return "\n"
    if shape == "quoted":
        return f'"{code}",{stamp},"{value}"\n'
    return f"{code},{stamp},{value}\n"


def _run(rows, *, bulk, replace, allowed, chunk):
    saved = csv_text.CHUNK_ROWS
    csv_text.CHUNK_ROWS = chunk
    try:
        report = ingest.ingest_csv(
            ["meter,timestamp,value\n", *rows],
            bulk=bulk,
            replace=replace,
            allowed_site_ids=allowed,
        )
    finally:
        csv_text.CHUNK_ROWS = saved
    return report.as_dict(), report.summary()


def _stored():
    readings = sorted(Reading.objects.values_list("meter__code", "timestamp", "value"))
    revisions = sorted(
        ReadingRevision.objects.values_list("meter__code", "timestamp", "old_value", "new_value")
    )
    return readings, revisions


def _wipe():
    ReadingRevision.objects.all().delete()
    Reading.objects.all().delete()
    ReadingDay.objects.all().delete()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    first=st.lists(lines(), max_size=12),
    second=st.lists(lines(), min_size=1, max_size=12),
    replace=st.booleans(),
    scoped=st.booleans(),
    chunk=st.sampled_from([1, 2, 5, 50_000]),
)
def test_bulk_and_row_by_row_give_the_same_reports_and_readings(
    meters, first, second, replace, scoped, chunk
):
    allowed = {meters.pk} if scoped else None
    outcomes = []
    for bulk in (True, False):
        _wipe()
        reports = [
            _run(first, bulk=bulk, replace=False, allowed=allowed, chunk=chunk),
            _run(second, bulk=bulk, replace=replace, allowed=allowed, chunk=chunk),
        ]
        outcomes.append((reports, _stored()))
        # Summed from the file or recomputed, day by day: the rollups are those of the readings.
        assert_rollups_match_a_rebuild(MeasurementPoint.objects.values_list("pk", flat=True))
    assert outcomes[0] == outcomes[1]


def _valid_file(count):
    return [
        f"UPS-1,{(T0 + timedelta(minutes=15 * i)).isoformat()},{i % 7}.25\n" for i in range(count)
    ]


def test_a_plain_file_of_good_rows_takes_the_bulk_path(meters, monkeypatch):
    taken = []
    real = bulk_checks.check

    def spy(*args, **kwargs):
        taken.append(real(*args, **kwargs))
        return taken[-1]

    monkeypatch.setattr(bulk_checks, "check", spy)
    monkeypatch.setattr(csv_text, "CHUNK_ROWS", 4)
    report = ingest.ingest_csv(["meter,timestamp,value\n", *_valid_file(10)])
    assert report.accepted and report.inserted == 10
    assert [len(c) for c in taken] == [4, 4, 2]  # three blocks, each accepted whole
    assert Reading.objects.get(timestamp=T0 + timedelta(minutes=15)).value == Decimal("1.25")


@pytest.mark.parametrize("chunk", [1, 3, 50_000])
def test_a_decoding_error_names_the_same_line_in_both_paths(meters, chunk, monkeypatch):
    monkeypatch.setattr(csv_text, "CHUNK_ROWS", chunk)

    def text(bad_after):
        yield "meter,timestamp,value\n"
        yield from _valid_file(bad_after)
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    reports = [ingest.ingest_csv(text(4), bulk=bulk).as_dict() for bulk in (True, False)]
    assert reports[0] == reports[1]
    assert reports[0]["errors"]["shown"][-1]["line"] == 6 and reports[0]["rows"] == 4
    assert not Reading.objects.exists()


def test_a_bad_row_in_a_later_block_names_its_line(meters, monkeypatch):
    monkeypatch.setattr(csv_text, "CHUNK_ROWS", 3)
    rows = _valid_file(7)
    rows[5] = "UPS-1,2025-01-01T00:00:00+17:30,1\n"
    report = ingest.ingest_csv(["meter,timestamp,value\n", *rows])
    (error,) = report.errors.shown
    assert (error["line"], error["row"], error["field"]) == (7, 6, "timestamp")
    assert "beyond ±14:00" in error["reason"] and not Reading.objects.exists()


@pytest.mark.parametrize("value", ["0.25", "9"])  # the same value as line 2, or another
def test_a_repeat_after_blocks_loaded_straight_away_is_judged_against_the_whole_file(
    meters, monkeypatch, value
):
    # Blocks of 2: the first blocks go straight into the readings; the repeat of line 2 on
    # line 8 comes three blocks later and must still be a repeat, not a stored reading.
    monkeypatch.setattr(csv_text, "CHUNK_ROWS", 2)
    rows = _valid_file(8)
    rows[6] = f"UPS-1,{T0.isoformat()},{value}\n"
    reports = []
    for bulk in (True, False):
        _wipe()
        reports.append(ingest.ingest_csv(["meter,timestamp,value\n", *rows], bulk=bulk))
    assert reports[0].as_dict() == reports[1].as_dict()
    if value == "0.25":
        assert (reports[0].inserted, reports[0].unchanged) == (7, 0)
        assert Reading.objects.count() == 7
    else:
        (error,) = reports[0].errors.shown
        assert error["line"] == 8 and "another value at this time on line 2" in error["reason"]
        assert not Reading.objects.exists()


def test_binary_copy_numeric_groups_hold_the_value():
    """copy_binary writes each value as 6 base-10000 groups with weight 3 and scale 6."""
    micros = np.array([0, 1, -1_500_000, 9_223_372_036_854_775_807], np.int64)
    checked = bulk_checks.Checked(
        line=np.arange(4, dtype=np.int64),
        meter_id=np.ones(4, np.int64),
        ts_us=np.zeros(4, np.int64),
        micros=micros,
        values=None,
    )
    records = np.frombuffer(
        bulk_checks.copy_binary(checked)[len(bulk_checks.COPY_HEADER) : -2],
        bulk_checks.RECORD,
    )
    for record, expected in zip(records, micros.tolist(), strict=True):
        groups = record["digits"].tolist()
        magnitude = sum(g * 10_000 ** (5 - i) for i, g in enumerate(groups))  # units of 1e-8
        sign = -1 if record["sign"] == 0x4000 else 1
        assert sign * Decimal(magnitude).scaleb(-8) == Decimal(expected).scaleb(-6)


def test_meter_arrays_leave_codes_with_blanks_to_the_row_checker():
    meters = bulk_checks.Meters.build(
        [
            {"id": 1, "code": "A", "site_id": 1, "register": "interval"}
            | {"valid_from": None, "valid_to": None},
            {"id": 2, "code": "B ", "site_id": 2, "register": "cumulative"}
            | {"valid_from": None, "valid_to": None},
        ],
        interval=Register.INTERVAL,
        allowed_site_ids={2},
    )
    assert meters.codes.to_pylist() == ["A"] and meters.allowed.tolist() == [False]


# --- reading ahead ---------------------------------------------------------------------------


def test_read_ahead_pairs_each_item_with_its_work_in_order():
    from reporting.ingest import read_ahead

    assert list(read_ahead(iter(range(7)), lambda n: n * n)) == [(n, n * n) for n in range(7)]


def test_read_ahead_raises_where_the_failing_item_would_have_been():
    from reporting.ingest import read_ahead

    def items():
        yield from (1, 2)
        raise ValueError("line 3 unreadable")

    got = []
    with pytest.raises(ValueError, match="line 3"):
        for item, _ in read_ahead(items(), str):
            got.append(item)
    assert got == [1, 2]


def test_read_ahead_stops_its_thread_when_the_caller_stops_early():
    import threading

    from reporting.ingest import read_ahead

    ahead = read_ahead(iter(range(1000)), lambda n: n)
    assert next(ahead) == (0, 0)
    ahead.close()  # the caller failed (a database error) and leaves the loop
    assert not [t for t in threading.enumerate() if t.name == "ingest-read-ahead"]
