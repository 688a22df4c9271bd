"""Measured beats estimated: operators record runs; candidates use them; bad input is a 400."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from hardware import calibration, inference
from registry.measurements import IMPORT_COLUMNS, as_calibration_rows
from registry.models import ReuseMeasurement
from tests import factories as f
from tests.registry import reuse_factories as rf

pytestmark = pytest.mark.django_db
URL = "/api/reuse-measurements/"
CANDIDATES = "/api/reuse-candidates/"
RUN = {
    "asset": "A10-1",
    "llm": "llama-3-8b",
    "precision": "int8",
    "engine": "vllm",
    "concurrency": 1,
    "context_tokens": 8192,
    "tokens_per_s": "41.5",
    "power_w": "140",
    "duration_s": 600,
    "measured_on": "2026-11-20",
    "note": "vLLM 0.6, bench script",
}


@pytest.fixture
def a10(db):
    return rf.gpu("A10-1", "nvidia-a10")


@pytest.fixture
def par_operator(db):
    user = f.user("op-par", group="operator")
    f.site("PAR1").operators.add(user)
    return user


def _post(api, user, **change):
    api.force_authenticate(user)
    return api.post(URL, {**RUN, **change}, format="json")


def test_an_operator_records_a_run_and_the_candidate_uses_it(api, a10, par_operator):
    response = _post(api, par_operator)
    assert response.status_code == 201, response.json()
    assert response.json()["hardware_model"] == "nvidia-a10" and response.json()["site"] == "PAR1"
    body = api.get(CANDIDATES, {"model": "llama-3-8b", "precision": "int8", "site": "PAR1"})
    row = body.json()["results"][0]
    assert row["basis"] == "measured" and row["tokens_per_s"] == 41.5
    assert row["tokens_per_s_low"] == row["tokens_per_s_high"] == 41.5
    assert row["joules_per_token"] == pytest.approx(140 / 41.5, abs=1e-3)
    assert row["measurement_id"] == response.json()["id"]


def test_a_run_may_state_when_it_started(api, a10, par_operator):
    # 600 s from 23:55 on the 19th in Paris (22:55 UTC) ends at 23:05 UTC: the 19th, in UTC.
    response = _post(api, par_operator, started_at="2026-11-19T23:55:00+01:00",
                     measured_on="2026-11-19")  # fmt: skip
    assert response.status_code == 201, response.json()
    run = ReuseMeasurement.objects.get()
    assert run.started_at.isoformat() == "2026-11-19T22:55:00+00:00"
    assert response.json()["started_at"] == "2026-11-19T22:55:00Z"  # read back in UTC
    assert _post(api, par_operator).status_code == 201  # or leave it blank: known to the day


def test_a_run_of_another_shape_leaves_the_estimate(api, a10, par_operator):
    assert _post(api, par_operator, concurrency=4).status_code == 201
    body = api.get(CANDIDATES, {"model": "llama-3-8b", "precision": "int8", "site": "PAR1"})
    assert body.json()["results"][0]["basis"] == "estimated"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"engine": "warp-drive"}, "engine"),
        ({"tokens_per_s": "0"}, "tokens_per_s"),
        ({"tokens_per_s": "-2"}, "tokens_per_s"),
        ({"power_w": "451"}, "power_w"),  # A10 rated 150 W: 3 × 150 = 450
        ({"llm": "gpt-9"}, "llm"),
        ({"precision": "fp4"}, "precision"),
        ({"asset": "NOPE"}, "asset"),
        ({"n_devices": 2}, "n_devices"),
        ({"measured_on": "yesterday"}, "measured_on"),
        # 600 s from 23:55 UTC ends the next day: the day given must be the day it ended.
        ({"started_at": "2026-11-20T23:55:00Z"}, "measured_on"),
        ({"started_at": "2099-01-01T00:00:00Z", "measured_on": "2099-01-01"}, "started_at"),
        ({"started_at": "half past nine"}, "started_at"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(
    api, a10, par_operator, change, field
):
    response = _post(api, par_operator, **change)
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert ReuseMeasurement.objects.count() == 0


def test_a_component_that_is_not_an_accelerator_is_refused(api, par_operator):
    f.asset("SSD-1", model=f.hardware_model_by_slug("generic-ssd-3840gb"))
    response = _post(api, par_operator, asset="SSD-1")
    assert response.status_code == 400 and "not an accelerator or a server" in str(
        response.json()["asset"]
    )
    assert ReuseMeasurement.objects.count() == 0


def test_a_server_run_counts_for_its_accelerators(api, par_operator):
    rf.server("SRV-1", "nvidia-a100-sxm4-40gb", 2)
    response = _post(api, par_operator, asset="SRV-1", n_devices=2, power_w="700")
    assert response.status_code == 201, response.json()
    assert response.json()["hardware_model"] == "nvidia-a100-sxm4-40gb"
    assert _post(api, par_operator, asset="SRV-1", n_devices=3).status_code == 400


@pytest.mark.parametrize("who", ["other_operator", "auditor", "procurement"])
def test_only_the_sites_operators_record(api, a10, who, auditor_user, procurement_user):
    users = {
        "auditor": auditor_user,
        "procurement": procurement_user,
        "other_operator": f.user("op-lys", group="operator"),
    }
    f.site("LYS1").operators.add(users["other_operator"])
    response = _post(api, users[who])
    assert response.status_code == 400
    assert "may not record measurements at site PAR1" in str(response.json()["asset"])
    assert ReuseMeasurement.objects.count() == 0


def test_csv_import_may_give_each_runs_start(tmp_path, a10, par_operator):
    header = ("asset_tag,llm,precision,engine,n_devices,concurrency,context_tokens,tokens_per_s,"
              "power_w,duration_s,started_at,measured_on,note")  # fmt: skip
    path = tmp_path / "runs.csv"
    path.write_text(
        f"{header}\nA10-1,llama-3-8b,int8,vllm,1,1,8192,41.5,140,600,2026-11-20T09:00Z,"
        "2026-11-20,ok\nA10-1,llama-3-8b,int8,vllm,1,1,8192,41.5,140,600,nine o'clock,"
        "2026-11-20,bad\n",
        encoding="utf-8",
    )
    with pytest.raises(CommandError) as err:
        call_command("import_reuse_measurements", str(path), "--user", "op-par")
    assert "row 3, column started_at: 'nine o'clock' is not a time" in str(err.value)
    assert ReuseMeasurement.objects.count() == 0
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(lines[:2]) + "\n", encoding="utf-8")
    call_command("import_reuse_measurements", str(path), "--user", "op-par", stdout=io.StringIO())
    assert ReuseMeasurement.objects.get().started_at.isoformat() == "2026-11-20T09:00:00+00:00"


def test_anonymous_is_refused(api, a10):
    assert api.post(URL, RUN, format="json").status_code in (401, 403)


def test_csv_import_is_all_or_nothing_with_row_and_column(tmp_path, a10, par_operator):
    header = ",".join(
        ["asset_tag", "llm", "precision", "engine", "n_devices", "concurrency", "context_tokens",
         "tokens_per_s", "power_w", "duration_s", "measured_on", "note"]
    )  # fmt: skip
    good = "A10-1,llama-3-8b,int8,vllm,1,1,8192,41.5,140,600,2026-11-20,ok"
    bad = "A10-1,llama-3-8b,int8,ollama-ish,1,1,8192,0,140,600,2026-11-20,bad"
    path = tmp_path / "runs.csv"
    path.write_text(f"{header}\n{good}\n{bad}\n", encoding="utf-8")
    with pytest.raises(CommandError) as err:
        call_command("import_reuse_measurements", str(path), "--user", "op-par")
    assert "row 3, column engine: unknown engine 'ollama-ish'" in str(err.value)
    assert "row 3, column tokens_per_s: must be above 0" in str(err.value)
    assert ReuseMeasurement.objects.count() == 0
    path.write_text(f"{header}\n{good}\n", encoding="utf-8")
    out = io.StringIO()
    call_command("import_reuse_measurements", str(path), "--user", "op-par", stdout=out)
    assert "1 measurement(s) imported" in out.getvalue()
    assert ReuseMeasurement.objects.get().recorded_by.username == "op-par"


def test_admin_add_runs_the_same_checks(client, a10, par_operator):
    par_operator.is_staff = True
    par_operator.save()
    client.force_login(par_operator)
    url = reverse("admin:registry_reusemeasurement_add")
    form = {**RUN, "asset": a10.id, "n_devices": 1, "engine": "warp-drive"}
    page = client.post(url, form)
    assert page.status_code == 200 and "unknown engine" in page.content.decode()
    assert ReuseMeasurement.objects.count() == 0
    done = client.post(url, {**form, "engine": "vllm"})
    assert done.status_code == 302
    assert ReuseMeasurement.objects.get().recorded_by == par_operator


def test_the_admin_refuses_a_start_that_ends_on_another_day(client, a10, par_operator):
    # The same rule as the API and the CSV: the admin's split date and time widgets post a start
    # (UTC, the project's time zone) whose 600 s end the day after measured_on.
    par_operator.is_staff = True
    par_operator.save()
    client.force_login(par_operator)
    url = reverse("admin:registry_reusemeasurement_add")
    form = {**RUN, "asset": a10.id, "n_devices": 1, "started_at_0": "2026-11-20",
            "started_at_1": "23:55:00"}  # fmt: skip
    page = client.post(url, form)
    assert page.status_code == 200 and "ended on 2026-11-21 (UTC)" in page.content.decode()
    assert ReuseMeasurement.objects.count() == 0
    assert client.post(url, {**form, "started_at_1": "09:00:00"}).status_code == 302
    assert ReuseMeasurement.objects.get().started_at.isoformat() == "2026-11-20T09:00:00+00:00"


def test_calibration_can_fit_a_sites_runs(api, a10, par_operator):
    assert _post(api, par_operator).status_code == 201
    rows = as_calibration_rows(["PAR1"])
    assert len(rows) == 1 and rows[0]["gpu"] == "nvidia-a10" and rows[0]["tokens_per_s"] == "41.500"
    table = calibration.feature_table(
        rows, inference.load_llm_models(), calibration.load_accelerators()
    )
    assert table.iloc[0]["engine"] == "vllm" and table.iloc[0]["tokens_per_s"] == 41.5


def test_the_schema_describes_ranges_and_measurements(api, staff_user):
    api.force_authenticate(f.user("root", is_superuser=True, is_staff=True))
    schema = api.get("/api/schema/", {"format": "json"}).json()
    assert "/api/reuse-measurements/" in schema["paths"]
    candidate = schema["components"]["schemas"]["Candidate"]["properties"]
    for name in ("tokens_per_s_low", "kgco2e_per_mtok_high", "payback_years_low", "basis", "fit"):
        assert name in candidate, name


@pytest.mark.parametrize("power", ["0", "-3"])
def test_a_power_of_zero_or_less_is_refused_naming_the_field(api, client, a10, par_operator, power):
    # An average power draw of 0 W or less is as impossible as 0 tokens/s: the API and the
    # admin name power_w, not a database constraint.
    response = _post(api, par_operator, power_w=power)
    assert response.status_code == 400 and "power_w" in response.json(), response.json()
    par_operator.is_staff = True
    par_operator.save()
    client.force_login(par_operator)
    page = client.post(
        reverse("admin:registry_reusemeasurement_add"),
        {**RUN, "asset": a10.id, "n_devices": 1, "power_w": power},
    )
    assert page.status_code == 200 and "Constraint" not in page.content.decode()
    assert page.context["adminform"].form.errors.get("power_w")
    assert ReuseMeasurement.objects.count() == 0


@pytest.mark.parametrize(
    ("tokens", "power", "column"),
    [
        ("NaN", "140", "tokens_per_s"),
        ("41.5", "NaN", "power_w"),
        ("Infinity", "140", "tokens_per_s"),
        ("41.5", "0", "power_w"),
    ],
)
def test_csv_import_refuses_impossible_numbers_by_row_and_column(
    tmp_path, a10, par_operator, tokens, power, column
):
    # Decimal() reads "NaN" and "Infinity": the import must say which cell, not crash.
    header = ",".join(IMPORT_COLUMNS)
    row = f"A10-1,llama-3-8b,int8,vllm,1,1,8192,{tokens},{power},600,2026-11-20,x"
    path = tmp_path / "runs.csv"
    path.write_text(f"{header}\n{row}\n", encoding="utf-8")
    with pytest.raises(CommandError) as err:
        call_command("import_reuse_measurements", str(path), "--user", "op-par")
    assert f"row 2, column {column}:" in str(err.value)
    assert ReuseMeasurement.objects.count() == 0


def test_a_measured_run_also_sets_avoided_carbon_and_payback(api, a10, par_operator):
    # Avoided carbon and payback follow from tokens/s and power: a row that says `measured`
    # must derive them from the measured run, not keep the estimate's.
    query = {"model": "llama-3-8b", "precision": "int8", "site": "PAR1"}
    api.force_authenticate(par_operator)
    estimated = api.get(CANDIDATES, query).json()
    new = estimated["new_equivalent"]
    assert _post(api, par_operator, tokens_per_s="5", power_w="50").status_code == 201
    row = api.get(CANDIDATES, query).json()["results"][0]
    assert row["basis"] == "measured"
    # 5 tok/s is delivered by one group of the new equivalent, whatever the estimate said.
    groups = -(-5 // new["tokens_per_s"])
    assert row["new_equivalent_devices"] == groups * new["n_devices"]
    per_device = new["embodied_kgco2e_per_device"]
    assert row["embodied_avoided_kgco2e"] == pytest.approx(groups * per_device, rel=1e-3)
    # Payback: the old kit's 50 W against the new kit's energy for the same 5 tok/s.
    gain_kw = (50 - 5 * new["joules_per_token"]) / 1000
    years = row["embodied_avoided_kgco2e"] / (gain_kw * 8760 * row["pue"] * row["grid_kg_per_kwh"])
    assert row["payback_years"] == pytest.approx(years, rel=1e-2)
    assert row["payback_years_low"] <= row["payback_years"]


def test_a_sites_calibration_never_changes_the_constants_every_site_uses(
    api, a10, par_operator, tmp_path, settings, monkeypatch
):
    # The shipped constants estimate every site's candidates: fitting PAR1's own runs into
    # them would use PAR1's measurements at FRA1 (and label them "published" in docs/reuse.md).
    # With --site-measurements the command shows the fit and writes nothing shared.
    assert _post(api, par_operator).status_code == 201
    stored = tmp_path / "reuse_calibration.json"
    stored.write_bytes(inference.CALIBRATION_FILE.read_bytes())
    (tmp_path / "docs").mkdir()
    page = tmp_path / "docs" / "reuse.md"
    page.write_text(f"{calibration.DOCS_BEGIN}\n{calibration.DOCS_END}\n", encoding="utf-8")
    monkeypatch.setattr(inference, "CALIBRATION_FILE", stored)
    settings.BASE_DIR = tmp_path
    before = stored.read_bytes()
    out = io.StringIO()
    call_command("calibrate_reuse", "--site-measurements", "PAR1", stdout=out)
    shipped = len(calibration.load_table())
    assert f"{shipped + 1} measurements" in out.getvalue() and "nothing written" in out.getvalue()
    assert stored.read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "docs").iterdir()) == ["reuse.md"]
    assert "published" not in page.read_text()


def test_devices_are_counted_as_the_candidates_count_them(api, par_operator):
    # An MI250 is two devices (GCDs) to the software and to the candidates: a server with two
    # holds four, a 4-device run matches its 4-device candidate, and the power limit is per
    # device (3 × 250 W each), not per package.
    rf.server("SRV-1", "amd-mi250", 2)
    query = {"model": "llama-3-70b", "precision": "fp16", "site": "PAR1"}
    api.force_authenticate(par_operator)
    assert api.get(CANDIDATES, query).json()["results"][0]["n_devices"] == 4
    run = {"asset": "SRV-1", "llm": "llama-3-70b", "precision": "fp16", "n_devices": 4}
    assert _post(api, par_operator, **run, power_w="3001").json().keys() == {"power_w"}
    response = _post(api, par_operator, **run, tokens_per_s="20", power_w="1200")
    assert response.status_code == 201, response.json()
    assert _post(api, par_operator, **run | {"n_devices": 5}).json().keys() == {"n_devices"}
    row = api.get(CANDIDATES, query).json()["results"][0]
    assert (row["n_devices"], row["basis"], row["tokens_per_s"]) == (4, "measured", 20)


def test_a_run_without_power_says_its_energy_figures_are_estimated(api, client, a10, par_operator):
    # power_w is optional: J/token, kgCO2e/Mtok and payback then rest on the assumed power, and
    # every door says so rather than calling them measured.
    assert _post(api, par_operator, power_w=None).status_code == 201
    query = {"model": "llama-3-8b", "precision": "int8", "site": "PAR1"}
    row = api.get(CANDIDATES, query).json()["results"][0]
    assert (row["basis"], row["energy_basis"]) == ("measured", "estimated")
    out = io.StringIO()
    call_command("reuse_candidates", "--model", "llama-3-8b", "--precision", "int8",
                 "--site", "PAR1", stdout=out)  # fmt: skip
    assert "measured, power estimated" in out.getvalue()
    client.force_login(f.user("root", is_superuser=True, is_staff=True))
    page = client.get(reverse("admin:registry_reuse_candidates"), query).content.decode()
    assert "measured, power estimated" in page
    assert _post(api, par_operator, power_w="140").status_code == 201
    row = api.get(CANDIDATES, query).json()["results"][0]
    assert (row["basis"], row["energy_basis"]) == ("measured", "measured")


def test_a_run_on_hardware_the_estimate_rules_out_still_counts_as_measured(api, a10, par_operator):
    # Llama 3 8B in FP16 with four 16k-token requests: the estimate's need (weights 14.96 GiB,
    # KV 8 GiB, runtime 1.5 GiB) is above the A10's 24 GiB. The site ran it: the run stands.
    query = {"model": "llama-3-8b", "precision": "fp16", "site": "PAR1",
             "context": 16384, "concurrency": 4}  # fmt: skip
    api.force_authenticate(par_operator)
    before = api.get(CANDIDATES, query).json()["results"][0]
    assert before["supported"] is False and before["basis"] == "estimated"
    shape = {"precision": "fp16", "concurrency": 4, "context_tokens": 16384}
    response = _post(api, par_operator, tokens_per_s="60", **shape)
    assert response.status_code == 201, response.json()
    row = api.get(CANDIDATES, query).json()["results"][0]
    assert row["supported"] is True and row["basis"] == "measured"
    assert row["tokens_per_s"] == 60.0
    assert row["joules_per_token"] == pytest.approx(140 / 60, abs=1e-3)
    assert row["reason"].startswith("runs here (measured), although the estimate said: ")
    assert before["reason"] in row["reason"]
