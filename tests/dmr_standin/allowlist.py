"""Runtime flags the real runner accepts per backend, and its checks on them.

Data: the flag NAMES of docker/model-runner `pkg/inference/runtime_flags_allowlist.go`
(LlamaCppAllowedFlags, VLLMAllowedFlags) at HEAD 642c7211 (2026-07-22), written out as plain
data (the list first appeared in 9acf1ed9, 2026-02-09, server v1.0.15). Rules: `pkg/inference/runtime_flags.go`
ValidateRuntimeFlags, re-stated in `problem` below; the messages are upstream's texts.
"""

from __future__ import annotations

from . import goformat

LLAMA_CPP = frozenset("""
    -t --threads -tb --threads-batch -C --cpu-mask -Cr --cpu-range --cpu-strict --prio --poll
    -Cb --cpu-mask-batch -Crb --cpu-range-batch --cpu-strict-batch --prio-batch --poll-batch -c
    --ctx-size -n --predict --n-predict --keep -b --batch-size -ub --ubatch-size --swa-full -fa
    --flash-attn --perf --no-perf --samplers -s --seed --temp --temperature --top-k --top-p
    --min-p --top-nsigma --xtc-probability --xtc-threshold --typical --repeat-last-n
    --repeat-penalty --presence-penalty --frequency-penalty --dry-multiplier --dry-base
    --dry-allowed-length --dry-penalty-last-n --mirostat --mirostat-lr --mirostat-ent
    --ignore-eos --dynatemp-range --dynatemp-exp -dev --device -ngl --gpu-layers --n-gpu-layers
    -sm --split-mode -ts --tensor-split -mg --main-gpu -fit --fit -fitt --fit-target -fitc
    --fit-ctx -kvo --kv-offload -nkvo --no-kv-offload --repack -nr --no-repack --no-host -ctk
    --cache-type-k -ctv --cache-type-v --mlock --mmap --no-mmap -dio --direct-io -ndio
    --no-direct-io -cram --cache-ram -kvu --kv-unified --context-shift --no-context-shift
    --rope-scaling --rope-scale --rope-freq-base --rope-freq-scale --yarn-orig-ctx
    --yarn-ext-factor --yarn-attn-factor --yarn-beta-slow --yarn-beta-fast -np --parallel -cb
    --cont-batching -nocb --no-cont-batching --warmup --no-warmup -to --timeout --threads-http
    --cache-prompt --no-cache-prompt --cache-reuse --sleep-idle-seconds --mmproj-auto
    --no-mmproj --no-mmproj-auto --mmproj-offload --no-mmproj-offload --image-min-tokens
    --image-max-tokens --spm-infill --spec-draft-threads -td --threads-draft
    --spec-draft-threads-batch -tbd --threads-batch-draft --spec-draft-cpu-mask -Cd
    --cpu-mask-draft --spec-draft-cpu-range -Crd --cpu-range-draft --spec-draft-cpu-strict
    --cpu-strict-draft --spec-draft-prio --prio-draft --spec-draft-poll --poll-draft
    --spec-draft-cpu-mask-batch -Cbd --cpu-mask-batch-draft --spec-draft-cpu-strict-batch
    --cpu-strict-batch-draft --spec-draft-prio-batch --prio-batch-draft --spec-draft-poll-batch
    --poll-batch-draft --spec-draft-override-tensor -otd --override-tensor-draft
    --spec-draft-cpu-moe -cmoed --cpu-moe-draft --spec-draft-n-cpu-moe --spec-draft-ncmoe
    -ncmoed --n-cpu-moe-draft --spec-draft-n-max --draft-n-max --draft-max --spec-draft-n-min
    --draft-n-min --draft-min --spec-draft-p-split --draft-p-split --spec-draft-p-min
    --draft-p-min --spec-draft-backend-sampling --no-spec-draft-backend-sampling
    --spec-draft-device -devd --device-draft --spec-draft-ngl -ngld --gpu-layers-draft
    --n-gpu-layers-draft --spec-type --spec-ngram-mod-n-min --spec-ngram-mod-n-max
    --spec-ngram-mod-n-match --spec-ngram-simple-size-n --spec-ngram-simple-size-m
    --spec-ngram-simple-min-hits --spec-ngram-map-k-size-n --spec-ngram-map-k-size-m
    --spec-ngram-map-k-min-hits --spec-ngram-map-k4v-size-n --spec-ngram-map-k4v-size-m
    --spec-ngram-map-k4v-min-hits --spec-draft-type-k -ctkd --cache-type-k-draft
    --spec-draft-type-v -ctvd --cache-type-v-draft -cd --ctx-size-draft
    --lora-init-without-apply --control-vector-layer-range --grammar -j --json-schema -bs
    --backend-sampling --chat-template --chat-template-kwargs --jinja --no-jinja --pooling
    --reasoning-format --reasoning-budget --prefill-assistant --no-prefill-assistant
    --api-prefix --webui --no-webui --webui-config --api-key --metrics --no-metrics --props
    --slots --no-slots --embedding --embeddings --rerank --reranking -sps
    --slot-prompt-similarity -cmoe --cpu-moe -ncmoe --n-cpu-moe --check-tensors --op-offload
    --no-op-offload -v --verbose
""".split())

VLLM = frozenset("""
    --tensor-parallel-size -tp --pipeline-parallel-size -pp --max-model-len
    --max-num-batched-tokens --max-num-seqs --block-size --swap-space --seed --dtype
    --quantization -q --kv-cache-dtype --enforce-eager --enable-prefix-caching
    --enable-chunked-prefill --disable-custom-all-reduce --use-v2-block-manager
    --tokenizer-mode --max-logprobs --revision --load-format --disable-log-stats
    --served-model-name --gpu-memory-utilization
""".split())

BY_BACKEND: dict[str, frozenset[str]] = {"llama.cpp": LLAMA_CPP, "vllm": VLLM}


def flag_key(arg: str) -> str:
    """`--threads=4` → `--threads`; `-t` → `-t`; a value (no leading `-`) → ``."""
    if not arg.startswith("-"):
        return ""
    return arg.split("=", 1)[0]


def problem(backend: str, flags: list[str]) -> str | None:
    """The error ValidateRuntimeFlags returns for `flags`, or None if they pass.

    In upstream's order: every key must be allowed for the backend (an unknown backend allows
    none; a separate negative value such as `-1` counts as a key); a `--k=v` value may start with
    `-` only before a digit; no argument may contain `/` or `\\`.
    """
    allowed = BY_BACKEND.get(backend, frozenset())
    for arg in flags:
        key = flag_key(arg)
        if key and key not in allowed:
            return f"runtime flag {goformat.quote(key)} is not allowed for backend {goformat.quote(backend)}"
    for arg in flags:
        if "=" in arg:
            value = arg.split("=", 1)[1]
            if value.startswith("-") and (len(value) < 2 or not value[1].isdigit()):
                return f"invalid flag {goformat.quote(arg)}: value cannot start with '-' unless followed by a digit"
    for arg in flags:
        if "/" in arg or "\\" in arg:
            return f"invalid runtime flag {goformat.quote(arg)}: paths are not allowed (contains '/' or '\\\\')"
    return None
