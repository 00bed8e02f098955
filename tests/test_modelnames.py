"""Model names: DMR's normalisation (reference section 5) and the grammar that keeps shells out."""

import pytest

from ultra_env.modelnames import InvalidModelName, normalize


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("smollm2", "ai/smollm2:latest"),
        ("ai/smollm2", "ai/smollm2:latest"),
        ("ai/smollm2:360M-Q4_K_M", "ai/smollm2:360m-q4_k_m"),
        ("AI/SmolLM2", "ai/smollm2:latest"),
        ("hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_S", "huggingface.co/bartowski/llama-3.2-1b-instruct-gguf:q4_k_s"),
        ("registry.local:5000/team/model:v1", "registry.local:5000/team/model:v1"),
        ("ai/gemma3:270M-Q4_K_M", "ai/gemma3:270m-q4_k_m"),
    ],
)
def test_normalise_like_dmr(name: str, stored: str) -> None:
    assert normalize(name) == stored


def test_names_compare_in_normalised_form() -> None:
    assert normalize("smollm2") == normalize("ai/smollm2:latest")
    assert normalize("ai/smollm2") != normalize("ai/smollm2:135M-Q4_0")


@pytest.mark.parametrize(
    "name",
    ["", "   ", "ai/smollm2; rm -rf /", "$(id)", "ai/`whoami`", "ai/x|y", "../../etc/passwd", "ai/../x",
     "ai//x", "ai/x:", "ai/x y", "ai/x\nz", "-rf", "a" * 256, "ai/x:tag:again", "ai/x&", "ai/x>out", "ai/smollm2\n", "ai/smollm2:latest\n"],
)
def test_rejects_what_is_not_a_model_name(name: str) -> None:
    with pytest.raises(InvalidModelName):
        normalize(name)
