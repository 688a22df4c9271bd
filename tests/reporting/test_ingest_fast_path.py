"""The ingest fast path (blocks COPYed straight into the readings, rollups summed from the file)
held to the rules of the row-by-row path: all or nothing, repeats, day edges, every door.

Blocks of a few lines: the first blocks of each file are loaded straight into the readings before
the later ones are read, so every rule below is tested after a COPY that must be undone or joined.
"""

import io
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from reporting import ingest as ingest_module
from reporting import partitions, rollups
from reporting.ingest import csv_text, staging
from reporting.models import IngestJob, MeasurementPoint, Reading, ReadingDay
from tests.reporting.conftest import make_meter, make_site
from tests.reporting.test_ingest_bulk import _stored, _wipe
from tests.reporting.test_rollups import assert_rollups_match_a_rebuild

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 1, 1, tzinfo=UTC)
STEP = timedelta(minutes=15)
HEADER = "meter,timestamp,value\n"


@pytest.fixture
def meters(monkeypatch):
    monkeypatch.setattr(csv_text, "CHUNK_ROWS", 2)
    site = make_site("FAST", time_zone="Europe/Paris")
    return (
        make_meter(site, "UPS-1", "eit-ups-output"),
        make_meter(site, "MAIN", "edc-supply", register="cumulative"),
    )


@pytest.fixture
def loads(monkeypatch):
    """The sizes of the blocks COPYed straight into the readings."""
    sizes = []
    real = staging.Stager._load

    def spy(self, checked):
        before = self.loaded
        real(self, checked)
        if self.loaded > before:
            sizes.append(len(checked))

    monkeypatch.setattr(staging.Stager, "_load", spy)
    return sizes


def _loaded(sizes) -> list[int]:
    """The blocks expected to have gone straight into the readings: PostgreSQL only."""
    return sizes if connection.vendor == "postgresql" else []


def _some_loaded(sizes) -> bool:
    return bool(sizes) == (connection.vendor == "postgresql")


def _lines(count, start=T0, meter="UPS-1", value=lambda n: f"{n % 5}.25"):
    return [f"{meter},{(start + STEP * n).isoformat()},{value(n)}\n" for n in range(count)]


def _both_paths(files, replace=False):
    """Ingest `files` (lists of lines) in turn, fast then row by row from an empty table: the
    reports and what is stored, each compared; the rollups checked against a rebuild."""
    outcomes = []
    for bulk in (True, False):
        _wipe()
        reports = [
            ingest_module.ingest_csv([HEADER, *lines], bulk=bulk, replace=replace).as_dict()
            for lines in files
        ]
        outcomes.append((reports, _stored()))
        assert_rollups_match_a_rebuild(MeasurementPoint.objects.values_list("pk", flat=True))
    assert outcomes[0] == outcomes[1]
    return outcomes[0][0]


# --- all or nothing ---------------------------------------------------------------------------

BAD_LATE_LINES = [
    "UPS-1,2025-01-01T03:00:00,1\n",  # no offset
    "UPS-1,2025-01-01T03:00:00Z,-1\n",  # negative on an interval meter
    "NOPE,2025-01-01T03:00:00Z,1\n",  # unknown meter
    "UPS-1,2025-01-01T00:00:00Z,9\n",  # line 2's meter and time, another value
]


@pytest.mark.parametrize("bad", BAD_LATE_LINES)
def test_a_bad_line_after_blocks_were_loaded_stores_nothing_and_reports_as_row_by_row(
    meters, loads, bad
):
    lines = _lines(9)
    lines.append(bad)  # line 11, in the fifth block: four blocks went into the readings first
    reports = [
        ingest_module.ingest_csv([HEADER, *lines], bulk=bulk).as_dict() for bulk in (True, False)
    ]
    assert loads == _loaded([2, 2, 2, 2])
    assert reports[0] == reports[1] and not reports[0]["accepted"]
    assert reports[0]["errors"]["shown"][0]["line"] == 11
    assert not Reading.objects.exists() and not ReadingDay.objects.exists()


def test_a_bad_line_after_a_quoted_one_late_in_the_file_stores_nothing(meters, loads):
    # A quote ends the plain blocks: the rest is read row by row, after blocks were loaded.
    lines = [*_lines(6), '"UPS-1",2025-01-01T02:00:00Z,1\n', "UPS-1,2025-01-01T02:15:00Z,x\n"]
    reports = [
        ingest_module.ingest_csv([HEADER, *lines], bulk=bulk).as_dict() for bulk in (True, False)
    ]
    assert _some_loaded(loads) and reports[0] == reports[1]
    assert [e["line"] for e in reports[0]["errors"]["shown"]] == [9]
    assert not Reading.objects.exists() and not ReadingDay.objects.exists()


