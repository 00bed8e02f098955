"""OpenAI itself: the OpenAI-compatible provider pointed at ``api.openai.com`` with a bearer key,
asking for token usage at the end of a stream (which OpenAI's API supports)."""

from __future__ import annotations

from typing import Any

from ultra_env.llm.providers.openai_compat import OpenAICompatible


def OpenAI(  # noqa: N802 - named like the other providers' classes
    api_key: str,
    *,
    base_url: str = "https://api.openai.com/v1",
    transport: Any = None,
    name: str = "openai",
    proxies: bool = True,
) -> OpenAICompatible:
    return OpenAICompatible(name, base_url, api_key, stream_usage=True, transport=transport, proxies=proxies)
