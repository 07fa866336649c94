#!/usr/bin/python3
# Verifies ssogate's signed identity header the way an upstream would, with
# Debian's PyJWT (python3-jwt) and python3-cryptography, independently of
# ssogate's C code: the key comes from the JWKS by kid, the algorithm from a
# fixed allow-list (never from the token alone), and aud, iss, exp, nbf, iat
# are required and checked. The kid is recomputed as an RFC 7638 thumbprint.
# Usage: jws_verify.py JWKS_FILE TOKEN_FILE AUDIENCE ISSUER
# Prints {"header": ..., "claims": ...} and exits 0, or prints
# "FAIL <exception class>: <text>" and exits 1.
import base64
import hashlib
import json
import sys

import jwt

REQUIRED = {"OKP": ("crv", "kty", "x"), "EC": ("crv", "kty", "x", "y")}


def thumbprint(jwk):
    members = {k: jwk[k] for k in REQUIRED[jwk["kty"]]}
    canon = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canon).digest()).rstrip(b"=").decode()


def main():
    jwks_path, token_path, audience, issuer = sys.argv[1:5]
    with open(jwks_path) as f:
        jwks = json.load(f)
    with open(token_path) as f:
        token = f.read().strip()
    for jwk in jwks["keys"]:
        if thumbprint(jwk) != jwk["kid"]:
            print("FAIL kid: %s is not the RFC 7638 thumbprint %s" % (jwk["kid"], thumbprint(jwk)))
            return 1
    try:
        header = jwt.get_unverified_header(token)
        keys = {k.key_id: k for k in jwt.PyJWKSet.from_dict(jwks).keys}
        if header.get("kid") not in keys:
            raise jwt.InvalidKeyError("kid %r is not in the JWKS" % header.get("kid"))
        claims = jwt.decode(token, keys[header["kid"]].key, algorithms=["EdDSA", "ES256"],
                            audience=audience, issuer=issuer,
                            options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub"]})
    except jwt.PyJWTError as exc:
        print("FAIL %s: %s" % (type(exc).__name__, exc))
        return 1
    print(json.dumps({"header": header, "claims": claims}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
