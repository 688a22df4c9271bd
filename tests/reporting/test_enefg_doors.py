"""The EnEfG rules through every door: the API (exemptions, management systems, findings), the
period page and the EU workbook. Each case is read from the act (BGBl. 2023 I Nr. 309); the
paragraph is cited in each test. The RZReg export is covered in test_label_rzreg.py."""

import io
from decimal import Decimal

import openpyxl
import pytest
from django.core.management import call_command

from reporting.computation import compute_and_store
from reporting.models import FieldValue, SiteProfile
from tests import factories as f
from tests.reporting.conftest import make_site, period

pytestmark = pytest.mark.django_db


def _de_site(code, *, started=(2019, 3), public_owner=False):
    site = make_site(code, country="DE", time_zone="Europe/Berlin")
    SiteProfile.objects.filter(site=site).update(
        operation_start_year=started[0],
        operation_start_month=started[1],
        public_owner=public_owner,
    )
    return site


def _enter(p, **values):
    for symbol, value in values.items():
        FieldValue.objects.create(
            period=p, symbol=symbol, value=Decimal(value), quality="measured", measured_by="meter"
        )


def _findings(api, p):
    api.post(f"/api/periods/{p.pk}/compute/")
    body = api.get(f"/api/periods/{p.pk}/").json()
    return {x["rule_id"]: x for x in body["result"]["findings"]}, body


@pytest.fixture
def root(api):
    api.force_authenticate(f.user("root", is_staff=True, is_superuser=True))
    return api


def test_a_200_kw_site_gets_one_info_and_no_enefg_warning_over_the_api(root):
    """§3 Nr. 24: below 300 kW non-redundant load there is no "Rechenzentrum" and no duty."""
    p = period(_de_site("BRL2"), 2025)
    _enter(p, PNR="200", EDC="2000000", EIT="1000000", **{"ERES-TOT": "0"})
    found, body = _findings(root, p)
    enefg = {k: v for k, v in found.items() if v.get("legal_ref")}
    assert list(enefg) == ["enefg-scope"] and enefg["enefg-scope"]["severity"] == "info"
    assert not [w for w in body["result"]["warnings"] if w.get("legal_ref")]


def test_exactly_300_kw_is_in_scope_and_an_unknown_basis_is_unknown(root):
    """§3 Nr. 24 "ab 300 Kilowatt"; §11(5) on electricity: without EOWN the share is unknown."""
    p = period(_de_site("BRL3"), 2025)
    _enter(p, PNR="300", EDC="1500000", EIT="1000000", EGRID="1400000", EFEED="0")
    _enter(p, **{"ERES-TOT": "1400000"})
    found, _ = _findings(root, p)
    assert (
        found["enefg-scope"]["severity"] == "info"
        and "from 300 kW" in found["enefg-scope"]["message"]
    )
    share = found["enefg-renewable-share"]
    assert share["severity"] == "warning" and "unknown" in share["message"]  # not REF's 93 %


def test_an_erf_exemption_entered_over_the_api_names_its_ground(root):
    """§11(2) S. 1 Nr. 2 (ERF ≥ 10 % two years after a start from 1 July 2026) and §11(3) S. 1
    Nr. 3 (heat offered at cost, not taken within six months)."""
    site = _de_site("BRL4", started=(2026, 7))
    p = period(site, 2028)
    _enter(p, PNR="800", EDC="1000000", EIT="850000", EREUSE="50000", EUPGRADE="0")
    found, _ = _findings(root, p)
    assert found["enefg-erf"]["severity"] == "warning"  # 5 % < 10 %
    body = {
        "period": p.pk,
        "ground": "11-3-3",
        "valid_from": "2028-01-01",
        "document": "Angebot an Stadtwerke vom 2 Jan 2028, unbeantwortet",
    }
    assert root.post("/api/enefg-exemptions/", body, format="json").status_code == 201
    found, _ = _findings(root, p)
    assert "enefg-erf" not in found
    exempt = found["enefg-erf-exempt"]
    assert exempt["severity"] == "info" and "§11(3) S. 1 Nr. 3" in exempt["message"]
    assert "Angebot an Stadtwerke" in exempt["message"]
    listed = root.get("/api/enefg-exemptions/", {"period": p.pk}).json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert [r["ground_label"] for r in rows] == [
        "§11(3) Nr. 3: heat offered at cost, not taken in six months"
    ]


