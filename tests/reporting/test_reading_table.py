"""The readings table carries only what its loads and scans need."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import ProtectedError

from reporting.models import Reading
from tests.reporting.conftest import T0, ingest, make_meter, make_site, series


def _key_columns(cursor) -> list[str]:
    """The primary key's columns in key order (Django's SQLite introspection gives table order)."""
    if connection.vendor == "sqlite":
        cursor.execute("SELECT name, pk FROM pragma_table_info('reporting_reading') WHERE pk > 0")
        return [name for name, _ in sorted(cursor.fetchall(), key=lambda row: row[1])]
    return connection.introspection.get_primary_key_columns(cursor, Reading._meta.db_table)


@pytest.mark.django_db
def test_readings_are_keyed_by_meter_and_time_with_no_surrogate_id_nor_other_index():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Reading._meta.db_table)
        columns = [
            c.name
            for c in connection.introspection.get_table_description(cursor, "reporting_reading")
        ]
        key = _key_columns(cursor)
    assert key == ["meter_id", "timestamp"]
    assert sorted(columns) == ["meter_id", "timestamp", "value"]  # no surrogate id
    assert not [c for c in constraints.values() if c["foreign_key"]]
    # The key is the only index: nothing else to maintain on every load.
    others = [c["columns"] for c in constraints.values() if not c["primary_key"]]
    assert others == []
    assert [f.name for f in Reading._meta.pk_fields] == ["meter", "timestamp"]


@pytest.mark.django_db
def test_a_meter_with_readings_still_cannot_be_deleted():
    meter = make_meter(make_site("LEAN"), "LEAN-UPS", "eit-ups-output")
    ingest(series("LEAN-UPS", T0 + timedelta(minutes=15), 4, 1))
    with pytest.raises(ProtectedError):
        meter.delete()
    assert Reading.objects.filter(meter=meter).count() == 4
