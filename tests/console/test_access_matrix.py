"""Role × URL × method over every console URL.

Adding a console URL without a row here fails ``test_every_console_url_has_a_row``.
Expected: a status code, or "otp" (redirect to the second factor) — nothing else.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from lifeline.cases import workflow
from lifeline.core.models import Role
from tests.factories import Staff, advance, create_case, login_unverified, login_verified

pytestmark = pytest.mark.django_db

ROLES = [r.value for r in Role]
ALL_200 = dict.fromkeys(ROLES, 200)


def only(*roles: str, ok: int = 200, other: int = 403) -> dict[str, int]:
    return {role: ok if role in roles else other for role in ROLES}


# url name -> method -> role -> expected status for a verified session.
MATRIX: dict[str, dict[str, dict[str, int]]] = {
    "home": {"GET": ALL_200, "POST": dict.fromkeys(ROLES, 405)},
    "login": {"GET": ALL_200, "POST": ALL_200},  # POST without credentials: form errors
    "logout": {"GET": dict.fromkeys(ROLES, 405), "POST": dict.fromkeys(ROLES, 302)},
    "otp_setup": {"GET": dict.fromkeys(ROLES, 302), "POST": dict.fromkeys(ROLES, 302)},
    "otp_verify": {"GET": ALL_200, "POST": ALL_200},
    "case_list": {
        "GET": only("supervisor", "operator", "verifier", "liaison"),
        "POST": only("supervisor", "operator", "verifier", "liaison", ok=405),
    },
    "case_create": {
        "GET": only("supervisor", "operator"),
        "POST": only("supervisor", "operator"),
    },  # empty form: errors shown
    # The case is ``applied`` and assigned to the operator: a liaison does not see it.
    "case_detail": {
        "GET": only("supervisor", "operator", "verifier"),
        "POST": only("supervisor", "operator", "verifier", "liaison", ok=405),
    },
    "staff_list": {"GET": only("supervisor", "admin"), "POST": only("supervisor", "admin", ok=405)},
    "staff_create": {"GET": only("supervisor", "admin"), "POST": only("supervisor", "admin")},
    "staff_detail": {
        "GET": only("supervisor", "admin"),
        "POST": only("supervisor", "admin", ok=302),
    },
    # A pending staff change: managers may post a decision (an unknown action: back to the list).
    "staff_change": {
        "GET": only("supervisor", "admin", ok=405),
        "POST": only("supervisor", "admin", ok=302),
    },
    # Open without signing in; a POST without a valid one-time token is a 404.
    "enrol": {"GET": ALL_200, "POST": dict.fromkeys(ROLES, 404)},
    "audit_list": {"GET": only("supervisor"), "POST": only("supervisor", ok=405)},
    "queue": {
        "GET": only("supervisor", "operator"),
        "POST": only("supervisor", "operator", ok=405),
    },
    # A conversation waiting for anyone: operators and supervisors may open it. POST carries
    # an unknown action: a clear 400.
    "conversation": {
        "GET": only("supervisor", "operator"),
        "POST": only("supervisor", "operator", ok=400),
    },
    "call_new": {
        "GET": only("supervisor", "operator", ok=405),
        "POST": only("supervisor", "operator", ok=302),
    },
    # The operator's own phone script: nobody else's.
    "call": {"GET": only("operator"), "POST": only("operator", ok=302)},
    # What is searched for travels in a POST body (CSRF-protected), never in the URL.
    "search": {
        "GET": only("supervisor", "operator", "verifier", "liaison"),
        "POST": only("supervisor", "operator", "verifier", "liaison"),
    },
    # The case is applied: a liaison does not see it. Unknown action: back to the case page.
    "case_action": {
        "GET": only("supervisor", "operator", "verifier", ok=405) | {"liaison": 405},
        "POST": only("supervisor", "operator", "verifier", ok=302),
    },
    # Failed messages: supervisors only. POST without a choice: back to the list.
    "failed": {"GET": only("supervisor"), "POST": only("supervisor", ok=302)},
    "operations": {
        "GET": only("supervisor", "liaison"),
        "POST": only("supervisor", "liaison", ok=405),
    },
    "shift": {
        "GET": only("supervisor", "operator", ok=405),
        "POST": only("supervisor", "operator", ok=302),
    },
    "calls_missed": {
        "GET": only("supervisor", "operator"),
        "POST": only("supervisor", "operator", ok=302),
    },
    "call_popup": {
        "GET": only("supervisor", "operator"),
        "POST": only("supervisor", "operator", ok=405),
    },
    "blocks": {"GET": only("supervisor"), "POST": only("supervisor", ok=302)},
    "verification_queue": {
        "GET": only("supervisor", "verifier"),
        "POST": only("supervisor", "verifier", ok=405),
    },
    # Exchanges: supervisors. POST with an empty form: its errors (400); on an exchange, an
    # unknown action: back to it.
    "exchanges": {"GET": only("supervisor"), "POST": only("supervisor", ok=400)},
    "exchange_detail": {"GET": only("supervisor"), "POST": only("supervisor", ok=302)},
    # The next item: a redirect to it, or to the queue when nobody waits.
    "queue_next": {
        "GET": only("supervisor", "operator", ok=302),
        "POST": only("supervisor", "operator", ok=405),
    },
    # Canned answers: supervisors. POST with an empty form: its errors (400).
    "canned_list": {"GET": only("supervisor"), "POST": only("supervisor", ok=400)},
    "canned_detail": {"GET": only("supervisor"), "POST": only("supervisor", ok=400)},
    # Site visits: the press office and supervisors (counts only).
    "visits": {
        "GET": only("supervisor", "press"),
        "POST": only("supervisor", "press", ok=405),
    },
    # Figures (aggregates from the rollups): supervisors and the press office.
    "figures": {
        "GET": only("supervisor", "press"),
        "POST": only("supervisor", "press", ok=405),
    },
    # Exports of the figures' tables (the funnel here): the same roles; audited.
    "figures_export": {
        "GET": only("supervisor", "press"),
        "POST": only("supervisor", "press", ok=405),
    },
    # What the public figures page shows: supervisors; saving redirects back.
    "figures_publication": {"GET": only("supervisor"), "POST": only("supervisor", ok=302)},
    # Site pages and channel posts: the press office and supervisors. Starting a draft
    # redirects to it; an unknown action or an empty post is refused with its reason (400).
    "page_list": {
        "GET": only("supervisor", "press"),
        "POST": only("supervisor", "press", ok=405),
    },
    "page_history": {
        "GET": only("supervisor", "press"),
        "POST": only("supervisor", "press", ok=302),
    },
    "page_version": {
        "GET": only("supervisor", "press"),
        "POST": only("supervisor", "press", ok=400),
    },
    "post_list": {
        "GET": only("supervisor", "press"),
        "POST": only("supervisor", "press", ok=400),
    },
    "post_detail": {
        "GET": only("supervisor", "press"),
        "POST": only("supervisor", "press", ok=400),
    },
    "post_image": {
        "GET": only("supervisor", "press"),
        "POST": only("supervisor", "press", ok=405),
    },
    # A photo in the waiting conversation: operators and supervisors; the verifier is refused
    # (the applied case is not this person's). Nobody may POST.
    "media": {
        "GET": only("supervisor", "operator", ok=200) | {"verifier": 403},
        "POST": only("supervisor", "operator", "verifier", ok=405),
    },
}

#: Pages an unverified session may reach (everything else redirects to the second factor).
OPEN_WITHOUT_SECOND_FACTOR = {"login", "logout", "otp_setup", "otp_verify", "enrol"}


def console_url_names() -> list[str]:
    for entry in get_resolver().url_patterns:
        if isinstance(entry, URLResolver) and entry.namespace == "console":
            return [p.name for p in entry.url_patterns if isinstance(p, URLPattern) and p.name]
    raise AssertionError("no console namespace")


def test_every_console_url_has_a_row() -> None:
    names = console_url_names()
    assert sorted(names) == sorted(MATRIX), "add a row to MATRIX for each console URL"
    for name, methods in MATRIX.items():
        assert set(methods) == {"GET", "POST"}, name
        for method, expectations in methods.items():
            assert set(expectations) == set(ROLES), (name, method)


@pytest.fixture
def world() -> dict[str, Any]:
    from lifeline.contacts.services import identity_get_or_create
    from lifeline.conversations.host import start_flow
    from lifeline.conversations.models import Conversation, FlowRun
    from lifeline.core.staff import staff_request_totp_reset

    staff = Staff()
    case = create_case()
    advance(case, "applied", staff)  # assigned to staff.operator
    identity = identity_get_or_create(channel="telegram", address="424242")
    conversation = Conversation.objects.create(
        contact=identity.contact, identity=identity, channel="telegram", status="waiting"
    )
    start_flow(None, "operator_call", language="en", operator=staff.operator)
    run = FlowRun.objects.get(operator=staff.operator)
    change = staff_request_totp_reset(actor=staff.admin, user=staff.operator)
    exchange = workflow.exchange_record(
        actor=staff.supervisor,
        date=date(2026, 3, 1),
        released_by_ukraine=10,
        released_by_russia=12,
    )
    from lifeline.conversations.media import receive, store
    from lifeline.conversations.services import canned_save
    from tests.channels.test_telegram_media import jpeg

    _message, attachment, _replies = receive(conversation, "photo")
    store(attachment.pk, jpeg())

    canned = canned_save(
        actor=staff.supervisor, answer=None, language="en", title="Wait", text="Please wait."
    )
    from lifeline.channels.broadcast import post_create
    from lifeline.public.editing import draft_start

    version = draft_start(actor=staff.press, slug="safety", language="en")
    post = post_create(actor=staff.press, texts={"ru": "Пост"}, image=jpeg())
    return {
        "version": version,
        "post": post,
        "attachment": attachment,
        "canned": canned,
        "exchange": exchange,
        "staff": staff,
        "case": case,
        "conversation": conversation,
        "run": run,
        "change": change,
    }


def url_for(name: str, world: dict[str, Any]) -> str:
    kwargs: dict[str, Any] = {}
    if name in ("case_detail", "case_action"):
        kwargs = {"case_id": world["case"].pk}
    elif name == "conversation":
        kwargs = {"conversation_id": world["conversation"].pk}
    elif name == "call":
        kwargs = {"run_id": world["run"].pk}
    elif name == "staff_detail":
        kwargs = {"user_id": world["staff"].operator.pk}
    elif name == "staff_change":
        kwargs = {"change_id": world["change"].pk}
    elif name == "exchange_detail":
        kwargs = {"exchange_id": world["exchange"].pk}
    elif name == "media":
        kwargs = {"attachment_id": world["attachment"].pk}
    elif name == "canned_detail":
        kwargs = {"answer_id": world["canned"].pk}
    elif name == "page_history":
        kwargs = {"slug": "faq", "language": "uk"}
    elif name == "page_version":
        kwargs = {"version_id": world["version"].pk}
    elif name in ("post_detail", "post_image"):
        kwargs = {"post_id": world["post"].pk}
    elif name == "figures_export":
        kwargs = {"name": "funnel", "fmt": "csv"}
    return reverse(f"console:{name}", kwargs=kwargs)


CASES = [(name, method, role) for name in MATRIX for method in ("GET", "POST") for role in ROLES]


@pytest.mark.parametrize(("name", "method", "role"), CASES)
def test_matrix(world: dict[str, Any], name: str, method: str, role: str) -> None:
    staff: Staff = world["staff"]
    user = {
        "operator": staff.operator,
        "verifier": staff.verifier,
        "supervisor": staff.supervisor,
        "liaison": staff.liaison,
        "press": staff.press,
        "admin": staff.admin,
    }[role]
    client = Client()
    login_verified(client, user)
    url = url_for(name, world)
    response = client.get(url) if method == "GET" else client.post(url, {"action": "none"})
    expected = MATRIX[name][method][role]
    assert response.status_code == expected, (name, method, role, response.status_code)
    if expected == 302 and name == "otp_setup":
        assert response["Location"].startswith(reverse("console:otp_verify"))


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_without_second_factor_only_login_pages_answer(world: dict[str, Any], name: str) -> None:
    client = Client()
    login_unverified(client, world["staff"].supervisor)
    response = client.get(url_for(name, world))
    if name in OPEN_WITHOUT_SECOND_FACTOR:
        assert response.status_code in (200, 302, 405)
        if response.status_code == 302:
            assert "/console/otp/" in response["Location"]
    else:
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("console:otp_setup"))


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_anonymous_is_sent_to_login(world: dict[str, Any], name: str) -> None:
    response = Client().get(url_for(name, world))
    if name in {"login", "enrol"}:
        assert response.status_code == 200
    elif name == "logout":
        assert response.status_code == 405
    else:
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("console:login"))
