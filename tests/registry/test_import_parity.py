"""The bulk importer and `services.create_asset` are two doors to one set of rules
(`registration.new_asset`): the same row stores the same asset and the same `purchased` ledger
row through either, and what one refuses the other refuses, naming the row, the column and why.
"""

import csv
import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from registry import invariants, services
from registry.importing import ASSET_COLUMNS, COLUMN_OF, import_assets
from registry.models import Asset, LifecycleEvent, Site
from tests import factories

COLUMNS = list(ASSET_COLUMNS)
TODAY = dt.datetime.now(dt.UTC).date()
# Not compared: what identifies a row or says when it was written.
UNCOMPARED = {"id", "created_at", "updated_at", "asset", "recorded_at"}


class _Rollback(Exception):
    pass


@pytest.fixture
def world(db):
    factories.hardware_model("acme-gpu-24")
    factories.hardware_model("acme-ssd-4t", holds_data=True)
    factories.site("PAR1")
    factories.site("FRA1", time_zone="Europe/Berlin", country="DE")
    # A site behind UTC: the start of today there may lie ahead, and no purchase is dated ahead.
    factories.site("HNL1", time_zone="Pacific/Honolulu", country="US")
    factories.site("KIR1", time_zone="Pacific/Kiritimati", country="KI")


def _valid(**changes) -> dict:
    values = {
        **{c: "" for c in COLUMNS},
        "asset_tag": "GPU-9",
        "serial_number": "SN-9",
        "hardware_model": "acme-gpu-24",
        "site": "PAR1",
        "position_u": None,
        "purchase_date": dt.date(2024, 3, 1),
        "purchase_price": "10",
        "currency": "EUR",
        "supplier": "Acme",
        "warranty_end": None,
        "support_end": None,
        "planned_eol": None,
        "measured_mass_kg": "",
        "state": "in-stock",
        "data_bearing": False,
    }
    return values | changes


# Each column's values, valid and not; a row is a valid one with up to three of them changed.
VARIANTS = {
    "asset_tag": ["GPU-2", "", "X" * 51],
    "serial_number": ["", "S" * 101],
    "hardware_model": ["acme-ssd-4t"],
    "site": ["FRA1", "HNL1", "KIR1"],
    "room": ["A", "R" * 51],
    "rack": ["R01", "K" * 51],
    "position_u": [0, 32767, 32768],
    "owner": ["ml-team", "O" * 101],
    "purchase_date": [
        None,
        dt.date(1989, 12, 31),
        dt.date(1990, 1, 1),
        dt.date(2024, 10, 27),  # the night the clocks go back in Europe
        TODAY,
        TODAY + dt.timedelta(days=1),
    ],
    "purchase_price": ["", "0", "1234.5", "12.500", "1.234", "-5", "9999999999.99", "1E+10"],
    "currency": ["eur", "", "EURO", "ÄÖÜ", "E1R"],
    "supplier": ["", "s" * 200, "s" * 201],
    "warranty_end": [dt.date(1989, 12, 31), dt.date(2027, 3, 1), dt.date(2101, 1, 1)],
    "support_end": [dt.date(2028, 1, 1), dt.date(2101, 1, 1)],
    "planned_eol": [dt.date(2100, 12, 31), dt.date(2101, 1, 1)],
    "measured_mass_kg": ["21.125", "21.1250", "0", "-1", "21.1255", "999999.999", "1000000"],
    "state": ["ordered", "", "in-service", "sold"],
    "data_bearing": [True],
}
ROWS = st.lists(
    st.sampled_from([(c, v) for c, values in VARIANTS.items() for v in values]), max_size=3
).map(lambda changes: _valid(**dict(changes)))


def _cell(value) -> str:
    if value is None or value is False:
        return ""
    if value is True:
        return "yes"
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _write(tmp_path, values: dict):
    path = tmp_path / "assets.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerow([_cell(values[c]) for c in COLUMNS])
    return path


def _arguments(values: dict, actor=None) -> dict:
    """The row as the API or the admin hands it to `create_asset` (blank details left out)."""
    details = {
        "supplier": values["supplier"],
        "price": values["purchase_price"],
        "currency": values["currency"],
        "purchase_date": values["purchase_date"] and values["purchase_date"].isoformat(),
    }
    mass = values["measured_mass_kg"]
    return {
        "occurred_at": None,
        "actor": actor,
        "to_state": values["state"],
        "details": {k: v for k, v in details.items() if v not in (None, "")},
        "asset_tag": values["asset_tag"],
        "serial_number": values["serial_number"],
        "hardware_model": factories.hardware_model_by_slug(values["hardware_model"]),
        "site": Site.objects.get(code=values["site"]),
        "room": values["room"],
        "rack": values["rack"],
        "position_u": values["position_u"],
        "owner": values["owner"],
        "warranty_end": values["warranty_end"],
        "support_end": values["support_end"],
        "planned_eol": values["planned_eol"],
        "measured_mass_kg": Decimal(mass) if mass else None,
        "data_bearing": values["data_bearing"],
    }


