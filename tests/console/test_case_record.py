"""The case page shows everything recorded, to the roles that may read it; exchanges are
recorded, corrected and attached in the console (issue 14, points 4 and 7)."""

from __future__ import annotations

from datetime import date

import pytest
from django.test import Client
from django.urls import reverse

from lifeline.audit.models import AuditEntry
from lifeline.cases import workflow
from lifeline.cases.models import Case, Disposition, Exchange
from lifeline.contacts.services import identity_get_or_create
from lifeline.conversations.models import Conversation, Message
from lifeline.core.models import User
from tests.factories import Staff, advance, create_case, login_verified

pytestmark = pytest.mark.django_db


def page(user: User, case: Case) -> str:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    login_verified(client, user)
    response = client.get(reverse("console:case_detail", args=[case.pk]))
    assert response.status_code == 200
    return response.content.decode()


def act(user: User, case: Case, data: dict[str, str]) -> tuple[int, str]:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    login_verified(client, user)
    response = client.post(reverse("console:case_action", args=[case.pk]), data, follow=True)
    return response.status_code, response.content.decode()


def test_a_refused_verification_keeps_the_ticks_and_names_what_is_missing() -> None:
    staff = Staff()
    case = create_case()
    advance(case, "applied", staff)
    status, html = act(
        staff.verifier,
        case,
        {
            "action": "verify",
            "identity_consistent": "on",
            "duplicates_reviewed": "on",
            "note": "Позывной совпадает с рассказом",
        },
    )
    assert status == 400
    assert 'name="identity_consistent" checked' in html
    assert 'name="duplicates_reviewed" checked' in html
    assert 'name="service_number_checked" checked' not in html
    assert "Позывной совпадает с рассказом</textarea>" in html
    # What is missing, in words, not codes.
    assert "The service number has a plausible form and was checked" in html
    shown = html.split('<ul class="messages">')[1].split("</ul>")[0]
    assert "The service number has a plausible form and was checked" in shown
    assert "No sign of an ambush, a provocation or a fake" in shown
    assert "no_provocation_signs" not in shown
    assert "Name, birth date and unit" not in shown  # ticked: not missing
    case.refresh_from_db()
    assert case.status == "applied"


def test_the_page_shows_every_note_and_outcome_to_those_who_may_read_them() -> None:
    staff = Staff()
    case = create_case()
    advance(case, "applied", staff)
    workflow.case_verify(
        case=case,
        actor=staff.verifier,
        checklist=dict.fromkeys(workflow.VERIFICATION_CHECKLIST, True),
        note="verifier-note-marker",
    )
    workflow.case_add_note(case=case, actor=staff.operator, text="operator-note-marker")
    workflow.case_mark_ready(case=case, actor=staff.operator, service_number=case.service_number)
    operation = workflow.operation_request(
        case=case,
        actor=staff.operator,
        meeting_point="meeting-point-marker",
        meeting_time=case.created_at,
        signal="signal-marker",
        group_size=2,
    )
    workflow.operation_approve(operation=operation, actor=staff.supervisor)
    workflow.operation_record_outcome(
        operation=operation, actor=staff.liaison, surrendered=True, note="outcome-marker"
    )
    exchange = workflow.exchange_record(
        actor=staff.supervisor,
        date=date(2026, 4, 2),
        released_by_ukraine=90,
        released_by_russia=101,
        place="place-marker",
    )
    workflow.case_set_disposition(
        case=case,
        actor=staff.supervisor,
        kind="exchanged",
        exchange=exchange,
        note="disposition-marker",
    )
    html = page(staff.supervisor, case)
    for marker in (
        "verifier-note-marker",
        "operator-note-marker",
        "meeting-point-marker",
        "signal-marker",
        "outcome-marker",
        "disposition-marker",
        "place-marker",
        "2026-04-02",
        "Re-identified by service number",
        "Confirmed: No sign of an ambush, a provocation or a fake",
    ):
        assert marker in html, marker
    # The disposition is shown as recorded, and the form starts from it (not "awaiting").
    assert '<dd id="f-disposition">Exchanged</dd>' in html
    assert '<option value="exchanged" selected>' in html
    assert f'<option value="{exchange.pk}" selected>' in html
    # The liaison saw the meeting; an operator handles the case too. Whoever reads notes is
    # in the audit log, by field name only.
    assert "outcome-marker" in page(staff.operator, case)
    read = AuditEntry.objects.filter(action="case.history.read", actor=staff.supervisor).last()
    assert read is not None
    assert "operation.outcome_note" in read.fields
    assert "outcome-marker" not in str(read.fields)


def test_notes_about_an_operation_are_withheld_from_roles_without_operation_details() -> None:
    """The selector's own rule (the page's access check comes first): a role that does not see
    operation details (the verifier) gets neither the meeting nor the outcome note, which may
    say where the men were."""
    from lifeline.cases.selectors import case_history

    staff = Staff()
    case = create_case()
    advance(case, "surrendered", staff)  # the outcome note is "test"
    lines, operations = case_history(actor=staff.verifier, case=case)
    outcome = [line for line in lines if "operation" in (line.event.data or {}) and line.withheld]
    assert outcome, "the outcome note is withheld"
    assert all(line.note == "" for line in outcome)
    assert all(op.details == {} and op.outcome_note is None for op in operations)
    lines, operations = case_history(actor=staff.liaison, case=case)
    assert operations[0].details["meeting_point"] == "test point"
    assert operations[0].outcome_note == "test"
    assert any(line.note == "test" for line in lines)


