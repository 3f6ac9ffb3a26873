"""The two sides answer, in the three languages."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import create_user

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("ru", "Вы можете остаться в живых."),
        ("uk", "Ви можете залишитися живим."),
        ("en", "You can stay alive."),
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
    assert "Ви можете" in client.get("/").content.decode()


def test_console_requires_login(client: Client) -> None:
    response = client.get("/console/")
    assert response.status_code == 302
    assert response["Location"].startswith("/console/login/")
    assert client.get("/console/login/").status_code == 200


def test_console_login_shows_counts(client: Client) -> None:
    create_user("supervisor", username="sup", password="a long enough passphrase")
    response = client.post(
        "/console/login/",
        {"username": "sup", "password": "a long enough passphrase"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 302
    page = client.get("/console/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Cases by status" in page
    assert "Applied" in page


def test_wrong_password_gets_a_clear_error(client: Client) -> None:
    response = client.post(
        "/console/login/", {"username": "x", "password": "y"}, HTTP_ACCEPT_LANGUAGE="ru"
    )
    assert response.status_code == 200
    assert "Неверное имя пользователя или пароль." in response.content.decode()
