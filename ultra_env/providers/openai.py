"""OpenAI itself: the OpenAI-compatible provider pointed at ``api.openai.com`` with a bearer key."""

from __future__ import annotations

from typing import Any

from ultra_env.providers.openai_compat import OpenAICompatible


def OpenAI(  # noqa: N802 - named like the other providers' classes
    api_key: str, *, base_url: str = "https://api.openai.com/v1", transport: Any = None,
) -> OpenAICompatible:
    return OpenAICompatible("openai", base_url, api_key, transport=transport)