def test_the_verifier_reads_what_the_man_wrote_while_the_application_waits() -> None:
    staff = Staff()
    identity = identity_get_or_create(channel="telegram", address="5550001")
    case = create_case(requester=identity.contact)
    conversation = Conversation.objects.create(
        contact=identity.contact, identity=identity, channel="telegram"
    )
    Message.objects.create(conversation=conversation, direction="in", text="story-marker")
    html = page(staff.verifier, case)
    assert "story-marker" in html
    # He does not work with conversations: no link to a page he cannot open.
    assert reverse("console:conversation", args=[conversation.pk]) not in html
    assert AuditEntry.objects.filter(
        action="conversation.read", actor=staff.verifier, object_id=str(case.pk)
    ).exists()


def test_a_supervisor_records_corrects_and_attaches_an_exchange() -> None:
    staff = Staff()
    waiting = []
    for _n in range(2):
        case = create_case()
        advance(case, "surrendered", staff)
        workflow.case_set_disposition(
            case=case, actor=staff.supervisor, kind="awaiting_exchange", note="keep-me"
        )
        waiting.append(case)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    login_verified(client, staff.supervisor)
    listing = client.get(reverse("console:exchanges")).content.decode()
    assert all(case.number in listing for case in waiting)
    # Bad input: a clear error, in the form, nothing recorded.
    bad = client.post(
        reverse("console:exchanges"),
        {"date": "31.02.2026", "released_by_ukraine": "-1", "released_by_russia": "x"},
    )
    assert bad.status_code == 400
    assert Exchange.objects.count() == 0
    assert 'role="alert"' in bad.content.decode()
    created = client.post(
        reverse("console:exchanges"),
        {
            "date": "02.04.2026",
            "place": "Сумская область",
            "released_by_ukraine": "90",
            "released_by_russia": "101",
        },
    )
    assert created.status_code == 302
    exchange = Exchange.objects.get()
    assert (exchange.released_by_ukraine, exchange.place) == (90, "Сумская область")
    url = reverse("console:exchange_detail", args=[exchange.pk])
    assert created["Location"] == url
    corrected = client.post(
        url,
        {
            "action": "update",
            "date": "2026-04-02",
            "place": "Сумская область",
            "released_by_ukraine": "95",
            "released_by_russia": "101",
        },
    )
    assert corrected.status_code == 302
    exchange.refresh_from_db()
    assert exchange.released_by_ukraine == 95
    change = AuditEntry.objects.get(action="exchange.changed")
    assert change.fields == ["released_by_ukraine"]
    attached = client.post(
        url, {"action": "attach", "case": [str(waiting[0].pk), "not-a-uuid"]}, follow=True
    )
    assert waiting[0].number in attached.content.decode()
    disposition = Disposition.objects.get(case=waiting[0])
    assert (disposition.kind, disposition.exchange_id) == ("exchanged", exchange.pk)
    assert disposition.note == "keep-me"  # the earlier note is kept
    still = client.get(reverse("console:exchanges")).content.decode()
    waiting_table = still.split('id="waiting"')[1].split("</table>")[0]
    assert waiting[1].number in waiting_table
    assert waiting[0].number not in waiting_table
    # Nothing chosen: a clear message, nothing changed.
    empty = client.post(url, {"action": "attach"}, follow=True)
    assert "Choose at least one person" in empty.content.decode()


def test_only_supervisors_record_exchanges() -> None:
    staff = Staff()
    for user in (staff.operator, staff.liaison, staff.press):
        client = Client(HTTP_ACCEPT_LANGUAGE="en")
        login_verified(client, user)
        response = client.post(
            reverse("console:exchanges"),
            {"date": "02.04.2026", "released_by_ukraine": "1", "released_by_russia": "1"},
        )
        assert response.status_code == 403
    assert Exchange.objects.count() == 0


def test_applications_wait_for_verification_longest_first_with_duplicate_hints() -> None:
    from datetime import timedelta

    from django.utils import timezone

    staff = Staff()
    newer = create_case(service_number="ВЧ-700001")
    older = create_case(service_number="ВЧ-700002")
    twin = create_case(service_number="ВЧ-700002")
    Case.objects.filter(pk=older.pk).update(created_at=timezone.now() - timedelta(days=3))
    Case.objects.filter(pk=twin.pk).update(created_at=timezone.now() - timedelta(days=2))
    done = create_case()
    advance(done, "verified", staff)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    login_verified(client, staff.verifier)
    html = client.get(reverse("console:verification_queue")).content.decode()
    table = html.split('id="verification-queue"')[1].split("</table>")[0]
    positions = [table.index(case.number) for case in (older, newer)]
    assert positions == sorted(positions)
    assert done.number not in html
    assert "3 applications wait." in html
    older_row = table.split(older.number)[1].split("</tr>")[0]
    assert "1 possible duplicate" in older_row
    newer_row = table.split(newer.number)[1].split("</tr>")[0]
    assert "possible duplicate" not in newer_row
    # The second application with a number already given goes to "look twice", with why.
    assert twin.number not in table
    flagged = html.split('id="suspicion-queue"')[1].split("</table>")[0]
    twin_row = flagged.split(twin.number)[1].split("</tr>")[0]
    assert "1 possible duplicate" in twin_row
    assert "The same service number is in 1 application from another person." in twin_row
    assert "ВЧ-700002" not in html  # a list decrypts no personal field
