"""One gap in invoke: every positional argument is required, but ``invoke profile [NAME]`` has an
optional one. ``OptionalPositionalTask`` keeps invoke's parsing (a bare word after the task is
its positional) and makes the missing word no error. Imports only invoke: ``--list`` stays fast."""

from __future__ import annotations

import sys
from typing import Any

from invoke import Task
from invoke.parser import Argument


def _completing_context() -> bool:
    """Whether invoke's parser is closing a task's arguments (vs deciding to eat the next word)."""
    frame = sys._getframe(2)
    for _ in range(4):
        if frame is None:
            return False
        if frame.f_code.co_name == "complete_context":
            return True
        frame = frame.f_back
    return False


class _OptionalPositional(Argument):
    @property
    def value(self) -> Any:
        value = super().value
        if value is None and _completing_context():
            return ""
        return value

    @value.setter
    def value(self, arg: Any) -> None:
        self.set_value(arg, cast=True)


class OptionalPositionalTask(Task):
    """A task whose positional arguments may be omitted (they arrive as None)."""

    def get_arguments(self, *args: Any, **kwargs: Any) -> list[Argument]:
        arguments = super().get_arguments(*args, **kwargs)
        for argument in arguments:
            if argument.positional:
                argument.__class__ = _OptionalPositional
        return arguments
