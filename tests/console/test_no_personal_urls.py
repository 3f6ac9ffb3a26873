"""Personal data never in URLs (issue #10): searching is a POST, and redirects to the login and
second-factor pages carry no query string — the page to return to is kept in the session."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from lifeline.console.middleware import NEXT_PATH, safe_next_path
from lifeline.core.models import Role
from tests.factories import create_case, create_user, login_unverified, login_verified

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


# --- Search -----------------------------------------------------------------------------------


def test_search_is_a_post_and_answers_in_its_response() -> None:
    case = create_case(service_number="ПЧ-424242")
    client = Client()
    login_verified(client, create_user(Role.SUPERVISOR))
    response = client.post(reverse("console:search"), {"q": "ПЧ-424242"})
    assert response.status_code == 200  # rendered here: no redirect carrying the query
    assert case.number in response.content.decode()
    by_name = client.post(reverse("console:search"), {"name": case.full_name, "born": "01.01.1990"})
    assert case.number in by_name.content.decode()


def test_search_ignores_a_query_string() -> None:
    case = create_case(service_number="ПЧ-424243")
    client = Client()
    login_verified(client, create_user(Role.SUPERVISOR))
    response = client.get(reverse("console:search"), {"q": "ПЧ-424243"})
    assert response.status_code == 200
    page = response.content.decode()
    assert case.number not in page
    assert "ПЧ-424243" not in page  # not even echoed into the form


def test_search_form_posts_with_a_csrf_token() -> None:
    client = Client()
    login_verified(client, create_user(Role.OPERATOR))
    page = client.get(reverse("console:search")).content.decode()
    assert '<form method="post"' in page
    assert 'name="csrfmiddlewaretoken"' in page
    assert 'method="get"' not in page


def test_search_without_csrf_token_is_refused() -> None:
    case = create_case(service_number="ПЧ-424244")
    client = Client(enforce_csrf_checks=True)
    login_verified(client, create_user(Role.SUPERVISOR))
    response = client.post(reverse("console:search"), {"q": "ПЧ-424244"})
    assert response.status_code == 403
    assert case.number not in response.content.decode()
    # With the token from the form, the same search works.
    client.get(reverse("console:search"))
    token = client.cookies["csrftoken"].value
    response = client.post(
        reverse("console:search"), {"q": "ПЧ-424244", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 200
    assert case.number in response.content.decode()


# --- Redirects to the login and second factor -------------------------------------------------


def test_anonymous_redirect_has_no_query_and_no_session_is_made_for_it() -> None:
    case = create_case()
    user = create_user(Role.SUPERVISOR, password=PASSWORD)
    client = Client()
    target = reverse("console:case_detail", args=[case.pk])
    response = client.get(target, {"q": "Петров"})
    assert response.status_code == 302
    assert response["Location"] == reverse("console:login")
    # A cold anonymous request writes no session (a flood must not fill the table); a
    # signed-in session keeps the path only (next test).
    assert NEXT_PATH not in client.session
    login = client.post(reverse("console:login"), {"username": user.username, "password": PASSWORD})
    assert login.status_code == 302
    assert "?" not in login["Location"]
    # The password is not enough: the second factor comes first, again without a query.
    step = client.get(login["Location"])
    assert step.status_code == 302
    assert step["Location"] == reverse("console:otp_setup")


def test_after_the_second_factor_the_kept_target_opens() -> None:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tests.console.test_login import code_for

    user = create_user(Role.SUPERVISOR)
    device = TOTPDevice.objects.create(user=user, name="t", confirmed=True)
    client = Client()
    login_unverified(client, user)
    response = client.get(reverse("console:case_list"))
    assert response["Location"] == reverse("console:otp_verify")
    done = client.post(reverse("console:otp_verify"), {"otp_token": code_for(device)})
    assert done.status_code == 302
    assert done["Location"] == reverse("console:case_list")
    assert NEXT_PATH not in client.session  # used once


@pytest.mark.parametrize(
    "crafted",
    [
        "https://evil.example/console/",
        "//evil.example/console/",
        "/console/../admin/",
        "/console/cases/?q=Петров",
        "/console/login/",
        "/console/otp/verify/",
        "/console/no-such-page/",
        "/chat/",
        "/console/\\evil/",
        "/console/" + "a/" * 200,
    ],
)
def test_a_crafted_next_is_never_followed(crafted: str) -> None:
    assert safe_next_path(crafted) is None
    user = create_user(Role.SUPERVISOR, password=PASSWORD)
    client = Client()
    session = client.session
    session[NEXT_PATH] = crafted
    session.save()
    response = client.post(
        reverse("console:login") + "?next=https://evil.example/",
        {"username": user.username, "password": PASSWORD, "next": "https://evil.example/"},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("console:home")


def test_next_parameter_is_ignored_and_not_echoed() -> None:
    client = Client()
    page = client.get(reverse("console:login"), {"next": "/console/cases/?q=Петров"})
    assert page.status_code == 200
    assert "Петров" not in page.content.decode()
    assert NEXT_PATH not in client.session


def test_posts_are_not_remembered_as_a_target() -> None:
    client = Client()
    response = client.post(reverse("console:search"), {"q": "Петров"})
    assert response["Location"] == reverse("console:login")
    assert NEXT_PATH not in client.session


def test_safe_next_path_accepts_console_pages() -> None:
    case = create_case()
    assert safe_next_path("/console/") == "/console/"
    path = reverse("console:case_detail", args=[case.pk])
    assert safe_next_path(path) == path


def test_anonymous_requests_do_not_fill_the_session_table() -> None:
    from django.contrib.sessions.models import Session
    from django.test import Client

    before = Session.objects.count()
    for n in range(20):
        Client().get(f"/console/cases/?page={n}")
    assert Session.objects.count() == before
