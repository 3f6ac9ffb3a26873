"""Driving the web chat as a browser without JavaScript does: read the page's message id, post."""

from __future__ import annotations

from django.test import Client


def message_id(client: Client) -> str:
    """The hidden message id of the chat page the client would see now."""
    page = client.get("/chat/").content.decode()
    return page.split('name="message_id" value="')[1].split('"')[0]


def send(client: Client, text: str, mid: str | None = None) -> int:
    """Send one message from the chat page; the answer's status code."""
    response = client.post("/chat/", {"text": text, "message_id": mid or message_id(client)})
    return response.status_code
