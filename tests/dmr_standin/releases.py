"""What changed in which upstream release, as the stand-in plays it.

CLI versions are the `docker-model` plugin's (`cmd/cli/desktop.Version`: model-cli v0.1.x,
then docker/model-runner cmd/cli/v0.1.43–v1.0.12, then the main v1.1.x tags); server versions
are docker/model-runner's tags. Each rule names the commit that introduced it (see
/tmp/research/dmr-upstream-facts.md for the evidence).
"""

from __future__ import annotations

from dataclasses import dataclass


def parts(version: str) -> tuple[int, ...]:
    core = version.lstrip("v").split("-", 1)[0]
    return tuple(int(p) for p in core.split(".") if p.isdigit())


def at_least(version: str, minimum: str) -> bool:
    return parts(version) >= parts(minimum)


def in_range(version: str, first: str, last: str) -> bool:
    return parts(first) <= parts(version) <= parts(last)


# --- CLI --------------------------------------------------------------------------------------


def status_json_panics(cli: str, kind: str, no_auto_install: bool) -> bool:
    """model-cli v0.1.31 (5bf6fce) … cmd/cli v1.0.4: `status --json` dereferences the nil runner
    that `ensureStandaloneRunnerAvailable` returns when MODEL_RUNNER_NO_AUTO_INSTALL is set, for the
    Moby and Cloud kinds (`cmd/cli/commands/status.go` jsonStatus); 76ea6d78 (cmd/cli v1.0.5) guards it."""
    return no_auto_install and kind in ("Docker Engine", "Docker Cloud") and in_range(cli, "v0.1.31", "v1.0.4")


def panic_frame(cli: str) -> tuple[str, int]:
    """(Go package, status.go line) of the dereference, per release (`git show TAG:…/status.go`)."""
    if not at_least(cli, "v0.1.43"):
        return "github.com/docker/model-cli/commands", 85
    line = 85 if not at_least(cli, "v1.0.0") else (86 if not at_least(cli, "v1.0.3") else 88)
    return "github.com/docker/model-runner/cmd/cli/commands", line


def engine_endpoint_uses_gateway(cli: str, rootless: bool) -> bool:
    """`status --json` on Docker Engine: v1.0.5–v1.0.8 hand out host.docker.internal (76ea6d78);
    07eb5dab (cmd/cli v1.0.9) uses the runner container's bridge-gateway binding, which a rootless
    daemon never gets (`cmd/cli/pkg/standalone/containers.go`)."""
    return at_least(cli, "v1.0.9") and not rootless


def next_steps_gui(cli: str) -> str:
    """bb13d752 (cmd/cli v0.1.43) moved the Desktop toggle under Settings->AI."""
    where = "Settings->AI" if at_least(cli, "v0.1.43") else "Settings->Features in development"
    return f"Enable Docker Model Runner via the GUI → Go to {where}->Enable Docker Model Runner"


@dataclass(frozen=True)
class RetryPolicy:
    """`cmd/cli/desktop/desktop.go` Pull / withRetries."""

    retries: int  # 0 before 0652fa56 (cmd/cli v1.0.1); 3; 4 from 6e9c2031 (v1.1.37)
    gateway_statuses_only: bool  # a27c84f4 (v1.1.29): only 502/503/504 are retried, before: any 5xx
    blank_line: bool  # 6e9c2031 (v1.1.37): an empty stdout line before each retry message
    exhausted: str  # "failed to download after %d retries" before a27c84f4, then "download failed after …"
    trims_body: bool  # a27c84f4: the error body is TrimSpace'd

    def should_retry_status(self, status: int) -> bool:
        if self.gateway_statuses_only:
            return status in (502, 503, 504)
        return 500 <= status < 600

    def exhausted_message(self, error: str) -> str:
        return self.exhausted.format(n=self.retries, err=error)


def pull_retry_policy(cli: str) -> RetryPolicy:
    new_rule = at_least(cli, "v1.1.29")
    return RetryPolicy(
        retries=0 if not at_least(cli, "v1.0.1") else (4 if at_least(cli, "v1.1.37") else 3),
        gateway_statuses_only=new_rule,
        blank_line=at_least(cli, "v1.1.37"),
        exhausted="download failed after {n} retries: {err}"
        if new_rule
        else "failed to download after {n} retries: {err}",
        trims_body=new_rule,
    )


def sends_hf_token(cli: str, model: str) -> bool:
    """HF_TOKEN goes in the create body's `bearer-token` for Hugging Face references:
    `hf.co/` only, then `hf.co/` or `huggingface.co/` from 6ccf99ce (v1.1.12)."""
    lowered = model.lower()
    if at_least(cli, "v1.1.12"):
        return lowered.startswith(("hf.co/", "huggingface.co/"))
    return lowered.startswith("hf.co/")


# --- server -----------------------------------------------------------------------------------


def has_v1_alias(server: str) -> bool:
    """654bb0ba (server v1.0.0) aliases `/v1/…` to `/engines/v1/…` (`pkg/routing/router.go`)."""
    return at_least(server, "v1.0.0")


def has_version_route(server: str) -> bool:
    """`GET /version` (reference section 4: server ≥ v1.0.30)."""
    return at_least(server, "v1.0.30")


def normalises_units(server: str) -> bool:
    """ef671b00 (server v1.0.3): `268.10 M` → `268.10M` (`pkg/distribution/format/gguf.go`)."""
    return at_least(server, "v1.0.3")


def reads_back_configs(server: str) -> bool:
    """db831fda (server v1.0.10): `GET /engines/_configure`."""
    return at_least(server, "v1.0.10")


def checks_flag_allowlist(server: str) -> bool:
    """9acf1ed9 (server v1.0.15): `pkg/inference/runtime_flags_allowlist.go`."""
    return at_least(server, "v1.0.15")


def has_dmr_metadata(server: str) -> bool:
    """ebb47fd9 (server v1.1.29): `dmr` object in OpenAI model entries (`pkg/inference/models/api.go`)."""
    return at_least(server, "v1.1.29")


def has_anthropic(server: str) -> bool:
    """0cdd2278 (server v1.0.11): `pkg/anthropic/handler.go` under `/anthropic/`, and the scheduler's
    `/engines[/{backend}]/v1/messages[/count_tokens]` routes (`scheduling/http_handler.go`)."""
    return at_least(server, "v1.0.11")


def has_responses(server: str) -> bool:
    """2fa8cc15 (server v1.0.11): `pkg/responses` under `/responses` and `/v1/responses`."""
    return at_least(server, "v1.0.11")


def responses_under_engines(server: str) -> bool:
    """3f137f64 / db94c4a8 (after the v1.2.6 tag, in the captured build v1.2.6-18-g642c7211):
    `/engines/responses`, `/engines/v1/responses`, `/engines/{backend}/v1/responses` reach the
    Responses handler (`pkg/routing/router.go` 97-111, `pkg/responses/handler.go` 36-53). Assumed: the
    stand-in's v1.2.6 is that captured build (as `state.versions` says), so they are played from v1.2.6."""
    return at_least(server, "v1.2.6")
