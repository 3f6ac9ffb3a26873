"""The staff login: password, mandatory TOTP, one use per code, lockout, session limits."""

from __future__ import annotations

import base64
import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from lifeline.audit.models import AuditEntry
from lifeline.console.middleware import LOGIN_STARTED
from lifeline.core import staff as staff_services
from lifeline.core.models import Role
from tests.factories import create_user, login_verified

pytestmark = pytest.mark.django_db

PASSWORD = "a long enough passphrase"


def code_for(device: TOTPDevice, step_offset: int = 0) -> str:
    """The code an authenticator app shows now (or ``step_offset`` steps later)."""
    code = totp(
        device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=step_offset
    )
    return f"{code:0{device.digits}d}"


def sign_in(client: Client, username: str, password: str = PASSWORD) -> Any:
    return client.post(reverse("console:login"), {"username": username, "password": password})


def test_first_login_enrols_totp_from_the_page() -> None:
    user = create_user(Role.OPERATOR, password=PASSWORD)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    response = sign_in(client, user.username)
    assert response.status_code == 302
    # No console page before the second factor: home sends us to enrolment.
    home = client.get(reverse("console:home"))
    assert home.status_code == 302
    assert home["Location"].startswith(reverse("console:otp_setup"))
    page = client.get(reverse("console:otp_setup")).content.decode()
    assert 'class="qr" src="data:image/svg+xml' in page
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page)
    assert secret is not None
    key = base64.b32decode(secret.group(1).replace(" ", ""))
    device = TOTPDevice.objects.get(user=user)
    assert device.bin_key == key
    assert not device.confirmed
    wrong = client.post(reverse("console:otp_setup"), {"otp_token": "000000"})
    assert wrong.status_code == 200
    assert "not right" in wrong.content.decode()
    # A wrong code throttles the next attempt (django-otp: 1 s, doubling per failure).
    throttled = client.post(reverse("console:otp_setup"), {"otp_token": code_for(device)})
    assert throttled.status_code == 200
    device.refresh_from_db()
    device.throttle_reset()
    ok = client.post(reverse("console:otp_setup"), {"otp_token": code_for(device)})
    assert ok.status_code == 302
    assert ok["Location"] == reverse("console:home")
    assert client.get(reverse("console:home")).status_code == 200
    device.refresh_from_db()
    assert device.confirmed
    assert AuditEntry.objects.filter(action="staff.totp_enrolled", actor=user).exists()


def test_enrolled_login_needs_a_fresh_code_each_time() -> None:
    user = create_user(Role.OPERATOR, password=PASSWORD)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    client = Client()
    sign_in(client, user.username)
    assert client.get(reverse("console:home"))["Location"].startswith(reverse("console:otp_verify"))
    code = code_for(device)
    assert client.post(reverse("console:otp_verify"), {"otp_token": code}).status_code == 302
    assert client.get(reverse("console:home")).status_code == 200
    # The same code again, in a new session, is refused: a TOTP code works once.
    other = Client()
    sign_in(other, user.username)
    again = other.post(reverse("console:otp_verify"), {"otp_token": code})
    assert again.status_code == 200
    assert other.get(reverse("console:home")).status_code == 302
    device.refresh_from_db()
    device.throttle_reset()  # the refused reuse throttled the device for a second
    assert (
        other.post(reverse("console:otp_verify"), {"otp_token": code_for(device, 1)}).status_code
        == 302
    )


def test_code_form_rejects_garbage_with_a_clear_message() -> None:
    user = create_user(Role.OPERATOR, password=PASSWORD)
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    client = Client(HTTP_ACCEPT_LANGUAGE="ru")
    sign_in(client, user.username)
    page = client.post(reverse("console:otp_verify"), {"otp_token": "abc"}).content.decode()
    assert "Введите шесть цифр" in page


