"""The two sides answer, in the three languages."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("ru", "Три способа связаться с нами"),
        ("uk", "Три способи зв’язатися з нами"),
        ("en", "Three ways to reach us"),
    ],
)
def test_public_home_in_each_language(client: Client, language: str, text: str) -> None:
    response = client.get("/", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    assert text in response.content.decode()
    assert f'<html lang="{language}">' in response.content.decode()


def test_language_switch_sticks(client: Client) -> None:
    response = client.post("/i18n/setlang/", {"language": "uk", "next": "/"})
    assert response.status_code == 302
    assert "Три способи" in client.get("/").content.decode()
