#!/usr/bin/env bash
# Run "ansible-test sanity" on the collection as it is in the work tree.
# Usage: scripts/sanity.sh [extra ansible-test sanity args, e.g. --test pylint]
#
# ansible-test needs the collection at .../ansible_collections/<ns>/<name>/ inside
# a git checkout, so the work tree (tracked + untracked, not ignored files) is
# copied to build/sanity/ansible_collections/sharedhost/hosting and committed
# there. It also bootstraps pip into its test venvs with a get-pip script it
# downloads from a host that is not reachable here: a stand-in goes in its cache.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

start=$(now)
# Standalone use: make sure the venv exists (images are not needed here).
if [ "${SHAREDHOST_SETUP_DONE:-0}" != 1 ]; then
    SHAREDHOST_SKIP_IMAGES=1 "$ROOT/scripts/setup.sh" >/dev/null
fi
activate_venv

# --- the pip bootstrap stand-in -----------------------------------------------------
# ansible-test looks for ~/.ansible/test/cache/get_pip_<version>.py before
# downloading. The stand-in installs pip with ensurepip and then upgrades it to
# the requested version from the configured package index. ensurepip points
# PIP_CONFIG_FILE at /dev/null, which would hide this machine's pip.conf (its
# index and CA certificate): drop it before calling pip.
pip_version="$(sed -n "s/^ *pip='\([0-9.]*\)',*$/\1/p" \
    "$VENV"/lib/python3*/site-packages/ansible_test/_internal/python_requirements.py | head -n1)"
pip_version="${pip_version:-24.2}"
getpip="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
mkdir -p "$(dirname "$getpip")"
if [ ! -f "$getpip" ] || grep -q 'sharedhost stand-in' "$getpip"; then
    cat >"$getpip" <<'PY'
"""sharedhost stand-in for get-pip.py (written by scripts/sanity.sh)."""
import ensurepip
import os
import subprocess
import sys

ensurepip.bootstrap()
env = dict(os.environ)
env.pop("PIP_CONFIG_FILE", None)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + args, env=env))
PY
fi

# --- a git checkout of the current work tree ------------------------------------------
dest="$BUILD/sanity/ansible_collections/sharedhost/hosting"
rm -rf "$BUILD/sanity"
mkdir -p "$dest"
# .venv and build/ are excluded explicitly too, in case .gitignore lacks them.
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard -- . ':!:.venv' ':!:build' \
    | while IFS= read -r -d '' f; do [ -e "$f" ] || [ -L "$f" ] && printf '%s\0' "$f"; done \
    | tar --null -T - -cf -) | tar -C "$dest" -xf -
# shellcheck disable=SC2016 # $1 expands in the inner sh
run_logged sanity-git sh -c 'cd "$1" && git init -q && git add -A &&
    git -c user.name=sanity -c user.email=sanity@localhost commit -q -m "sanity snapshot"' sh "$dest"
log "sanity tree: $dest ($(cd "$dest" && git ls-files | wc -l) files)"

# --- run ----------------------------------------------------------------------------------
# ansible-test writes its own progress lines; its output is the report, so it is
# not hidden. --requirements lets it install each test's pinned tools in its
# own venvs under ~/.ansible/test.
rc=0
(cd "$dest" && timeout 1800 ansible-test sanity --requirements --python 3.11 --color no "$@") || rc=$?
if [ "$rc" -eq 0 ]; then
    log "sanity passed in $(( $(now) - start )) s"
else
    warn "sanity failed (exit $rc) after $(( $(now) - start )) s"
fi
exit "$rc"
