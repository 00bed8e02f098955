"""The team's shared model server: how a developer reaches it ([team]) and how an operator
provisions it ([server]); docs/team.md."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, SecretStr, field_validator, model_validator

from ultra_env.config.fields import Image, Port, Strict, VariableName, matching

ServerHost = Annotated[
    str,
    AfterValidator(
        matching(
            r"ssh://(?:[A-Za-z0-9._-]+@)?[A-Za-z0-9.-]+(?::[0-9]{1,5})?|[A-Za-z0-9][A-Za-z0-9._-]*",
            "use ssh://user@host[:port] or the name of a Docker context",
        )
    ),
]


class Team(Strict):
    """The team's shared model server (docs/team.md): an OpenAI-compatible API that takes a key."""

    url: str | None = Field(None, description="Its OpenAI-compatible base URL, e.g. https://models.example.com/v1.")
    key_var: VariableName = Field("TEAM_LLM_API_KEY", description="The .env variable that holds your key for it.")
    api_key: SecretStr | None = Field(None, description="Your key; read from the environment or .env.")
    models: list[str] = Field(
        default_factory=list, description="The models to ask there, as it names them (default: the [[models]] names)."
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        parts = urlsplit(value or "http://unset")
        if parts.scheme not in ("http", "https") or not parts.hostname or re.search(r"\s", value or ""):
            raise ValueError("use an http(s) URL such as https://models.example.com/v1")
        if "@" in parts.netloc or parts.query or parts.fragment:
            raise ValueError("give the URL without a user, password, query or fragment: the key goes in .env")
        return value.rstrip("/") if value else None


class Server(Strict):
    """The shared server an operator provisions (``invoke server.setup``): Model Runner on its Docker
    Engine, behind an authenticating proxy that holds each developer's key."""

    host: ServerHost | None = Field(
        None, description="Its Docker Engine: ssh://user@host[:port], or the name of a Docker context over SSH."
    )
    runner_port: Port = Field(12434, description="Model Runner's port on the server (bound to its loopback).")
    gpu: Literal["auto", "none", "cuda", "rocm"] = Field("auto", description="install-runner's --gpu.")
    proxy_port: Port = Field(8080, description="The port developers reach the proxy on.")
    bind: str = Field("0.0.0.0", description="The server address the proxy listens on (127.0.0.1: only there).")
    proxy_image: Image = Field("nginx:1.27", description="The authenticating proxy's image (nginx).")
    tls_cert: Path | None = Field(None, description="The proxy's TLS certificate (PEM, on this machine).")
    tls_key: Path | None = Field(None, description="Its private key (PEM, on this machine).")
    url: str | None = Field(
        None, description="The address developers use, if not http(s)://HOST:PROXY_PORT/engines/v1 (a front of yours)."
    )
    models: list[str] = Field(
        default_factory=list, description="The models the server serves (default: the [[models]] names)."
    )
    namespace: str = Field(
        "ultra-team", pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", description="Kubernetes: the namespace."
    )
    storage: str = Field(
        "100Gi", pattern=r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|K|M|G|T)?$", description="Kubernetes: the model store's size."
    )
    gpu_count: int = Field(1, ge=1, le=16, description="Kubernetes: GPUs requested with gpu = cuda or rocm.")

    @field_validator("bind")
    @classmethod
    def _bind(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError("use an IP address of the server, e.g. 0.0.0.0 or 127.0.0.1") from None
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return Team._url(value)

    @model_validator(mode="after")
    def _tls(self) -> Server:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: set both, or neither")
        return self

    @property
    def loopback(self) -> bool:
        return ipaddress.ip_address(self.bind).is_loopback
