"""The Model Runner client's pure parts, on outputs transcribed from docker/model-runner's source
(tests/fixtures/README.md names each file's origin): the escaped pull stream, the CLI's progress
lines, the errors before a stream, read-back configurations, a panicking `status --json`, and
the runtime flags DMR refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from ultra_env.config import runtime_flags
from ultra_env.facts import model_runner as mr
from ultra_env.operations import dmr

FIXTURES = Path(__file__).parent / "fixtures" / "dmr"


def lines(name: str) -> list[str]:
    return (FIXTURES / name).read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("escaped", [True, False], ids=["text/plain", "a server that ignored the header"])
def test_the_escaped_pull_stream_is_read_whatever_the_content_type(escaped: bool) -> None:
    events = list(dmr.parse_events(iter(lines("pull-stream-escaped.txt")), escaped=escaped))
    assert [e["type"] for e in events] == ["progress", "progress", "progress", "success"]
    assert events[-2]["layer"]["current"] == events[-2]["total"] == 253113024
    assert events[-1]["message"] == "Model pulled successfully"


def test_plain_json_lines_with_entities_in_a_message_stay_as_sent() -> None:
    line = '{"type":"warning","message":"a &amp; b"}'
    assert list(dmr.parse_events(iter([line]), escaped=False))[0]["message"] == "a &amp; b"


def test_an_error_event_comes_before_the_unescaped_trailer() -> None:
    events = dmr.parse_events(iter(lines("pull-stream-error.txt")), escaped=True)
    assert next(events)["type"] == "progress"
    assert next(events) == {
        "type": "error",
        "message": "Error: layer digest mismatch",
        "total": 0,
        "layer": {"size": 0, "current": 0},
        "mode": "pull",
    }
    with pytest.raises(dmr.Transient):  # the trailer is not an event: a stream that goes on after it is broken
        next(events)


def test_cli_progress_lines() -> None:
    parsed = [dmr.parse_progress_line("ai/x:latest", line) for line in lines("pull-cli-nontty.txt")]
    assert [(p.done, p.total) for p in parsed[:3]] == [
        (8_390_000, 253_110_000),
        (16_780_000, 253_110_000),
        (253_110_000, 253_110_000),
    ]
    assert parsed[3] is None


@pytest.mark.parametrize(
    ("status", "kind", "cause", "fix"),
    [
        (400, dmr.DmrError, "is not a reference Model Runner accepts", "[registry/]namespace/name[:tag]"),
        (401, dmr.DmrError, "is gated", "HF_TOKEN=hf_"),
        (404, dmr.DmrError, "no model", "tags are case-sensitive"),
        (422, dmr.DmrError, "format newer than this Model Runner", "docker model reinstall-runner"),
        (500, dmr.DmrError, "failed to pull", "docker model logs"),
        (502, dmr.Transient, "answered 502", None),
        (503, dmr.Transient, "answered 503", None),
        (504, dmr.Transient, "answered 504", None),
    ],
)
def test_errors_before_the_stream(status: int, kind: type, cause: str, fix: str | None) -> None:
    error = dmr.pull_failure("ai/x:latest", status, "Model not found")
    assert type(error) is kind  # only 502/503/504 (and network errors) are retried, as the real CLI does
    assert cause in error.cause and (fix is None or fix in (error.fix or ""))


def test_the_hf_token_goes_to_hugging_face_only() -> None:
    environ = {"HF_TOKEN": "hf_PLANTED"}
    assert dmr.hf_token_for("huggingface.co/org/model:Q4_K_M", environ) == "hf_PLANTED"
    assert dmr.hf_token_for("hf.co/org/model", environ) == "hf_PLANTED"
    assert dmr.hf_token_for("ai/smollm2:latest", environ) is None
    assert dmr.hf_token_for("huggingface.co/org/model", {}) is None


def test_configure_argv_puts_flags_after_the_separator() -> None:
    assert dmr.configure_argv("ai/gemma3:270M-Q4_K_M", 2048, ["--temp", "0"]) == [
        "configure",
        "--context-size",
        "2048",
        "ai/gemma3:270M-Q4_K_M",
        "--",
        "--temp",
        "0",
    ]
    assert dmr.configure_argv("smollm2", None, []) == ["configure", "ai/smollm2:latest"]


def test_read_back_configuration() -> None:
    [config] = mr.parse_configs((FIXTURES / "configure-show.json").read_text())
    assert (config.model, config.context_size, config.runtime_flags) == ("ai/gemma3:270M-Q4_K_M", 2048, ("--temp", "0"))
    assert config.model_id.startswith("sha256:")
    assert mr.parse_configs("[]\n") == [] and mr.parse_configs("null") == []


def test_a_panicking_status_json_is_named_by_its_first_line() -> None:
    said = mr.broken_json((FIXTURES / "status-json-panic-v1.0.4.txt").read_text())
    assert said == "panic: runtime error: invalid memory address or nil pointer dereference"
    assert mr.broken_json("") == "no output"
    with pytest.raises(ValueError):
        mr.parse_status_json((FIXTURES / "status-json-panic-v1.0.4.txt").read_text())


def test_list_json_null_is_an_empty_list() -> None:
    assert mr.parse_list_json("null\n") == []


@pytest.mark.parametrize(
    ("flags", "refused"),
    [
        (["--threads=4", "-c", "2048", "--temp", "0.2"], None),
        (["-ngl", "-1"], 'runtime flag "-1" is not allowed'),  # a separate negative value reads as a flag
        (["--log-file", "x.log"], 'runtime flag "--log-file" is not allowed for backend "llama.cpp"'),
        (["--model", "m.gguf"], 'runtime flag "--model" is not allowed'),
        (["--grammar", "root/x"], "paths are not allowed"),
        (["--chat-template=C:\\t.jinja"], "paths are not allowed"),
        (["--seed=-1"], None),
        (["--samplers=-x"], "value cannot start with '-' unless followed by a digit"),
    ],
)
def test_runtime_flags_as_model_runner_checks_them(flags: list[str], refused: str | None) -> None:
    problem = runtime_flags.problem(flags)
    assert (problem is None) if refused is None else (refused in (problem or ""))


def test_a_backend_without_an_allowlist_refuses_every_flag() -> None:
    assert (
        runtime_flags.problem(["--threads", "4"], backend="mlx")
        == 'runtime flag "--threads" is not allowed for backend "mlx"'
    )
    assert runtime_flags.problem([], backend="mlx") is None
