"""Domain errors of the case workflow. Messages are translated and never hold personal data."""

from __future__ import annotations


class CaseError(Exception):
    """Base of every case-workflow error; ``str(error)`` is a message fit to show staff."""

    lifeline_safe_message = True  # messages name case numbers and statuses, never personal data

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TransitionNotAllowed(CaseError):
    """The case is not in a status this step can start from (a forbidden or skipped step)."""


class ActorNotAllowed(CaseError):
    """This person's role may not take this step."""


class MissingRequirement(CaseError):
    """Something the step needs was not given (a reason, a checklist item, meeting details)."""


class ReidentificationFailed(CaseError):
    """The codename or service number given does not match the case."""


class TwoPersonRuleViolation(ActorNotAllowed):
    """An operation was to be approved by the person who requested it."""
