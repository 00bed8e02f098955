"""The model steps' plans as data: what the runner said and the settings in, the steps out, before
anything is pulled, configured or removed; and how a step that changes nothing reports."""

from __future__ import annotations

import pytest

from ultra_env.config.settings import ModelSpec
from ultra_env.engine.plan import Action, Step, settled
from ultra_env.engine.run import Status
from ultra_env.facts.model_runner import AppliedConfig, LocalModel
from ultra_env.operations import model_plan


def stored(*tags: str, id: str = "sha256:aa") -> LocalModel:
    return LocalModel(id, tags, None, None, None, None, None, None)


def spec(name: str = "ai/smollm2", **kw: object) -> ModelSpec:
    return ModelSpec(name=name, **kw)  # type: ignore[arg-type]


# (model, what the runner found) -> (action, why)
PULL = [
    (spec(), stored("ai/smollm2:latest"), Action.KEEP, "present"),
    (
        spec(),
        stored("registry.local/ai/smollm2:latest"),
        Action.KEEP,
        "present (stored as registry.local/ai/smollm2:latest)",
    ),
    (spec(), None, Action.CREATE, "pull"),
    (spec(size_mb=270), None, Action.CREATE, "pull (needs about 270 MB of disk)"),
]


@pytest.mark.parametrize(("model", "found", "action", "why"), PULL)
def test_pull(model: ModelSpec, found: LocalModel | None, action: Action, why: str) -> None:
    (step,) = model_plan.pull([model], {model.name: found})
    assert (step.task, step.action, step.why, step.model) == (f"pull {model.name}", action, why, model)


CONFIG = AppliedConfig("ai/smollm2:latest", "sha256:aa", 8192, ("--temp=0.2",), "5m0s")

# (model, configurations the runner applies) -> (action, why)
CONFIGURE = [
    (spec(context_size=8192, runtime_flags=["--temp=0.2"], keep_alive="5m"), [CONFIG], Action.KEEP,
     "context size 8192, flags --temp=0.2, keep-alive 5m: applied"),
    (spec(context_size=4096), [CONFIG], Action.UPDATE, "apply context size 4096"),
    (spec(context_size=8192), [CONFIG], Action.UPDATE, "apply context size 8192"),  # the flags differ: all again
    (spec(context_size=8192), [], Action.UPDATE, "apply context size 8192"),
    (spec(keep_alive="10m"), [AppliedConfig("x", "sha256:aa", None, (), "10m0s")], Action.KEEP,
     "keep-alive 10m: applied"),
    (spec(context_size=8192), [AppliedConfig("x", "sha256:bb", 8192, (), None)], Action.UPDATE,
     "apply context size 8192"),  # another model's configuration
]  # fmt: skip


@pytest.mark.parametrize(("model", "configs", "action", "why"), CONFIGURE)
def test_configure(model: ModelSpec, configs: list[AppliedConfig], action: Action, why: str) -> None:
    (step,) = model_plan.configure([model], configs, {model.name: stored("ai/smollm2:latest")})
    assert (step.task, step.action, step.why) == (f"configure {model.name}", action, why)


# (model, Compose's models: used, Compose drops flags) -> configured by ultra-env
TO_CONFIGURE = [
    (spec(), True, False, False),  # nothing to apply
    (spec(context_size=8192), True, False, False),  # Compose applies it
    (spec(context_size=8192), False, False, True),  # no models: block
    (spec(runtime_flags=["--temp=0.2"]), True, False, False),
    (spec(runtime_flags=["--temp=0.2"]), True, True, True),  # Compose drops them
    (spec(keep_alive="5m"), True, False, True),  # Compose has no keep-alive
]


@pytest.mark.parametrize(("model", "block", "drops", "ours"), TO_CONFIGURE)
def test_what_ultra_env_configures_itself(model: ModelSpec, block: bool, drops: bool, ours: bool) -> None:
    assert model_plan.to_configure([model], compose_block=block, compose_drops_flags=drops) == ([model] if ours else [])


REMOVE = [
    ("ai/smollm2", None, Action.KEEP, "not present", None),
    ("ai/smollm2", stored("ai/smollm2:latest"), Action.REMOVE, "remove", "ai/smollm2"),
    ("ai/smollm2", stored("registry.local/ai/smollm2:latest"), Action.REMOVE, "remove registry.local/ai/smollm2:latest",
     "registry.local/ai/smollm2:latest"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "found", "action", "why", "tag"), REMOVE)
def test_remove(name: str, found: LocalModel | None, action: Action, why: str, tag: str | None) -> None:
    step = model_plan.remove(name, found)
    assert (step.action, step.why, step.tag) == (action, why, tag)


# (action, --check) -> the result without carrying it out (None: carry it out)
SETTLED = [
    (Action.KEEP, False, Status.OK, "present"),
    (Action.KEEP, True, Status.OK, "present"),
    (Action.CREATE, True, Status.CHANGED, "would pull"),
    (Action.REMOVE, True, Status.CHANGED, "would pull"),
    (Action.CONFLICT, False, Status.FAILED, "pull"),
    (Action.CONFLICT, True, Status.FAILED, "pull"),
    (Action.CREATE, False, None, None),
    (Action.UPDATE, False, None, None),
    (Action.OVERWRITE, False, None, None),
]


@pytest.mark.parametrize(("action", "check", "status", "msg"), SETTLED)
def test_a_step_that_changes_nothing_reports_itself(
    action: Action, check: bool, status: Status | None, msg: str
) -> None:
    why = "present" if action is Action.KEEP else "pull"
    result = settled(Step("pull ai/smollm2", action, why), check=check)
    assert (result.status, result.msg) == (status, msg) if result is not None else status is None
    assert action.changes is (action in (Action.CREATE, Action.UPDATE, Action.REMOVE, Action.OVERWRITE))
