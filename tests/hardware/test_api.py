from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import ApiToken
from hardware.models import HardwareModel
from hardware.services import load_catalogue
from tests import factories

pytestmark = pytest.mark.django_db
URL = "/api/hardware-models/"


@pytest.fixture
def catalogue(db):
    load_catalogue()


@pytest.fixture
def reader(api, procurement_user):
    api.force_authenticate(procurement_user)
    return api


def _slugs(response):
    assert response.status_code == 200, response.content
    return {row["slug"] for row in response.json()["results"]}


def test_anonymous_is_refused(api, catalogue):
    for url in (URL, "/api/manufacturers/", "/api/schema/"):
        assert api.get(url).status_code in (401, 403)
    assert api.get("/admin/hardware/hardwaremodel/").status_code == 302  # to the login page


def test_list_filters_by_kind_memory_and_year(reader, catalogue):
    accelerators = _slugs(reader.get(URL, {"kind": "accelerator", "page_size": 100}))
    assert "nvidia-a100-sxm4-40gb" in accelerators and "dell-poweredge-r740" not in accelerators
    big = _slugs(reader.get(URL, {"memory_gb_min": 40, "memory_gb_max": 80}))
    assert big == {
        "nvidia-a100-sxm4-40gb",
        "nvidia-a100-sxm4-80gb",
        "nvidia-a100-pcie-40gb",
        "nvidia-a100-pcie-80gb",
        "nvidia-h100-sxm5-80gb",
        "nvidia-h100-pcie-80gb",
    }
    recent = _slugs(reader.get(URL, {"kind": "accelerator", "release_year_min": 2022}))
    assert recent == {
        "nvidia-h100-sxm5-80gb",
        "nvidia-h100-pcie-80gb",
        "nvidia-l4",
        "nvidia-rtx-4090",
    }
    assert _slugs(reader.get(URL, {"manufacturer": "amd", "kind": "accelerator"})) == {"amd-mi250"}


def test_ordering_and_pagination(reader, catalogue):
    page = reader.get(URL, {"kind": "accelerator", "ordering": "-memory_gb"}).json()
    assert page["count"] == 16
    assert page["results"][0]["slug"] == "amd-mi250"
    assert reader.get(URL).json()["count"] == 40
    assert len(reader.get(URL).json()["results"]) == 40


def test_detail_lists_the_source_of_each_figure(reader, catalogue):
    rows = reader.get(URL, {"search": "A100 SXM4 40"}).json()["results"]
    assert len(rows) == 1
    sources = {s["field"]: s for s in rows[0]["sources"]}
    assert "glennklockwood.com" in sources["memory_bandwidth_gbps"]["url"]
    assert sources["memory_bandwidth_gbps"]["basis"] == "declared"
    assert sources["embodied_gwp_kgco2e"]["basis"] == "estimated"


def test_list_query_count_does_not_grow_with_rows(reader, catalogue, django_assert_max_num_queries):
    with django_assert_max_num_queries(6):
        reader.get(URL)


@pytest.fixture
def editor(db):
    return factories.user("editor", group="catalogue-editor")


def test_staff_without_the_editor_role_may_not_write(
    api, procurement_user, staff_user, auditor_user, operator_user, catalogue
):
    payload = {"manufacturer": "nvidia", "name": "X", "slug": "x", "kind": "accelerator"}
    model = HardwareModel.objects.first()
    for user in (procurement_user, staff_user, auditor_user, operator_user):
        api.force_authenticate(user)
        assert api.post(URL, payload, format="json").status_code == 403
        assert api.patch(f"{URL}{model.pk}/", {"mass_kg": "9.99"}, format="json").status_code == 403
        assert api.delete(f"{URL}{model.pk}/").status_code == 403
        assert api.post("/api/manufacturers/", {"name": "Evil", "slug": "evil"}).status_code == 403
    model.refresh_from_db()
    assert str(model.mass_kg) != "9.99"


VALID = {
    "manufacturer": "nvidia",
    "name": "B200 180 GB",
    "slug": "nvidia-b200",
    "kind": "accelerator",
    "memory_gb": "180",
    "mass_kg": "1.8",
    "weee_category": "6",
}


def test_catalogue_editor_creates_a_model(api, editor, catalogue):
    api.force_authenticate(editor)
    response = api.post(URL, VALID, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["memory_gb"] == "180.0"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"mass_kg": "-1"}, "mass_kg"),
        ({"kind": "server"}, "memory_gb"),  # memory on a non-accelerator
        ({"kind": "gizmo"}, "kind"),
        ({"manufacturer": "nobody"}, "manufacturer"),
        (
            {"embodied_gwp_min_kgco2e": "10", "embodied_gwp_max_kgco2e": "5"},
            "embodied_gwp_min_kgco2e",
        ),
        ({"slug": "nvidia-t4"}, "slug"),
        ({"mass_min_kg": "2.0"}, "mass_min_kg"),  # above the central 1.8 kg
        ({"mass_max_kg": "1.0"}, "mass_max_kg"),  # below the central 1.8 kg
        ({"mass_kg": None, "mass_max_kg": "2.0"}, "mass_kg"),  # a range without its mass
    ],
)
def test_bad_writes_get_400_with_field_errors(api, editor, catalogue, change, field):
    api.force_authenticate(editor)
    response = api.post(URL, VALID | change, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_partial_update_runs_model_rules(api, editor):
    model = factories.hardware_model(kind="accelerator")
    api.force_authenticate(editor)
    response = api.patch(f"{URL}{model.pk}/", {"kind": "psu"}, format="json")
    assert response.status_code == 400 and "memory_gb" in response.json()


def test_token_from_the_command_authenticates(api, procurement_user, catalogue):
    out = StringIO()
    call_command("create_api_token", procurement_user.username, stdout=out)
    key = out.getvalue().strip()
    assert ApiToken.objects.get(user=procurement_user).prefix == key[:8]
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get(URL).status_code == 200


def test_schema_and_docs_are_served_to_signed_in_users(reader):
    schema = reader.get("/api/schema/", {"format": "json"})
    assert schema.status_code == 200
    assert "/api/hardware-models/" in schema.json()["paths"]
    assert reader.get("/api/docs/").status_code == 200


def test_admin_shows_sources_beside_figures(client, catalogue):
    admin = factories.user("root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    page = client.get("/admin/hardware/hardwaremodel/", {"kind__exact": "accelerator"})
    assert page.status_code == 200
    assert b"A100 SXM4 40 GB" in page.content and b"gpu_specs.csv" in page.content
    model_id = factories.HardwareModel.objects.get(slug="nvidia-t4").pk
    detail = client.get(f"/admin/hardware/hardwaremodel/{model_id}/change/")
    assert detail.status_code == 200 and b"networkoutlet.com" in detail.content
