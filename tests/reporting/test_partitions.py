"""Monthly partitions of the readings (PostgreSQL), their archive to Parquet and back, and the
migrations that brought the table there without losing a reading."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.models import ProtectedError

from reporting import archive, partitions, rollups
from reporting.computation import compute
from reporting.models import (
    MeasurementPoint,
    PeriodStatus,
    Reading,
    ReadingDay,
    ReportingPeriod,
)
from reporting.tasks import ensure_reading_partitions
from tests import factories as f
from tests.reporting.conftest import ingest, make_meter, make_site, series
from tests.reporting.test_rollups import assert_rollups_match_a_rebuild

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="partitions are PostgreSQL's"
)
HOUR = timedelta(hours=1)


def _partition_rows(cursor, name: str) -> int:
    cursor.execute(f"SELECT COUNT(*) FROM {name}")
    return cursor.fetchone()[0]


def _stored():
    return list(Reading.objects.order_by("meter_id", "timestamp").values_list(*READING_FIELDS))


READING_FIELDS = ("meter_id", "timestamp", "value")


def _rollups():
    fields = [f.attname for f in ReadingDay._meta.concrete_fields if not f.primary_key]
    return list(ReadingDay.objects.order_by("meter_id", "day").values_list(*fields))


# --- migrations ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_key_and_partition_migrations_keep_every_reading():
    before_key = [("reporting", "0009_reporting_scoped_roles")]
    executor = MigrationExecutor(connection)
    leaves = executor.loader.graph.leaf_nodes()
    executor.migrate(before_key)
    try:
        # A bare site: its reporting profile has columns of later migrations than this state's.
        site = f.site("MIG1")
        meter = make_meter(site, "MIG1-UPS", "eit-ups-output")
        other = make_meter(site, "MIG1-MAIN", "edc-supply", register="cumulative")
        rows = [
            (meter.pk, datetime(2019, 3, 31, 1, 15, tzinfo=UTC), Decimal("1.000001")),
            (meter.pk, datetime(2025, 10, 26, 0, 45, 30, 123456, tzinfo=UTC), Decimal("2.5")),
            (other.pk, datetime(2025, 10, 26, 0, 45, 30, 123456, tzinfo=UTC), Decimal("99999")),
            # 15 significant digits: what SQLite stores exactly (its decimals are floats).
            (other.pk, datetime(2031, 1, 1, tzinfo=UTC), Decimal("123456789.123456")),
        ]
        adapt = connection.ops.adapt_datetimefield_value
        with connection.cursor() as cursor:
            for meter_id, ts, value in rows:
                cursor.execute(
                    "INSERT INTO reporting_reading (meter_id, timestamp, value) "
                    "VALUES (%s, %s, %s)",
                    [meter_id, adapt(ts), str(value)],
                )
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(leaves)
    assert _stored() == sorted(rows)
    # The rollup migration built the rollups of the readings it found, as a rebuild would.
    built = _rollups()
    assert len(built) == len(rows)  # four readings on four different days
    rollups.rebuild([meter.pk, other.pk])
    assert built == _rollups()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            assert _partition_rows(cursor, partitions.DEFAULT) == 0
            assert _partition_rows(cursor, "reporting_reading_y2019m03") == 1
            assert _partition_rows(cursor, "reporting_reading_y2025m10") == 2
            assert _partition_rows(cursor, "reporting_reading_y2031m01") == 1
            # Only the months with data (and this month and the next three), not every month
            # between the first reading and the last.
            assert "reporting_reading_y2022m01" not in partitions.existing(cursor)


# --- partitions ---------------------------------------------------------------------------------


@postgres_only
@pytest.mark.django_db
def test_ingest_creates_the_partitions_of_its_months_only():
    make_meter(make_site("FAR1"), "FAR1-UPS", "eit-ups-output")
    far = datetime(1996, 7, 15, 12, tzinfo=UTC)
    with connection.cursor() as cursor:
        assert "reporting_reading_y1996m07" not in partitions.existing(cursor)
    near = datetime(2003, 5, 2, tzinfo=UTC)
    report = ingest(series("FAR1-UPS", far, 3, 1) + series("FAR1-UPS", near, 1, 1))
    assert report.inserted == 4
    with connection.cursor() as cursor:
        assert _partition_rows(cursor, "reporting_reading_y1996m07") == 3
        assert _partition_rows(cursor, "reporting_reading_y2003m05") == 1
        assert _partition_rows(cursor, partitions.DEFAULT) == 0
        # The months of the rows, not every month between them.
        assert "reporting_reading_y2000m01" not in partitions.existing(cursor)


@postgres_only
@pytest.mark.django_db
def test_the_application_role_adds_months_through_the_function_only():
    """The application's role creates no table itself (docs/operations.md, two roles), yet its
    ingests still get their months: the owner's function makes them."""
    make_meter(make_site("ROLE1"), "ROLE1-UPS", "eit-ups-output")
    role = f"circulus_test_app_{uuid.uuid4().hex[:12]}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{role}" NOLOGIN NOSUPERUSER')
    call_command("grant_app_role", role, stdout=StringIO())
    with connection.cursor() as cursor:
        cursor.execute(f'SET LOCAL ROLE "{role}"')
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE reporting_reading_y1994m02 PARTITION OF reporting_reading "
            "FOR VALUES FROM ('1994-02-01Z') TO ('1994-03-01Z')"
        )
    report = ingest(series("ROLE1-UPS", datetime(1994, 2, 10, tzinfo=UTC), 4, 1))
    assert report.inserted == 4
    with connection.cursor() as cursor:
        assert "reporting_reading_y1994m02" in partitions.existing(cursor)
    assert ensure_reading_partitions()["default_rows"] == 0  # the beat's task, as the app
    assert Reading.objects.filter(meter__code="ROLE1-UPS").count() == 4


