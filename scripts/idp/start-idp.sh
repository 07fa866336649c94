#!/bin/bash
# Start SimpleSAMLphp (Debian package) as a SAML 2.0 IdP on http://127.0.0.1:18200
# using the PHP built-in web server and the config in ./ssp/config.
# Runtime files (key, cert, salt, sessions, logs, pid) go to $IDP_WORK (default ./work/ssp).
# Adapted from shared/simplesamlphp for ssogate (sign.logout on, IDP_WORK).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export IDP_HOST="${IDP_HOST:-127.0.0.1}"
export IDP_PORT="${IDP_PORT:-18200}"
export SP_BASE="${SP_BASE:-http://127.0.0.1:18280}"
SSP_WWW=/usr/share/simplesamlphp/www
export IDP_WORK="${IDP_WORK:-$HERE/work/ssp}"
W="$IDP_WORK"
PIDFILE="$W/php-server.pid"

[ -d "$SSP_WWW" ] || { echo "simplesamlphp is not installed (apt-get install simplesamlphp php-cli)" >&2; exit 1; }
if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    echo "IdP already running, pid $(cat "$PIDFILE")"; exit 0
fi
t0=$(date +%s%N)
mkdir -p "$W"/{cert,log,data,tmp,sessions}
chmod 700 "$W"
[ -s "$W/secretsalt" ]    || openssl rand -hex 24 > "$W/secretsalt"
[ -s "$W/adminpassword" ] || openssl rand -hex 12 > "$W/adminpassword"
if [ ! -s "$W/cert/idp.key" ] || [ ! -s "$W/cert/idp.crt" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
        -subj "/CN=$IDP_HOST test IdP" \
        -keyout "$W/cert/idp.key" -out "$W/cert/idp.crt" 2>/dev/null
fi

# SIMPLESAMLPHP_CONFIG_DIR points SSP at our config instead of /etc/simplesamlphp.
# PHP_CLI_SERVER_WORKERS: a couple of workers so one slow request does not
# stall the browser's parallel asset requests.
SIMPLESAMLPHP_CONFIG_DIR="$HERE/ssp/config" PHP_CLI_SERVER_WORKERS="${PHP_CLI_SERVER_WORKERS:-2}" \
    setsid php -d display_errors=stderr -d session.gc_probability=0 \
        -S "$IDP_HOST:$IDP_PORT" -t "$SSP_WWW" \
        >"$W/log/php-server.log" 2>&1 </dev/null &
echo $! > "$PIDFILE"

META="http://$IDP_HOST:$IDP_PORT/saml2/idp/metadata.php"
for _ in $(seq 1 100); do
    # SSP answers errors with HTTP 200 + an HTML page: check for real metadata.
    if curl -fsS -o "$W/idp-metadata.xml" "$META" 2>/dev/null &&
       grep -q 'IDPSSODescriptor' "$W/idp-metadata.xml"; then
        ms=$(( ($(date +%s%N) - t0) / 1000000 ))
        echo "IdP up: $META (pid $(cat "$PIDFILE"), ${ms} ms)"
        echo "IdP metadata saved to $W/idp-metadata.xml"
        exit 0
    fi
    if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then break; fi
    sleep 0.1
done
echo "IdP did not come up (missing php8.2-xml? SSP shows errors as HTML with status 200); see $W/log/php-server.log and $W/log/simplesamlphp.log" >&2
tail -20 "$W/log/php-server.log" >&2 || true
exit 1
