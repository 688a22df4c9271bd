"""The admin's asset import: the importer's own checks, every error, rows as in a spreadsheet."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from registry.importing import import_assets
from registry.lifecycle import EventKind, State
from registry.models import Asset, LifecycleEvent
from tests import factories

IMPORT = reverse("admin:registry_asset_import")
HEADER = (
    "asset_tag,serial_number,hardware_model,site,purchase_date,purchase_price,currency,"
    "supplier,state\n"
)


@pytest.fixture
def gpu_model(db):
    return factories.hardware_model("acme-gpu-24")


@pytest.fixture
def par(db):
    return factories.site("PAR1")


@pytest.fixture
def fra(db):
    return factories.site("FRA1", time_zone="Europe/Berlin", country="DE")


@pytest.fixture
def operator(operator_user, par):
    par.operators.add(operator_user)
    return operator_user


def upload(text: str, name: str = "assets.csv"):
    return SimpleUploadedFile(name, (HEADER + text).encode(), content_type="text/csv")


def test_every_error_of_every_row_with_column_value_and_reason(client, operator, gpu_model, fra):
    client.force_login(operator)
    rows = (
        "IMP-1,S1,acme-gpu-24,PAR9,2024-03-01,10.00,EUR,Acme,in-stock\n"
        "IMP-2,S2,no-such-model,FRA1,2024-13-01,-5,EURO,Acme,in-service\n"
    )
    response = client.post(IMPORT, {"import_file": upload(rows)})
    assert response.status_code == 200
    shown = [(e.row, e.column, e.value) for e in response.context["report"].errors]
    assert shown == [
        (2, "site", "PAR9"),
        (3, "hardware_model", "no-such-model"),
        (3, "site", "FRA1"),  # a site the operator does not run
        (3, "purchase_date", "2024-13-01"),
        (3, "purchase_price", "-5"),
        (3, "currency", "EURO"),
        (3, "state", "in-service"),
    ]
    body = response.content.decode()
    assert "no site with code &#x27;PAR9&#x27;" in body
    assert "you may not create assets at site &#x27;FRA1&#x27;" in body
    assert "7 errors in 2 rows: nothing was written." in body
    assert "Confirm import" not in body
    assert not Asset.objects.exists()


def test_the_admin_reports_exactly_what_the_command_reports(
    client, operator, gpu_model, par, tmp_path
):
    rows = "IMP-1,S1,acme-gpu-24,PAR1,2024-03-01,ten,EUR,,ordered\nIMP-1,S1,x,PAR1,,1,EUR,A,\n"
    path = tmp_path / "assets.csv"
    path.write_text(HEADER + rows)
    command = import_assets(path, actor=operator, dry_run=True)
    client.force_login(operator)
    admin = client.post(IMPORT, {"import_file": upload(rows)}).context["report"]
    assert admin.errors == command.errors and len(admin.errors) >= 4


def test_preview_then_confirm_records_purchases(client, operator, gpu_model, par):
    client.force_login(operator)
    rows = (
        "IMP-1,S1,acme-gpu-24,PAR1,2024-03-01,10.00,EUR,Acme,in-stock\n"
        "IMP-2,S2,acme-gpu-24,PAR1,2024-03-02,12.00,EUR,Acme,ordered\n"
    )
    preview = client.post(IMPORT, {"import_file": upload(rows)})
    assert preview.status_code == 200
    assert preview.context["report"].ok
    columns, cells, more = preview.context["preview"]
    assert columns[0] == "asset_tag" and [c[0] for c in cells] == ["IMP-1", "IMP-2"] and not more
    assert "Confirm import" in preview.content.decode()
    assert not Asset.objects.exists()  # the preview writes nothing

    confirm = client.post(IMPORT, {"_confirm": "1", "token": preview.context["token"]})
    assert confirm.status_code == 302
    assert Asset.objects.get(asset_tag="IMP-2").state == State.ORDERED
    assert LifecycleEvent.objects.filter(kind=EventKind.PURCHASED, actor=operator).count() == 2


def test_a_confirmation_cannot_be_replayed_or_forged(client, operator, gpu_model, par):
    client.force_login(operator)
    preview = client.post(
        IMPORT, {"import_file": upload("IMP-1,,acme-gpu-24,PAR1,2024-03-01,1,EUR,A,\n")}
    )
    forged = client.post(IMPORT, {"_confirm": "1", "token": "../../etc/passwd"})
    assert forged.status_code == 302 and not Asset.objects.exists()
    # The forged attempt used up the pending import: the real token no longer works either.
    again = client.post(IMPORT, {"_confirm": "1", "token": preview.context["token"]})
    assert again.status_code == 302 and not Asset.objects.exists()


def test_an_import_changed_underneath_is_refused_whole(client, operator, gpu_model, par):
    client.force_login(operator)
    rows = (
        "IMP-1,,acme-gpu-24,PAR1,2024-03-01,1,EUR,A,\nIMP-2,,acme-gpu-24,PAR1,2024-03-01,1,EUR,A,\n"
    )
    preview = client.post(IMPORT, {"import_file": upload(rows)})
    factories.asset("IMP-2", model=gpu_model, at_site=par)  # registered meanwhile
    response = client.post(IMPORT, {"_confirm": "1", "token": preview.context["token"]})
    assert response.status_code == 200
    assert [(e.row, e.column) for e in response.context["report"].errors] == [(3, "asset_tag")]
    assert not Asset.objects.filter(asset_tag="IMP-1").exists()


def test_who_may_import(client, procurement_user, auditor_user, operator):
    client.force_login(procurement_user)  # not staff: the admin sends them to log in
    assert client.get(IMPORT)["Location"].startswith(reverse("admin:login"))
    client.force_login(auditor_user)
    assert client.get(IMPORT).status_code == 403
    assert client.post(IMPORT, {"_confirm": "1", "token": "x"}).status_code == 403
    client.force_login(operator)
    assert client.get(IMPORT).status_code == 200
    changelist = client.get(reverse("admin:registry_asset_changelist")).content.decode()
    assert IMPORT in changelist


def test_xlsx_files_are_read_and_other_files_refused(client, operator, gpu_model, par, tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(HEADER.strip().split(","))
    book.active.append(["IMP-X", "", "acme-gpu-24", "PAR1", "2024-03-01", 5, "EUR", "Acme", ""])
    book.save(tmp_path / "a.xlsx")
    client.force_login(operator)
    xlsx = SimpleUploadedFile("a.xlsx", (tmp_path / "a.xlsx").read_bytes())
    assert client.post(IMPORT, {"import_file": xlsx}).context["report"].ok
    other = client.post(IMPORT, {"import_file": SimpleUploadedFile("a.txt", b"x")})
    assert other.context["form"].errors["import_file"]
