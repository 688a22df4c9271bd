"""Bulk import of assets and sites: all rows or none, every error with its row and column."""

import csv
import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction

from registry.importing import import_assets, import_sites
from registry.lifecycle import EventKind, State
from registry.models import Asset, LifecycleEvent, Site
from tests import factories

COLUMNS = [
    "asset_tag",
    "serial_number",
    "hardware_model",
    "site",
    "room",
    "rack",
    "position_u",
    "owner",
    "purchase_date",
    "purchase_price",
    "currency",
    "supplier",
    "warranty_end",
    "planned_eol",
    "measured_mass_kg",
    "state",
]


def row(tag="GPU-1", **overrides):
    values = {
        "asset_tag": tag,
        "serial_number": f"SN-{tag}",
        "hardware_model": "acme-gpu-24",
        "site": "PAR1",
        "room": "A",
        "rack": "R01",
        "position_u": "12",
        "owner": "ml-team",
        "purchase_date": "2024-03-01",
        "purchase_price": "12500.00",
        "currency": "eur",
        "supplier": "Acme Distribution",
        "warranty_end": "2027-03-01",
        "planned_eol": "2029-03-01",
        "measured_mass_kg": "",
        "state": "in-stock",
    }
    values.update(overrides)
    return values


def write_csv(tmp_path, rows, name="assets.csv", columns=COLUMNS):
    path = tmp_path / name
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_xlsx(tmp_path, rows, name="assets.xlsx"):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(COLUMNS)
    for r in rows:
        sheet.append([r[c] for c in COLUMNS])
    path = tmp_path / name
    book.save(path)
    return path


@pytest.fixture
def world(db):
    factories.hardware_model("acme-gpu-24")
    factories.hardware_model("acme-ssd-4t", holds_data=True)
    factories.site("PAR1")
    factories.site("FRA1", time_zone="Europe/Berlin", country="DE")


def counts():
    return Asset.objects.count(), LifecycleEvent.objects.count(), Asset.history.count()


def test_csv_import_creates_assets_with_their_purchased_event(world, tmp_path):
    path = write_csv(tmp_path, [row("GPU-1"), row("GPU-2", state="ordered", site="FRA1")])

    report = import_assets(path)

    assert report.ok, report.errors
    assert report.created == 2
    gpu = Asset.objects.get(asset_tag="GPU-1")
    assert gpu.state == State.IN_STOCK
    assert gpu.currency == "EUR" and str(gpu.purchase_price) == "12500.00"
    assert gpu.position_u == 12 and gpu.site.code == "PAR1"
    event = gpu.events.get()
    assert event.kind == EventKind.PURCHASED
    assert event.state_before == "" and event.state_after == State.IN_STOCK
    assert event.details == {
        "supplier": "Acme Distribution",
        "price": "12500.00",
        "currency": "EUR",
        "purchase_date": "2024-03-01",
    }
    assert event.site == gpu.site
    assert event.occurred_at.isoformat() == "2024-02-29T23:00:00+00:00"  # midnight in Paris
    assert Asset.objects.get(asset_tag="GPU-2").state == State.ORDERED
    history = gpu.history.get()
    assert history.history_type == "+" and history.history_change_reason == "import"


def test_xlsx_import(world, tmp_path):
    path = write_xlsx(tmp_path, [row("GPU-1"), row("GPU-2", position_u=7)])

    report = import_assets(path)

    assert report.ok, report.errors
    assert Asset.objects.get(asset_tag="GPU-2").position_u == 7
    assert LifecycleEvent.objects.filter(kind=EventKind.PURCHASED).count() == 2


def test_import_records_the_actor(world, tmp_path, operator_user):
    Site.objects.get(code="PAR1").operators.add(operator_user)
    report = import_assets(write_csv(tmp_path, [row("GPU-1")]), actor=operator_user)
    assert report.ok
    assert LifecycleEvent.objects.get().actor == operator_user
    assert Asset.history.get().history_user == operator_user


def test_operator_may_not_import_at_another_site(world, tmp_path, operator_user):
    Site.objects.get(code="PAR1").operators.add(operator_user)
    report = import_assets(write_csv(tmp_path, [row("GPU-1", site="FRA1")]), actor=operator_user)
    assert [(e.row, e.column) for e in report.errors] == [(2, "site")]
    assert counts() == (0, 0, 0)


def test_dry_run_writes_nothing(world, tmp_path):
    report = import_assets(write_csv(tmp_path, [row("GPU-1")]), dry_run=True)
    assert report.ok and report.created == 1 and report.dry_run
    assert counts() == (0, 0, 0)


