"""Asset labels: the PDF a person prints, read back as a scanner reads it (QR codes decoded from
the rendered page), through the API, the admin action and the asset's own page."""

import shutil
import subprocess

import pytest
from django.urls import reverse

from registry import labels
from tests import factories as f

zxingcpp = pytest.importorskip("zxingcpp")
Image = pytest.importorskip("PIL.Image")
pytestmark = pytest.mark.skipif(
    shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) renders the PDF"
)


def scanned(pdf: bytes, tmp_path) -> list[list[str]]:
    """What a scanner reads off each printed page: the QR codes' texts, page by page."""
    source = tmp_path / "labels.pdf"
    source.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "150", "-png", source, tmp_path / "page"], check=True)
    pages = sorted(tmp_path.glob("page-*.png"), key=lambda p: int(p.stem.split("-")[-1]))
    return [[code.text for code in zxingcpp.read_barcodes(Image.open(page))] for page in pages]


@pytest.fixture
def fleet(par):
    model = f.hardware_model("acme-l4", name="L4 Tensor")
    return [f.asset(f"PAR-GPU-{i:02d}", model=model, at_site=par) for i in range(23)]


def test_api_label_sheet_holds_each_asset_address_once(api, procurement_user, fleet, tmp_path):
    api.force_authenticate(procurement_user)
    response = api.get("/api/assets/labels/", {"site": "PAR1"}, HTTP_ACCEPT="application/pdf")
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "application/pdf"
    pages = scanned(response.content, tmp_path)
    stock = labels.LAYOUTS[labels.DEFAULT_LAYOUT]
    assert [len(page) for page in pages] == [stock.per_sheet, len(fleet) - stock.per_sheet]
    expected = {f"http://testserver/a/{asset.asset_tag}/" for asset in fleet}
    read = [text for page in pages for text in page]
    assert sorted(read) == sorted(expected)


def test_the_address_in_a_label_opens_the_asset_page(client, operator_user, fleet):
    client.force_login(operator_user)
    asset = fleet[3]
    response = client.get(f"/a/{asset.asset_tag}/", follow=True)
    assert response.redirect_chain[-1][0] == reverse("admin:registry_asset_change", args=[asset.pk])


def test_the_label_address_tells_a_stranger_nothing(client, fleet):
    known = client.get(f"/a/{fleet[0].asset_tag}/", follow=True)
    unknown = client.get("/a/NO-SUCH-TAG/", follow=True)
    assert known.status_code == unknown.status_code == 200
    assert known.redirect_chain[-1][0].startswith(reverse("admin:login"))
    assert unknown.redirect_chain[-1][0].startswith(reverse("admin:login"))


def test_public_url_setting_decides_the_address(api, procurement_user, fleet, settings, tmp_path):
    settings.CIRCULUS_PUBLIC_URL = "https://circulus.example.org/"
    api.force_authenticate(procurement_user)
    response = api.get(f"/api/assets/{fleet[0].pk}/label/", {"layout": "L7163"})
    assert response.status_code == 200
    assert scanned(response.content, tmp_path) == [
        [f"https://circulus.example.org/a/{fleet[0].asset_tag}/"]
    ]


def test_skip_leaves_used_labels_of_the_first_sheet_blank(api, procurement_user, fleet, tmp_path):
    api.force_authenticate(procurement_user)
    response = api.get("/api/assets/labels/", {"tag": fleet[0].asset_tag, "skip": 5})
    assert response.status_code == 200
    assert [len(page) for page in scanned(response.content, tmp_path)] == [1]


@pytest.mark.parametrize(
    ("query", "field"),
    [({"layout": "A9999"}, "layout"), ({"skip": -1}, "skip"), ({"skip": "x"}, "skip")],
)
def test_bad_label_query_is_refused_naming_the_field(api, procurement_user, fleet, query, field):
    api.force_authenticate(procurement_user)
    response = api.get("/api/assets/labels/", query)
    assert response.status_code == 400
    assert field in response.json()


def test_too_many_labels_at_once_is_refused_with_the_limit(
    api, procurement_user, fleet, monkeypatch
):
    monkeypatch.setattr(labels, "MAX_LABELS", 5)
    api.force_authenticate(procurement_user)
    response = api.get("/api/assets/labels/", {"site": "PAR1"})
    assert response.status_code == 400
    assert "at most 5" in response.json()["detail"]


def test_labels_need_a_signed_in_user(api, fleet):
    assert api.get("/api/assets/labels/").status_code in (401, 403)


def test_admin_action_asks_for_the_stock_then_prints(client, operator_user, fleet, tmp_path):
    client.force_login(operator_user)
    url = reverse("admin:registry_asset_changelist")
    chosen = [str(asset.pk) for asset in fleet[:4]]
    form = client.post(url, {"action": "print_labels", "_selected_action": chosen})
    assert form.status_code == 200
    assert "4 labels" in form.content.decode()
    assert "Avery L7160" in form.content.decode()
    pdf = client.post(
        url,
        {"action": "print_labels", "_selected_action": chosen, "layout": "L7165", "skip": "0",
         "_apply": "1"},
    )  # fmt: skip
    assert pdf["Content-Type"] == "application/pdf"
    read = scanned(pdf.content, tmp_path)
    assert sorted(read[0]) == sorted(f"http://testserver/a/{a.asset_tag}/" for a in fleet[:4])


def test_asset_page_links_its_own_label(client, operator_user, fleet, tmp_path):
    client.force_login(operator_user)
    asset = fleet[1]
    page = client.get(reverse("admin:registry_asset_change", args=[asset.pk]))
    link = reverse("admin:registry_asset_label", args=[asset.pk])
    assert link in page.content.decode()
    pdf = client.get(link)
    assert scanned(pdf.content, tmp_path) == [[f"http://testserver/a/{asset.asset_tag}/"]]


def test_long_names_are_shortened_not_spilled():
    text = labels.LabelText(
        tag="T" * 50, model="M" * 150, site="PAR1", serial="S" * 80, url="https://x.example/a/T/"
    )
    for code in labels.LAYOUTS:
        assert labels.single_pdf(text, code).startswith(b"%PDF")


def test_model_name_names_the_maker_once(db):
    maker = f.manufacturer("NVIDIA")
    doubled = f.hardware_model("nv-l40s", name="NVIDIA L40S", manufacturer=maker)
    plain = f.hardware_model("nv-l4", name="L4", manufacturer=maker)
    assert labels.model_name(doubled) == "NVIDIA L40S"
    assert labels.model_name(plain) == "NVIDIA L4"
