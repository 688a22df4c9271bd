"""The OpenAPI schema tells the truth: each operation lists the errors it can answer, filters
refuse values they cannot apply (400 naming the parameter), and an endpoint advertises only
the filters it applies."""

import pytest
from drf_spectacular.generators import SchemaGenerator

from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def _operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method.upper(), operation


def test_every_operation_lists_the_errors_it_can_answer(schema):
    missing = {}
    for path, method, operation in _operations(schema):
        expected = {"400", "401", "403", "404", "414", "429", "503"}
        if method in {"POST", "PUT", "PATCH", "DELETE"}:
            expected.add("409")
        if method in {"POST", "PUT", "PATCH"}:
            expected |= {"413", "415"}
        lacking = expected - set(operation["responses"])
        if lacking:
            missing[f"{method} {path}"] = sorted(lacking)
    assert not missing


def test_paged_lists_may_answer_404_for_a_page_that_is_not_there(schema, api):
    assert "404" in schema["paths"]["/api/assets/"]["get"]["responses"]
    api.force_authenticate(f.user("root", is_superuser=True))
    assert api.get("/api/assets/", {"cursor": "not-a-cursor"}).status_code == 404


def test_the_reuse_release_lists_its_partial_outcome(schema):
    responses = schema["paths"]["/api/reuse-requests/release/"]["post"]["responses"]
    assert {"201", "207", "403", "404", "409"} <= set(responses)


@pytest.mark.parametrize(
    "url, parameter",
    [
        ("/api/periods/?year=0.5", "year"),
        ("/api/periods/?year=", "year"),
        ("/api/assets/?purchased_before=", "purchased_before"),
        ("/api/assets/?purchased_before=yesterday", "purchased_before"),
        ("/api/hardware-models/?release_year_min=2020.5", "release_year_min"),
        ("/api/lifecycle-events/?occurred_after=", "occurred_after"),
    ],
)
def test_a_filter_refuses_a_value_it_cannot_apply_naming_it(api, url, parameter):
    api.force_authenticate(f.user("root", is_superuser=True))
    response = api.get(url)
    assert response.status_code == 400, response.content
    assert parameter in response.json()


def test_asset_events_and_history_advertise_no_asset_list_filters(schema, api):
    asset_filters = {
        p["name"]
        for p in schema["paths"]["/api/assets/"]["get"]["parameters"]
        if p["in"] == "query"
    }
    assert {"state", "site", "purchased_before"} <= asset_filters
    for path in ("/api/assets/{id}/events/", "/api/assets/{id}/history/"):
        query = {
            p["name"]
            for p in schema["paths"][path]["get"].get("parameters", [])
            if p["in"] == "query"
        }
        assert not query & asset_filters, (path, query & asset_filters)
    # And a filter sent anyway changes nothing: the asset's events are all there.
    asset = f.asset("GPU-1")
    api.force_authenticate(f.user("root", is_superuser=True))
    events = api.get(f"/api/assets/{asset.pk}/events/", {"state": "recycled"})
    assert events.status_code == 200 and len(events.json()) == 1
