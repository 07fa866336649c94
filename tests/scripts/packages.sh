#!/usr/bin/env bash
# The Debian package list lives in one file, scripts/packages.txt; the scripts
# and the Dockerfile must both read it rather than carry lists of their own.
set -euo pipefail
root="${SSOGATE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fail=1; fi; }
list="$root/scripts/packages.txt"
check "package list exists and is not empty" "[ \$(grep -cvE '^\s*(#|$)' '$list') -gt 10 ]"
check "every entry has a stage (build, run or test)" \
    "! grep -vE '^\s*(#|$)' '$list' | grep -vqE '^[a-z0-9.+-]+\s+#\s*(build|run|test)\s*$'"
check "scripts/lib.sh installs from packages.txt" "grep -q 'scripts/packages.txt' '$root/scripts/lib.sh'"
check "scripts/test and scripts/demo use lib.sh's install_packages" \
    "grep -q install_packages '$root/scripts/test' && grep -q install_packages '$root/scripts/demo'"
check "Dockerfile copies packages.txt" "grep -q 'COPY scripts/packages.txt' '$root/docker/Dockerfile'"
# No package of the list is named in an install line of the Dockerfile itself.
for p in $(grep -vE '^\s*(#|$)' "$list" | awk '{print $1}'); do
    if grep -E 'apt-get install' -A1 "$root/docker/Dockerfile" | grep -v 'sed -n' | grep -qE "(^|\s)$p(\s|$)"; then
        echo "FAIL: Dockerfile names $p directly instead of reading packages.txt"; fail=1
    fi
done
# The stages the Dockerfile extracts really yield packages.
for stage in build run; do
    n=$(sed -n "s/^\([a-z0-9.+-]*\)\s*#\s*$stage\s*\$/\1/p" "$list" | wc -l)
    check "stage $stage selects packages with the Dockerfile's sed ($n)" "[ $n -gt 3 ]"
done
check "Dockerfile runs as a non-root user" "grep -qE '^USER ssogate' '$root/docker/Dockerfile'"
[ $fail -eq 0 ] && echo "1 passed, 0 failed" || echo "0 passed, 1 failed"
exit $fail