def _stored(since: dt.datetime) -> tuple[list, list]:
    """Every asset and ledger row, without ids and recording times; a purchase moment capped at
    the time of writing reads as "now" (the two doors write it a few milliseconds apart)."""
    assets = [
        {k: v for k, v in row.items() if k not in UNCOMPARED}
        for row in Asset.objects.order_by("asset_tag").values()
    ]
    events = []
    for row in LifecycleEvent.objects.order_by("id").values():
        row = {k: v for k, v in row.items() if k not in UNCOMPARED | {"asset_id"}}
        if row["occurred_at"] >= since:
            row["occurred_at"] = "now"
        events.append(row)
    return assets, events


def _through_create_asset(values: dict, actor=None):
    """(stored rows, None) or (None, the refusal's fields), rolled back either way."""
    since = timezone.now()
    try:
        with transaction.atomic():
            services.create_asset(**_arguments(values, actor))
            stored = _stored(since)
            raise _Rollback
    except _Rollback:
        return stored, None
    except ValidationError as exc:
        return None, set(exc.message_dict)


def _through_import(values: dict, tmp_path, actor=None):
    """(stored rows, None) or (None, the errors), rolled back either way."""
    since = timezone.now()
    try:
        with transaction.atomic():
            report = import_assets(_write(tmp_path, values), actor=actor)
            if not report.ok:
                return None, report.errors
            assert report.created == 1
            assert invariants.check() == []  # the ledger's rules hold after a bulk import
            stored = _stored(since)
            raise _Rollback
    except _Rollback:
        return stored, None


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(values=ROWS)
def test_a_row_stores_the_same_asset_and_ledger_row_through_either_door(world, tmp_path, values):
    direct, refused_fields = _through_create_asset(values)
    imported, errors = _through_import(values, tmp_path)

    event("stored" if refused_fields is None else "refused")
    if refused_fields is None:
        assert errors is None, f"create_asset took {values}, the import refused: {errors}"
        assert imported == direct
        return
    assert errors is not None, f"create_asset refused {refused_fields}, the import took {values}"
    assert all(e.row == 2 and e.column in COLUMNS and e.message for e in errors), errors
    # The field create_asset names is a column the import names.
    named = {COLUMN_OF.get(name, name) for name in refused_fields}
    assert named & {e.column for e in errors}, (refused_fields, errors)


def test_the_same_row_through_either_door_is_stored_alike(world, tmp_path, operator_user):
    """An explicit example: a data-bearing model, a price as written, a site east of Paris."""
    Site.objects.get(code="FRA1").operators.add(operator_user)
    values = {
        **{c: "" for c in COLUMNS},
        "asset_tag": "SSD-1",
        "serial_number": "SN-9",
        "hardware_model": "acme-ssd-4t",
        "site": "FRA1",
        "position_u": 7,
        "purchase_date": dt.date(2024, 3, 1),
        "purchase_price": "1234.5",
        "currency": "eur",
        "supplier": "Acme",
        "warranty_end": dt.date(2027, 3, 1),
        "support_end": None,
        "planned_eol": None,
        "measured_mass_kg": "0.125",
        "state": "ordered",
        "data_bearing": False,
    }
    direct, _ = _through_create_asset(values, operator_user)
    imported, errors = _through_import(values, tmp_path, operator_user)

    assert errors is None
    assert imported == direct
    (asset,), (event,) = direct
    assert asset["data_bearing"] is True and asset["purchase_price"] == Decimal("1234.50")
    assert event["data_bearing"] is True
    assert event["details"]["price"] == "1234.5"
    assert event["occurred_at"] == dt.datetime(2024, 2, 29, 23, tzinfo=dt.UTC)
    assert event["actor_id"] == operator_user.pk


@pytest.mark.parametrize(
    ("stored", "changes", "column"),
    [
        ({"asset_tag": "GPU-9"}, {}, "asset_tag"),  # the tag is taken
        ({"asset_tag": "GPU-8", "serial_number": "SN-9"}, {}, "serial_number"),  # same model
    ],
)
def test_what_the_stored_rows_refuse_both_doors_refuse(world, tmp_path, stored, changes, column):
    stored = dict(stored)
    factories.asset(
        stored.pop("asset_tag"), model=factories.hardware_model_by_slug("acme-gpu-24"), **stored
    )
    values = _valid(**changes)

    _, refused_fields = _through_create_asset(values)
    _, errors = _through_import(values, tmp_path)

    assert refused_fields
    assert [(e.row, e.column) for e in errors] == [(2, column)]
    assert "already registered" in errors[0].message


def test_a_site_the_actor_does_not_operate_is_refused_by_both_doors(world, tmp_path, operator_user):
    Site.objects.get(code="PAR1").operators.add(operator_user)
    values = _valid(site="FRA1")

    with pytest.raises(services.OutOfScope):
        services.create_asset(**_arguments(values, operator_user))
    _, errors = _through_import(values, tmp_path, operator_user)

    assert [(e.row, e.column) for e in errors] == [(2, "site")]
    assert "FRA1" in errors[0].message
