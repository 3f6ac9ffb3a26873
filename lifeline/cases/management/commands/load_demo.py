"""Load fictional demo data: staff accounts and a dozen cases in different statuses."""

from __future__ import annotations

import secrets
from datetime import date, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from lifeline.cases import workflow
from lifeline.cases.models import Case, DispositionKind, MobilisationStatus, PhoneSituation
from lifeline.contacts.services import identity_get_or_create
from lifeline.core.channels import Channel
from lifeline.core.models import Role, User

DEMO_STAFF = [
    ("supervisor", Role.SUPERVISOR),
    ("supervisor2", Role.SUPERVISOR),
    ("operator", Role.OPERATOR),
    ("verifier", Role.VERIFIER),
    ("liaison", Role.LIAISON),
    ("press", Role.PRESS),
    ("admin", Role.ADMIN),
]

# Every person here is invented. Service numbers use a pattern no real one has (DEMO prefix).
DEMO_PEOPLE = [
    ("Демьян Вымыслов", date(1991, 3, 12), "ДЕМО-000101", "рядовой", "в/ч 00001", Channel.TELEGRAM),
    ("Фёдор Примеров", date(1987, 7, 2), "ДЕМО-000102", "сержант", "в/ч 00002", Channel.WEB),
    ("Олег Образцов", date(1995, 11, 23), "ДЕМО-000103", "ефрейтор", "в/ч 00003", Channel.PHONE),
    ("Глеб Условный", date(1983, 1, 5), "ДЕМО-000104", "рядовой", "в/ч 00001", Channel.TELEGRAM),
    (
        "Савва Придуманный",
        date(1999, 6, 17),
        "ДЕМО-000105",
        "младший сержант",
        "в/ч 00004",
        Channel.WEB,
    ),
    ("Лука Макетов", date(1978, 9, 30), "ДЕМО-000106", "прапорщик", "в/ч 00005", Channel.PHONE),
    ("Назар Шаблонов", date(1993, 4, 8), "ДЕМО-000107", "рядовой", "в/ч 00002", Channel.TELEGRAM),
    (
        "Тимур Эскизов",
        date(1990, 12, 1),
        "ДЕМО-000108",
        "старший сержант",
        "в/ч 00006",
        Channel.TELEGRAM,
    ),
    ("Яков Черновиков", date(1986, 2, 14), "ДЕМО-000109", "рядовой", "в/ч 00003", Channel.WEB),
    ("Роман Набросков", date(1997, 8, 21), "ДЕМО-000110", "ефрейтор", "в/ч 00007", Channel.PHONE),
    ("Ефим Пробный", date(1989, 5, 9), "ДЕМО-000111", "рядовой", "в/ч 00008", Channel.TELEGRAM),
    ("Кирилл Тестов", date(1994, 10, 3), "ДЕМО-000112", "сержант", "в/ч 00001", Channel.WEB),
]

CHECKLIST = dict.fromkeys(workflow.VERIFICATION_CHECKLIST, True)


