"""Plan, then apply: every step that changes something (a file, a model, the backend image, the
stack's services) is first a ``Step``, decided by a pure function from facts and settings, and only
then carried out. One vocabulary for what a step does, and one way a step becomes a result when it
changes nothing: it is already so, or ``--check`` only says what it would do."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ultra_env.engine.run import TaskResult, changed, failed, ok


class Action(StrEnum):
    KEEP = "keep"  # already as wanted: nothing to do
    CREATE = "create"  # made new: a file written, a model pulled, an image built, a service created
    UPDATE = "update"  # changed in place: a file rewritten, a model reconfigured, a service recreated
    REMOVE = "remove"
    CONFLICT = "conflict"  # someone else's change is in the way: nothing is done without --force
    OVERWRITE = "overwrite"  # a conflict taken over with --force (a backup is kept)

    @property
    def changes(self) -> bool:
        return self in (Action.CREATE, Action.UPDATE, Action.REMOVE, Action.OVERWRITE)


DONE = {
    Action.CREATE: "created",
    Action.UPDATE: "updated",
    Action.REMOVE: "removed",
    Action.OVERWRITE: "overwritten",
}


@dataclass(frozen=True)
class Step:
    """One planned step: the task that reports it, what it does, and what will change and why
    (for a change, a phrase that follows "would": "pull ai/smollm2 (about 270 MB)")."""

    task: str
    action: Action
    why: str


def settled(step: Step, *, check: bool) -> TaskResult | None:
    """The result of a step that needs no carrying out: kept, in conflict, or only planned under
    ``--check``. None: apply it."""
    if step.action is Action.KEEP:
        return ok(step.task, step.why)
    if step.action is Action.CONFLICT:
        return failed(step.task, step.why, "--force takes it over (a backup is kept)")
    if check:
        return changed(step.task, f"would {step.why}")
    return None
