# Shared by scripts/test and scripts/demo: install what is missing from
# Debian's packages (the list is scripts/packages.txt, also read by
# docker/Dockerfile), quietly when everything is there.
# shellcheck shell=bash

SSOGATE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Package names of the given stages (build, run, test), or all.
packages_for() {
    local stages="$*"
    sed -e 's/#\s*\([a-z]*\)\s*$/ \1/' -e '/^\s*#/d' -e '/^\s*$/d' "$SSOGATE_ROOT/scripts/packages.txt" |
        while read -r name stage; do
            if [ -z "$stages" ] || [[ " $stages " == *" $stage "* ]]; then echo "$name"; fi
        done
}

install_packages() {
    local missing=() p
    for p in $(packages_for "$@"); do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "Installing ${#missing[@]} Debian packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    # Package scripts must not start daemons: the tests and the demo start their own.
    local policy=/usr/sbin/policy-rc.d made_policy=0
    if [ ! -e $policy ]; then
        printf '#!/bin/sh\nexit 101\n' | $sudo tee $policy >/dev/null && $sudo chmod +x $policy && made_policy=1
    fi
    local rc=0
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq || rc=$?
    [ $rc -eq 0 ] && { $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        "${missing[@]}" >/tmp/ssogate-apt.log 2>&1 || rc=$?; }
    [ $made_policy -eq 0 ] || $sudo rm -f $policy
    if [ $rc -ne 0 ]; then
        tail -30 /tmp/ssogate-apt.log >&2
        echo "package installation failed (log: /tmp/ssogate-apt.log)" >&2
        return 1
    fi
}

# Configure and build into $1 with extra CMake arguments.
build_into() {
    local dir="$1"; shift
    cmake -S "$SSOGATE_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >"$dir.cmake.log" 2>&1 ||
        { cat "$dir.cmake.log" >&2; return 1; }
    cmake --build "$dir" -j"$(nproc)" >"$dir.build.log" 2>&1 || { grep -E "error|warning" "$dir.build.log" | head -50 >&2; return 1; }
}
