"""What schemathesis found on the merged API, each as a plain test: values of the wrong type
(or an empty value where the parameter has a default) are refused naming the parameter, and the
schema says a pull's applier may be blank."""

import os
import socket
import subprocess
import sys
import time

import pytest
import requests
from drf_spectacular.generators import SchemaGenerator

from tests import factories as f


@pytest.fixture
def root(db):
    return f.user("root", is_staff=True, is_superuser=True)


@pytest.mark.parametrize(
    ("path", "parameter", "value"),
    [
        ("/api/assets/", "page_size", "null"),
        ("/api/assets/", "page_size", "0"),
        ("/api/readings/", "page_size", "ten"),
        ("/api/hardware-models/", "holds_data", "null"),
        ("/api/connector-sources/", "enabled", "maybe"),
        ("/api/assets/labels/", "layout", ""),
        ("/api/assets/labels/", "skip", ""),
        ("/api/reuse-candidates/", "rank", ""),
        ("/api/circularity/", "year", ""),
        ("/api/assets/labels/", "format", ""),
        ("/api/assets/", "format", ""),
        ("/api/ingest-jobs/", "page", ""),
        ("/api/assets/", "page_size", " "),
        ("/api/readings/", "to", ""),
        ("/api/hardware-models/", "search", ""),
    ],
)
def test_a_value_of_the_wrong_type_is_a_400_naming_the_parameter(api, root, path, parameter, value):
    api.force_authenticate(root)
    response = api.get(path, {parameter: value})
    assert response.status_code == 400, response.content[:300]
    assert parameter in response.json()


def test_right_values_still_filter(api, root):
    api.force_authenticate(root)
    assert api.get("/api/hardware-models/", {"holds_data": "true"}).status_code == 200
    assert api.get("/api/assets/", {"page_size": "5"}).status_code == 200


def test_the_schema_lets_a_pull_have_no_applier(db):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    applied_by = schema["components"]["schemas"]["Pull"]["properties"]["applied_by"]
    assert applied_by.get("nullable") is True


def test_request_bodies_are_offered_as_json_or_csv_only(db):
    """A form turns an empty field into null, so a form body the schema offered could carry a
    blank the schema forbids (found on POST /api/measurement-points/ with an empty valid_to)."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    offered = {
        media
        for item in schema["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict)
        for media in operation.get("requestBody", {}).get("content", {})
    }
    assert offered <= {"application/json", "text/csv"}


def test_a_blank_web_address_is_in_the_schema_and_accepted(api, root):
    """The model allows a manufacturer without a website; the schema said format "uri" only, so
    schemathesis counted the accepted blank as a schema-violating request."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    website = schema["components"]["schemas"]["Manufacturer"]["properties"]["website"]
    assert {"type": "string", "maxLength": 0} in website["anyOf"]
    api.force_authenticate(root)
    response = api.post("/api/manufacturers/", {"name": "Acme", "slug": "acme", "website": ""})
    assert response.status_code == 201, response.content[:300]
    bad = api.post("/api/manufacturers/", {"name": "B", "slug": "b", "website": "not a url"})
    assert bad.status_code == 400 and "website" in bad.json()


def test_a_number_where_the_schema_says_text_is_refused(api, root):
    api.force_authenticate(root)
    response = api.post("/api/manufacturers/", {"name": "Acme", "slug": 0}, format="json")
    assert response.status_code == 400 and "slug" in response.json()
    assert (
        api.post("/api/manufacturers/", {"name": "Acme", "slug": "0"}, format="json").status_code
        == 201
    )


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("data_bearing", 0, "expected true or false, got the number 0"),
        ("data_bearing", "true", "expected true or false, got text"),
        ("notes", 0, "expected text, got the number 0"),
        ("serial_number", ["SN"], "expected text, got a list"),
    ],
)
def test_a_json_value_of_another_type_is_refused_naming_the_field(api, root, field, value, reason):
    """DRF coerced `0` to false and `0` to "0"; the schema names the type, so schemathesis counted
    each as a schema-violating request accepted (PATCH and PUT of an asset, a period's
    fill_gaps, an audit's note)."""
    asset = f.asset("GPU-1")
    api.force_authenticate(root)
    response = api.patch(f"/api/assets/{asset.pk}/", {field: value}, format="json")
    assert response.status_code == 400, response.content[:300]
    assert response.json() == {field: [reason]}
    asset.refresh_from_db()
    assert asset.data_bearing is False and asset.notes == ""


def test_the_right_json_types_are_still_taken(api, root):
    asset = f.asset("GPU-1")
    api.force_authenticate(root)
    response = api.patch(
        f"/api/assets/{asset.pk}/", {"data_bearing": True, "notes": "rack 4"}, format="json"
    )
    assert response.status_code == 200, response.content[:300]
    asset.refresh_from_db()
    assert asset.data_bearing is True and asset.notes == "rack 4"


