#!/usr/bin/env bash
# Build the test-host images used by the Molecule scenarios:
#   localhost/sharedhost-test:bookworm       (Debian 12, systemd)
#   localhost/sharedhost-test:trixie         (Debian 13, systemd)
#   localhost/sharedhost-test:bookworm-sysv  (Debian 12, sysvinit as PID 1)
# Usage: scripts/build-images.sh [bookworm|trixie|bookworm-sysv|all]   (default: all)
#
# No container registry is reachable here, so images are made with debootstrap
# from the same Debian mirror the host uses and imported into podman. An image is
# reused while its "sharedhost.recipe" label matches the hash of its recipe
# (package list, build steps, mirror settings); a change rebuilds it. Set
# SHAREDHOST_REBUILD_IMAGES=1 to force a rebuild.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Bump to force a rebuild for a change that build_one/PACKAGES don't show.
RECIPE_VERSION=1

# What Ansible, testinfra and the roles' tests need on a test host. apache2 is
# deliberately absent: the roles install it. python3-apt: the apt module needs it
# (else it installs it itself on every fresh container); acl: become_user to an
# unprivileged user needs setfacl; libpam-systemd: user sessions get their
# user-UID.slice (the enforcement drop-ins live there).
PACKAGES=(
    systemd systemd-sysv dbus libpam-systemd
    python3 python3-apt
    iproute2 procps curl ca-certificates sudo cron nftables perl acl
)

# The same test host with sysvinit as PID 1 (no systemd-sysv, no libpam-systemd):
# hosts without systemd get the init_scripts role's LSB scripts.
PACKAGES_SYSV=(
    sysvinit-core sysv-rc initscripts orphan-sysvinit-scripts
    python3 python3-apt
    iproute2 procps curl ca-certificates sudo cron nftables perl acl
)

# Mirror the host's apt setup: the first enabled Debian archive and security URIs
# it lists (deb822 *.sources or one-line *.list), unless overridden.
host_uris() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] && awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] && awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }' "$f"
    done
    return 0
}
MIRROR="${SHAREDHOST_DEBIAN_MIRROR:-$(host_uris | grep -E '/debian/?$' | head -n1 || true)}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${SHAREDHOST_DEBIAN_SECURITY_MIRROR:-$(host_uris | grep -E '/debian-security/?$' | head -n1 || true)}"
SECURITY_MIRROR="${SECURITY_MIRROR:-http://deb.debian.org/debian-security}"