def _late_bad_file() -> tuple[bytes, dict]:
    """A file whose line 11 is bad, and the row-by-row report of it (the reference)."""
    text = HEADER + "".join(_lines(9)) + "UPS-1,2025-01-01T03:00:00Z,-1\n"
    reference = ingest_module.ingest_csv(io.StringIO(text), bulk=False).as_dict()
    assert not reference["accepted"] and not Reading.objects.exists()
    return text.encode(), reference


def test_the_api_rejects_a_late_bad_line_whole(meters, loads, admin_client):
    body, reference = _late_bad_file()
    response = admin_client.post("/api/readings/", body, content_type="text/csv")
    assert response.status_code == 400, response.content
    assert _some_loaded(loads) and response.json()["errors"] == reference["errors"]
    assert IngestJob.objects.get().errors == reference["errors"]
    assert not Reading.objects.exists() and not ReadingDay.objects.exists()


def test_the_admin_upload_rejects_a_late_bad_line_whole(meters, loads, admin_client):
    body, reference = _late_bad_file()
    response = admin_client.post(
        "/admin/reporting/measurementpoint/upload/",
        {"file": SimpleUploadedFile("r.csv", body, "text/csv")},
    )
    assert response.status_code == 400 and b"rejected" in response.content
    assert _some_loaded(loads) and IngestJob.objects.get().errors == reference["errors"]
    assert not Reading.objects.exists() and not ReadingDay.objects.exists()


def test_the_command_rejects_a_late_bad_line_whole(meters, loads, tmp_path):
    body, reference = _late_bad_file()
    path = tmp_path / "r.csv"
    path.write_bytes(body)
    err = io.StringIO()
    with pytest.raises(CommandError, match="nothing written"):
        call_command("ingest_readings", str(path), stdout=io.StringIO(), stderr=err)
    (error,) = reference["errors"]["shown"]
    assert _some_loaded(loads) and err.getvalue().splitlines() == [
        f"line {error['line']}, {error['field']}: {error['reason']}"
    ]
    assert not Reading.objects.exists() and not ReadingDay.objects.exists()


def test_the_task_rejects_a_late_bad_line_whole(meters, loads, settings):
    from django.core.files.base import ContentFile

    from reporting.tasks import queue_ingest

    settings.MEDIA_ROOT = str(settings.VAR_DIR / "test-media")
    body, reference = _late_bad_file()
    job = IngestJob.objects.create(source="upload")
    job.file.save(f"{job.pk}.csv", ContentFile(body), save=True)
    queue_ingest(job)  # eager in tests
    job.refresh_from_db()
    assert _some_loaded(loads) and job.status == "rejected" and job.errors == reference["errors"]
    assert not Reading.objects.exists() and not ReadingDay.objects.exists()


# --- repeats ----------------------------------------------------------------------------------


@pytest.mark.parametrize("replace", [False, True])
@pytest.mark.parametrize("value", ["0.25", "0.250000", "7"])
def test_a_repeat_in_block_four_of_a_reading_of_block_one(meters, replace, value):
    lines = _lines(8)
    lines[6] = f"UPS-1,{T0.isoformat()},{value}\n"  # line 8 (block 4) repeats line 2 (block 1)
    (report,) = _both_paths([lines], replace=replace)
    if Decimal(value) == Decimal("0.25"):
        assert report["accepted"] and report["inserted"] == 7
    else:
        assert not report["accepted"] and report["errors"]["shown"][0]["line"] == 8


@pytest.mark.parametrize("replace", [False, True])
@pytest.mark.parametrize("value", ["1.25", "8"])  # line 2 of the first file said 1.25
def test_a_repeat_of_a_reading_stored_before_the_file(meters, replace, value):
    first = _lines(8, value=lambda n: "1.25")
    second = _lines(8, start=T0 + STEP * 8)  # blocks 1-2 load, block 3 meets the stored one
    second[4] = f"UPS-1,{T0.isoformat()},{value}\n"
    reports = _both_paths([first, second], replace=replace)
    report = reports[1]
    assert report["accepted"] and report["inserted"] == 7
    if value == "1.25":
        assert report["unchanged"] == 1
    elif replace:
        assert report["replaced"] == 1
    else:
        assert report["conflicts"]["total"] == 1


