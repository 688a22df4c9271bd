"""The readings table carries only what its loads and scans need."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import ProtectedError

from reporting.models import Reading
from tests.reporting.conftest import T0, ingest, make_meter, make_site, series


@pytest.mark.django_db
def test_readings_have_no_foreign_key_trigger_and_no_redundant_meter_index():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Reading._meta.db_table)
    assert not [c for c in constraints.values() if c["foreign_key"]]
    # Every index that starts with meter_id is the (meter_id, timestamp) key itself.
    led_by_meter = [c["columns"] for c in constraints.values() if c["columns"][:1] == ["meter_id"]]
    assert led_by_meter == [["meter_id", "timestamp"]]


@pytest.mark.django_db
def test_a_meter_with_readings_still_cannot_be_deleted():
    meter = make_meter(make_site("LEAN"), "LEAN-UPS", "eit-ups-output")
    ingest(series("LEAN-UPS", T0 + timedelta(minutes=15), 4, 1))
    with pytest.raises(ProtectedError):
        meter.delete()
    assert Reading.objects.filter(meter=meter).count() == 4
