"""Create a staff account from the server's shell (the first supervisor of an install)."""

from __future__ import annotations

import getpass
import os
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from lifeline.audit.services import audit_record
from lifeline.core.models import Role, User


class Command(BaseCommand):
    help = (
        "Create a staff account. The password is asked for twice (or read from the environment "
        "variable named by --password-env). The account enrols its authenticator at first login."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", required=True)
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--password-env", help="read the password from this variable")

    def handle(self, *args: Any, **options: Any) -> None:
        username = options["username"].strip()
        if User.objects.filter(username__iexact=username).exists():
            raise CommandError(f"an account named {username!r} exists already")
        if options["password_env"]:
            password = os.environ.get(options["password_env"], "")
        else:
            password = getpass.getpass("Password (14 characters at least): ")
            if getpass.getpass("Again: ") != password:
                raise CommandError("the two passwords differ")
        user = User(username=username, role=options["role"])
        try:
            validate_password(password, user)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        user.set_password(password)
        with transaction.atomic():
            user.save()
            audit_record(
                actor=None,
                actor_label="shell",
                action="staff.created",
                object_type="user",
                object_id=user.pk,
                fields=["username", "role", "password"],
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Created {username} ({options['role']}). Sign in at /console/login/ and enrol the "
                "authenticator app from the QR code shown."
            )
        )