def test_archive_readings_connects_as_the_owner():
    from circulus.settings import database_url

    env = {"DATABASE_URL": "postgres://app@db/c", "DATABASE_MIGRATE_URL": "postgres://own@db/c"}
    argv = ["circulus", "archive_readings", "--before", "2016"]
    assert database_url(argv, env) == env["DATABASE_MIGRATE_URL"]


@postgres_only
@pytest.mark.django_db
def test_beat_task_creates_this_month_and_the_next_ones(settings):
    settings.READING_PARTITIONS_AHEAD_MONTHS = 5
    ensure_reading_partitions()
    with connection.cursor() as cursor:
        names = set(partitions.existing(cursor))
    month = partitions.month_start(datetime.now(UTC))
    for _ in range(6):
        assert partitions.partition_name(month) in names
        month = partitions.next_month(month)
    assert ensure_reading_partitions() == {"created": [], "default_rows": 0}  # idempotent


def test_the_beat_schedule_runs_the_partition_task(settings):
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "reporting.ensure_reading_partitions" in tasks
    assert settings.READING_PARTITIONS_AHEAD_MONTHS >= 1


@postgres_only
@pytest.mark.django_db
def test_rows_caught_by_the_default_partition_move_into_their_month():
    meter = make_meter(make_site("DEF1"), "DEF1-UPS", "eit-ups-output")
    stray = datetime(2039, 5, 1, 10, tzinfo=UTC)
    Reading.objects.create(meter=meter, timestamp=stray, value=Decimal("7.25"))
    assert partitions.default_rows() == 1
    assert partitions.ensure_partitions(stray, stray) == ["reporting_reading_y2039m05"]
    assert partitions.default_rows() == 0
    with connection.cursor() as cursor:
        assert _partition_rows(cursor, "reporting_reading_y2039m05") == 1
    assert Reading.objects.get(meter=meter, timestamp=stray).value == Decimal("7.25")


@pytest.mark.django_db
def test_months_of_a_range_are_utc_months():
    got = partitions.months(
        datetime(2024, 12, 31, 23, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC)
    )
    assert [partitions.partition_name(m) for m in got] == [
        "reporting_reading_y2024m12",
        "reporting_reading_y2025m01",
        "reporting_reading_y2025m02",
    ]
    assert partitions.bounds_of("reporting_reading_y2024m12") == (
        datetime(2024, 12, 1, tzinfo=UTC),
        datetime(2025, 1, 1, tzinfo=UTC),
    )
    assert partitions.bounds_of("reporting_reading_default") is None


# --- archive and restore ------------------------------------------------------------------------


def _old_readings():
    """Two meters of a Paris site over Nov 2023 – Jan 2024, awkward values and instants."""
    site = make_site("ARC1", time_zone="Europe/Paris")
    make_meter(site, "ARC1-UPS", "eit-ups-output", interval_minutes=60)
    make_meter(site, "ARC1-MAIN", "edc-supply", register="cumulative", interval_minutes=60)
    start = datetime(2023, 11, 30, 20, tzinfo=UTC)
    ingest(series("ARC1-UPS", start, 24 * 40, "0.000001", step=HOUR))
    ingest(series("ARC1-MAIN", start, 24 * 40, "1234.567891", step=HOUR, cumulative_from=10**9))
    return site


