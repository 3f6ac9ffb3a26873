"""Run the pytest suite on SQLite, then on PostgreSQL (required when CI=true).

PostgreSQL is ``DATABASE_URL`` if set, else the local server at 127.0.0.1:5432.
pytest's exit code 5 (no tests collected) counts as a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys

DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/lifeline"


def pytest(label: str, env: dict[str, str]) -> int:
    print(f"\n===== pytest on {label} =====", flush=True)
    code = subprocess.call([sys.executable, "-m", "pytest", *sys.argv[1:]], env=env)  # noqa: S603
    if code == 5:
        print(f"pytest on {label} collected no tests: that is a failure.", flush=True)
        return 1
    return code


def postgres_reachable(url: str) -> str | None:
    """None if we can connect, else the reason."""
    import environ
    import psycopg

    cfg = environ.Env.db_url_config(url)
    try:
        psycopg.connect(
            host=cfg["HOST"] or None,
            port=cfg["PORT"] or None,
            user=cfg["USER"] or None,
            password=cfg["PASSWORD"] or None,
            dbname="postgres",
            connect_timeout=5,
        ).close()
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]
    return None


def main() -> int:
    base = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    base["DJANGO_SETTINGS_MODULE"] = "lifeline.settings.test"
    results = {"SQLite": pytest("SQLite", base)}

    url = os.environ.get("DATABASE_URL") or DEFAULT_PG
    problem = postgres_reachable(url)
    if problem is None:
        results["PostgreSQL"] = pytest("PostgreSQL", {**base, "DATABASE_URL": url})
    elif os.environ.get("CI") == "true":
        print(f"\nPostgreSQL is required under CI=true but unreachable: {problem}", flush=True)
        results["PostgreSQL"] = 1
    else:
        print(f"\nPostgreSQL unreachable ({problem}): ran SQLite only.", flush=True)

    print("\n===== summary =====")
    for label, code in results.items():
        print(f"  {label:<10} {'passed' if code == 0 else 'FAILED'}")
    return 0 if all(code == 0 for code in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
