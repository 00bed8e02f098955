#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian 12 machine, then leave a Docker
# engine running: Debian packages, the project with its test extras (Compose v5 comes with them),
# the engine, and the locally built images. Safe to run again: each step skips what is there.
set -euo pipefail
cd "$(dirname "$0")/../.."
start=$(date +%s)
say() { printf '[prepare +%ss] %s\n' "$(( $(date +%s) - start ))" "$*"; }

packages=(docker.io busybox-static debootstrap curl strace iproute2 chromium openssh-server openssl)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  say "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

say "pip install -e .[test] (compiles llama.cpp once, ≈5 min on 2 cores; pip caches the wheel)"
# Portable build: the cached wheel must run on any x86-64 machine, not only the one that built it.
CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}" python -m pip install -q --disable-pip-version-check -e '.[test]'

say "engine"
bash tests/support/engine.sh start

say "test images"
python tests/support/images.py

say "ready"
