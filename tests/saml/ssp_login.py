#!/usr/bin/python3
"""Sign in at a running SimpleSAMLphp IdP like a browser would and save the
SAMLResponse form value it auto-posts to the SP.

usage: /usr/bin/python3 ssp_login.py IDP_BASE SP_BASE REQUEST_ID|- USER PASSWORD OUT_FILE

With a REQUEST_ID, an SP-initiated AuthnRequest (HTTP-Redirect binding, that
ID) is sent, so the response carries InResponseTo; with "-", IdP-initiated
SSO is used (no InResponseTo)."""
import base64
import datetime
import html
import os
import http.cookiejar
import re
import sys
import urllib.parse
import urllib.request
import zlib


def authn_request(idp_base, sp_base, rid):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    xml = ('<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
           'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="%s" Version="2.0" '
           'IssueInstant="%s" Destination="%s/saml2/idp/SSOService.php" '
           'AssertionConsumerServiceURL="%s/saml/acs" '
           'ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST">'
           '<saml:Issuer>%s/saml/metadata</saml:Issuer></samlp:AuthnRequest>'
           % (rid, now, idp_base, sp_base, sp_base))
    deflated = zlib.compress(xml.encode())[2:-4]  # raw DEFLATE (RFC 1951)
    return base64.b64encode(deflated).decode()


def main(idp_base, sp_base, rid, user, password, out):
    op = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    if rid == "-":
        # SSP_SP_ENTITY_ID: another SP entity (ssogate's per-org metadata URL)
        q = {"spentityid": os.environ.get("SSP_SP_ENTITY_ID", sp_base + "/saml/metadata")}
    else:
        q = {"SAMLRequest": authn_request(idp_base, sp_base, rid)}
    r = op.open(idp_base + "/saml2/idp/SSOService.php?" + urllib.parse.urlencode(q), timeout=30)
    page = r.read().decode()
    m = re.search(r'name="AuthState" value="([^"]+)"', page)
    if not m:
        sys.exit("no login form:\n" + page[:2000])
    form = urllib.parse.urlencode({"username": user, "password": password,
                                   "AuthState": html.unescape(m.group(1))}).encode()
    r = op.open(r.geturl().split("?")[0], form, timeout=30)
    page = r.read().decode()
    m = re.search(r'name="SAMLResponse" value="([^"]+)"', page)
    if not m:
        sys.exit("no SAMLResponse in the IdP's answer:\n" + page[:2000])
    with open(out, "w") as f:
        f.write(html.unescape(m.group(1)))


if __name__ == "__main__":
    if len(sys.argv) != 7:
        sys.exit(__doc__)
    main(*sys.argv[1:])
