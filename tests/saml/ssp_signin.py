#!/usr/bin/python3
"""Drive a whole browser sign-in through ssogate and a running SimpleSAMLphp,
like a browser without JavaScript: GET START_URL (ssogate's /login...), follow
the redirect to the IdP, post the login form, take the auto-post form's
SAMLResponse and RelayState and post them to the ACS it names.

usage: /usr/bin/python3 ssp_signin.py START_URL USER PASSWORD [OUT_FILE|--idp-logout|--sp-logout]

Prints one JSON object: {"acs_status", "location", "cookie" (the Set-Cookie
value), "saml_response" (only in OUT_FILE when given), "relay_state",
"acs_url"}. With OUT_FILE the SAMLResponse and RelayState are saved
(OUT_FILE, OUT_FILE.relay) and NOT posted ("acs_status": 0), so a test can
post them itself (twice, to another org...). With --idp-logout, after the
sign-in the IdP is asked to log out (IdP-initiated SLO, its own session
cookie): it sends a LogoutRequest to ssogate's SLO endpoint, which must
answer with a LogoutResponse; "slo" in the output lists the hops. With
--sp-logout, after the sign-in the person signs out at ssogate (POST /logout
with the page's form token), is sent to the IdP with our LogoutRequest, and
the IdP's redirect back is NOT followed: "slo_response_url" is the URL of
ssogate's SLO endpoint carrying the IdP's signed LogoutResponse."""
import html
import http.cookiejar
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def idp_logout(op, idp_base):
    """Follow the redirect chain by hand, recording each hop's status."""
    hops = []
    url = idp_base + "/saml2/idp/SingleLogoutService.php?ReturnTo=" + \
        urllib.parse.quote(idp_base + "/saml2/idp/metadata.php", safe="")
    nr = urllib.request.build_opener(NoRedirect, urllib.request.HTTPCookieProcessor(op.jar))
    for _ in range(10):
        try:
            resp = nr.open(url, timeout=30)
            status, loc = resp.status, None
        except urllib.error.HTTPError as e:
            status, loc = e.code, e.headers.get("Location")
        hops.append({"full": url, "url": url.split("?")[0], "status": status,
                     "kind": "request" if "SAMLRequest=" in url else
                             "response" if "SAMLResponse=" in url else ""})
        if not loc:
            break
        url = urllib.parse.urljoin(url, loc)
    return hops


def sp_logout(op, start, cookie):
    """POST /logout at ssogate, then our LogoutRequest at the IdP; return the
    IdP's redirect back to ssogate (not followed)."""
    u = urllib.parse.urlsplit(start)
    base = "%s://%s" % (u.scheme, u.netloc)
    nr = urllib.request.build_opener(NoRedirect, urllib.request.HTTPCookieProcessor(op.jar))
    c = cookie.split(";")[0]
    page = urllib.request.urlopen(urllib.request.Request(base + "/", headers={"Cookie": c}), timeout=30).read().decode()
    tok = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
    req = urllib.request.Request(base + "/logout", urllib.parse.urlencode({"csrf": tok}).encode(),
                                 headers={"Cookie": c, "Origin": base})
    try:
        nr.open(req, timeout=30)
        sys.exit("POST /logout did not redirect")
    except urllib.error.HTTPError as e:
        url = e.headers.get("Location")
    for _ in range(5):  # at the IdP, until it sends the browser back to us
        try:
            resp = nr.open(url, timeout=30)
            sys.exit("the IdP did not redirect back: %d" % resp.status)
        except urllib.error.HTTPError as e:
            url = urllib.parse.urljoin(url, e.headers.get("Location"))
        if url.startswith(base):
            return url
    sys.exit("no LogoutResponse came back")


def main(start, user, password, out=None):
    logout = out == "--idp-logout"
    splogout = out == "--sp-logout"
    if logout or splogout:
        out = None
    jar = http.cookiejar.CookieJar()
    op = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    op.jar = jar
    r = op.open(start, timeout=30)
    page = r.read().decode()
    m = re.search(r'name="AuthState" value="([^"]+)"', page)
    if not m:
        sys.exit("no login form at %s:\n%s" % (r.geturl(), page[:2000]))
    form = urllib.parse.urlencode({"username": user, "password": password,
                                   "AuthState": html.unescape(m.group(1))}).encode()
    r = op.open(r.geturl().split("?")[0], form, timeout=30)
    page = r.read().decode()
    m = re.search(r'name="SAMLResponse" value="([^"]+)"', page)
    a = re.search(r'<form[^>]+action="([^"]+)"', page)
    rs = re.search(r'name="RelayState" value="([^"]*)"', page)
    if not m or not a:
        sys.exit("no SAMLResponse in the IdP's answer:\n" + page[:2000])
    saml = html.unescape(m.group(1))
    acs = html.unescape(a.group(1))
    relay = html.unescape(rs.group(1)) if rs else None
    result = {"acs_url": acs, "relay_state": relay, "acs_status": 0}
    if out:
        with open(out, "w") as f:
            f.write(saml)
        with open(out + ".relay", "w") as f:
            f.write(relay or "")
        print(json.dumps(result))
        return
    fields = {"SAMLResponse": saml}
    if relay is not None:
        fields["RelayState"] = relay
    # The ACS post is cross-site in a browser: send no cookie with it.
    post = urllib.request.build_opener(NoRedirect)
    try:
        resp = post.open(urllib.request.Request(acs, urllib.parse.urlencode(fields).encode()), timeout=30)
        status, headers = resp.status, resp.headers
    except urllib.error.HTTPError as e:
        status, headers = e.code, e.headers
    result.update(acs_status=status, location=headers.get("Location"),
                  cookie=headers.get("Set-Cookie"))
    if logout:
        u = urllib.parse.urlsplit(r.geturl())
        result["slo"] = idp_logout(op, "%s://%s" % (u.scheme, u.netloc))
    if splogout:
        result["slo_response_url"] = sp_logout(op, start, result["cookie"])
    print(json.dumps(result))


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    main(*sys.argv[1:])