@pytest.mark.parametrize("value", ["1", "2"])
def test_a_row_checked_row_by_row_repeated_by_a_block_loaded_later(meters, loads, value):
    # "+1" is a number the bulk check leaves to the row-by-row checker: block 1 is staged, not
    # loaded, while blocks 2 and 3 go straight into the readings; line 6 repeats line 2.
    lines = _lines(6)
    lines[0] = f"UPS-1,{T0.isoformat()},+1\n"
    lines[4] = f"UPS-1,{T0.isoformat()},{value}\n"
    (report,) = _both_paths([lines])
    assert loads == _loaded([2, 2]) and report["accepted"] == (value == "1")


def test_one_instant_written_with_two_offsets_in_two_blocks_is_a_repeat(meters):
    lines = _lines(6)
    lines[4] = "UPS-1,2025-01-01T01:00:00+01:00,0.25\n"  # line 2's instant (T0), in Paris time
    (report,) = _both_paths([lines])
    assert report["accepted"] and report["inserted"] == 5


def test_a_file_that_repeats_itself_whole(meters):
    lines = _lines(6)
    reports = _both_paths([lines + lines, lines])
    assert (reports[0]["inserted"], reports[1]["unchanged"]) == (6, 6)


# --- order and day edges -----------------------------------------------------------------------


def test_rows_out_of_time_order_across_blocks(meters):
    # The later hours of a day come first, then its earlier ones, then a row between them.
    later = _lines(8, start=T0 + timedelta(hours=6))
    earlier = _lines(8, start=T0)
    between = _lines(1, start=T0 + timedelta(hours=3))
    counter = _lines(6, start=T0 + timedelta(hours=6), meter="MAIN", value=lambda n: 100 + n)
    counter += _lines(6, start=T0, meter="MAIN", value=lambda n: 90 + n)
    _both_paths([[*later, *counter[:6], *earlier, *between, *counter[6:]]])


def test_interleaved_days_whose_parts_alternate_between_blocks(meters):
    # Block after block alternates two days: each day's parts follow each other in time.
    one, two = _lines(6), _lines(6, start=T0 + timedelta(days=1))
    _both_paths([[row for pair in zip(one, two, strict=True) for row in pair]])


@pytest.mark.parametrize(
    "midnight",
    [
        datetime(2025, 3, 29, 23, 0, tzinfo=UTC),  # local midnight opening the 23-hour day
        datetime(2025, 10, 25, 22, 0, tzinfo=UTC),  # and the 25-hour one
    ],
)
@pytest.mark.parametrize("meter", ["UPS-1", "MAIN"])
def test_a_dst_day_whose_only_stored_readings_sit_on_its_edges(meters, midnight, meter):
    # The previous file ends exactly at the day's first midnight and starts again at its last:
    # an interval reading at a midnight closes the day before, a counter's opens its day.
    day = (midnight + timedelta(hours=12)).astimezone(ZoneInfo("Europe/Paris")).date()
    next_midnight = rollups.midnight(day + timedelta(days=1), ZoneInfo("Europe/Paris"))
    count = int((next_midnight - midnight) / STEP)
    value = (lambda n: 1000 + n) if meter == "MAIN" else (lambda n: "0.5")
    edges = [
        *_lines(3, start=midnight - 2 * STEP, meter=meter, value=value),
        *_lines(3, start=next_midnight, meter=meter, value=lambda n: 5000 + n),
    ]
    inside = _lines(count - 1, start=midnight + STEP, meter=meter, value=value)
    _both_paths([edges, inside])
    if meter == "UPS-1":
        rollup = ReadingDay.objects.get(meter__code=meter, day=day)
        # (midnight, next midnight]: the file's rows and the stored one at the next midnight
        assert rollup.readings == count


def test_a_counter_decrease_across_a_block_boundary(meters):
    # Lines 2-5 rise, line 6 (the first of block 3) restarts from 3: one decrease.
    values = [100, 101, 102, 103, 3, 4, 5, 6]
    lines = _lines(8, meter="MAIN", value=lambda n: values[n])
    _both_paths([lines])
    (rollup,) = ReadingDay.objects.filter(meter__code="MAIN")
    assert rollup.decreases == 1


