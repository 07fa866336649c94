#!/usr/bin/python3
"""Re-sign a SAML HTTP-Redirect URL with another (valid) percent-encoding:
lower-case %xx escapes and '~' escaped. The signature covers the query string
as sent (SAML Bindings 3.4.4.1), so a receiver that re-encodes the decoded
values itself would compute other bytes and refuse it.

usage: /usr/bin/python3 resign_query.py URL KEY_PEM  (prints the new URL)"""
import base64
import subprocess
import sys
import urllib.parse


def enc(v):
    out = []
    for b in v.encode():
        c = chr(b)
        if c.isalnum() or c in "-_.":
            out.append(c)
        else:
            out.append("%%%02x" % b)   # lower case: valid, not what most encoders do
    return "".join(out)


def main(url, key):
    base, q = url.split("?", 1)
    params = dict(urllib.parse.parse_qsl(q, keep_blank_values=True))
    kind = "SAMLRequest" if "SAMLRequest" in params else "SAMLResponse"
    sig_alg = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    parts = ["%s=%s" % (kind, enc(params[kind]))]
    if "RelayState" in params:
        parts.append("RelayState=%s" % enc(params["RelayState"]))
    parts.append("SigAlg=%s" % enc(sig_alg))
    signed = "&".join(parts)
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signed.encode(),
                         stdout=subprocess.PIPE, check=True).stdout
    print("%s?%s&Signature=%s" % (base, signed, enc(base64.b64encode(sig).decode())))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
