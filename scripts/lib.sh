# shellcheck shell=bash disable=SC2034
# (SC2034: PREFIX, IMAGE_REPO, PODMAN_OPTS are used by the scripts that source this)
# Shared helpers for the scripts in this directory. Source it, don't run it.
# Keeps every script quiet on success: commands write to a log file, and only a
# failure prints the log's tail, so CI output stays short but failures are clear.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT
VENV="$ROOT/.venv"
BUILD="$ROOT/build"
LOGDIR="$BUILD/logs"
mkdir -p "$LOGDIR"

# Everything this project starts in podman carries this prefix, so the test
# scripts can find and remove exactly their own leftovers and nothing else.
PREFIX="sharedhost-"
IMAGE_REPO="localhost/sharedhost-test"

# Per-container podman options (no global /etc/containers/containers.conf):
# crun refuses this host's hybrid cgroup layout, and the host forbids raising
# RLIMIT_NOFILE, so podman's default (raise nofile to the max) must be overridden.
# No pids cap: hundreds of backends with ~20 threads each exceed podman's default of 2048.
PODMAN_OPTS=(--runtime runc --ulimit nofile=20000:20000 --ulimit nproc=4096:4096 --pids-limit -1)

# The collection is used straight from the work tree through a symlink farm.
export ANSIBLE_COLLECTIONS_PATH="$BUILD/collections"
# The test hosts' connection (podman exec with pipelining: one call per task).
export ANSIBLE_CONNECTION_PLUGINS="$ROOT/molecule/resources/plugins/connection"

log() { printf '==> %s\n' "$*"; }
warn() { printf '!!! %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# run_logged NAME CMD...: run CMD with all output in $LOGDIR/NAME.log; on failure
# show the last lines of that log and return the command's status.
run_logged() {
    local name="$1"; shift
    local logf="$LOGDIR/$name.log" rc=0
    "$@" >"$logf" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
        warn "'$*' failed (exit $rc); last lines of $logf:"
        tail -n "${TAIL_LINES:-40}" "$logf" >&2
    fi
    return "$rc"
}

# Seconds since the epoch, for the timing lines the scripts print.
now() { date +%s; }

activate_venv() {
    [ -x "$VENV/bin/python" ] || die "no venv at $VENV: run scripts/setup.sh first"
    # shellcheck disable=SC1091
    . "$VENV/bin/activate"
}
