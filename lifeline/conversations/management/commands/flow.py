"""``flow validate`` and ``flow simulate``: work on flows without any channel."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from lifeline.conversations.engine import LANGUAGES
from lifeline.conversations.engine.loader import FlowInvalid, load_flows
from lifeline.conversations.engine.simulate import DryHost, ScriptMismatch, describe, run_script


class Command(BaseCommand):
    help = "Validate flows, or talk to one in the terminal (optionally from a script)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dir",
            default=str(settings.LIFELINE_FLOWS_DIR),
            help="folder of flow files (default: the project's flows/)",
        )
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("validate", help="check every flow; errors name file and line")
        simulate = sub.add_parser("simulate", help="talk to a flow")
        simulate.add_argument("name")
        simulate.add_argument("--lang", default="ru", choices=LANGUAGES)
        simulate.add_argument("--script", help="a YAML transcript of inputs and expected replies")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            flows = load_flows(Path(options["dir"]))
        except FlowInvalid as exc:
            for error in exc.errors:
                self.stderr.write(str(error))
            raise CommandError(f"{len(exc.errors)} problem(s) in the flows") from None
        if options["action"] == "validate":
            for flow in flows.values():
                self.stdout.write(
                    f"ok  {flow.path}  ({flow.name} v{flow.version}, {len(flow.nodes)} nodes)"
                )
            return
        name = options["name"]
        if name not in flows:
            raise CommandError(f"no flow named {name!r} (have: {', '.join(sorted(flows))})")
        if options["script"]:
            path = Path(options["script"])
            try:
                count = run_script(
                    flows,
                    path.read_text(encoding="utf-8"),
                    name=name,
                    language=options["lang"],
                    echo=self.stdout.write,
                )
            except ScriptMismatch as exc:
                raise CommandError(f"{path}: {exc}") from None
            self.stdout.write(self.style.SUCCESS(f"{path}: all {count} steps as expected"))
            return
        self.interactive(flows, name, options["lang"])

    def interactive(self, flows: Any, name: str, language: str) -> None:
        host = DryHost(flows)
        step = host.start(name, language)
        self.stdout.write("\n".join(describe(step)))
        while step.state.active:
            if step.state.status == "waiting_host":
                outcome = input("host outcome> ").strip()
                step = host.host(outcome)
            else:
                try:
                    text = input("you> ")
                except EOFError:
                    break
                step = host.send(text)
            self.stdout.write("\n".join(describe(step)))
        sys.stdout.flush()