def test_a_huge_value_late_in_the_file(meters):
    # Beyond the 64-bit sums of the file's rows (PostgreSQL): its day is recomputed instead.
    lines = _lines(8, meter="MAIN", value=lambda n: 1000 + n)
    lines[5] = f"MAIN,{(T0 + STEP * 5).isoformat()},5000000000000.5\n"
    _both_paths([lines])


@pytest.mark.xfail(
    connection.vendor == "sqlite",
    reason="SQLite sums a day's millionths in 64-bit integers: values near the limit overflow",
    strict=True,
)
def test_values_near_the_limit_sum_into_their_day(meters):
    lines = _lines(4, meter="MAIN", value=lambda n: 9_000_000_000_000 + n)
    _both_paths([lines])


# --- the caller's transaction -----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_settings_of_the_rollup_statement_end_with_the_callers_transaction(meters):
    if connection.vendor != "postgresql":
        pytest.skip("SET LOCAL is PostgreSQL's")

    def show():
        with connection.cursor() as cursor:
            cursor.execute("SHOW work_mem")
            return cursor.fetchone()[0]

    default = show()
    with transaction.atomic():  # the caller's transaction
        ingest_module.ingest_csv([HEADER, *_lines(4, meter="MAIN", value=lambda n: n)])
        ingest_module.ingest_csv([HEADER, *_lines(4, value=lambda n: 3)], replace=True)
        # SET LOCAL lasts to the end of the outermost transaction: the caller's later statements
        # run with 64MB per sort and without JIT, as the ingest's own statements did.
        assert show() == "64MB"
    assert show() == default


# --- two ingests at once (PostgreSQL: SQLite serialises writers) ------------------------------


def _two_ingests(first: list[str], second: list[str], hold) -> list:
    """Ingest `first` and `second` on two connections; `hold(name, stage, events)` runs inside
    `StagedDays.write` of each (stage "before" / "after") to order the two transactions."""
    events = {name: threading.Event() for name in ("a_written", "b_at_write", "a_done", "b_done")}
    outcomes = {}
    real_write = rollups.StagedDays.write

    def write(self, **kwargs):
        name = threading.current_thread().name
        hold(name, "before", events)
        written = real_write(self, **kwargs)
        hold(name, "after", events)
        return written

    def run(name, lines):
        try:
            outcomes[name] = ingest_module.ingest_csv([HEADER, *lines]).as_dict()
        except Exception as exc:  # noqa: BLE001 - the test names what escaped
            outcomes[name] = exc
        finally:
            events[f"{name}_done"].set()
            connection.close()

    with mock.patch.object(rollups.StagedDays, "write", write):
        a = threading.Thread(target=run, args=("a", first), name="a")
        b = threading.Thread(target=run, args=("b", second), name="b")
        a.start()
        events["a_written"].wait(timeout=10)
        b.start()
        a.join(timeout=60)
        b.join(timeout=60)
    return [outcomes["a"], outcomes["b"]]


def _b_writes_after_a_commits(name, stage, events):
    # A has written its rollups and waits (up to 3 s) for B to reach its own; B then waits for
    # A's commit. Without a lock B noted A's days as new (A's rows were not committed yet).
    _both_write_before_either_commits(name, stage, events)
    if name == "b" and stage == "before":
        events["a_done"].wait(timeout=10)


def _both_write_before_either_commits(name, stage, events):
    if name == "a" and stage == "after":
        events["a_written"].set()
        events["b_at_write"].wait(timeout=3)
    if name == "b" and stage == "before":
        events["b_at_write"].set()


HALVES = [
    # the same day of one meter: hours 0-12 and 12-24 (no reading in common), or overlapping
    ("apart", (0, 48), (48, 96)),
    ("overlapping", (0, 60), (40, 96)),
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("hold", [_b_writes_after_a_commits, _both_write_before_either_commits])
@pytest.mark.parametrize("name, first, second", HALVES)
def test_two_ingests_of_one_day_at_once(meters, hold, name, first, second):
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent connections to PostgreSQL")
    rows = _lines(96, value=lambda n: f"{n % 7}.5")
    counter = _lines(96, meter="MAIN", value=lambda n: 1000 + n)
    files = [rows[lo:hi] + counter[lo:hi] for lo, hi in (first, second)]
    outcomes = _two_ingests(*files, hold)
    for outcome in outcomes:
        assert isinstance(outcome, dict) and outcome["accepted"], outcome
    assert sum(o["inserted"] for o in outcomes) == 2 * 96
    assert Reading.objects.count() == 2 * 96
    assert_rollups_match_a_rebuild(MeasurementPoint.objects.values_list("pk", flat=True))


@pytest.mark.django_db(transaction=True)
def test_many_ingests_of_overlapping_files_at_once(meters):
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent connections to PostgreSQL")
    rows = _lines(96, value=lambda n: f"{n % 7}.5")
    files = [rows[lo : lo + 40] for lo in range(0, 60, 10)]
    barrier, outcomes = threading.Barrier(len(files)), []

    def run(lines):
        try:
            barrier.wait(timeout=30)
            outcomes.append(ingest_module.ingest_csv([HEADER, *lines]).as_dict())
        except Exception as exc:  # noqa: BLE001
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(lines,)) for lines in files]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(isinstance(o, dict) and o["accepted"] for o in outcomes), outcomes
    distinct = len({line for lines in files for line in lines})
    assert sum(o["inserted"] for o in outcomes) == Reading.objects.count() == distinct
    assert_rollups_match_a_rebuild(MeasurementPoint.objects.values_list("pk", flat=True))