BAD_INPUTS = [
    ({"hardware_model": "no-such-gpu"}, "hardware_model", "no hardware model with slug"),
    ({"site": "NOPE"}, "site", "no site with code 'NOPE'"),
    ({"purchase_date": "01/03/2024"}, "purchase_date", "is not a date"),
    ({"warranty_end": "2027-02-30"}, "warranty_end", "is not a date"),
    ({"purchase_date": "2999-01-01"}, "purchase_date", "lies in the future"),
    ({"purchase_price": "-5"}, "purchase_price", "must be a number ≥ 0"),
    ({"purchase_price": "abc"}, "purchase_price", "is not a number"),
    ({"purchase_price": "1.234"}, "purchase_price", "more than 2 decimal places"),
    ({"state": "in-service"}, "state", "not a starting state"),
    ({"currency": "EURO"}, "currency", "ISO 4217"),
    ({"supplier": ""}, "supplier", "required"),
    ({"position_u": "top"}, "position_u", "whole number"),
    ({"asset_tag": "X" * 51}, "asset_tag", "longer than 50"),
]


@pytest.mark.parametrize(("change", "column", "reason"), BAD_INPUTS)
def test_bad_input_names_row_column_and_reason_and_writes_nothing(
    world, tmp_path, change, column, reason
):
    path = write_csv(tmp_path, [row("GPU-1"), row("GPU-2", **change), row("GPU-3")])

    report = import_assets(path)

    assert not report.ok
    assert [(e.row, e.column) for e in report.errors] == [(3, column)]
    assert reason in report.errors[0].message
    assert str(report.errors[0]).startswith(f"row 3, column {column}: ")
    assert counts() == (0, 0, 0)


def test_duplicate_tag_in_file(world, tmp_path):
    report = import_assets(write_csv(tmp_path, [row("GPU-1"), row("GPU-1", serial_number="B")]))
    assert [(e.row, e.column) for e in report.errors] == [(3, "asset_tag")]
    assert "also on row 2" in report.errors[0].message
    assert counts() == (0, 0, 0)


def test_tag_already_stored_leaves_existing_data_untouched(world, tmp_path):
    existing = factories.asset("GPU-1", model=factories.hardware_model_by_slug("acme-gpu-24"))
    before = counts()

    report = import_assets(write_csv(tmp_path, [row("GPU-0"), row("GPU-1", serial_number="Z")]))

    assert [(e.row, e.column) for e in report.errors] == [(3, "asset_tag")]
    assert "already registered" in report.errors[0].message
    assert counts() == before
    existing.refresh_from_db()
    assert existing.supplier == "Acme" and existing.serial_number == ""


def test_serial_unique_per_model_in_file_and_in_store(world, tmp_path):
    factories.asset(
        "OLD-1",
        model=factories.hardware_model_by_slug("acme-gpu-24"),
        serial_number="SN-STORED",
    )
    rows = [
        row("GPU-1", serial_number="SN-A"),
        row("GPU-2", serial_number="SN-A"),  # same model, same serial: refused
        row("SSD-1", serial_number="SN-A", hardware_model="acme-ssd-4t"),  # other model: fine
        row("GPU-3", serial_number="SN-STORED"),
    ]
    report = import_assets(write_csv(tmp_path, rows))
    assert [(e.row, e.column) for e in report.errors] == [
        (3, "serial_number"),
        (5, "serial_number"),
    ]
    assert "already registered for model 'acme-gpu-24'" in report.errors[1].message
    assert Asset.objects.count() == 1


def test_all_errors_are_collected(world, tmp_path):
    rows = [row("A", site="NOPE", purchase_price="-1"), row("B", state="lost")]
    report = import_assets(write_csv(tmp_path, rows))
    assert [(e.row, e.column) for e in report.errors] == [
        (2, "site"),
        (2, "purchase_price"),
        (3, "state"),
    ]


