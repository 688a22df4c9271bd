"""Sign-in hardening: 401 with WWW-Authenticate, throttled guessing (429 and recovery), token
audit, CSP on the admin and the API docs."""

import datetime as dt
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import throttling, tokens
from accounts.models import ApiToken, TokenEvent
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_counts(settings):
    settings.AUTH_FAILURE_LIMITS = {
        "login": {"ip": (6, 900), "account": (3, 900)},
        "token": {"ip": (3, 900)},
    }
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def clock(monkeypatch):
    now = [1_000_000.0]
    monkeypatch.setattr(throttling, "now", lambda: now[0])
    return now


def test_anonymous_api_call_is_told_to_send_a_token():
    response = APIClient().get("/api/assets/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Token")


def test_guessed_tokens_get_429_then_recover(clock):
    user = factories.user("tok", group="auditor")
    _token, good = tokens.issue(user)
    guesser = APIClient()
    for _ in range(3):
        guesser.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
        assert guesser.get("/api/assets/").status_code == 401
    response = guesser.get("/api/assets/")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    # Even the right token waits: the limit is per client, not per guess.
    guesser.credentials(HTTP_AUTHORIZATION="Token " + good)
    assert guesser.get("/api/assets/").status_code == 429
    clock[0] += 901
    assert guesser.get("/api/assets/").status_code == 200


def _login(client, username, password):
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password})


def test_admin_login_throttled_per_account_then_recovers(client, clock):
    factories.user("victim", is_staff=True)
    for _ in range(3):
        assert _login(client, "victim", "wrong").status_code == 200  # the form again
    response = _login(client, "victim", "pw-victim")
    assert response.status_code == 429
    assert b"Too many failed sign-ins" in response.content
    assert int(response["Retry-After"]) > 0
    clock[0] += 901
    assert _login(client, "victim", "pw-victim").status_code == 302  # signed in


def test_admin_login_throttled_per_ip_across_accounts(client, clock):
    factories.user("someone", is_staff=True)
    for i in range(6):
        _login(client, f"guess{i}", "wrong")
    assert _login(client, "someone", "pw-someone").status_code == 429
    other_ip = client.post(
        "/admin/login/?next=/admin/",
        {"username": "someone", "password": "pw-someone"},
        REMOTE_ADDR="10.9.9.9",
    )
    assert other_ip.status_code == 302