def _archive(*args, directory):
    out = StringIO()
    call_command("archive_readings", *args, "--dir", str(directory), stdout=out)
    return out.getvalue()


@postgres_only
@pytest.mark.django_db
def test_archive_and_restore_keep_every_value_instant_and_count(tmp_path):
    _old_readings()
    # An instant with microseconds, stored as aware UTC.
    meter_id = Reading.objects.filter(meter__code="ARC1-UPS").values_list("meter_id", flat=True)[0]
    odd = datetime(2023, 12, 31, 22, 59, 59, 999999, tzinfo=UTC)
    Reading.objects.create(meter_id=meter_id, timestamp=odd, value=Decimal("-0.000001"))
    # A stray reading of 2019 in the DEFAULT partition is archived in its month too.
    stray = datetime(2019, 6, 1, 12, tzinfo=UTC)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {partitions.DEFAULT} (meter_id, timestamp, value) VALUES (%s, %s, 4)",
            [meter_id, stray],
        )
    before = _stored()
    old = [r for r in before if r[1] < datetime(2024, 1, 1, tzinfo=UTC)]

    out = _archive("--before", "2024", directory=tmp_path)

    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == [
        "reporting_reading_y2019m06.parquet",
        "reporting_reading_y2023m11.parquet",
        "reporting_reading_y2023m12.parquet",
    ]
    assert f"{len(old):,} readings" in out
    assert _stored() == [r for r in before if r not in old]
    with connection.cursor() as cursor:
        left = partitions.existing(cursor)
    assert "reporting_reading_y2023m12" not in left and "reporting_reading_y2024m01" in left

    out = _archive("--restore", "2023", directory=tmp_path)
    assert "restored 2 months" in out
    _archive("--restore", "2019", directory=tmp_path)

    after = _stored()
    assert after == before
    assert after[0][1].tzinfo is not None and odd in {r[1] for r in after}
    with connection.cursor() as cursor:
        assert "reporting_reading_y2023m12" in partitions.existing(cursor)
        assert _partition_rows(cursor, partitions.DEFAULT) == 0


@postgres_only
@pytest.mark.django_db
def test_a_single_archive_file_restores_its_month(tmp_path):
    _old_readings()
    before = _stored()
    _archive("--before", "2024", directory=tmp_path)
    _archive("--restore", str(tmp_path / "reporting_reading_y2023m11.parquet"), directory=tmp_path)
    november = [r for r in before if r[1] < datetime(2023, 12, 1, tzinfo=UTC)]
    assert _stored() == sorted(
        november + [r for r in before if r[1] >= datetime(2024, 1, 1, tzinfo=UTC)]
    )


@postgres_only
@pytest.mark.django_db
def test_computation_is_identical_after_old_years_are_archived(tmp_path):
    site = _old_readings()
    ReportingPeriod.calendar_year(site, 2023, status=PeriodStatus.SUBMITTED).save()
    # 2025 draft: its counter's first reading is at 2024-12-31T23:00Z (midnight in Paris).
    start = datetime(2024, 12, 31, 20, tzinfo=UTC)
    ingest(series("ARC1-UPS", start, 24 * 35, "2.5", step=HOUR))
    ingest(series("ARC1-MAIN", start, 24 * 35, "3.25", step=HOUR, cumulative_from=5))
    current = ReportingPeriod.calendar_year(site, 2025)
    current.save()
    expected = compute(current)

    with pytest.raises(CommandError, match=r"ARC1 2025 \(draft\)"):
        _archive("--before", "2025", directory=tmp_path)  # Dec 2024 holds 2025's first reading
    assert not list(tmp_path.iterdir())
    _archive("--before", "2024", directory=tmp_path)

    assert not Reading.objects.filter(timestamp__lt=datetime(2024, 1, 1, tzinfo=UTC)).exists()
    assert compute(ReportingPeriod.objects.get(pk=current.pk)) == expected


@postgres_only
@pytest.mark.django_db
def test_archive_refuses_while_a_period_still_needs_the_readings(tmp_path):
    site = _old_readings()
    ReportingPeriod.calendar_year(site, 2024, status=PeriodStatus.VALIDATED).save()
    count = Reading.objects.count()
    # 2024 in Paris starts at 2023-12-31T23:00Z: December 2023 is still needed.
    with pytest.raises(CommandError) as refused:
        _archive("--before", "2024", directory=tmp_path)
    message = str(refused.value)
    assert "\n" not in message and "ARC1 2024 (validated)" in message
    assert Reading.objects.count() == count and not list(tmp_path.iterdir())


