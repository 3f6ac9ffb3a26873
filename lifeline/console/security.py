"""Hooks for django-axes: lock by account only, and keep no client address."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def no_client_address(request: HttpRequest) -> None:
    """Lockouts are per account; the client's address is never read or stored."""
    return None


def client_label(
    username: str, ip_address: Any, user_agent: Any, path_info: Any, request: Any
) -> str:
    """How axes names a client in its messages: by account only."""
    return f"account {username!r}"