@pytest.mark.django_db(transaction=True)
def test_two_ingests_of_different_meters_write_at_once(meters):
    """A holds its transaction open after writing its rollups (its meter locked); B, of another
    meter, writes its readings and rollups and commits meanwhile."""
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent connections to PostgreSQL")
    partitions.ensure_months([T0])  # the beat's month: creating one waits for every writer
    b_done_while_a_open = []

    def hold(name, stage, events):
        if name == "a" and stage == "after":
            events["a_written"].set()
            b_done_while_a_open.append(events["b_done"].wait(timeout=20))

    files = [_lines(96), _lines(96, meter="MAIN", value=lambda n: 1000 + n)]
    outcomes = _two_ingests(*files, hold)
    assert b_done_while_a_open == [True]
    assert all(isinstance(o, dict) and o["inserted"] == 96 for o in outcomes), outcomes
    assert_rollups_match_a_rebuild(MeasurementPoint.objects.values_list("pk", flat=True))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("hold", [_b_writes_after_a_commits, _both_write_before_either_commits])
def test_two_ingests_of_one_day_with_other_values_at_once(meters, hold):
    """The second file meets the first's readings of a day new to both: its values are
    conflicts, left alone, so the day's rollup is the stored readings', not the second file's."""
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent connections to PostgreSQL")
    files = [_lines(96, value=lambda n, k=k: f"{n % 7 + k}.5") for k in (0, 3)]
    outcomes = _two_ingests(*files, hold)
    assert all(isinstance(o, dict) and o["accepted"] for o in outcomes), outcomes
    assert sorted(o["inserted"] for o in outcomes) == [0, 96]
    assert sorted(o["conflicts"]["total"] for o in outcomes) == [0, 96]
    assert_rollups_match_a_rebuild(MeasurementPoint.objects.values_list("pk", flat=True))


@pytest.mark.django_db(transaction=True)
def test_a_rollup_refresh_waits_for_an_ingest_of_its_meter(meters):
    """`rebuild_rollups` (here `rollups.refresh`) takes the ingest's meter lock: it writes the
    day once the ingest has committed, and counts the ingest's readings."""
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent connections to PostgreSQL")
    partitions.ensure_months([T0])
    a_written, a_release, refreshed = threading.Event(), threading.Event(), threading.Event()
    outcomes = {}
    real_write = rollups.StagedDays.write

    def write(self, **kwargs):
        written = real_write(self, **kwargs)
        a_written.set()
        a_release.wait(timeout=20)
        return written

    def ingest():
        try:
            outcomes["a"] = ingest_module.ingest_csv([HEADER, *_lines(96)]).as_dict()
        finally:
            connection.close()

    def refresh():
        try:
            day = T0.astimezone(ZoneInfo("Europe/Paris")).date()
            outcomes["refresh"] = rollups.refresh([meters[0].pk], day, day)
        finally:
            refreshed.set()
            connection.close()

    with mock.patch.object(rollups.StagedDays, "write", write):
        a = threading.Thread(target=ingest)
        a.start()
        assert a_written.wait(timeout=20)
        r = threading.Thread(target=refresh)
        r.start()
        waited = not refreshed.wait(timeout=1)  # the ingest still holds the meter
        a_release.set()
        a.join(timeout=60)
        r.join(timeout=60)
    assert waited
    assert outcomes["a"]["inserted"] == 96 and outcomes["refresh"] == 1
    assert_rollups_match_a_rebuild(MeasurementPoint.objects.values_list("pk", flat=True))
