"""Lockout is not a denial of service (issue #10, item 9): failed passwords lock an account per
browser. A stranger fills only the "unknown clients" bucket; the owner's browser, which signed
in before and holds a device cookie, keeps working. No client address is read or stored."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from lifeline.audit.models import AuditEntry
from lifeline.console.security import DEVICE_COOKIE, UNKNOWN_CLIENT
from lifeline.core.models import Role, User
from tests.factories import create_user, login_verified

pytestmark = pytest.mark.django_db

PASSWORD = "a long enough passphrase"
WRONG = "not the password at all"
LIMIT = 5


def code_for(device: TOTPDevice, step_offset: int = 0) -> str:
    value = totp(
        device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=step_offset
    )
    return f"{value:0{device.digits}d}"


def sign_in(client: Client, username: str, password: str = PASSWORD) -> Any:
    return client.post(reverse("console:login"), {"username": username, "password": password})


def full_sign_in(client: Client, user: User, device: TOTPDevice, step_offset: int = 0) -> Any:
    """Password, then the second factor: what gives a browser its device cookie."""
    assert sign_in(client, user.username).status_code == 302
    device.refresh_from_db()
    device.throttle_reset()
    response = client.post(
        reverse("console:otp_verify"), {"otp_token": code_for(device, step_offset)}
    )
    assert response.status_code == 302
    return response


@pytest.fixture
def owner() -> tuple[User, TOTPDevice]:
    user = create_user(Role.SUPERVISOR, password=PASSWORD)
    return user, TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


def owners_browser(user: User, device: TOTPDevice) -> Client:
    """The owner's browser, after one complete sign-in and a sign-out."""
    browser = Client()
    response = full_sign_in(browser, user, device)
    cookie = response.cookies[DEVICE_COOKIE]
    assert cookie["httponly"]
    assert cookie["path"] == "/console/"
    assert cookie["samesite"] == "Strict"
    assert int(cookie["max-age"]) > 30 * 24 * 3600
    browser.post(reverse("console:logout"))
    assert DEVICE_COOKIE in browser.cookies  # kept across sign-outs
    return browser


def test_a_stranger_cannot_lock_the_owner_out_of_his_own_browser(
    owner: tuple[User, TOTPDevice],
) -> None:
    user, device = owner
    browser = owners_browser(user, device)
    stranger = Client()
    for attempt in range(1, LIMIT + 3):
        expected = 200 if attempt < LIMIT else 429
        assert sign_in(stranger, user.username, WRONG).status_code == expected, attempt
    # The stranger, and any browser the account has not signed in from, are locked out...
    assert sign_in(stranger, user.username).status_code == 429
    assert sign_in(Client(), user.username).status_code == 429
    # ...but the owner signs in from his own browser, both factors, as usual.
    response = full_sign_in(browser, user, device, step_offset=1)
    assert response["Location"] == reverse("console:home")
    assert browser.get(reverse("console:home")).status_code == 200
    # The unknown-clients bucket is still locked (his success reset only his own bucket).
    assert sign_in(Client(), user.username).status_code == 429
    buckets = list(AccessAttempt.objects.filter(username=user.username).values_list("ip_address"))
    assert buckets == [(UNKNOWN_CLIENT,)]


def test_the_password_step_alone_gives_no_device_cookie(owner: tuple[User, TOTPDevice]) -> None:
    user, _device = owner
    client = Client()
    response = sign_in(client, user.username)
    assert response.status_code == 302
    assert DEVICE_COOKIE not in response.cookies
    assert DEVICE_COOKIE not in client.cookies


