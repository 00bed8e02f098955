"""What a render plans for each file, as data: the file on disk and what ultra-env last wrote in,
the action, the notes and the diff out. (Real files in a temporary folder; nothing is written.)"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ultra_env.operations import converge
from ultra_env.project import envfile
from ultra_env.project.dotenv import read_env
from ultra_env.project.state import State, digest

OURS = "services:\n  backend:\n    image: ultra\n"
NEW = "services:\n  backend:\n    image: ultra:2\n"
SIGNED_OURS = converge.sign(OURS, {})
EDITED_ABOVE = SIGNED_OURS.replace("image: ultra\n", "image: mine\n")  # the signature line left as it was

# (file on disk, what the state says ultra-env wrote, --force) -> action
GENERATED = [
    ("nothing there", None, None, False, "create"),
    ("as rendered", converge.sign(NEW, {}), converge.sign(NEW, {}), False, "keep"),
    ("ours, out of date", SIGNED_OURS, SIGNED_OURS, False, "update"),
    ("ours from before signatures", OURS, OURS, False, "update"),
    ("edited by the user", SIGNED_OURS + "# mine\n", SIGNED_OURS, False, "conflict"),
    ("edited above the signature", EDITED_ABOVE, SIGNED_OURS, False, "conflict"),
    ("edited, --force", SIGNED_OURS + "# mine\n", SIGNED_OURS, True, "overwrite"),
    ("never recorded, no signature", OURS, None, False, "conflict"),
    ("state lost, the signature holds", SIGNED_OURS, None, False, "update"),
    ("state lost, edited above the signature", EDITED_ABOVE, None, False, "conflict"),
    ("state lost, the signature edited", SIGNED_OURS.replace('"sha256":"', '"sha256":"0'), None, False, "conflict"),
]


@pytest.mark.parametrize(("case", "on_disk", "written", "force", "action"), GENERATED, ids=[g[0] for g in GENERATED])
def test_generated_file(
    tmp_path: Path, case: str, on_disk: str | None, written: str | None, force: bool, action: str
) -> None:
    if on_disk is not None:
        (tmp_path / converge.COMPOSE_FILE).write_text(on_disk)
    state = State(files={converge.COMPOSE_FILE: digest(written)} if written else {})
    plan = converge.plan_generated(tmp_path, converge.COMPOSE_FILE, NEW, state, force=force)
    assert plan.action == action
    assert plan.writes is (action in ("create", "update", "overwrite"))
    assert (plan.diff == "") is (action == "keep")
    assert converge.signed(plan.new) == converge.Signed(NEW, {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ([converge.COMPOSE_FILE] if on_disk is not None else [])


def test_the_signature_proves_the_body_and_nothing_else() -> None:
    text = converge.sign(NEW, {"ULTRA_PROFILE": envfile.fingerprint("local")})
    assert text.startswith(NEW) and text.count("\n") == NEW.count("\n") + 1
    proof = converge.signed(text)
    assert proof is not None and proof.body == NEW and list(proof.env) == ["ULTRA_PROFILE"]
    for broken in (
        text[:-1],  # no newline at the end
        text + "\n",
        text.replace("image: ultra:2", "image: ultra:3"),
        text.replace(converge.SIGNATURE, "# ultra-env:"),
        NEW + converge.SIGNATURE + "{not json\n",
        NEW + converge.SIGNATURE + "[]\n",
        NEW + converge.SIGNATURE + json.dumps({"sha256": digest(NEW), "env": {"A": 1}}) + "\n",
        None,
        "",
    ):
        assert converge.signed(broken) is None, broken


DESIRED = "# Model Runner\nUSE_MODEL_RUNNER=true\nLLM_MODEL=ai/smollm2\nOPENAI_API_KEY=\n"
KEY = "sk-plan-4b3a29187766"

# (.env on disk, what ultra-env wrote last) -> action, notes, lines of the diff
ENV_PLANS = [
    (
        "no .env",
        None,
        {},
        "create",
        [],
        ["+# Model Runner", "+USE_MODEL_RUNNER=true", "+LLM_MODEL=ai/smollm2", "+OPENAI_API_KEY="],
    ),
    ("as rendered", DESIRED, {"USE_MODEL_RUNNER": "true", "LLM_MODEL": "ai/smollm2"}, "keep", [], []),
    (
        "our value out of date",
        DESIRED.replace("ai/smollm2", "ai/gemma3"),
        {"USE_MODEL_RUNNER": "true", "LLM_MODEL": "ai/gemma3"},
        "update",
        ["updated LLM_MODEL"],
        ["-LLM_MODEL=ai/gemma3", "+LLM_MODEL=ai/smollm2"],
    ),
    (
        "a value the user changed is kept",
        DESIRED.replace("ai/smollm2", "ai/mine"),
        {"USE_MODEL_RUNNER": "true", "LLM_MODEL": "ai/gemma3"},
        "keep",
        ["kept your value of LLM_MODEL"],
        [],
    ),
    (
        "a key of the user's, then a missing one",
        f"OPENAI_API_KEY={KEY}\n",
        {},
        "update",
        ["added USE_MODEL_RUNNER, LLM_MODEL"],
        ["+", "+# Model Runner", "+USE_MODEL_RUNNER=true", "+LLM_MODEL=ai/smollm2"],  # with the template's comment
    ),
]


@pytest.mark.parametrize(
    ("case", "on_disk", "written", "action", "notes", "diff"), ENV_PLANS, ids=[p[0] for p in ENV_PLANS]
)
def test_env_file(
    tmp_path: Path, case: str, on_disk: str | None, written: dict, action: str, notes: list, diff: list
) -> None:
    if on_disk is not None:
        (tmp_path / converge.ENV_FILE).write_text(on_disk)
        os.chmod(tmp_path / converge.ENV_FILE, 0o600)
    state = State(env={k: envfile.fingerprint(v) for k, v in written.items()})
    plan = converge.plan_env(tmp_path, read_env(tmp_path, {}), DESIRED, state)
    assert plan.action == action
    assert plan.notes == notes
    changes = [line for line in plan.diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changes == diff
    assert KEY not in plan.diff and KEY not in str(plan.env_written)
    assert "OPENAI_API_KEY" not in plan.env_written  # a secret-named key is not remembered, not even by fingerprint
    if on_disk is not None and KEY in on_disk:
        assert f"OPENAI_API_KEY={KEY}" in plan.new  # the user's value, byte for byte


def test_env_file_mode_is_fixed(tmp_path: Path) -> None:
    (tmp_path / converge.ENV_FILE).write_text(DESIRED)
    os.chmod(tmp_path / converge.ENV_FILE, 0o644)
    state = State(env={"USE_MODEL_RUNNER": envfile.fingerprint("true"), "LLM_MODEL": envfile.fingerprint("ai/smollm2")})
    plan = converge.plan_env(tmp_path, read_env(tmp_path, {}), DESIRED, state)
    assert (plan.action, plan.notes) == ("update", ["mode 644 → 600"])


@pytest.mark.parametrize(
    ("compose", "notes"),
    [
        ("signed", ["updated USE_MODEL_RUNNER", "kept your value of LLM_MODEL"]),
        ("edited", ["kept your value of USE_MODEL_RUNNER, LLM_MODEL"]),
        ("missing", ["kept your value of USE_MODEL_RUNNER, LLM_MODEL"]),
    ],
)
def test_a_lost_state_takes_the_env_values_the_signature_proves(tmp_path: Path, compose: str, notes: list) -> None:
    written = {"USE_MODEL_RUNNER": envfile.fingerprint("false"), "LLM_MODEL": envfile.fingerprint("ai/gemma3")}
    text = converge.sign("services: {}\n", written)
    if compose == "edited":
        text = text.replace("services: {}", "services: {mine: {}}")
    if compose != "missing":
        (tmp_path / converge.COMPOSE_FILE).write_text(text)
    (tmp_path / converge.ENV_FILE).write_text(f"USE_MODEL_RUNNER=false\nLLM_MODEL=ai/mine\nOPENAI_API_KEY={KEY}\n")
    os.chmod(tmp_path / converge.ENV_FILE, 0o600)
    plan = converge.plan_env(tmp_path, read_env(tmp_path, {}), DESIRED, State())
    assert plan.notes == notes
    assert f"OPENAI_API_KEY={KEY}" in plan.new and "LLM_MODEL=ai/mine" in plan.new


def test_apply_signs_with_the_env_values_it_writes(tmp_path: Path) -> None:
    state = State()
    plans = [
        converge.plan_generated(tmp_path, converge.COMPOSE_FILE, NEW, state, force=False),
        converge.plan_env(tmp_path, None, DESIRED, state),
    ]
    converge.apply(tmp_path, plans, state)
    proof = converge.signed((tmp_path / converge.COMPOSE_FILE).read_text())
    assert proof is not None and proof.body == NEW
    assert set(proof.env) == {"USE_MODEL_RUNNER", "LLM_MODEL"} == set(state.env)
    assert state.files[converge.COMPOSE_FILE] == digest((tmp_path / converge.COMPOSE_FILE).read_text())
    again = converge.plan_generated(tmp_path, converge.COMPOSE_FILE, NEW, state, force=False)
    assert again.action == "keep"
