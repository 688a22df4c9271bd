"""The asset list's "export selected" actions, added by the exports app."""

import io

import openpyxl
import pytest

from tests import factories as f

pytestmark = pytest.mark.django_db


def test_export_selected_assets_from_the_admin(client):
    par = f.site("PAR1")
    chosen = [f.asset("=HYPERLINK(evil)", at_site=par), f.asset("GPU-2", at_site=par)]
    f.asset("GPU-3", at_site=par)
    client.force_login(f.user("root", is_staff=True, is_superuser=True))
    response = client.post(
        "/admin/registry/asset/",
        {"action": "export_selected_xlsx", "_selected_action": [a.pk for a in chosen]},
    )
    assert response.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    sheet = book.worksheets[0]
    tags = [row[0].value for row in sheet.iter_rows(min_row=2) if row[0].value]
    assert sorted(tags) == sorted(a.asset_tag for a in chosen)
    assert all(row[0].data_type != "f" for row in sheet.iter_rows(min_row=2))
    csv = client.post(
        "/admin/registry/asset/",
        {"action": "export_selected_csv", "_selected_action": [chosen[0].pk]},
    )
    body = b"".join(csv.streaming_content).decode()
    assert "'=HYPERLINK(evil)" in body
