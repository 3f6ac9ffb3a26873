"""Suspicion scoring (issue 15, part 2): each reason is found, explained in the verifier's words
(three languages), stored with the application (no decryption, no query per row in the queue),
and never acts alone: near-identical applications are gathered into one row of the queue while
the applications that raise no question come first; every one stays "applied" for the verifier
to decide."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.test import Client
from django.utils import timezone, translation

from lifeline.cases import selectors
from lifeline.cases.models import Case, CaseStatus
from lifeline.contacts.models import Contact
from lifeline.conversations.models import FlowRun
from tests.factories import Staff, create_case, login_verified, telegram_conversation

pytestmark = pytest.mark.django_db


def _codes(case: Case) -> dict[str, int]:
    case.refresh_from_db()
    return {code: n for code, n in case.suspicion_reasons or []}


def _settled(address: str) -> Contact:
    """A person who wrote an hour ago (not a script's instant application)."""
    conversation = telegram_conversation(address)
    Contact.objects.filter(pk=conversation.contact_id).update(
        created_at=timezone.now() - timedelta(hours=1)
    )
    return conversation.contact


def test_a_calm_application_raises_no_question() -> None:
    case = create_case(
        requester=_settled("8900001"),
        birth_date=date(1990, 5, 1),
        rank="рядовой",
        unit="в/ч 12345",
        location="Курск",
    )
    assert _codes(case) == {}
    assert case.suspicion == 0
    assert case.answers_fingerprint  # rank, unit and place were given
    assert selectors.suspicion_hints(case) == []


def test_each_reason_is_found_and_explained() -> None:
    contact = _settled("8900002")
    first = create_case(requester=contact, service_number="АБ-100001")
    again = create_case(requester=contact, service_number="АБ-100002")
    assert _codes(again) == {"repeat_applicant": 1}
    elsewhere = create_case(requester=_settled("8900003"), service_number="АБ-100001")
    assert _codes(elsewhere)["number_elsewhere"] == 1
    old = create_case(requester=_settled("8900004"), birth_date=date(1930, 1, 1))
    assert "impossible_age" in _codes(old)
    group = create_case(requester=_settled("8900005"), group_size=120)
    assert _codes(group) == {"impossible_group": 120}
    hasty = telegram_conversation("8900006")  # his first message a moment ago
    assert "fast_intake" in _codes(create_case(requester=hasty.contact))
    failing = telegram_conversation("8900007")
    FlowRun.objects.create(
        conversation=failing, flow="front_contact", version=1, failed_reidentifications=3
    )
    Contact.objects.filter(pk=failing.contact_id).update(
        created_at=timezone.now() - timedelta(hours=1)
    )
    assert _codes(create_case(requester=failing.contact)) == {"failed_reidentifications": 3}
    for n in range(3):
        create_case(
            requester=_settled(f"89001{n:02d}"),
            rank="Рядовой",
            unit="В/Ч 55555",
            location="Белгород",
        )
    similar = Case.objects.order_by("-created_at").first()
    assert similar is not None
    assert _codes(similar)["similar_answers"] == 2
    # Scored for sorting, explained in the verifier's language, and nothing decided.
    assert elsewhere.suspicion > 0
    assert first.status == CaseStatus.APPLIED
    with translation.override("ru"):
        assert "Тот же личный номер" in " ".join(selectors.suspicion_hints(elsewhere))
    english = selectors.suspicion_hints(old)
    assert any("An age no soldier has" in h for h in english)
    with translation.override("uk"):
        assert selectors.suspicion_hints(old) != english
        assert any("Вік" in h for h in selectors.suspicion_hints(old))
    assert "АБ-100001" not in str(elsewhere.suspicion_reasons)


def test_the_queue_gathers_a_flood_and_puts_the_calm_applications_first() -> None:
    staff = Staff()
    genuine = [
        create_case(
            requester=_settled(f"8910{n:03d}"),
            unit=f"в/ч {10000 + n}",
            rank="сержант",
            location=f"село {n}",
        )
        for n in range(3)
    ]
    flood = [
        create_case(
            requester=_settled(f"8920{n:03d}"),
            full_name=f"Фейк {n}",
            service_number=f"ФК-{n:06d}",
            rank="Рядовой",
            unit="в/ч 00001",
            location="Москва",
        )
        for n in range(25)
    ]
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    login_verified(client, staff.verifier)
    html = client.get("/console/verification/").content.decode()
    clear = html.split('id="verification-queue"')[1].split("</table>")[0]
    for case in genuine:
        assert case.number in clear
    for case in flood:
        assert case.number not in html  # not 25 loose rows
    groups = html.split('id="flood-groups"')[1].split("</table>")[0]
    assert groups.count('class="flood-group"') == 1
    assert "25 applications with the same rank, unit and place" in groups
    assert "as in 24 other applications this week" in groups
    link = groups.split('href="')[1].split('"')[0]
    opened = client.get("/console/verification/" + link).content.decode()
    for case in flood:
        assert case.number in opened
    assert "Москва" not in html + opened  # nothing decrypted for a list
    assert Case.objects.filter(status=CaseStatus.APPLIED).count() == 28  # nothing decided


@pytest.mark.parametrize("value", ["\x00", "х" * 5000, "%", "' OR 1=1 --", "😀\u202e", "ab"])
def test_a_crafted_group_in_the_address_is_a_400(value: str) -> None:
    staff = Staff()
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    login_verified(client, staff.verifier)
    response = client.get("/console/verification/", {"group": value})
    assert response.status_code == 400