def test_a_device_cookie_counts_only_for_its_own_account(owner: tuple[User, TOTPDevice]) -> None:
    user, device = owner
    other = create_user(Role.OPERATOR, password=PASSWORD)
    other_device = TOTPDevice.objects.create(user=other, name="phone", confirmed=True)
    browser = owners_browser(user, device)
    # A stranger with a device cookie of his own account, or a forged one, is an unknown client.
    stranger = owners_browser(other, other_device)
    forged = Client()
    forged.cookies[DEVICE_COOKIE] = "made-up-nonce.0123456789abcdef0123456789abcdef"
    statuses = [
        sign_in(client, user.username, WRONG).status_code
        for client in (stranger, forged)
        for _ in range(3)
    ]
    assert statuses == [200, 200, 200, 200, 429, 429]  # one shared bucket
    attempt = AccessAttempt.objects.get(username=user.username)
    assert attempt.ip_address == UNKNOWN_CLIENT
    assert attempt.failures_since_start == LIMIT
    assert sign_in(Client(), user.username).status_code == 429
    # The owner's browser has its own bucket, still open; his own typos lock only that browser.
    assert sign_in(browser, user.username, WRONG).status_code == 200
    for _ in range(LIMIT - 1):
        sign_in(browser, user.username, WRONG)
    assert sign_in(browser, user.username).status_code == 429
    keys = set(
        AccessAttempt.objects.filter(username=user.username).values_list("ip_address", flat=True)
    )
    assert len(keys) == 2
    assert UNKNOWN_CLIENT in keys
    device_key = str((keys - {UNKNOWN_CLIENT}).pop())
    assert device_key.startswith("fd")  # a keyed hash of the cookie, not any address


def test_an_attempt_during_a_lockout_does_not_extend_it(owner: tuple[User, TOTPDevice]) -> None:
    user, _device = owner
    stranger = Client()
    for _ in range(LIMIT):
        sign_in(stranger, user.username, WRONG)
    attempt = AccessAttempt.objects.get(username=user.username)
    locked_at = timezone.now() - timedelta(minutes=50)
    AccessAttempt.objects.filter(pk=attempt.pk).update(attempt_time=locked_at)
    for _ in range(3):
        assert sign_in(stranger, user.username, WRONG).status_code == 429
    attempt.refresh_from_db()
    assert attempt.attempt_time == locked_at
    assert attempt.failures_since_start == LIMIT
    # An hour after the lockout began it is over, whatever was tried in between.
    AccessAttempt.objects.filter(pk=attempt.pk).update(
        attempt_time=timezone.now() - timedelta(hours=1, minutes=1)
    )
    assert sign_in(Client(), user.username).status_code == 302


def test_a_supervisor_unlocks_from_the_staff_page(owner: tuple[User, TOTPDevice]) -> None:
    user, _device = owner
    for _ in range(LIMIT):
        sign_in(Client(), user.username, WRONG)
    assert sign_in(Client(), user.username).status_code == 429
    supervisor = create_user(Role.SUPERVISOR)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    login_verified(client, supervisor)
    url = reverse("console:staff_detail", args=[user.pk])
    page = client.get(url).content.decode()
    assert "locked for browsers it has not signed in from" in page
    assert 'value="unlock"' in page
    done = client.post(url, {"action": "unlock"}, follow=True)
    assert "Done." in done.content.decode()
    assert not AccessAttempt.objects.filter(username=user.username).exists()
    assert AuditEntry.objects.filter(
        action="staff.unlocked", actor=supervisor, object_id=str(user.pk), fields=["lockout"]
    ).exists()
    assert "Sign-in lock</dt><dd>none" in client.get(url).content.decode()
    assert sign_in(Client(), user.username).status_code == 302
    # Nobody else may: the page and the action are for supervisors and administrators.
    operator = Client()
    login_verified(operator, create_user(Role.OPERATOR))
    assert operator.post(url, {"action": "unlock"}).status_code == 403


def test_no_address_or_browser_description_is_stored(owner: tuple[User, TOTPDevice]) -> None:
    user, device = owner
    browser = owners_browser(user, device)
    browser.defaults.update(REMOTE_ADDR="198.51.100.23", HTTP_USER_AGENT="CanaryAgent/1.0")
    sign_in(browser, user.username, WRONG)
    Client(REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="CanaryAgent/2.0").post(
        reverse("console:login"), {"username": user.username, "password": WRONG}
    )
    rows = str(list(AccessAttempt.objects.values()))
    for canary in ("198.51.100.23", "203.0.113.9", "CanaryAgent", WRONG):
        assert canary not in rows
    assert browser.cookies[DEVICE_COOKIE].value not in rows