def test_the_period_page_lists_the_exemption_with_its_ground_label(root, client):
    """§11(3) S. 1 Nr. 2: the operator's proof, entered on the period page."""
    p = period(_de_site("BRLB", started=(2026, 7)), 2028)
    body = {"period": p.pk, "ground": "11-3-2", "document": "Wärmeliefervertrag 2027"}
    assert root.post("/api/enefg-exemptions/", body, format="json").status_code == 201
    client.force_login(f.user("root3", is_staff=True, is_superuser=True))
    html = client.get(f"/admin/reporting/reportingperiod/{p.pk}/change/").content.decode()
    assert "EnEfG exemption" in html and "Wärmeliefervertrag 2027" in html
    assert "waste-heat agreement with municipality or network" in html


def test_exactly_10_percent_erf_meets_the_duty_of_a_start_on_1_july_2026(root):
    """§11(2) S. 1 Nr. 2 "mindestens 10 Prozent"; a start on 1 July 2026 is "ab dem 1. Juli"."""
    p = period(_de_site("BRL5", started=(2026, 7)), 2028)
    _enter(p, PNR="800", EDC="1000000", EIT="850000", EREUSE="100000", EUPGRADE="0")
    found, _ = _findings(root, p)
    assert found["enefg-erf"]["severity"] == "info"


def test_a_start_in_june_2026_is_existing_and_checked_on_the_eu_pue(root):
    """§11(1): "vor dem 1. Juli 2026" → PUE ≤ 1.5 from 1 July 2027 on the EU PUE; §11(2) S. 3's
    exclusion is for the new data centres' PUE only. Exactly 1.5 meets it."""
    p = period(_de_site("BRL6", started=(2026, 6)), 2028)
    _enter(p, PNR="800", EDC="1500000", EIT="1000000", EUPGRADE="100000")
    found, body = _findings(root, p)
    assert found["enefg-pue"]["severity"] == "info" and "EU PUE" in found["enefg-pue"]["message"]
    indicators = body["result"]["indicators"]
    assert Decimal(indicators["PUE"]) == Decimal("1.5")
    assert Decimal(indicators["PUE-11"]) == Decimal("1.4")  # both named, side by side


def test_section_12_over_the_api_and_on_the_period_page(root, client):
    """§12(1) a system by 1 July 2025; §12(3) validated or certified from 1 January 2026 from
    1 MW."""
    site = _de_site("BRL7")
    p = period(site, 2026)
    _enter(p, PNR="1000")
    found, _ = _findings(root, p)
    assert found["enefg-ems"]["severity"] == "warning"
    assert found["enefg-validation"]["severity"] == "warning"
    system = {
        "site": "BRL7",
        "kind": "iso-50001",
        "state": "certified",
        "since": "2025-06-01",
        "document": "ISO 50001 Zertifikat 77",
        "body": "Zertifizierer GmbH",
    }
    assert root.post("/api/management-systems/", system, format="json").status_code == 201
    wrong = {**system, "kind": "emas"}  # EMAS is validated, not certified
    refused = root.post("/api/management-systems/", wrong, format="json")
    assert refused.status_code == 400 and "state" in refused.json()
    found, _ = _findings(root, p)
    assert found["enefg-ems"]["severity"] == "info"
    assert found["enefg-validation"]["severity"] == "info"

    client.force_login(f.user("root2", is_staff=True, is_superuser=True))
    html = client.get(f"/admin/reporting/reportingperiod/{p.pk}/change/").content.decode()
    assert "EnEfG §12 management system" in html and "<strong>certified</strong>" in html
    assert "ISO 50001 Zertifikat 77" in html and "enefg-validation" in html
    assert "The 2026 report is due 15 May 2027" in html  # the dictionary, with its reason


