"""Tenth adversarial review: crafted requests to the new screens (exploratory; all held)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from lifeline.channels import broadcast
from lifeline.public import editing
from tests.channels.test_telegram_media import jpeg
from tests.factories import Staff, login_verified

pytestmark = pytest.mark.django_db


def _png_bomb() -> bytes:
    from io import BytesIO

    from PIL import Image

    out = BytesIO()
    Image.new("1", (6000, 6600)).save(out, format="PNG")
    return out.getvalue()


def test_crafted_requests_never_5xx() -> None:
    staff = Staff()
    c = Client(raise_request_exception=False)
    login_verified(c, staff.supervisor)
    version = editing.draft_start(actor=staff.press, slug="faq", language="ru")
    post = broadcast.post_create(actor=staff.press, texts={"ru": "x"}, image=jpeg())
    scheduled = broadcast.post_create(actor=staff.press, texts={"ru": "y"})
    broadcast.post_submit(actor=staff.press, post=scheduled)
    broadcast.post_approve(actor=staff.supervisor, post=scheduled)
    bad: list[object] = []
    pv = f"/console/pages/versions/{version.pk}/"
    pd = f"/console/posts/{post.pk}/"
    sd = f"/console/posts/{scheduled.pk}/"
    cases: list[tuple[str, dict[str, Any]]] = [
        (pv, {"action": "save", "text": "#" * 30000}),
        (pv, {"action": "save", "text": "<" * 30000}),
        (pv, {"action": ["save", "submit"], "text": "a"}),
        (pv, {"action": "send_back", "note": "\x00"}),
        (pd, {"action": "save", "text_ru": "a", "publish_at": "9999-12-31T23:59"}),
        (pd, {"action": "save", "text_ru": "a", "publish_at": "0001-01-01T00:00"}),
        (pd, {"action": "save", "text_ru": "a", "image": SimpleUploadedFile("a.png", _png_bomb())}),
        (
            pd,
            {
                "action": "save",
                "text_ru": "a",
                "image": SimpleUploadedFile("a.gif", b"GIF89a" + b"\x00" * 50),
            },
        ),
        (pd, {"action": "approve"}),
        (sd, {"action": "save", "text_ru": "z", "image": SimpleUploadedFile("a.jpg", jpeg())}),
        (sd, {"action": "edit"}),
        (sd, {"action": "save", "text_ru": "z", "remove_image": "on"}),
        (sd, {"action": "delete"}),
        (sd, {"action": "delete"}),
        (sd, {"action": "retry"}),
        (
            "/console/posts/",
            {
                "text_ru": "a",
                "image": [SimpleUploadedFile("a.jpg", jpeg()), SimpleUploadedFile("b.jpg", jpeg())],
            },
        ),
        ("/console/pages/faq/ru/", {"from": str(version.pk)}),
    ]
    for url, data in cases:
        r = c.post(url, data)
        if r.status_code >= 500:
            bad.append(
                (
                    url,
                    {
                        k: (v if isinstance(v, str) else type(v).__name__)[:40]
                        for k, v in data.items()
                    },
                    r.status_code,
                )
            )
    for url, body in (
        (pv, b"action=save&text=%ED%A0%80%FF"),
        (pd, b"action=save&text_ru=%ED%A0%80%FF&publish_at="),
    ):
        r = c.post(url, body, content_type="application/x-www-form-urlencoded")
        if r.status_code >= 500:
            bad.append((url, body, r.status_code))
    for url in (
        pd,
        sd,
        f"/console/posts/{post.pk}/image/",
        pv,
        "/console/pages/",
        "/console/posts/",
        "/p/faq/",
    ):
        r = c.get(url)
        if r.status_code >= 500:
            bad.append((url, "GET", r.status_code))
    assert bad == []
