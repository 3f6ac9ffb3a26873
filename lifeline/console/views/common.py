"""What every console screen uses: the signed-in staff member, a clear 400, parsing ids."""

from __future__ import annotations

from uuid import UUID

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from lifeline.core.models import Role, User
from lifeline.core.parsing import object_id


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - the middleware guarantees a logged-in user
    return user


def bad_request(request: HttpRequest) -> HttpResponse:
    """400 for a malformed parameter: a plain page, no detail, no traceback in the log."""
    return render(request, "400.html", status=400)


WORK_ROLES = (Role.OPERATOR, Role.SUPERVISOR)


def _uuid(value: str | None) -> UUID:
    try:
        return UUID(str(value))
    except ValueError:
        raise ValueError(_("That record does not exist.")) from None


def _int(value: str | None) -> int:
    """A primary key from a form; 0 (matches nothing) for anything else, "²" included."""
    return object_id(value) or 0


def _object_id_or_none(value: str | None) -> int | None:
    return object_id(value) if value else None