def test_lockout_after_five_wrong_passwords() -> None:
    user = create_user(Role.SUPERVISOR, password=PASSWORD)
    client = Client()
    for _ in range(4):
        assert sign_in(client, user.username, "wrong password here").status_code == 200
    # The fifth failure locks the account for clients it does not know (this one has no device
    # cookie); then even the right password is refused from them.
    assert sign_in(client, user.username, "wrong password here").status_code == 429
    locked = sign_in(client, user.username)
    assert locked.status_code == 429
    assert "locked" in locked.content.decode().lower() or "заблок" in locked.content.decode()
    # Another account is not affected, and a supervisor can unlock.
    other = create_user(Role.OPERATOR, password=PASSWORD)
    assert sign_in(Client(), other.username).status_code == 302
    admin = create_user(Role.ADMIN)
    staff_services.staff_unlock(actor=admin, user=user)
    assert sign_in(Client(), user.username).status_code == 302


def test_lockout_keeps_no_client_address() -> None:
    from axes.models import AccessAttempt

    from lifeline.console.security import UNKNOWN_CLIENT

    user = create_user(Role.OPERATOR, password=PASSWORD)
    Client(REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT="CanaryBrowser/7.7").post(
        reverse("console:login"), {"username": user.username, "password": "nope"}
    )
    attempt = AccessAttempt.objects.get(username=user.username)
    # The "address" column holds the bucket of clients unknown to this account, not an address.
    assert attempt.ip_address == UNKNOWN_CLIENT
    assert attempt.user_agent == ""
    assert attempt.http_accept == ""
    row = str(attempt.__dict__)
    assert "203.0.113.7" not in row
    assert "CanaryBrowser" not in row


def test_public_side_never_touches_lockout() -> None:
    from axes.models import AccessAttempt

    for _ in range(10):
        Client().post("/i18n/setlang/", {"language": "uk", "next": "/"})
        Client().get("/")
    assert AccessAttempt.objects.count() == 0


