"""What the parts share during one run: the databases, the environment of Lifeline's processes,
the fake Bot API, the webhook's path, and a source of never-repeated update ids."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from .common import Config, MemoryWatch, Report
from .database import BenchDatabases
from .servers import FakeBotApi


@dataclass
class Context:
    cfg: Config
    report: Report
    dbs: BenchDatabases
    env: dict[str, str]
    api: FakeBotApi
    webhook_path: str
    memory: MemoryWatch = field(default_factory=MemoryWatch)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def secret(self) -> str:
        return self.env["TELEGRAM_WEBHOOK_SECRET"]

    def update_ids(self, count: int) -> int:
        """The first of ``count`` fresh update ids (each block is 100 million wide)."""
        assert count < 100_000_000
        return 100_000_000 * next(self._ids)
