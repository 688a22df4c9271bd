"""A site's Annex I profile over the API: addressed by the site's code, read in scope, written
by the site's operators with the model's own rules, never moved or deleted; what it says reaches
the next computation (EnEfG §12(3): public ownership)."""

import pytest

from reporting.models import SiteProfile
from tests import factories as f
from tests.reporting.conftest import make_site, period
from tests.reporting.test_enefg_doors import _enter, _findings

pytestmark = pytest.mark.django_db

PROFILE = {
    "owner_name": "Stadtwerke Beispiel GmbH",
    "owner_contact": "rz@stadtwerke.example",
    "operator_name": "Stadtwerke Beispiel GmbH",
    "operator_contact": "noc@stadtwerke.example",
    "lau_code": "11000000",
    "nuts3_code": "DE300",
    "dc_type": "enterprise",
    "structure_type": "structure",
    "operation_start_year": 2018,
    "operation_start_month": 6,
    "red_el_hv": "2N",
    "red_el_lv": "N+1",
    "red_el_rack": "2N",
    "red_cool_room": "N+1",
    "red_cool_rack": "N",
    "postcode": "10115",
}


@pytest.fixture
def bare_site(db):
    """A German site without a profile, operated by `op-ber`."""
    from registry.models import Site

    site = Site.objects.create(
        code="BER9", name="Berlin 9", country="DE", time_zone="Europe/Berlin"
    )
    operator = f.user("op-ber", group="operator", is_staff=True)
    site.operators.add(operator)
    return site, operator


def test_an_operator_writes_the_profile_of_their_site_and_reads_it_by_its_code(api, bare_site):
    site, operator = bare_site
    api.force_authenticate(operator)
    created = api.post("/api/site-profiles/", {**PROFILE, "site": "BER9"}, format="json")
    assert created.status_code == 201, created.json()
    body = api.get("/api/site-profiles/BER9/").json()
    assert body["dc_type_label"] == "Enterprise data centre" and body["public_owner"] is None
    changed = api.patch("/api/site-profiles/BER9/", {"public_owner": True}, format="json")
    assert changed.status_code == 200 and changed.json()["public_owner"] is True
    profile = SiteProfile.objects.get(site=site)
    assert profile.public_owner is True and profile.history.count() == 2
    again = api.post("/api/site-profiles/", {**PROFILE, "site": "BER9"}, format="json")
    assert again.status_code == 400 and "site" in again.json()  # one profile per site
    assert api.delete("/api/site-profiles/BER9/").status_code == 405


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"nuts3_code": "FR101"}, "nuts3_code"),  # a French region for a German site
        ({"also_cohosting": True}, "also_cohosting"),  # only a colocation DC co-hosts
        ({"lau_code": "not a code"}, "lau_code"),
        ({"operation_start_month": 13}, "operation_start_month"),
        ({"red_el_hv": "lots"}, "red_el_hv"),
        ({"postcode": "1011"}, "postcode"),
    ],
)
def test_a_bad_profile_is_refused_naming_the_field(api, bare_site, change, field):
    _site, operator = bare_site
    api.force_authenticate(operator)
    refused = api.post("/api/site-profiles/", {**PROFILE, "site": "BER9", **change}, format="json")
    assert refused.status_code == 400 and field in refused.json(), refused.json()
    assert not SiteProfile.objects.exists()


def test_a_profile_stays_with_its_site_and_other_sites_are_out_of_reach(api, bare_site):
    _site, operator = bare_site
    make_site("PAR1")  # with a profile, operated by nobody here
    other = f.user("op-other", group="operator", is_staff=True)
    make_site("FRA1").operators.add(other)
    api.force_authenticate(operator)
    api.post("/api/site-profiles/", {**PROFILE, "site": "BER9"}, format="json")
    moved = api.patch("/api/site-profiles/BER9/", {"site": "PAR1"}, format="json")
    assert moved.status_code == 403  # not theirs: refused before the profile is looked at
    assert api.get("/api/site-profiles/PAR1/").status_code == 404  # outside their scope
    assert [p["site"] for p in api.get("/api/site-profiles/").json()["results"]] == ["BER9"]
    api.force_authenticate(other)
    # Another site's operator learns nothing of BER9 (not even that it has a profile).
    assert (
        api.post("/api/site-profiles/", {**PROFILE, "site": "BER9"}, format="json").status_code
        == 403
    )
    root = f.user("root", is_staff=True, is_superuser=True)
    api.force_authenticate(root)
    moved = api.patch("/api/site-profiles/BER9/", {"site": "FRA1"}, format="json")
    assert moved.status_code == 400 and "stays with its site" in moved.json()["site"][0]


def test_public_ownership_set_over_the_api_reaches_the_next_computation(api, bare_site):
    """EnEfG §12(3): between 300 kW and 1 MW, validation is due only for public owners."""
    site, operator = bare_site
    root = f.user("root", is_staff=True, is_superuser=True)
    api.force_authenticate(operator)
    api.post("/api/site-profiles/", {**PROFILE, "site": "BER9"}, format="json")
    p = period(site, 2026)
    _enter(p, PNR="500")
    api.force_authenticate(root)
    found, _ = _findings(api, p)
    assert "ownership unknown" in found["enefg-validation"]["message"]
    api.force_authenticate(operator)
    api.patch("/api/site-profiles/BER9/", {"public_owner": True}, format="json")
    api.force_authenticate(root)
    found, _ = _findings(api, p)
    assert found["enefg-validation"]["severity"] == "warning"
    assert "ownership unknown" not in found["enefg-validation"]["message"]


def test_the_admin_refuses_a_german_postcode_the_api_refuses(client, bare_site):
    site, _operator = bare_site
    client.force_login(f.user("root", is_staff=True, is_superuser=True))
    form = {**PROFILE, "site": site.pk, "postcode": "1011", "public_owner": "unknown"}
    page = client.post("/admin/reporting/siteprofile/add/", form)
    assert page.status_code == 200 and not SiteProfile.objects.exists()
    assert "A German postcode has five digits" in page.content.decode()
    saved = client.post("/admin/reporting/siteprofile/add/", {**form, "postcode": "10115"})
    assert saved.status_code == 302, saved.content.decode()[:3000]
    assert SiteProfile.objects.get().postcode == "10115"


def test_the_admin_does_not_move_a_profile_to_another_site_either(client, bare_site):
    site, _operator = bare_site
    other = make_site("FRA1")
    SiteProfile.objects.filter(site=other).delete()
    profile = SiteProfile.objects.create(site=site, **PROFILE)
    client.force_login(f.user("root", is_staff=True, is_superuser=True))
    form = {**PROFILE, "site": other.pk, "public_owner": "unknown"}
    page = client.post(f"/admin/reporting/siteprofile/{profile.pk}/change/", form)
    assert page.status_code == 200 and "stays with its site" in page.content.decode()
    assert SiteProfile.objects.get(pk=profile.pk).site == site