class Command(BaseCommand):
    help = "Load fictional demo data (once). Prints the demo staff passwords when it creates them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reset-passwords",
            action="store_true",
            help="give the demo staff accounts new passwords and print them",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if User.objects.filter(username="supervisor").exists() and not options["reset_passwords"]:
            self.stdout.write(
                "Demo data is already loaded; passwords were printed the first time. "
                "`python manage.py load_demo --reset-passwords` prints new ones."
            )
            return
        with transaction.atomic():
            passwords = self._staff()
            if not Case.objects.exists():
                self._cases()
            self._publications()
        self.stdout.write(self.style.SUCCESS("Demo staff accounts (fictional; change them):"))
        for username, role in DEMO_STAFF:
            self.stdout.write(f"  {username:<12} {role:<11} password: {passwords[username]}")

    def _staff(self) -> dict[str, str]:
        passwords = {}
        for username, role in DEMO_STAFF:
            user, _ = User.objects.get_or_create(username=username, defaults={"role": role})
            password = "-".join(secrets.token_urlsafe(4) for _ in range(4))
            user.set_password(password)
            user.role = role
            user.save()
            passwords[username] = password
        return passwords

    def _cases(self) -> None:
        staff = {
            u.username: u for u in User.objects.filter(username__in=[s for s, _ in DEMO_STAFF])
        }
        sup, sup2 = staff["supervisor"], staff["supervisor2"]
        op, ver, liaison = staff["operator"], staff["verifier"], staff["liaison"]
        cases: list[Case] = []
        for i, (name, born, number, rank, unit, channel) in enumerate(DEMO_PEOPLE):
            identity = identity_get_or_create(
                channel=channel,
                address={
                    Channel.TELEGRAM: str(9_000_000_000 + i),
                    Channel.PHONE: f"+7999000{i:04d}",
                    Channel.WEB: secrets.token_urlsafe(24),
                }[channel],
            )
            case = workflow.case_create(
                actor=None,
                via="demo data",
                channel=channel,
                language="ru",
                requester=identity.contact,
                full_name=name,
                birth_date=born,
                service_number=number,
                rank=rank,
                unit=unit,
                location="Демонстрационная область",
                mobilisation_status=list(MobilisationStatus)[1 + i % 4],
                group_size=1 + i % 3,
                phone_situation=list(PhoneSituation)[i % 4],
            )
            workflow.case_assign(case=case, actor=sup, assignee=op)
            cases.append(case)
        # 0-1 stay applied. 2 rejected. 3 verified. 4-5 ready. 6 operation requested (ready).
        # 7 in operation. 8-9 surrendered (one exchanged). 10 withdrawn. 11 lost contact.
        workflow.case_reject(case=cases[2], actor=ver, reason="Демо: данные не сходятся")
        for c in cases[3:10]:
            workflow.case_verify(case=c, actor=ver, checklist=CHECKLIST)
        for c in cases[4:10]:
            workflow.case_mark_ready(case=c, actor=op, service_number=c.service_number)
        meeting = timezone.now() + timedelta(days=1)
        for c in cases[6:10]:
            operation = workflow.operation_request(
                case=c,
                actor=sup,
                meeting_point="Демо: точка встречи",
                meeting_time=meeting,
                signal="Демо: белая ткань",
                group_size=c.group_size,
            )
            if c is not cases[6]:
                workflow.operation_approve(operation=operation, actor=sup2)
            if c in (cases[8], cases[9]):
                workflow.operation_record_outcome(
                    operation=operation, actor=liaison, surrendered=True, note="Демо: вышел"
                )
        exchange = workflow.exchange_record(
            actor=sup, date=timezone.now().date(), released_by_ukraine=90, released_by_russia=90
        )
        workflow.case_set_disposition(
            case=cases[8], actor=sup, kind=DispositionKind.EXCHANGED, exchange=exchange
        )
        workflow.case_set_disposition(
            case=cases[9], actor=sup, kind=DispositionKind.AWAITING_EXCHANGE
        )
        workflow.case_withdraw(case=cases[10], actor=op, reason="Демо: передумал")
        workflow.case_mark_lost_contact(case=cases[11], actor=op, reason="Демо: не отвечает")

    def _publications(self) -> None:
        """Work waiting for a supervisor: a page edit and a channel post, both by the press."""
        from lifeline.channels import broadcast
        from lifeline.channels.models import ChannelPost
        from lifeline.public import editing
        from lifeline.public.models import PageVersion

        press = User.objects.get(username="press")
        if not PageVersion.objects.exists():
            version = editing.draft_start(actor=press, slug="faq", language="ru")
            editing.draft_save(
                actor=press,
                version=version,
                text=version.text + "\n## Демо: новый вопрос\n\nДемо: ответ пресс-службы.\n",
            )
            editing.draft_submit(actor=press, version=version)
        if not ChannelPost.objects.exists() and broadcast.targets():
            post = broadcast.post_create(
                actor=press,
                texts={
                    "ru": "Демо: «Хочу жить» на связи круглосуточно.",
                    "uk": "Демо: «Хочу жити» на зв’язку цілодобово.",
                },
            )
            broadcast.post_submit(actor=press, post=post)
