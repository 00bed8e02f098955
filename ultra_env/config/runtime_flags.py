"""Which runtime flags Model Runner accepts, checked before anything is written (reference section 9).

DMR refuses, per backend, every flag not on its allowlist, and any flag or value holding a path
(``/`` or ``\\``), so that a model's configuration cannot write files on the host. The flag
names below are the facts of docker/model-runner's ``pkg/inference/runtime_flags_allowlist.go``
(``LlamaCppAllowedFlags``, ``VLLMAllowedFlags``) and the rules those of ``runtime_flags.go``
(``ValidateRuntimeFlags``, ``ParseFlagKey``, ``validatePathSafety``) and of
``scheduling/scheduler.go`` (a ``--key=value`` whose value starts with ``-``), as of 2026-07.
"""

from __future__ import annotations

LLAMA_CPP = "llama.cpp"

_LLAMA_CPP_FLAGS = """
-t --threads -tb --threads-batch -C --cpu-mask -Cr --cpu-range --cpu-strict --prio --poll -Cb --cpu-mask-batch
-Crb --cpu-range-batch --cpu-strict-batch --prio-batch --poll-batch
-c --ctx-size -n --predict --n-predict --keep
-b --batch-size -ub --ubatch-size --swa-full -fa --flash-attn --perf --no-perf
--samplers -s --seed --temp --temperature --top-k --top-p --min-p --top-nsigma --xtc-probability --xtc-threshold
--typical --repeat-last-n --repeat-penalty --presence-penalty --frequency-penalty --dry-multiplier --dry-base
--dry-allowed-length --dry-penalty-last-n --mirostat --mirostat-lr --mirostat-ent --ignore-eos --dynatemp-range
--dynatemp-exp
-dev --device -ngl --gpu-layers --n-gpu-layers -sm --split-mode -ts --tensor-split -mg --main-gpu -fit --fit
-fitt --fit-target -fitc --fit-ctx
-kvo --kv-offload -nkvo --no-kv-offload --repack -nr --no-repack --no-host -ctk --cache-type-k -ctv --cache-type-v
--mlock --mmap --no-mmap -dio --direct-io -ndio --no-direct-io -cram --cache-ram -kvu --kv-unified --context-shift
--no-context-shift
--rope-scaling --rope-scale --rope-freq-base --rope-freq-scale --yarn-orig-ctx --yarn-ext-factor --yarn-attn-factor
--yarn-beta-slow --yarn-beta-fast
-np --parallel -cb --cont-batching -nocb --no-cont-batching --warmup --no-warmup -to --timeout --threads-http
--cache-prompt --no-cache-prompt --cache-reuse --sleep-idle-seconds
--mmproj-auto --no-mmproj --no-mmproj-auto --mmproj-offload --no-mmproj-offload --image-min-tokens --image-max-tokens
--spm-infill
--draft --draft-n --draft-max --draft-min --draft-n-min --draft-p-min -cd --ctx-size-draft -devd --device-draft
-ngld --gpu-layers-draft --n-gpu-layers-draft -td --threads-draft -tbd --threads-batch-draft
--lora-init-without-apply --control-vector-layer-range
--grammar -j --json-schema -bs --backend-sampling
--chat-template --chat-template-kwargs --jinja --no-jinja --pooling --reasoning-format --reasoning-budget
--prefill-assistant --no-prefill-assistant
--api-prefix --webui --no-webui --webui-config --api-key --metrics --no-metrics --props --slots --no-slots
--embedding --embeddings --rerank --reranking -sps --slot-prompt-similarity
-cmoe --cpu-moe -ncmoe --n-cpu-moe --check-tensors --op-offload --no-op-offload
-v --verbose
"""

_VLLM_FLAGS = """
--tensor-parallel-size -tp --pipeline-parallel-size -pp --max-model-len --max-num-batched-tokens --max-num-seqs
--block-size --swap-space --seed --dtype --quantization -q --kv-cache-dtype --enforce-eager --enable-prefix-caching
--enable-chunked-prefill --disable-custom-all-reduce --use-v2-block-manager --tokenizer-mode --max-logprobs
--revision --load-format --disable-log-stats --served-model-name --gpu-memory-utilization
"""

ALLOWED: dict[str, frozenset[str]] = {
    LLAMA_CPP: frozenset(_LLAMA_CPP_FLAGS.split()),
    "vllm": frozenset(_VLLM_FLAGS.split()),
}


def flag_key(flag: str) -> str | None:
    """``--threads=4`` → ``--threads``; a value (``4``) is no flag: None."""
    if not flag.startswith("-"):
        return None
    return flag.split("=", 1)[0]


def problem(flags: list[str], backend: str = LLAMA_CPP) -> str | None:
    """Why Model Runner would refuse ``flags``, in its words; None when it accepts them. For a
    backend without an allowlist every flag is refused: ValidateRuntimeFlags looks the key up in
    a nil map, whatever its comment says about falling back to the path rule."""
    allowed = ALLOWED.get(backend, frozenset())
    for flag in flags:
        key = flag_key(flag)
        if key is not None and key not in allowed:
            return f'runtime flag "{key}" is not allowed for backend "{backend}"'
    for flag in flags:
        value = flag.split("=", 1)[1] if flag.startswith("-") and "=" in flag else ""
        if value.startswith("-") and not value[1:2].isdigit():
            return f"invalid flag \"{flag}\": value cannot start with '-' unless followed by a digit"
    for flag in flags:
        if "/" in flag or "\\" in flag:
            return f"invalid runtime flag \"{flag}\": paths are not allowed (contains '/' or '\\')"
    return None
