"""Role checks for console views, which hand the view its ``actor``. The services check again:
views are not the only gate."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

View = Callable[..., HttpResponse]


def role_required(*roles: str) -> Callable[[View], View]:
    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = request.user
            role = getattr(user, "role", None)
            if not (user.is_authenticated and user.is_active and role in roles):
                raise PermissionDenied
            # The view gets the signed-in staff member as ``actor``, already checked.
            return view(request, *args, actor=user, **kwargs)

        wrapped.allowed_roles = frozenset(roles)  # type: ignore[attr-defined]
        return wrapped

    return decorator
