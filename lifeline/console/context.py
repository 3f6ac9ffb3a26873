"""Template context for the console navigation, from the same role sets the views use."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from lifeline.cases.selectors import CASE_ROLES
from lifeline.cases.workflow import CREATE_ROLES, EXCHANGE_ROLES
from lifeline.core.models import Role
from lifeline.core.staff import STAFF_MANAGER_ROLES


def nav(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    role = getattr(user, "role", None) if user is not None and user.is_authenticated else None
    return {
        # Error pages (403, 404) keep the console's layout for signed-in staff inside it.
        "error_layout": "console/base.html"
        if role is not None and request.path.startswith("/console/")
        else "base.html",
        "nav_cases": role in CASE_ROLES,
        "nav_create": role in CREATE_ROLES,
        "nav_staff": role in STAFF_MANAGER_ROLES,
        "nav_audit": role == Role.SUPERVISOR,
        "nav_queue": role in (Role.OPERATOR, Role.SUPERVISOR),
        "nav_operations": role in (Role.LIAISON, Role.SUPERVISOR),
        "nav_exchanges": role in EXCHANGE_ROLES,
        "nav_verification": role in (Role.VERIFIER, Role.SUPERVISOR),
        "nav_visits": role in (Role.PRESS, Role.SUPERVISOR),
    }
