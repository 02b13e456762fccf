#!/usr/bin/env bash
# The whole test suite, in order: unit tests, ansible-lint, ansible-test sanity,
# then every Molecule scenario (molecule/*/molecule.yml).
# Usage: scripts/test.sh [unit|lint|sanity|molecule|molecule:NAME ...]  (default: all)
# Runs scripts/setup.sh first (idempotent; fast when everything is in place).
# Each stage's output goes to build/logs/; a failing stage prints its tail. Every
# stage runs even after a failure; the exit status is non-zero if any failed.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

suite_start=$(now)
stages=("$@")
[ "${#stages[@]}" -gt 0 ] || stages=(unit lint sanity molecule)

log "setup"
"$ROOT/scripts/setup.sh"
export SHAREDHOST_SETUP_DONE=1
activate_venv
cd "$ROOT"

# Leftovers of an earlier, interrupted run would clash with the fixed container
# names; remove every container and network of this project (sharedhost- prefix).
leftovers="$(podman ps -a --format '{{.Names}}' | grep "^$PREFIX" || true)"
if [ -n "$leftovers" ]; then
    log "removing leftover containers: $(echo "$leftovers" | tr '\n' ' ')"
    # shellcheck disable=SC2086
    podman rm -f -t 0 $leftovers >/dev/null
fi
leftnets="$(podman network ls --format '{{.Name}}' | grep "^$PREFIX" || true)"
if [ -n "$leftnets" ]; then
    # shellcheck disable=SC2086
    podman network rm $leftnets >/dev/null || true
fi

results=()
failed=0
passed=0
digest=()
record() { # record NAME RC SECONDS
    if [ "$2" -eq 0 ]; then
        results+=("PASS  $1 ($3 s)"); passed=$((passed + 1))
    else
        results+=("FAIL  $1 ($3 s, exit $2)"); failed=$((failed + 1))
        failure_digest "$1"
    fi
}
# failure_digest LABEL: the failing tests' one-line reasons, repeated at the very
# end of the output, where a CI log that keeps only its tail still shows them.
failure_digest() {
    local logf
    case "$1" in
        molecule:*) logf="$LOGDIR/molecule-${1#molecule:}.log" ;;
        sanity) logf="$LOGDIR/sanity.log" ;;
        ansible-lint) logf="$LOGDIR/ansible-lint.log" ;;
        *) return 0 ;;
    esac
    [ -f "$logf" ] || return 0
    while IFS= read -r line; do
        digest+=("$1: ${line:0:300}")
    done < <(sed 's/\x1b\[[0-9;]*m//g' "$logf" \
             | grep -E '^[^A-Za-z]*(FAILED |ERROR |E  +[A-Za-z]*Error|E  +assert)' | head -n 12)
}

stage_unit() {
    # pytest's own summary line is part of the report, so it is not hidden.
    timeout 1200 python -m pytest tests/unit -q -p no:cacheprovider
}
stage_lint() {
    TAIL_LINES=60 run_logged ansible-lint timeout 600 ansible-lint --nocolor
}
stage_sanity() {
    TAIL_LINES=80 run_logged sanity timeout 1800 "$ROOT/scripts/sanity.sh"
}
stage_molecule() { # stage_molecule NAME
    TAIL_LINES=120 run_logged "molecule-$1" timeout 1800 molecule test -s "$1"
}

run_stage() { # run_stage LABEL FUNCTION [ARGS]
    local label="$1" t rc=0
    shift
    log "stage: $label"
    t=$(now)
    "$@" || rc=$?
    record "$label" "$rc" "$(( $(now) - t ))"
    [ "$rc" -eq 0 ] || warn "stage $label failed (exit $rc)"
}

scenarios() {
    local f
    for f in "$ROOT"/molecule/*/molecule.yml; do
        [ -f "$f" ] || continue
        f="$(basename "$(dirname "$f")")"
        [ "$f" = resources ] || echo "$f"
    done
}

for stage in "${stages[@]}"; do
    case "$stage" in
        unit) run_stage unit stage_unit ;;
        lint) run_stage ansible-lint stage_lint ;;
        sanity) run_stage sanity stage_sanity ;;
        molecule)
            for s in $(scenarios); do run_stage "molecule:$s" stage_molecule "$s"; done ;;
        molecule:*) run_stage "$stage" stage_molecule "${stage#molecule:}" ;;
        *) die "unknown stage '$stage' (unit, lint, sanity, molecule, molecule:NAME)" ;;
    esac
done

echo
echo "==== summary ($(( $(now) - suite_start )) s, logs in build/logs/) ===="
printf '%s\n' "${results[@]}"
if [ "${#digest[@]}" -gt 0 ]; then
    echo "failures (first lines from the logs):"
    printf '  %s\n' "${digest[@]}"
fi
echo "stages: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