@postgres_only
@pytest.mark.django_db
def test_bad_archive_input_is_a_one_line_error(tmp_path):
    _old_readings()
    this_year = datetime.now(UTC).year
    cases = [
        (("--before", "abc"), "invalid int value"),
        (("--before", str(this_year + 1)), f"from 1971 to {this_year}"),
        (("--restore", "nowhere.parquet"), "no such file"),
        (("--restore", "1999"), "no archived readings of 1999"),
    ]
    (tmp_path / "notes.parquet").write_text("not parquet")
    cases.append((("--restore", str(tmp_path / "notes.parquet")), "not a readings archive"))
    for args, reason in cases:
        with pytest.raises(CommandError) as refused:
            _archive(*args, directory=tmp_path)
        assert reason in str(refused.value) and "\n" not in str(refused.value), args


@postgres_only
@pytest.mark.django_db
def test_restore_refuses_a_damaged_file_a_refilled_month_and_a_missing_meter(tmp_path):
    _old_readings()
    _archive("--before", "2024", directory=tmp_path)
    november = tmp_path / "reporting_reading_y2023m11.parquet"
    december = tmp_path / "reporting_reading_y2023m12.parquet"

    # Damaged: one value changed, the recorded checksum kept.
    table = pq.read_table(december)
    values = table.column("value").to_pylist()
    values[0] += Decimal("0.000001")
    damaged = table.set_column(3, "value", pa.array(values, pa.decimal128(20, 6)))
    damaged = damaged.replace_schema_metadata(pq.read_metadata(december).metadata)
    tampered = tmp_path / "tampered" / december.name
    tampered.parent.mkdir()
    pq.write_table(damaged, tampered)
    with pytest.raises(CommandError, match="damaged"):
        _archive("--restore", str(tampered), directory=tmp_path)

    # The month has readings again (a late file): the archive is not merged over them.
    ingest(series("ARC1-UPS", datetime(2023, 11, 5, tzinfo=UTC), 2, 1, step=HOUR))
    with pytest.raises(CommandError, match="in the database again with 2 readings"):
        _archive("--restore", str(november), directory=tmp_path)

    # A meter deleted after its readings were archived: refused, naming it. Its daily rollups
    # outlive an archive and protect the meter, so they go first.
    Reading.objects.filter(meter__code="ARC1-MAIN").delete()
    with pytest.raises(ProtectedError, match="ReadingDay.meter") as refused:
        MeasurementPoint.objects.get(code="ARC1-MAIN").delete()
    assert "reading(s)" in str(next(iter(refused.value.protected_objects)))
    ReadingDay.objects.filter(meter__code="ARC1-MAIN").delete()
    MeasurementPoint.objects.get(code="ARC1-MAIN").delete()
    with pytest.raises(CommandError, match="'ARC1-MAIN'.*no longer in the register"):
        _archive("--restore", str(december), directory=tmp_path)
    assert "reporting_reading_y2023m12" not in partitions.existing(connection.cursor())


@pytest.mark.skipif(connection.vendor == "postgresql", reason="the SQLite answer")
@pytest.mark.django_db
def test_archive_on_sqlite_says_it_needs_postgresql(tmp_path):
    for args in (("--before", "2020"), ("--restore", "2020")):
        with pytest.raises(CommandError, match="needs PostgreSQL") as refused:
            _archive(*args, directory=tmp_path)
        assert "\n" not in str(refused.value)


@postgres_only
@pytest.mark.django_db
def test_database_and_file_write_the_same_checksum_lines():
    meter = make_meter(make_site("SUM1"), "SUM1-UPS", "eit-ups-output")
    rows = [
        (meter.pk, datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), Decimal("-0.000001")),
        (meter.pk, datetime(2024, 3, 31, 1, 0, 0, 5, tzinfo=UTC), Decimal("0")),
        (meter.pk, datetime(2024, 3, 31, 2, tzinfo=UTC), Decimal("12345678901234.123456")),
    ]
    Reading.objects.bulk_create(Reading(meter_id=m, timestamp=t, value=v) for m, t, v in rows)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {archive.SQL_LINE} FROM reporting_reading WHERE meter_id = %s "
            'ORDER BY "timestamp"',
            [meter.pk],
        )
        database = "".join(line for (line,) in cursor.fetchall())
    schema = archive._schema()
    batch = pa.record_batch(
        [
            pa.array([r[0] for r in rows], pa.int64()),
            pa.array(["SUM1-UPS"] * 3).dictionary_encode(),
            pa.array([r[1] for r in rows], schema.field(2).type),
            pa.array([r[2] for r in rows], schema.field(3).type),
        ],
        schema=schema,
    )
    assert database == archive._arrow_lines(batch)
    assert database.splitlines()[0] == f"{meter.pk}\t-1\t-0.000001"


