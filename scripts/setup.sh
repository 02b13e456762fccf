#!/usr/bin/env bash
# Prepare a Debian 12 machine (as root) for development and CI of this collection:
#   1. apt packages (podman + runc, debootstrap, nftables, wrk, git, ...)
#   2. .venv with the pinned requirements-dev.txt (re-synced when that file changes)
#   3. build/collections/ansible_collections/sharedhost/hosting -> repo root
#   4. the podman test-host images (scripts/build-images.sh)
# Idempotent and fast when everything is already there.
# Env: SHAREDHOST_SKIP_IMAGES=1 skips step 4 (lint/sanity-only runs).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

start=$(now)
[ "$(id -u)" -eq 0 ] || die "run as root: apt-get and rootful podman (the privileged cgroup2 test hosts) need it"

# --- 1. apt packages -----------------------------------------------------------
# runc (not crun): crun refuses this host's hybrid cgroups. iptables: netavark
# needs it for podman bridge networks. python3-venv: ensurepip for Debian's
# python3 (harmless when python3 comes from pyenv). The shellcheck package:
# ansible-test's shellcheck sanity test silently passes without it.
APT_PACKAGES=(
    podman runc debootstrap nftables wrk git shellcheck
    iptables ca-certificates debian-archive-keyring curl tar xz-utils python3 python3-venv
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing apt packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    run_logged apt-update apt-get update
    run_logged apt-install apt-get install -y -q "${missing[@]}"
else
    log "apt packages present"
fi

# --- 2. Python venv --------------------------------------------------------------
# Keyed on the interpreter and on the requirements file's hash: a new interpreter
# recreates the venv; a changed requirements file re-applies the pins in place
# (pip up/downgrades to the exact versions); unchanged -> nothing to do.
PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "$PYTHON is $("$PYTHON" -V 2>&1); ansible-core 2.19 needs Python >= 3.11"
req="$ROOT/requirements-dev.txt"
pyid="$("$PYTHON" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
want="$pyid $(sha256sum <"$req" | cut -c1-16)"
stamp="$VENV/.sharedhost-requirements"
have="$(cat "$stamp" 2>/dev/null || true)"
venv_pyid="$("$VENV/bin/python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null || true)"
if [ "$have" = "$want" ] && [ "$venv_pyid" = "$pyid" ]; then
    log "venv up to date ($VENV)"
else
    t=$(now)
    if [ "$venv_pyid" != "$pyid" ]; then
        log "creating venv $VENV with Python $pyid (a few minutes) ..."
        rm -rf "$VENV"
        run_logged venv-create "$PYTHON" -m venv "$VENV"
    else
        log "applying requirements-dev.txt to $VENV ..."
    fi
    rm -f "$stamp"
    run_logged venv-pip "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
    run_logged venv-check "$VENV/bin/python" -m pip check
    echo "$want" >"$stamp"
    log "venv ready in $(( $(now) - t )) s"
fi
# containers.podman (create/destroy playbooks, the podman connection) ships in
# the "ansible" package; fail early here rather than deep inside Molecule.
"$VENV/bin/ansible-galaxy" collection list containers.podman 2>/dev/null | grep -q '^containers\.podman ' \
    || die "containers.podman collection missing from the venv (is 'ansible' in requirements-dev.txt?)"

# --- 3. the collection, used in place ---------------------------------------------
# A relative symlink, so the checkout can live anywhere (CI clones elsewhere).
coll="$BUILD/collections/ansible_collections/sharedhost"
mkdir -p "$coll"
if [ -L "$coll/hosting" ] && [ "$(readlink "$coll/hosting")" = "../../../.." ]; then
    :
elif [ -e "$coll/hosting" ] && [ ! -L "$coll/hosting" ]; then
    die "$coll/hosting exists and is not a symlink; remove it"
else
    ln -sfn ../../../.. "$coll/hosting"
fi
[ "$(cd "$coll/hosting" && pwd -P)" = "$(cd "$ROOT" && pwd -P)" ] || die "collection symlink does not reach $ROOT"
if [ -f "$ROOT/galaxy.yml" ]; then
    "$VENV/bin/ansible-galaxy" collection list sharedhost.hosting 2>/dev/null | grep -q '^sharedhost\.hosting ' \
        || die "ansible-galaxy does not find sharedhost.hosting in $ANSIBLE_COLLECTIONS_PATH"
fi
log "collection sharedhost.hosting -> $ROOT (ANSIBLE_COLLECTIONS_PATH=$ANSIBLE_COLLECTIONS_PATH)"

# --- 4. test-host images ------------------------------------------------------------
if [ "${SHAREDHOST_SKIP_IMAGES:-0}" = 1 ]; then
    log "skipping test images (SHAREDHOST_SKIP_IMAGES=1)"
else
    "$ROOT/scripts/build-images.sh" all
fi
log "setup done in $(( $(now) - start )) s"
