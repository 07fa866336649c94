#!/usr/bin/python3
"""Baseline for bench_saml_verify: python3-lasso as the SP processing the same
SAMLResponse N times in one process (LassoServer built once, one LassoLogin
per response, as an ACS would).

usage: /usr/bin/python3 bench_lasso_verify.py FIXTURES_DIR [N] [CASE]
FIXTURES_DIR is an output of tests/saml/make_responses.py."""
import os
import sys
import time

import lasso

SP = os.environ.get("BENCH_SP", "https://sp.example.test/saml/acme/metadata")
ACS = os.environ.get("BENCH_ACS", "https://sp.example.test/saml/acme/acs")
SP_METADATA = """<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="%s">
 <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"
   WantAssertionsSigned="true">
  <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
    Location="%s" index="0" isDefault="true"/>
 </md:SPSSODescriptor>
</md:EntityDescriptor>""" % (SP, ACS)


def main():
    d = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    case = sys.argv[3] if len(sys.argv) > 3 else "valid"
    with open(os.path.join(d, "idp-metadata.xml")) as f:
        idp_md = f.read()
    with open(os.path.join(d, case + ".b64")) as f:
        msg = f.read()
    server = lasso.Server.newFromBuffers(SP_METADATA)
    server.addProviderFromBuffer(lasso.PROVIDER_ROLE_IDP, idp_md)
    # check once that lasso accepts it
    login = lasso.Login(server)
    login.processAuthnResponseMsg(msg)
    assert login.assertion is not None
    t0 = time.perf_counter()
    for _ in range(n):
        login = lasso.Login(server)
        login.processAuthnResponseMsg(msg)
        _ = login.assertion.subject.nameID.content
    dt = time.perf_counter() - t0
    print("python3-lasso: %d responses in %.3f s: %.0f/s (%.1f us each)"
          % (n, dt, n / dt, dt / n * 1e6))


if __name__ == "__main__":
    main()