# Host apt.conf.d snippets that change how the archive is fetched (proxy,
# Check-Valid-Until for a frozen snapshot mirror, ...) must apply inside too.
apt_acquire_confs() {
    grep -l -E '^[[:space:]]*Acquire' /etc/apt/apt.conf.d/* 2>/dev/null | sort || true
}

recipe_hash() {
    local suite="$1" f
    if [ "$suite" = bookworm-sysv ]; then
        recipe_hash_sysv
        return
    fi
    {
        # What shapes the image: the package list and build_one's code (as bash
        # prints it: comments and formatting don't count), plus RECIPE_VERSION
        # for changes elsewhere. Editing the smoke test etc. rebuilds nothing.
        echo "$RECIPE_VERSION"
        declare -p PACKAGES
        declare -f build_one
        printf '%s\n' "$suite" "$MIRROR" "$SECURITY_MIRROR"
        for f in $(apt_acquire_confs); do printf '%s\n' "$f"; cat "$f"; done
    } | sha256sum | cut -c1-16
}

# The sysv image has its own recipe (its own function and package list), so
# changing it leaves the systemd images' hashes alone and vice versa.
recipe_hash_sysv() {
    local f
    {
        echo "$RECIPE_VERSION"
        declare -p PACKAGES_SYSV
        declare -f build_sysv debootstrap_rootfs
        printf '%s\n' bookworm-sysv "$MIRROR" "$SECURITY_MIRROR"
        for f in $(apt_acquire_confs); do printf '%s\n' "$f"; cat "$f"; done
    } | sha256sum | cut -c1-16
}

image_label() {
    podman image inspect --format '{{ index .Config.Labels "sharedhost.recipe" }}' "$1" 2>/dev/null || true
}

# Start a throwaway container with the same recipe the Molecule create playbook
# uses for that release, and wait until systemd has booted (running/degraded).
smoke_test() {
    local suite="$1" image="$2" name="${PREFIX}imagecheck-$1" state=""
    podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
    if [ "$suite" = bookworm ]; then
        podman run -d --name "$name" "${PODMAN_OPTS[@]}" --systemd=always \
            --cap-add NET_ADMIN "$image" /sbin/init >/dev/null
    else
        podman run -d --name "$name" "${PODMAN_OPTS[@]}" --privileged --systemd=false \
            "$image" /bin/sh -c 'umount -R /sys/fs/cgroup; mount -t cgroup2 none /sys/fs/cgroup && exec /sbin/init' >/dev/null
    fi
    # Poll: right after "podman run" systemd may not answer on its bus yet.
    for _ in $(seq 1 120); do
        state="$(podman exec "$name" systemctl is-system-running 2>/dev/null || true)"
        case "$state" in running|degraded) break ;; esac
        sleep 1
    done
    if [ "$state" != running ] && [ "$state" != degraded ]; then
        warn "$image: systemd did not boot (state '${state:-none}'); failed units:"
        podman exec "$name" systemctl --failed --no-pager >&2 || true
        podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
        return 1
    fi
    podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
    log "$image boots: systemd $state"
}

build_one() {
    local suite="$1" image="$IMAGE_REPO:$1" hash rootfs old_id start
    hash="$(recipe_hash "$suite")"
    if [ "${SHAREDHOST_REBUILD_IMAGES:-0}" != 1 ] && [ "$(image_label "$image")" = "$hash" ]; then
        log "image $image is up to date (recipe $hash)"
        return 0
    fi
    start=$(now)
    log "building $image (recipe $hash) from $MIRROR ..."
    rootfs="$BUILD/images/$suite.rootfs"
    rm -rf "$rootfs"
    mkdir -p "$rootfs" "$BUILD/cache/debootstrap/$suite"
    # --cache-dir keeps the .debs, so a recipe change rebuilds without downloading again.
    run_logged "debootstrap-$suite" timeout 1200 debootstrap --variant=minbase \
        --cache-dir="$BUILD/cache/debootstrap/$suite" \
        --include="$(IFS=,; echo "${PACKAGES[*]}")" \
        "$suite" "$rootfs" "$MIRROR"

    # apt inside the container uses the host's mirror, for this release.
    rm -f "$rootfs/etc/apt/sources.list"
    cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    local f
    for f in $(apt_acquire_confs); do cp "$f" "$rootfs/etc/apt/apt.conf.d/"; done

    # Drop state that must be unique per container or goes stale: apt lists (tasks
    # that install packages must update the cache), machine-id (systemd creates a
    # fresh one at boot from an empty file), the build host's resolv.conf/hostname
    # (podman provides both).
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
    # An empty list directory must also look old, or apt's cache_valid_time
    # takes it for a fresh cache and installs fail with "no package matching".
    touch -d @0 "$rootfs/var/lib/apt/lists"
    : >"$rootfs/etc/machine-id"
    rm -f "$rootfs/var/lib/dbus/machine-id" "$rootfs/etc/hostname"
    : >"$rootfs/etc/resolv.conf"

    # Units that are pointless in a container or, in the privileged cgroup2
    # recipe, would act on the *host* (its sysctls, binfmt_misc, kernel modules,
    # the console on tty1): mask them so they never run.
    local unit
    for unit in systemd-sysctl.service systemd-modules-load.service \
        systemd-binfmt.service proc-sys-fs-binfmt_misc.automount \
        proc-sys-fs-binfmt_misc.mount getty@tty1.service console-getty.service \
        systemd-firstboot.service; do
        ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
    done

    old_id="$(podman image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)"
    # STOPSIGNAL: systemd as PID 1 shuts down cleanly on SIGRTMIN+3, not SIGTERM.
    # shellcheck disable=SC2016 # $1..$4 expand in the inner sh
    run_logged "import-$suite" sh -c 'tar --numeric-owner -C "$1" -c . | podman import \
        --change "CMD [\"/sbin/init\"]" --change "STOPSIGNAL SIGRTMIN+3" \
        --change "LABEL sharedhost.recipe=$2" --change "LABEL sharedhost.suite=$3" - "$4"' \
        sh "$rootfs" "$hash" "$suite" "$image"
    rm -rf "$rootfs"
    # Earlier builds are now untagged: remove those of ours that no container
    # uses any more (label-filtered, so no other image is touched).
    local id
    for id in $old_id $(podman images -q --filter dangling=true --filter "label=sharedhost.suite=$suite"); do
        podman rmi "$id" >/dev/null 2>&1 || true
    done
    smoke_test "$suite" "$image"
    log "built $image in $(( $(now) - start )) s"
}

# debootstrap_rootfs SUITE DIR PACKAGE...: a minbase Debian tree with apt set up
# for the host's mirror and no per-host state (used by the sysv build).
debootstrap_rootfs() {
    local suite="$1" rootfs="$2" f
    shift 2
    rm -rf "$rootfs"
    mkdir -p "$rootfs" "$BUILD/cache/debootstrap/$suite"
    run_logged "debootstrap-$(basename "$rootfs" .rootfs)" timeout 1200 debootstrap --variant=minbase \
        --cache-dir="$BUILD/cache/debootstrap/$suite" \
        --include="$(IFS=,; echo "$*")" \
        "$suite" "$rootfs" "$MIRROR"
    rm -f "$rootfs/etc/apt/sources.list"
    cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    for f in $(apt_acquire_confs); do cp "$f" "$rootfs/etc/apt/apt.conf.d/"; done
    # No apt lists (an old empty dir, so cache_valid_time updates), no build-host state.
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
    touch -d @0 "$rootfs/var/lib/apt/lists"
    rm -f "$rootfs/etc/hostname"
    : >"$rootfs/etc/resolv.conf"
}

# Boot a throwaway sysv container the way the create playbook does and wait for
# the marker that inittab writes once "rc 2" has finished.
smoke_test_sysv() {
    local image="$1" name="${PREFIX}imagecheck-bookworm-sysv"
    podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
    podman run -d --name "$name" "${PODMAN_OPTS[@]}" --systemd=false --cap-add NET_ADMIN \
        --tmpfs /run:rw,nosuid,nodev,mode=0755 --tmpfs /run/lock:rw,nosuid,nodev,noexec \
        "$image" /sbin/init >/dev/null
    for _ in $(seq 1 60); do
        if podman exec "$name" test -e /run/sharedhost-rc-booted 2>/dev/null; then
            podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
            log "$image boots: sysvinit reached runlevel 2"
            return 0
        fi
        sleep 1
    done
    warn "$image: rc boot did not finish; container log:"
    podman logs "$name" 2>&1 | tail -n 30 >&2 || true
    podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
    return 1
}

build_sysv() {
    local image="$IMAGE_REPO:bookworm-sysv" hash rootfs old_id start id script
    hash="$(recipe_hash_sysv)"
    if [ "${SHAREDHOST_REBUILD_IMAGES:-0}" != 1 ] && [ "$(image_label "$image")" = "$hash" ]; then
        log "image $image is up to date (recipe $hash)"
        return 0
    fi
    start=$(now)
    log "building $image (recipe $hash) from $MIRROR ..."
    rootfs="$BUILD/images/bookworm-sysv.rootfs"
    debootstrap_rootfs bookworm "$rootfs" "${PACKAGES_SYSV[@]}"
    [ ! -e "$rootfs/lib/systemd/systemd" ] || die "$image: systemd got into the sysv image"
    # A container has no ttys: no gettys (init would respawn them forever). The
    # last line runs once "rc 2" has finished (wait entries run in order); the
    # create playbook waits for its marker. Ctrl-Alt-Del (SIGINT, the image's
    # STOPSIGNAL) is a clean shutdown: rc 0 stops the backends.
    cat >"$rootfs/etc/inittab" <<'EOF'
id:2:initdefault:
si::sysinit:/etc/init.d/rcS
~~:S:wait:/sbin/sulogin --force
l0:0:wait:/etc/init.d/rc 0
l1:1:wait:/etc/init.d/rc 1
l2:2:wait:/etc/init.d/rc 2
l3:3:wait:/etc/init.d/rc 3
l4:4:wait:/etc/init.d/rc 4
l5:5:wait:/etc/init.d/rc 5
l6:6:wait:/etc/init.d/rc 6
ca:12345:ctrlaltdel:/sbin/shutdown -t1 -h now
sb:2345:once:/bin/sh -c 'date +%s > /run/sharedhost-rc-booted'
EOF
    # Scripts for the kernel and hardware, which a container does not own.
    for script in hwclock.sh procps kmod udev; do
        if [ -e "$rootfs/etc/init.d/$script" ]; then
            chroot "$rootfs" update-rc.d -f "$script" remove >/dev/null 2>&1 || true
        fi
    done
    old_id="$(podman image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)"
    # shellcheck disable=SC2016 # $1..$3 expand in the inner sh
    run_logged "import-bookworm-sysv" sh -c 'tar --numeric-owner -C "$1" -c . | podman import \
        --change "CMD [\"/sbin/init\"]" --change "STOPSIGNAL SIGINT" \
        --change "LABEL sharedhost.recipe=$2" --change "LABEL sharedhost.suite=bookworm-sysv" - "$3"' \
        sh "$rootfs" "$hash" "$image"
    rm -rf "$rootfs"
    for id in $old_id $(podman images -q --filter dangling=true --filter "label=sharedhost.suite=bookworm-sysv"); do
        podman rmi "$id" >/dev/null 2>&1 || true
    done
    smoke_test_sysv "$image"
    log "built $image in $(( $(now) - start )) s"
}

target="${1:-all}"
case "$target" in
    bookworm|trixie) build_one "$target" ;;
    bookworm-sysv) build_sysv ;;
    all)
        # The builds mostly wait on the network, so run them side by side.
        pids=()
        for s in bookworm trixie; do build_one "$s" & pids+=("$!"); done
        build_sysv & pids+=("$!")
        rc=0
        for p in "${pids[@]}"; do wait "$p" || rc=1; done
        [ "$rc" -eq 0 ] || die "image build failed (logs in $LOGDIR)"
        ;;
    *) die "usage: $0 [bookworm|trixie|bookworm-sysv|all]" ;;
esac
