"""Model names: DMR's normalisation (reference section 5) and the grammar that keeps shells out."""

import pytest

from ultra_env.config.modelnames import InvalidModelName, normalize, same


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("smollm2", "ai/smollm2:latest"),
        ("ai/smollm2", "ai/smollm2:latest"),
        ("ai/smollm2:360M-Q4_K_M", "ai/smollm2:360M-Q4_K_M"),
        ("AI/SmolLM2", "ai/smollm2:latest"),
        ("AI/SmolLM2:360M", "ai/smollm2:360M"),
        (
            "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_S",
            "huggingface.co/bartowski/llama-3.2-1b-instruct-gguf:Q4_K_S",
        ),
        ("hf.co/Org/Model:Q4_K_M", "huggingface.co/org/model:Q4_K_M"),
        ("HF.CO/Org/Model:Q4_K_M", "hf.co/org/model:Q4_K_M"),  # upstream's prefix check is case-sensitive
        ("docker.io/ai/gemma3:270M-Q4_K_M", "ai/gemma3:270M-Q4_K_M"),  # how runners >= v1.0.11 store tags
        ("index.docker.io/ai/smollm2", "ai/smollm2:latest"),
        ("registry.local:5000/team/model:v1", "registry.local:5000/team/model:v1"),
        ("Registry.Local:5000/Team/Model", "registry.local:5000/team/model:latest"),
        ("ai/gemma3:270M-Q4_K_M", "ai/gemma3:270M-Q4_K_M"),
        ("ai/x@sha256:" + "A" * 64, "ai/x@sha256:" + "a" * 64),
        ("ai/x:V1@sha256:" + "b" * 64, "ai/x:V1@sha256:" + "b" * 64),
    ],
)
def test_normalise_like_dmr(name: str, stored: str) -> None:
    assert normalize(name) == stored


def test_names_compare_in_normalised_form() -> None:
    assert normalize("smollm2") == normalize("ai/smollm2:latest")
    assert normalize("ai/smollm2") != normalize("ai/smollm2:135M-Q4_0")
    assert same("AI/Gemma3:270M-Q4_K_M", "ai/gemma3:270M-Q4_K_M")


def test_a_tag_is_case_sensitive() -> None:
    """A registry holds ``360M-Q4_K_M``; asking for ``360m-q4_k_m`` asks for a tag that does not exist."""
    assert not same("ai/smollm2:360M-Q4_K_M", "ai/smollm2:360m-q4_k_m")
    assert not same("ai/smollm2", "not a name")


@pytest.mark.parametrize(
    "name",
    [
        "",
        "   ",
        "ai/smollm2; rm -rf /",
        "$(id)",
        "ai/`whoami`",
        "ai/x|y",
        "../../etc/passwd",
        "ai/../x",
        "ai//x",
        "ai/x:",
        "ai/x y",
        "ai/x\nz",
        "-rf",
        "a" * 256,
        "ai/x:tag:again",
        "ai/x&",
        "ai/x>out",
        "ai/smollm2\n",
        "ai/smollm2:latest\n",
    ],
)
def test_rejects_what_is_not_a_model_name(name: str) -> None:
    with pytest.raises(InvalidModelName):
        normalize(name)