@postgres_only
@pytest.mark.django_db
def test_a_restore_brings_back_the_rollups_of_its_months(tmp_path):
    # rebuild_rollups while a year is archived rebuilds the site's rollups from the readings
    # still in the database: the archived days' rollups go. The restore is a writer of readings
    # and must leave the rollups in step with them, as every other writer does.
    site = _old_readings()
    _archive("--before", "2024", directory=tmp_path)
    call_command("rebuild_rollups", "--site", "ARC1", stdout=StringIO())
    _archive("--restore", "2023", directory=tmp_path)
    kept = _rollups()
    rollups.rebuild(MeasurementPoint.objects.filter(site=site).values_list("pk", flat=True))
    assert _rollups() == kept
    old = ReportingPeriod.calendar_year(site, 2023, status=PeriodStatus.SUBMITTED)
    old.save()
    assert compute(old) == compute(old, source="raw")


@postgres_only
@pytest.mark.django_db
def test_a_meter_whose_readings_are_archived_keeps_its_settings(
    tmp_path, client, django_user_model
):
    # Archived readings still count (their rollups compute the archived years): changing the
    # multiplier then would rewrite those years exactly as it would with the readings present.
    site = _old_readings()
    meter = MeasurementPoint.objects.get(code="ARC1-UPS")
    _archive("--before", "2024", directory=tmp_path)
    Reading.objects.filter(meter=meter).delete()  # the rest of its readings gone too, say
    assert not Reading.objects.filter(meter=meter).exists()
    admin = django_user_model.objects.create_superuser("root", "r@example.org", "pw")
    client.force_login(admin)
    response = client.patch(
        f"/api/measurement-points/{meter.pk}/",
        {"multiplier": "1000"},
        content_type="application/json",
    )
    assert response.status_code == 400, response.content
    assert "multiplier" in response.json()
    meter.refresh_from_db()
    assert meter.multiplier == 1 and meter.site == site


@postgres_only
@pytest.mark.django_db
def test_no_time_zone_change_moves_the_days_of_archived_readings(
    tmp_path, client, django_user_model
):
    # Site time zone (API) or a meter moved to a site in another time zone (API): the rollups
    # would be rebuilt from the readings in the database, dropping the archived ones'.
    site = _old_readings()
    elsewhere = make_site("ARC2", time_zone="Asia/Tokyo")
    _archive("--before", "2024", directory=tmp_path)
    kept = _rollups()
    admin = django_user_model.objects.create_superuser("root", "r@example.org", "pw")
    client.force_login(admin)
    meter = MeasurementPoint.objects.get(code="ARC1-UPS")
    response = client.patch(
        "/api/sites/ARC1/", {"time_zone": "America/New_York"}, content_type="application/json"
    )
    assert response.status_code == 400, response.content
    assert "archived" in str(response.json()["time_zone"])
    response = client.patch(
        f"/api/measurement-points/{meter.pk}/", {"site": "ARC2"}, content_type="application/json"
    )
    assert response.status_code == 400, response.content
    assert "archived" in str(response.json()["site"])
    site.refresh_from_db()
    meter.refresh_from_db()
    assert site.time_zone == "Europe/Paris" and meter.site_id == site.pk
    assert _rollups() == kept
    # Restored, the time-zone correction goes through and the rollups follow it; the meter
    # still cannot move (its readings are ARC1's history).
    _archive("--restore", "2023", directory=tmp_path)
    response = client.patch(
        "/api/sites/ARC1/", {"time_zone": "America/New_York"}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    assert _rollups() != kept
    assert_rollups_match_a_rebuild(list(site.measurement_points.values_list("pk", flat=True)))
    response = client.patch(
        f"/api/measurement-points/{meter.pk}/", {"site": "ARC2"}, content_type="application/json"
    )
    assert response.status_code == 400 and "ARC1's periods" in str(response.json()["site"])
    assert not elsewhere.measurement_points.filter(pk=meter.pk).exists()
