"""Asterisk AMI → the generic CTI events, through panoramisk.

Asterisk's manager interface reports channels; the hotline needs calls. A call is the channel
group sharing a ``Linkedid``: its first channel's ``Newchannel`` is ``newCall``, a queue's
``AgentConnect`` is ``answer`` (``MemberName`` = the operator's Lifeline username), and the first
channel's ``Hangup`` is ``hangup``. Everything else is ignored. The events are applied exactly as
if the PBX had posted them to ``/cti/events/`` (idempotent per call and event).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.db import DatabaseError, close_old_connections

from . import cti

log = logging.getLogger(__name__)


def translate(event: Mapping[str, Any]) -> dict[str, str] | None:
    """One AMI event as a CTI event, or None when it does not matter to the hotline."""
    name = str(event.get("Event", ""))
    unique = str(event.get("Uniqueid", ""))
    linked = str(event.get("Linkedid", "") or unique)
    if not linked:
        return None
    if name == "Newchannel" and unique == linked:
        return {
            "event": "newCall",
            "callId": linked,
            "from": str(event.get("CallerIDNum", "")),
            "to": str(event.get("Exten", "")),
            "direction": "in",
        }
    if name == "AgentConnect":
        return {
            "event": "answer",
            "callId": linked,
            "user": str(event.get("MemberName") or event.get("Interface") or ""),
        }
    if name == "Hangup" and unique == linked:
        return {"event": "hangup", "callId": linked, "cause": str(event.get("Cause-txt", ""))}
    return None


#: Tries of one AMI event against a failing database.
APPLY_ATTEMPTS = 5


def apply(pbx: str, event: Mapping[str, Any]) -> None:
    cti_event = translate(event)
    if cti_event is None:
        return
    for attempt in range(APPLY_ATTEMPTS):
        try:
            cti.handle(pbx, cti_event)
            return
        except cti.CtiError as error:
            log.warning("AMI event not applied: %s", error)
            return
        except DatabaseError:
            # The database restarted or was busy: the event is not lost, it is applied again
            # on a fresh connection (an event stored but not done is applied once).
            if attempt == APPLY_ATTEMPTS - 1:
                log.exception("AMI event not applied: the database kept failing")
                return
            time.sleep(0.2 * (attempt + 1))
        finally:
            close_old_connections()


def run(
    stop: threading.Event,
    *,
    host: str,
    port: int,
    username: str,
    secret: str,
    pbx: str = "asterisk",
    reconnect_seconds: int = 2,
) -> None:
    """Connect, follow the events, reconnect when the connection drops; until ``stop``."""
    from panoramisk import Manager

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    manager = Manager(
        loop=loop,
        host=host,
        port=port,
        username=username,
        secret=secret,
        ping_delay=10,
        reconnect_timeout=reconnect_seconds,
        log=log,
    )

    # The ORM must not run inside the event loop: events go to one worker thread, in the
    # order they arrived (a call's answer must not overtake its ring).
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ami-apply")

    def on_event(_manager: Any, event: Any) -> None:
        loop.run_in_executor(worker, apply, pbx, dict(event))

    for name in ("Newchannel", "AgentConnect", "Hangup"):
        manager.register_event(name, on_event)
    manager.connect()

    async def watch() -> None:
        while not stop.is_set():
            await asyncio.sleep(0.2)

    try:
        loop.run_until_complete(watch())
    finally:
        manager.close()
        worker.shutdown(wait=True)
        loop.close()
