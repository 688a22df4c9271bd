"""What schemathesis found on the merged API, each as a plain test: values of the wrong type
(or an empty value where the parameter has a default) are refused naming the parameter, and the
schema says a pull's applier may be blank."""

import pytest
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
