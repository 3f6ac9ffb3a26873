"""No dead ends in the console (issue 14, point 5): every action leads somewhere the user may
be, actions a role cannot take are not offered, and refusals keep the console's layout."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from lifeline.contacts.services import identity_get_or_create
from lifeline.conversations import services
from lifeline.conversations.models import Conversation, Message
from lifeline.core.models import User
from tests.factories import Staff, advance, create_case, login_verified, request_operation

pytestmark = pytest.mark.django_db


def client_for(user: User) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    login_verified(client, user)
    return client


def test_refusals_inside_the_console_keep_its_layout() -> None:
    staff = Staff()
    case = create_case()
    refused = client_for(staff.press).get(reverse("console:case_detail", args=[case.pk]))
    assert refused.status_code == 403
    html = refused.content.decode()
    assert "Your role does not give access" in html
    assert reverse("console:logout") in html  # the console's own header, with "Sign out"
    missing = client_for(staff.operator).get("/console/no-such-page/")
    assert missing.status_code == 404
    assert reverse("console:logout") in missing.content.decode()
    # Outside the console, or signed out, the public layout.
    public = Client(HTTP_ACCEPT_LANGUAGE="en").get("/no-such-page/")
    assert public.status_code == 404
    assert reverse("console:logout") not in public.content.decode()


def test_returning_a_conversation_to_the_bot_leads_to_the_queue() -> None:
    staff = Staff()
    identity = identity_get_or_create(channel="telegram", address="6660001")
    conversation = Conversation.objects.create(
        contact=identity.contact, identity=identity, channel="telegram", status="waiting"
    )
    services.conversation_take(conversation=conversation, actor=staff.operator)
    client = client_for(staff.operator)
    response = client.post(
        reverse("console:conversation", args=[conversation.pk]), {"action": "bot"}, follow=True
    )
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == reverse("console:queue")
    assert "The bot has the conversation again." in response.content.decode()


def test_the_requester_of_an_operation_is_not_offered_its_approval() -> None:
    staff = Staff()
    case = create_case()
    advance(case, "ready", staff)
    request_operation(case, staff.supervisor)
    url = reverse("console:case_detail", args=[case.pk])
    own = client_for(staff.supervisor).get(url).content.decode()
    assert 'value="approve"' not in own
    assert "another supervisor must approve it" in own
    other = client_for(staff.supervisor2).get(url).content.decode()
    assert 'value="approve"' in other
    operator = client_for(staff.operator).get(url).content.decode()
    assert 'value="approve"' not in operator


def test_the_case_links_only_to_conversations_the_reader_may_open() -> None:
    staff = Staff()
    identity = identity_get_or_create(channel="telegram", address="6660002")
    case = create_case(requester=identity.contact)
    advance(case, "applied", staff)  # assigned to staff.operator
    theirs = Conversation.objects.create(
        contact=identity.contact, identity=identity, channel="telegram", status="active"
    )
    services.conversation_take(conversation=theirs, actor=staff.supervisor)
    Message.objects.create(conversation=theirs, direction="in", text="line-marker")
    url = reverse("console:case_detail", args=[case.pk])
    link = reverse("console:conversation", args=[theirs.pk])
    operator_page = client_for(staff.operator).get(url).content.decode()
    assert "line-marker" in operator_page
    # The conversation is the supervisor's: the operator may not open it, so no link to it.
    assert client_for(staff.operator).get(link).status_code == 403
    assert link not in operator_page
    supervisor_page = client_for(staff.supervisor).get(url).content.decode()
    assert link in supervisor_page