def test_findings_reach_the_eu_workbook(root, tmp_path):
    """§3 Nr. 24: the scope finding is in the workbook's compliance table with its reference."""
    p = period(_de_site("BRL8"), 2025)
    _enter(p, PNR="250")
    compute_and_store(p)
    out = tmp_path / "eu.xlsx"
    call_command("export_eu", year=2025, allow_unvalidated=True, out=str(out), stdout=io.StringIO())
    rows = list(openpyxl.load_workbook(out)["F_Omissions_Estimates"].iter_rows(values_only=True))
    scope = [r for r in rows if "enefg-scope" in r]
    assert scope and "EnEfG §3 Nr. 24" in scope[0]


def test_an_exemption_without_proof_or_with_a_late_decommissioning_is_refused(root):
    """§11(3) "wenn der Betreiber … nachweist"; §12(6) "vor dem 1. Juli 2027"."""
    p = period(_de_site("BRL9"), 2026)
    no_proof = {"period": p.pk, "ground": "11-3-2", "document": " "}
    response = root.post("/api/enefg-exemptions/", no_proof, format="json")
    assert response.status_code == 400 and "document" in response.json()
    late = {"period": p.pk, "ground": "12-6", "valid_until": "2027-07-01", "document": "Plan"}
    response = root.post("/api/enefg-exemptions/", late, format="json")
    assert response.status_code == 400 and "1 July 2027" in str(response.json())
    late["valid_until"] = "2027-06-30"
    assert root.post("/api/enefg-exemptions/", late, format="json").status_code == 201


def test_upgrading_electricity_above_edc_is_warned_and_leaves_the_section_11_pue_blank(root):
    """§11(2) S. 3 leaves a part of EDC out; a part larger than the whole is an input error."""
    p = period(_de_site("BRLA"), 2025)
    _enter(p, PNR="800", EDC="1000", EIT="800", EUPGRADE="1200")
    found, body = _findings(root, p)
    assert found["eupgrade-above-edc"]["severity"] == "warning"
    assert body["result"]["indicators"]["PUE-11"] is None
    assert Decimal(body["result"]["indicators"]["PUE"]) == Decimal("1.25")  # the EU PUE stands


def test_bad_exemption_and_system_input_is_a_400_naming_the_field(root):
    """No input answers 500: unknown period or site, bad dates, an end before the start."""
    p = period(_de_site("BRLC"), 2026)
    cases = [
        (
            "/api/enefg-exemptions/",
            {"period": 999999, "ground": "11-3-1", "document": "x"},
            "period",
        ),
        ("/api/enefg-exemptions/", {"period": p.pk, "ground": "11-3-9", "document": "x"}, "ground"),
        (
            "/api/enefg-exemptions/",
            {
                "period": p.pk,
                "ground": "11-3-1",
                "document": "x",
                "valid_from": "2027-01-01",
                "valid_until": "2026-01-01",
            },
            "valid_until",
        ),
        (
            "/api/management-systems/",
            {
                "site": "NOPE",
                "kind": "emas",
                "state": "in-place",
                "since": "2025-01-01",
                "document": "x",
            },
            "site",
        ),
        (
            "/api/management-systems/",
            {
                "site": "BRLC",
                "kind": "emas",
                "state": "in-place",
                "since": "2025-13-01",
                "document": "x",
            },
            "since",
        ),
        (
            "/api/management-systems/",
            {
                "site": "BRLC",
                "kind": "iso-50001",
                "state": "certified",
                "since": "2025-01-01",
                "document": "x",
            },
            "body",
        ),
    ]
    for url, body, field in cases:
        response = root.post(url, body, format="json")
        assert response.status_code == 400 and field in response.json(), (body, response.json())


def test_a_submitted_period_takes_no_exemption(root):
    """A submitted period is frozen: its exemptions are written only while it is a draft."""
    p = period(_de_site("BRLD"), 2025)
    p.status = "submitted"
    p.save()
    body = {"period": p.pk, "ground": "11-3-1", "document": "Gutachten"}
    assert root.post("/api/enefg-exemptions/", body, format="json").status_code == 403
