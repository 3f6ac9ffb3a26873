"""The conversation engine: versioned flows, run in pure Python.

No Django, no Telegram: ``(flow, run state, input) -> (new state, outputs)``. Channels and the
console are hosts that feed it input and apply the actions it asks for.
"""

from .model import LANGUAGES, Flow, Node
from .runner import Action, Message, RunState, Step, handle, resume, start

__all__ = [
    "LANGUAGES",
    "Action",
    "Flow",
    "Message",
    "Node",
    "RunState",
    "Step",
    "handle",
    "resume",
    "start",
]