def test_unknown_and_missing_columns(world, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("asset_tag,colour\nGPU-1,red\n")
    report = import_assets(path)
    assert (1, "colour") in [(e.row, e.column) for e in report.errors]
    assert (1, "hardware_model") in [(e.row, e.column) for e in report.errors]


def test_import_from_uploaded_file_object(world):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerow(row("GPU-1"))
    upload = io.BytesIO(buffer.getvalue().encode())
    upload.name = "upload.csv"
    assert import_assets(upload).ok


def test_import_assets_command(world, tmp_path):
    path = write_csv(tmp_path, [row("GPU-1")])
    out = io.StringIO()
    call_command("import_assets", str(path), "--dry-run", stdout=out)
    assert "1 would be created" in out.getvalue() and Asset.objects.count() == 0
    call_command("import_assets", str(path), stdout=out)
    assert Asset.objects.count() == 1


def test_import_assets_command_fails_with_the_row(world, tmp_path):
    err = io.StringIO()
    with pytest.raises(CommandError, match="nothing was written"):
        call_command("import_assets", str(write_csv(tmp_path, [row(site="NOPE")])), stderr=err)
    assert "row 2, column site: no site with code 'NOPE'" in err.getvalue()


def test_import_sites_command(db, tmp_path):
    path = tmp_path / "sites.csv"
    path.write_text("code,name,country,time_zone\nPAR2,Paris 2,fr,Europe/Paris\n")
    call_command("import_sites", str(path), stdout=io.StringIO())
    site = Site.objects.get(code="PAR2")
    assert site.country == "FR" and site.history.count() == 1

    path.write_text("code,name,country,time_zone\nPAR2,Paris Two,FR,Europe/Paris\n")
    call_command("import_sites", str(path), stdout=io.StringIO())
    assert Site.objects.get(code="PAR2").name == "Paris Two"


def test_bad_site_rows_write_nothing(db, tmp_path):
    path = tmp_path / "sites.csv"
    path.write_text(
        "code,name,country,time_zone\nPAR2,Paris 2,FR,Europe/Paris\nbad code,X,FR,Mars/Base\n"
    )
    report = import_sites(path)
    assert {(e.row, e.column) for e in report.errors} == {(3, "code"), (3, "time_zone")}
    assert not Site.objects.exists()


HISTORY_EXTRA = {"history_id", "history_date", "history_change_reason", "history_type"}


def test_history_and_ledger_rows_are_complete(world, tmp_path, operator_user):
    """The same rows on every backend (COPY on PostgreSQL, executemany on SQLite)."""
    Site.objects.get(code="PAR1").operators.add(operator_user)
    Site.objects.get(code="FRA1").operators.add(operator_user)
    rows = [
        row("GPU-1", purchase_price="1234.5", measured_mass_kg="21.125"),
        row("GPU-2", site="FRA1", state="ordered", position_u="", serial_number="", room=""),
    ]
    report = import_assets(write_csv(tmp_path, rows), actor=operator_user)
    assert report.ok, report.errors

    for asset in Asset.objects.all():
        history = asset.history.get()
        for field in Asset.history.model.tracked_fields:
            assert getattr(history, field.attname) == getattr(asset, field.attname), field.name
        assert (history.history_type, history.history_change_reason) == ("+", "import")
        assert history.history_user_id == operator_user.pk
        assert asset.created_at == asset.updated_at == history.history_date
        assert asset.workload == asset.notes == "" and asset.parent_id is None

    gpu1, gpu2 = Asset.objects.order_by("asset_tag")
    assert gpu1.purchase_price == Decimal("1234.50")
    assert gpu1.measured_mass_kg == Decimal("21.125")
    assert gpu2.position_u is None and gpu2.serial_number == "" and gpu2.state == State.ORDERED
    events = list(LifecycleEvent.objects.order_by("id"))
    assert [e.asset_id for e in events] == [gpu1.pk, gpu2.pk]  # file order
    first, second = events
    assert first.details == {
        "supplier": "Acme Distribution",
        "price": "1234.5",  # as written, like services.record_event keeps it
        "currency": "EUR",
        "purchase_date": "2024-03-01",
    }
    assert second.occurred_at.isoformat() == "2024-02-29T23:00:00+00:00"  # midnight in Berlin
    for event, asset in ((first, gpu1), (second, gpu2)):
        assert (event.kind, event.state_before, event.state_after) == (
            EventKind.PURCHASED,
            "",
            asset.state,
        )
        assert (event.actor_id, event.site_id) == (operator_user.pk, asset.site_id)
        assert event.corrects_id is None and event.caused_by_id is None
        assert event.sanitisation_method == ""
        assert event.recorded_at == asset.created_at


def test_a_clash_only_the_database_sees_writes_nothing(world, tmp_path, monkeypatch):
    """A concurrent writer took a tag after validation: the insert fails, nothing is kept."""
    factories.asset("GPU-2", model=factories.hardware_model_by_slug("acme-gpu-24"))
    before = counts()
    monkeypatch.setattr("registry.importing._stored_tags", lambda tags: [])

    report = import_assets(write_csv(tmp_path, [row("GPU-1"), row("GPU-2")]))

    assert [(e.row, e.column) for e in report.errors] == [(0, "")]
    message = report.errors[0].message
    assert message.startswith("Another import or edit registered one of these asset tags")
    # The database's own words (constraint names, SQL) go to the log, never to the reader.
    assert "UNIQUE" not in message.upper() and "constraint" not in message.lower()
    assert counts() == before


def test_two_imports_in_one_transaction(world, tmp_path):
    with transaction.atomic():
        assert import_assets(write_csv(tmp_path, [row("GPU-1")], name="a.csv")).ok
        assert import_assets(write_csv(tmp_path, [row("GPU-2")], name="b.csv")).ok
    assert counts() == (2, 2, 2)


def test_header_only_file_creates_nothing(world, tmp_path):
    report = import_assets(write_csv(tmp_path, []))
    assert report.ok and report.created == 0
    assert counts() == (0, 0, 0)


def test_the_summary_is_a_sentence_in_every_outcome():
    from registry.importing import ImportReport, RowError

    assert ImportReport(rows=1, created=1).summary() == "1 row read without error: 1 was created."
    assert (
        ImportReport(rows=3, created=1, updated=2, dry_run=True).summary()
        == "3 rows read without error: 1 would be created, 2 would be updated."
    )
    bad = ImportReport(rows=2, errors=[RowError(2, "site", "no site with code 'X'")])
    assert bad.summary() == "1 error in 2 rows: nothing was written."
    whole = ImportReport(refused=413, errors=[RowError(0, "", "the file is larger than 50 MB.")])
    assert whole.summary() == (
        "The file was refused: the file is larger than 50 MB. Nothing was written."
    )