@pytest.mark.parametrize("action", ["disable", "reset_totp", "reset_password", "set_role"])
def test_disabling_or_resetting_ends_live_sessions(action: str) -> None:
    target = create_user(Role.OPERATOR, password=PASSWORD)
    manager = create_user(Role.SUPERVISOR)
    approver = create_user(Role.SUPERVISOR)
    victim = Client()
    login_verified(victim, target)
    assert victim.get(reverse("console:home")).status_code == 200
    if action == "disable":
        staff_services.staff_disable(actor=manager, user=target)
    elif action in ("reset_totp", "reset_password"):
        ask = (
            staff_services.staff_request_totp_reset
            if action == "reset_totp"
            else staff_services.staff_request_password_reset
        )
        change = ask(actor=manager, user=target)
        # Asking changes nothing: the session lives until a second supervisor approves.
        assert victim.get(reverse("console:home")).status_code == 200
        staff_services.staff_request_approve(actor=approver, change=change)
        if action == "reset_totp":
            assert not TOTPDevice.objects.filter(user=target).exists()
        else:
            target.refresh_from_db()
            assert not target.has_usable_password()
    else:
        # Moving away from personal data is immediate.
        staff_services.staff_set_role(actor=manager, user=target, role=Role.PRESS)
    response = victim.get(reverse("console:home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("console:login"))
    assert AuditEntry.objects.filter(object_id=str(target.pk)).exists()


def test_absolute_session_limit() -> None:
    client = Client()
    login_verified(client, create_user(Role.OPERATOR))
    session = client.session
    session[LOGIN_STARTED] = (timezone.now() - timedelta(hours=12, minutes=1)).isoformat()
    session.save()
    response = client.get(reverse("console:home"))
    assert response.status_code == 302
    assert response["Location"] == reverse("console:login")  # no query string
    assert client.get(reverse("console:login")).context["expired"]  # told once, from the session
    assert not client.get(reverse("console:login")).context["expired"]
    assert client.get(reverse("console:home")).status_code == 302


def test_idle_session_limit_is_thirty_minutes_renewed_per_request() -> None:
    from django.contrib.sessions.models import Session

    client = Client()
    login_verified(client, create_user(Role.OPERATOR))
    response = client.get(reverse("console:home"))
    cookie = response.cookies["lifeline_staff"]
    assert cookie["path"] == "/console/"
    assert cookie["httponly"]
    assert cookie["samesite"] == "Strict"
    key = client.session.session_key
    remaining = Session.objects.get(session_key=key).expire_date - timezone.now()
    assert timedelta(minutes=29) < remaining <= timedelta(minutes=30)
    # Thirty idle minutes later the session is gone.
    Session.objects.filter(session_key=key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    response = client.get(reverse("console:home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("console:login"))


def test_console_headers() -> None:
    client = Client()
    login_verified(client, create_user(Role.SUPERVISOR))
    for url in [reverse("console:home"), reverse("console:login"), reverse("console:staff_list")]:
        response = client.get(url)
        assert response["Cache-Control"] == "no-store", url
        assert "max-age=" in response["Strict-Transport-Security"]
        csp = response["Content-Security-Policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp


def test_public_pages_also_have_a_csp_without_inline_script() -> None:
    response = Client().get("/")
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "<script>" not in response.content.decode()


def test_nobody_chooses_a_password_for_someone_else() -> None:
    from django.core.exceptions import ValidationError

    manager = create_user(Role.ADMIN)
    created = staff_services.staff_create(actor=manager, username="newbie", role=Role.PRESS)
    user = created.change.target
    assert user is not None
    assert not user.has_usable_password()
    assert created.token
    with pytest.raises(ValidationError):
        staff_services.staff_enrol(token=created.token, password="short pass 1")
    user = staff_services.staff_enrol(token=created.token, password="fourteen chars ok!")
    assert user.check_password("fourteen chars ok!")
    assert user.password.startswith("md5$") or user.password.startswith("argon2")


def test_production_hashes_passwords_with_argon2() -> None:
    from lifeline.settings import base

    assert base.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"


def test_a_spent_password_budget_refuses_sign_ins_without_checking_the_password(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flood of sign-ins from anywhere takes a global budget of password checks (each costs
    tens to hundreds of milliseconds of a core); past it the form answers 429 and checks
    nothing, so neither the CPU nor the lockout counts are spent; the budget's next window lets
    people in again."""
    from axes.models import AccessAttempt
    from django.core.cache import cache

    from lifeline.core.models import User

    user = create_user(Role.OPERATOR, password=PASSWORD)
    settings.LIFELINE_BUDGETS = {**settings.LIFELINE_BUDGETS, "password_hash": (2, 60)}
    checks: list[str] = []
    original = User.check_password

    def counting(self: Any, raw_password: str) -> bool:
        checks.append("x")
        return bool(original(self, raw_password))

    monkeypatch.setattr(User, "check_password", counting)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert sign_in(client, user.username, "wrong one").status_code == 200
    assert sign_in(client, user.username, "wrong two").status_code == 200
    assert len(checks) == 2
    refused = sign_in(client, user.username, PASSWORD)
    assert refused.status_code == 429
    assert "Too many sign-ins right now" in refused.content.decode()
    assert "Wrong username or password" not in refused.content.decode()
    assert len(checks) == 2  # no password was checked for it
    assert sum(a.failures_since_start for a in AccessAttempt.objects.all()) == 2
    ru = Client(HTTP_ACCEPT_LANGUAGE="ru")
    assert "Слишком много" in sign_in(ru, user.username).content.decode()
    cache.clear()  # the window turns
    assert sign_in(client, user.username, PASSWORD).status_code == 302


def test_a_stranger_spending_the_password_budget_does_not_keep_the_owner_out(
    settings: Any,
) -> None:
    """The budget holds browsers the account never signed in from; the owner's browser, with
    its device cookie, signs in whatever a stranger floods. (Found by the adversarial review of
    issue 15.)"""
    from django.core.cache import cache

    from tests.console.test_lockout import owners_browser

    user = create_user(Role.OPERATOR, password=PASSWORD)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    browser = owners_browser(user, device)
    settings.LIFELINE_BUDGETS = {**settings.LIFELINE_BUDGETS, "password_hash": (3, 60)}
    cache.clear()
    stranger = Client()
    for n in range(5):
        stranger.post(reverse("console:login"), {"username": f"nobody{n}", "password": "x"})
    assert sign_in(stranger, user.username).status_code == 429  # a new browser waits
    assert sign_in(browser, user.username).status_code == 302  # his own does not
