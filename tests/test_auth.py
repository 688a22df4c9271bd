"""Sign-in hardening: 401 with WWW-Authenticate, throttled guessing (429 and recovery), token
audit, CSP on the admin and the API docs."""

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts import throttling
from accounts.models import TokenEvent
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
    good = Token.objects.create(user=user).key
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
    response = admin_client.post(f"/admin/authtoken/tokenproxy/{owner.pk}/delete/", {"post": "yes"})
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
    assert not Token.objects.filter(user=gone).exists()