def test_token_creation_and_revocation_are_audited(admin_client):
    owner = factories.user("owner")
    call_command("create_api_token", "owner", stdout=open("/dev/null", "w"))  # noqa: SIM115
    created = TokenEvent.objects.get(for_username="owner", action="created")
    assert created.via.startswith("command line") and created.actor_id is None
    admin_user = admin_client.session.get("_auth_user_id")
    token = ApiToken.objects.get(user=owner)
    response = admin_client.post(f"/admin/accounts/apitoken/{token.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    revoked = TokenEvent.objects.get(for_username="owner", action="revoked")
    assert str(revoked.actor_id) == str(admin_user) and revoked.via == "admin"
    assert revoked.at >= created.at


def test_csp_header_on_admin_and_docs(admin_client):
    for url in ("/admin/", "/api/docs/"):
        policy = admin_client.get(url)["Content-Security-Policy"]
        assert (
            "script-src 'self'" in policy
            and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
        )


@pytest.mark.parametrize(
    "command",
    [
        ("create_api_token", "{user}"),
        ("import_assets", "{file}", "--as", "{user}"),
        ("import_reuse_measurements", "{file}", "--user", "{user}"),
    ],
)
def test_no_command_acts_for_a_deactivated_or_unknown_account(tmp_path, command):
    gone = factories.user("gone")
    gone.is_active = False
    gone.save()
    file = tmp_path / "rows.csv"
    file.write_text("nothing\n", encoding="utf-8")
    for user, reason in (("gone", "User 'gone' is inactive."), ("nobody", "No user named")):
        args = [a.format(user=user, file=file) for a in command]
        with pytest.raises(CommandError, match=reason):
            call_command(*args, stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert not ApiToken.objects.filter(user=gone).exists()


def _site_login(client, username, password, **extra):
    return client.post("/login/", {"username": username, "password": password}, **extra)


def test_site_login_throttled_per_account_with_a_lockout_page(client, clock):
    factories.user("reader", group="auditor")
    for _ in range(3):
        assert _site_login(client, "reader", "wrong").status_code == 200  # the form again
    response = _site_login(client, "reader", "pw-reader")
    assert response.status_code == 429
    assert b"Too many failed sign-ins" in response.content
    assert int(response["Retry-After"]) > 0
    clock[0] += 901
    assert _site_login(client, "reader", "pw-reader").status_code == 302


def test_site_login_throttled_per_ip_across_accounts(client, clock):
    factories.user("someone")
    for i in range(6):
        _site_login(client, f"guess{i}", "wrong")
    assert _site_login(client, "someone", "pw-someone").status_code == 429
    assert _site_login(client, "someone", "pw-someone", REMOTE_ADDR="10.9.9.9").status_code == 302


@pytest.mark.parametrize("path", ["/login/", "/admin/login/?next=/admin/"])
def test_a_rotating_forwarded_for_header_does_not_reset_the_count(client, clock, path):
    factories.user("someone", is_staff=True)
    for i in range(6):
        client.post(
            path, {"username": f"guess{i}", "password": "x"}, HTTP_X_FORWARDED_FOR=f"10.0.0.{i}"
        )
    response = client.post(
        path, {"username": "someone", "password": "pw-someone"}, HTTP_X_FORWARDED_FOR="10.0.1.1"
    )
    assert response.status_code == 429


def test_a_trusted_proxy_names_the_client(client, clock, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    factories.user("someone")
    for i in range(6):
        _site_login(client, f"guess{i}", "x", HTTP_X_FORWARDED_FOR="198.51.100.7")
    blocked = _site_login(client, "someone", "pw-someone", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert blocked.status_code == 429
    # Another client behind the same proxy (same REMOTE_ADDR) signs in; a forged leftmost entry
    # does not pass for the blocked one.
    other = _site_login(
        client, "someone", "pw-someone", HTTP_X_FORWARDED_FOR="198.51.100.7, 203.0.113.9"
    )
    assert other.status_code == 302


def test_guessed_tokens_behind_a_rotating_forwarded_for_are_counted_together(clock):
    guesser = APIClient()
    for i in range(3):
        guesser.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
        guesser.get("/api/assets/", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}")
    assert guesser.get("/api/assets/", HTTP_X_FORWARDED_FOR="10.0.9.9").status_code == 429


def test_a_deactivated_users_token_never_throttles_other_token_users(clock):
    gone = factories.user("gone", group="auditor")
    _token, stale = tokens.issue(gone)
    gone.is_active = False
    gone.save()
    _token, colleague = tokens.issue(factories.user("colleague", group="auditor"))
    api = APIClient()
    for _ in range(10):
        api.credentials(HTTP_AUTHORIZATION="Token " + stale)
        assert api.get("/api/assets/").status_code == 401
    api.credentials(HTTP_AUTHORIZATION="Token " + colleague)
    assert api.get("/api/assets/").status_code == 200


def _issued(username, *args):
    out = StringIO()
    call_command("create_api_token", username, *args, stdout=out)
    return out.getvalue().strip()


def test_a_token_is_printed_once_and_stored_only_as_a_hash():
    factories.user("script", group="auditor")
    first = _issued("script")
    second = _issued("script")
    assert first != second  # a new key each time: the first cannot be shown again
    stored = ApiToken.objects.filter(user__username="script")
    assert {t.prefix for t in stored} == {first[:8], second[:8]}
    for token in stored:
        assert first not in token.digest and second not in token.digest
    api = APIClient()
    for key in (first, second):
        api.credentials(HTTP_AUTHORIZATION="Token " + key)
        assert api.get("/api/assets/").status_code == 200


def test_rotating_revokes_the_old_token_without_showing_it():
    factories.user("script", group="auditor")
    old = _issued("script")
    new = _issued("script", "--rotate")
    assert old not in new
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Token " + old)
    assert api.get("/api/assets/").status_code == 401
    api.credentials(HTTP_AUTHORIZATION="Token " + new)
    assert api.get("/api/assets/").status_code == 200
    revoked = TokenEvent.objects.get(for_username="script", action="revoked")
    assert revoked.token_prefix == old[:8]


def test_an_expired_token_is_refused_and_says_so(clock):
    factories.user("script", group="auditor")
    key = _issued("script", "--days", "30")
    token = ApiToken.objects.get(user__username="script")
    token.expires = timezone.now() - dt.timedelta(seconds=1)
    token.save()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Token " + key)
    response = api.get("/api/assets/")
    assert response.status_code == 401 and "expired" in response.json()["detail"]
    # An expired real token is no guess: it never throttles the address.
    for _ in range(5):
        api.get("/api/assets/")
    api.credentials(HTTP_AUTHORIZATION="Token " + _issued("script"))
    assert api.get("/api/assets/").status_code == 200


def test_the_admin_lists_tokens_by_prefix_and_never_shows_a_key(admin_client):
    factories.user("script", group="auditor")
    key = _issued("script")
    token = ApiToken.objects.get(user__username="script")
    for url in ("/admin/accounts/apitoken/", f"/admin/accounts/apitoken/{token.pk}/change/"):
        page = admin_client.get(url).content.decode()
        assert token.prefix in page and key not in page and token.digest not in page
    assert admin_client.get("/admin/accounts/apitoken/add/").status_code == 403


@pytest.mark.django_db(transaction=True)
def test_plain_tokens_from_before_keep_working_after_the_migration():
    from importlib import import_module

    from django.apps import apps
    from django.db import connection

    migration = import_module("accounts.migrations.0003_hashed_api_tokens")
    user = factories.user("legacy", group="auditor")
    legacy = "0123456789abcdef0123456789abcdef01234567"
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, "
            "user_id integer NOT NULL, created timestamp with time zone NOT NULL)"
            if connection.vendor == "postgresql"
            else "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, "
            "user_id integer NOT NULL, created datetime NOT NULL)"
        )
        cursor.execute(
            "INSERT INTO authtoken_token VALUES (%s, %s, %s)", [legacy, user.pk, timezone.now()]
        )
    with connection.schema_editor() as editor:
        migration.hash_plain_tokens(apps, editor)
    assert "authtoken_token" not in connection.introspection.table_names()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Token " + legacy)
    assert api.get("/api/assets/").status_code == 200
