"""The root of every error ultra-env raises on purpose: a one-line cause, the fix where one exists,
and the exit code it ends a run with. The subclasses live beside what raises them: ``ProcError``
(proc), ``HttpError`` (http), ``ProviderError`` (llm.providers.base), ``DmrError``
(operations.dmr), ``EnvFileError`` (operations.envfile), ``TemplateError``
(operations.interpolation), ``InvalidModelName`` (config.modelnames)."""

from __future__ import annotations


class UltraError(Exception):
    """A failure the user can act on."""

    exit_code = 1

    def __init__(self, cause: str, fix: str | None = None) -> None:
        super().__init__(cause)
        self.cause = cause
        self.fix = fix


class ConfigError(UltraError):
    """Bad usage or configuration: exit status 2."""

    exit_code = 2
