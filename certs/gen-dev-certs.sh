#!/usr/bin/env bash
# Development keys for ssogate, written to certs/dev/ (git-ignored; no private
# key is ever committed): the SP signing/encryption key and certificate, and
# the session-signing key ring. Existing files are kept unless --force.
# Usage: certs/gen-dev-certs.sh [--force] [OUTDIR] [SP_CN]
set -euo pipefail
force=0
[ "${1:-}" = "--force" ] && { force=1; shift; }
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here/dev}"
cn="${2:-ssogate development SP}"
mkdir -p "$out"
chmod 700 "$out"
umask 077

if [ $force -eq 1 ] || [ ! -s "$out/sp.key" ] || [ ! -s "$out/sp.crt" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 825 \
        -subj "/CN=$cn" -keyout "$out/sp.key" -out "$out/sp.crt" 2>/dev/null
    chmod 644 "$out/sp.crt"
    echo "SP key and certificate: $out/sp.key $out/sp.crt"
fi
if [ $force -eq 1 ] || [ ! -s "$out/session.keys" ]; then
    # One "kid secret" per line; the first line signs, the others still verify.
    kid="k$(date +%Y%m%d)"
    secret=$(openssl rand 32 | base64 | tr '+/' '-_' | tr -d '=\n')
    printf '%s %s\n' "$kid" "$secret" > "$out/session.keys"
    echo "session key ring: $out/session.keys (kid $kid)"
fi