def test_a_whole_number_field_takes_a_whole_number_only(api, root):
    api.force_authenticate(root)
    model = f.hardware_model()
    url = f"/api/hardware-models/{model.pk}/"
    assert api.patch(url, {"release_year": "2020"}, format="json").json() == {
        "release_year": ["expected a whole number, got text"]
    }
    assert api.patch(url, {"release_year": True}, format="json").status_code == 400
    assert api.patch(url, {"release_year": 2020}, format="json").status_code == 200


def test_a_plain_request_body_checks_types_too(api, root):
    site = f.site("PAR1")
    api.force_authenticate(root)
    response = api.post("/api/audits/", {"site": site.code, "note": 0}, format="json")
    assert response.status_code == 400 and response.json() == {
        "note": ["expected text, got the number 0"]
    }


def test_further_specs_are_an_object(api, root):
    """The schema said nothing of `specs`, which schemathesis read as "required" when it left it
    out of a PUT; it is now an object, and a PUT without it keeps what is stored."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    specs = schema["components"]["schemas"]["HardwareModelRequest"]["properties"]["specs"]
    assert specs["type"] == "object"
    model = f.hardware_model(specs={"pcie_gen": 4})
    api.force_authenticate(root)
    url = f"/api/hardware-models/{model.pk}/"
    refused = api.patch(url, {"specs": [4]}, format="json")
    assert refused.status_code == 400 and "specs" in refused.json()
    body = {k: v for k, v in api.get(url).json().items() if k in ("name", "slug", "kind")}
    kept = api.put(url, {**body, "manufacturer": model.manufacturer.slug}, format="json")
    assert kept.status_code == 200, kept.content[:300]
    model.refresh_from_db()
    assert model.specs == {"pcie_gen": 4}


def test_every_api_serializer_checks_json_types():
    """The rule holds for serializers written later too: each one in the apps derives from
    circulus.api.StrictTypes (through circulus.api.Serializer or ModelSerializer)."""
    from rest_framework import serializers

    from circulus.api import StrictTypes

    def every(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from every(sub)

    ours = {
        cls
        for cls in every(serializers.Serializer)
        if cls.__module__.split(".")[0]
        in {"accounts", "connectors", "hardware", "registry", "reporting"}
    }
    assert ours, "no serializers found"
    assert sorted(c.__qualname__ for c in ours if not issubclass(c, StrictTypes)) == []


def test_a_method_the_view_does_not_take_is_still_a_405_with_empty_parameters(api, root):
    api.force_authenticate(root)
    assert api.generic("TRACE", "/api/assets/?search=&page=").status_code == 405
    assert api.delete("/api/readings/?to=").status_code == 405


def test_query_text_parameters_and_request_decimals_say_what_is_taken(db):
    """Every text query parameter says minLength 1 (empty is refused); a decimal in a request
    may be a number or text, as DRF reads both (schemathesis flagged `0` for a decimal)."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for item in schema["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                inner = parameter["schema"]
                inner = inner.get("items", inner) if inner.get("type") == "array" else inner
                if (
                    parameter["in"] == "query"
                    and inner.get("type") == "string"
                    and "enum" not in inner
                ):
                    assert inner.get("minLength", 0) >= 1, parameter["name"]
    coverage = schema["components"]["schemas"]["PeriodRequest"]["properties"][
        "cstor_scr_coverage_pct"
    ]
    number, text = coverage["anyOf"]
    assert number["type"] == "number" and text["type"] == "string"


def test_the_api_docs_still_load_their_script(client, root):
    """The docs page loads its script from `?script=`, the one empty parameter a page may take."""
    client.force_login(root)
    response = client.get("/api/docs/?script=")
    assert response.status_code == 200 and b"SwaggerUIBundle" in response.content


def test_an_address_longer_than_gunicorn_takes_is_a_documented_414(tmp_path):
    """Found by the stateful run (seed 1796618012): a 5,696-byte request line to
    /api/hardware-models/ was answered 414 by gunicorn, which the schema did not list. gunicorn
    answers before Django, so the app here needs no database."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "circulus.wsgi:application", "-b", f"127.0.0.1:{port}"],
        env={**os.environ, "DEBUG": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/hardware-models/?search=" + "x" * 5_000
        for _ in range(100):
            try:
                answer = requests.get(url, timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        assert answer.status_code == 414
    finally:
        server.terminate()
        server.wait(timeout=10)
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for item in schema["paths"].values():
        for operation in item.values():
            assert "414" in operation["responses"]
