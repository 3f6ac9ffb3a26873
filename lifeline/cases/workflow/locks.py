"""Row locks, in one order for every step (see the package docstring): the case row first,
then its operation rows."""

from __future__ import annotations

from django.utils import timezone

from ..models import Case, Operation, OperationStatus


def _lock(case: Case) -> Case:
    """Re-read the case under a row lock, so two people cannot move it at once."""
    locked = Case.objects.select_for_update().get(pk=case.pk)
    case.status = locked.status
    return locked


def _lock_operation(operation: Operation) -> Operation:
    """Lock the operation's case first, then the operation (the package's lock order)."""
    Case.objects.select_for_update().only("pk").get(pk=operation.case_id)
    locked = Operation.objects.select_for_update().select_related("case").get(pk=operation.pk)
    operation.status = locked.status
    return locked


def _cancel_open_operations(case: Case) -> None:
    for op in case.operations.select_for_update().filter(
        status__in=[OperationStatus.REQUESTED, OperationStatus.APPROVED]
    ):
        op.status = OperationStatus.CANCELLED
        op.finished_at = timezone.now()
        op.save(update_fields=["status", "finished_at"])
