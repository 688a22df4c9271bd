"""The front door (`/`), the login every role can use, and the API docs for visitors."""

import re

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_a_visitor_is_told_what_circulus_is_and_where_to_go(client):
    response = client.get("/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "circular-economy registry" in body
    for url in (reverse("admin:index"), reverse("api-docs"), reverse("login")):
        assert f'href="{url}' in body
    assert reverse("doc", args=["quickstart"]) in body


@pytest.mark.parametrize(
    ("user_fixture", "role", "first_doc"),
    [
        ("operator_user", "operator", "registry-admin"),
        ("procurement_user", "procurement", "reuse"),
        ("auditor_user", "auditor", "eu-reporting"),
    ],
)
def test_each_role_gets_the_docs_for_its_role(client, request, user_fixture, role, first_doc):
    client.force_login(request.getfixturevalue(user_fixture))
    response = client.get("/")
    assert response.context["roles"] == [role]
    assert response.context["docs"][0][0] == first_doc
    assert reverse("doc", args=[first_doc]) in response.content.decode()


def test_the_front_door_stylesheet_exists_for_the_static_files_server(client):
    """Whitenoise (dev) and collectstatic (production) find files through the finders."""
    body = client.get("/").content.decode()
    stylesheets = re.findall(r'<link rel="stylesheet" href="([^"]+)"', body)
    assert stylesheets
    prefix = "/" + settings.STATIC_URL.lstrip("/")
    for href in stylesheets:
        assert href.startswith(prefix)
        assert finders.find(href.removeprefix(prefix)), f"{href} is not a static file"


def test_a_catalogue_editor_gets_the_catalogue_docs(client, db):
    from hardware.permissions import CATALOGUE_EDITOR
    from tests import factories

    client.force_login(factories.user("ed", group=CATALOGUE_EDITOR, is_staff=True))
    response = client.get("/")
    assert response.context["roles"] == [CATALOGUE_EDITOR]
    assert response.context["docs"][0][0] == "hardware-catalogue"


def test_the_admin_link_is_offered_to_staff_only(client, procurement_user, operator_user):
    client.force_login(procurement_user)
    assert not client.get("/").context["admin_allowed"]
    client.force_login(operator_user)
    assert client.get("/").context["admin_allowed"]


def test_doc_pages_are_served_as_text_and_nothing_else(client):
    response = client.get(reverse("doc", args=["quickstart"]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert "# Quick start" in response.content.decode()
    assert client.get("/docs/no-such-page/").status_code == 404
    assert client.get("/docs/..%2Fpyproject/").status_code == 404


def test_api_docs_send_a_visitor_to_log_in_and_back(client, procurement_user):
    response = client.get("/api/docs/")
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next=/api/docs/"
    login = client.post(
        reverse("login"), {"username": "buyer", "password": "pw", "next": "/api/docs/"}
    )
    assert login.status_code == 200 and "did not match" in login.content.decode()
    procurement_user.set_password("a-long-test-password")
    procurement_user.save()
    login = client.post(
        reverse("login"),
        {
            "username": procurement_user.username,
            "password": "a-long-test-password",
            "next": "/api/docs/",
        },
    )
    assert login.status_code == 302 and login["Location"] == "/api/docs/"
    assert client.get("/api/docs/").status_code == 200


def test_the_api_itself_still_refuses_visitors(client):
    assert client.get("/api/schema/").status_code in (401, 403)
    assert client.get("/api/assets/").status_code in (401, 403)


def test_the_api_root_lists_the_collections_of_every_app(api, auditor_user):
    """Each app owns a router; the browsable root at /api/ must not show only the first one's."""
    from hardware.api.urls import router as hardware
    from registry.api.urls import router as registry
    from reporting.api.urls import router as reporting
    from reporting.exports.urls import router as exports

    api.force_authenticate(auditor_user)
    listed = api.get("/api/").json()
    for router in (hardware, registry, reporting, exports):
        for prefix, _viewset, _basename in router.registry:
            assert prefix in listed, f"{prefix} missing from /api/"
    for name in ("circularity", "reuse-candidates", "reuse-requests", "reuse-measurements"):
        assert name in listed
    assert "/api/docs/" in api.options("/api/").json()["description"]
    for name, url in listed.items():
        assert url.startswith("http://testserver/api/"), (name, url)


def _admin_line(body: str) -> str:
    line = next(line for line in body.splitlines() if f'href="{reverse("admin:index")}"' in line)
    return re.sub(r"<[^>]+>", "", line).strip()


@pytest.mark.parametrize(
    ("group", "operates", "opens", "does_not_open"),
    [
        ("operator", True, ("assets", "imports", "reporting periods", "exports"), ()),
        ("auditor", False, ("assets", "events", "reporting periods", "exports"), ("imports",)),
        ("procurement", False, ("assets", "events", "reuse"), ("imports", "reporting", "exports")),
        (
            "catalogue-editor",
            False,
            ("hardware catalogue", "reuse"),
            ("assets", "events", "imports", "reporting", "exports"),
        ),
    ],
)
def test_the_admin_link_lists_only_what_the_user_can_open(
    client, group, operates, opens, does_not_open
):
    from tests import factories

    user = factories.user(f"u-{group}", group=group, is_staff=True)
    if operates:
        factories.site("PAR1").operators.add(user)
    client.force_login(user)
    line = _admin_line(client.get("/").content.decode())
    for words in opens:
        assert words in line, line
    for words in does_not_open:
        assert words not in line, line


def test_the_favicon_is_a_static_file_linked_from_the_pages(client):
    body = client.get("/").content.decode()
    icons = re.findall(r'<link rel="icon" href="([^"]+)"', body)
    assert icons
    prefix = "/" + settings.STATIC_URL.lstrip("/")
    assert finders.find(icons[0].removeprefix(prefix)), f"{icons[0]} is not a static file"
    # Browsers still ask for /favicon.ico on pages without the link (the admin, the API).
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"] == icons[0]
