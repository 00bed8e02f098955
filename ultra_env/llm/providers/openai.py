"""OpenAI itself: the OpenAI-compatible provider pointed at ``api.openai.com`` with a bearer key,
asking for token usage at the end of a stream (which OpenAI's API supports)."""

from __future__ import annotations

from typing import Any

from ultra_env.llm.providers.openai_compat import OpenAICompatible

URL = "https://api.openai.com/v1"


def OpenAI(api_key: str, **options: Any) -> OpenAICompatible:  # noqa: N802 - named like the other providers' classes
    """``options`` as ``OpenAICompatible`` takes them; by default ``name`` openai, ``base_url`` OpenAI's,
    and ``proxies`` on (a cloud API is reached through the user's proxy, as the other clouds are)."""
    given = {"name": "openai", "base_url": URL, "proxies": True, **options}
    return OpenAICompatible(given.pop("name"), given.pop("base_url"), api_key, stream_usage=True, **given)
