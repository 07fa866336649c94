#!/usr/bin/python3
"""Make signed SAML responses for the validator's tests, independently of
ssogate: keys, RSA/ECDSA signatures and RSA-OAEP/AES by the openssl CLI,
XML and exclusive c14n by lxml, the XML-DSig and XML-Enc structure written
here, and the attacks as lxml mutations. One valid response is also made by
python3-lasso in the IdP role.

usage: /usr/bin/python3 make_responses.py OUTDIR

Writes OUTDIR/idp-metadata.xml, OUTDIR/sp.key (SP decryption key),
OUTDIR/wrong-sp.key, and OUTDIR/<case>.b64 (the SAMLResponse form value).
Nothing here is committed: keys are made fresh on every run.

usage: /usr/bin/python3 make_responses.py --http OUTDIR BASE_URL ORG N
    responses for a running ssogate at BASE_URL (see http_cases).
"""
import base64
import copy
import datetime
import hashlib
import hmac
import os
import subprocess
import sys

from lxml import etree

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
XENC = "http://www.w3.org/2001/04/xmlenc#"
MD = "urn:oasis:names:tc:SAML:2.0:metadata"
NSMAP = {"samlp": SAMLP, "saml": SAML}

IDP = "https://idp.example.test/metadata"
SP = "https://sp.example.test/saml/acme/metadata"
ACS = "https://sp.example.test/saml/acme/acs"
REQ = "_req-4f1c2a"
NOW = datetime.datetime(2030, 1, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)
NAMEID_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
NAMEID_PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"

ALG = {
    "rsa-sha256": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "rsa-sha1": "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
    "ecdsa-sha256": "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "hmac-sha256": "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256",
}
DIGEST = {
    "sha256": ("http://www.w3.org/2001/04/xmlenc#sha256", hashlib.sha256),
    "sha1": ("http://www.w3.org/2000/09/xmldsig#sha1", hashlib.sha1),
}
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
XSLT = "http://www.w3.org/TR/1999/REC-xslt-19991116"


def ts(delta=0):
    t = NOW + datetime.timedelta(seconds=delta)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def q(ns, name):
    return "{%s}%s" % (ns, name)


# ---- keys -------------------------------------------------------------------

class Key:
    def __init__(self, outdir, name, kind="rsa", days=3650):
        keyf = os.path.join(outdir, name + ".key")
        crtf = os.path.join(outdir, name + ".crt")
        newkey = ["-newkey", "rsa:2048"] if kind == "rsa" else \
                 ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        subprocess.run(["openssl", "req", "-x509", "-nodes", *newkey, "-keyout", keyf,
                        "-out", crtf, "-days", str(days), "-subj", "/CN=" + name],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(crtf, "rb") as f:
            pem = f.read().decode()
        self.cert_b64 = "".join(l for l in pem.splitlines() if not l.startswith("-----"))
        self.keyfile = keyf
        self.certfile = crtf
        self.kind = kind

    def sign(self, data, digest="sha256"):
        """openssl dgst signature; ECDSA comes back DER, XML-DSig wants r||s."""
        sig = openssl(["dgst", "-" + digest, "-sign", self.keyfile], data)
        return der_ecdsa_to_raw(sig, 32) if self.kind == "ec" else sig


def openssl(args, data):
    return subprocess.run(["openssl", *args], input=data, check=True,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout


def der_ecdsa_to_raw(der, size):
    """ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } (short form
    lengths suffice for P-256)."""
    assert der[0] == 0x30
    i = 2
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        v = der[i + 2:i + 2 + n].lstrip(b"\0")
        out += v.rjust(size, b"\0")
        i += 2 + n
    return out


# ---- documents --------------------------------------------------------------

def el(parent, ns, name, text=None, **attrs):
    e = etree.SubElement(parent, q(ns, name), nsmap=None)
    for k, v in attrs.items():
        if v is not None:
            e.set(k, v)
    if text is not None:
        e.text = text
    return e


def make_assertion(aid="_a-7d1e", email="alice@acme.test", nameid=None,
                   nameid_format=NAMEID_EMAIL, irt=REQ, recipient=ACS, audience=SP,
                   issuer=IDP, attrs=None, not_before=-30, not_after=300,
                   scd_not_after=300, session_index="_s-91b3"):
    a = etree.Element(q(SAML, "Assertion"), nsmap={"saml": SAML})
    a.set("ID", aid)
    a.set("Version", "2.0")
    a.set("IssueInstant", ts())
    el(a, SAML, "Issuer", issuer)
    subj = el(a, SAML, "Subject")
    el(subj, SAML, "NameID", nameid if nameid is not None else email, Format=nameid_format)
    sc = el(subj, SAML, "SubjectConfirmation", Method="urn:oasis:names:tc:SAML:2.0:cm:bearer")
    el(sc, SAML, "SubjectConfirmationData", InResponseTo=irt, Recipient=recipient,
       NotOnOrAfter=ts(scd_not_after))
    cond = el(a, SAML, "Conditions", NotBefore=ts(not_before),
              NotOnOrAfter=ts(not_after) if not_after is not None else None)
    ar = el(cond, SAML, "AudienceRestriction")
    el(ar, SAML, "Audience", audience)
    an = el(a, SAML, "AuthnStatement", AuthnInstant=ts(), SessionIndex=session_index)
    ac = el(an, SAML, "AuthnContext")
    el(ac, SAML, "AuthnContextClassRef",
       "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport")
    if attrs is None:
        attrs = {"mail": [email], "groups": ["staff", "admins"], "displayName": ["Alice Example"]}
    if attrs:
        st = el(a, SAML, "AttributeStatement")
        for name, values in attrs.items():
            at = el(st, SAML, "Attribute", Name=name,
                    NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic")
            for v in values:
                el(at, SAML, "AttributeValue", v)
    return a


def make_response(assertion, rid="_r-31c8", irt=REQ, destination=ACS, issuer=IDP,
                  status="urn:oasis:names:tc:SAML:2.0:status:Success"):
    r = etree.Element(q(SAMLP, "Response"), nsmap=NSMAP)
    r.set("ID", rid)
    r.set("Version", "2.0")
    r.set("IssueInstant", ts())
    if destination:
        r.set("Destination", destination)
    if irt:
        r.set("InResponseTo", irt)
    if issuer:
        el(r, SAML, "Issuer", issuer)
    st = el(r, SAMLP, "Status")
    el(st, SAMLP, "StatusCode", Value=status)
    if assertion is not None:
        r.append(assertion)
    return r


# ---- XML-DSig ---------------------------------------------------------------

def c14n(node):
    return etree.tostring(node, method="c14n", exclusive=True, with_comments=False)


def sign(node, key, sig_alg=None, digest="sha256", transforms=(ENVELOPED, EXC_C14N),
         ref_uri=None, keyinfo=True, hmac_key=None, extra_transform=None, keyinfo_cert=None):
    """Enveloped signature over node, inserted after its Issuer."""
    if sig_alg is None:
        sig_alg = "ecdsa-sha256" if key is not None and key.kind == "ec" else "rsa-sha256"
    ds = {"ds": DS}
    sig = etree.Element(q(DS, "Signature"), nsmap=ds)
    si = etree.SubElement(sig, q(DS, "SignedInfo"))
    etree.SubElement(si, q(DS, "CanonicalizationMethod")).set("Algorithm", EXC_C14N)
    etree.SubElement(si, q(DS, "SignatureMethod")).set("Algorithm", ALG[sig_alg])
    ref = etree.SubElement(si, q(DS, "Reference"))
    ref.set("URI", ref_uri if ref_uri is not None else "#" + node.get("ID"))
    tr = etree.SubElement(ref, q(DS, "Transforms"))
    for t in transforms:
        etree.SubElement(tr, q(DS, "Transform")).set("Algorithm", t)
    if extra_transform is not None:
        tr.append(extra_transform)
    etree.SubElement(ref, q(DS, "DigestMethod")).set("Algorithm", DIGEST[digest][0])
    dv = etree.SubElement(ref, q(DS, "DigestValue"))
    sv = etree.SubElement(sig, q(DS, "SignatureValue"))
    if keyinfo and key is not None:
        ki = etree.SubElement(sig, q(DS, "KeyInfo"))
        xd = etree.SubElement(ki, q(DS, "X509Data"))
        etree.SubElement(xd, q(DS, "X509Certificate")).text = keyinfo_cert or key.cert_b64
    # digest of the node without the signature (the enveloped transform)
    dv.text = base64.b64encode(DIGEST[digest][1](c14n(node)).digest()).decode()
    issuer = node.find(q(SAML, "Issuer"))
    pos = list(node).index(issuer) + 1 if issuer is not None else 0
    node.insert(pos, sig)
    data = c14n(si)
    if sig_alg.startswith("hmac"):
        value = hmac.new(hmac_key, data, hashlib.sha256).digest()
    else:
        value = key.sign(data, "sha1" if sig_alg == "rsa-sha1" else "sha256")
    sv.text = base64.b64encode(value).decode()
    return sig


# ---- XML-Enc ----------------------------------------------------------------

def encrypt_assertion(assertion, sp_key, sibling_key=False):
    """EncryptedAssertion: AES-256-CBC content, RSA-OAEP (MGF1-SHA1) key."""
    plain = etree.tostring(assertion)
    aes = os.urandom(32)
    iv = os.urandom(16)
    # PKCS#7 padding (openssl enc's default) is valid XML-Enc padding
    ct = iv + openssl(["enc", "-aes-256-cbc", "-K", aes.hex(), "-iv", iv.hex()], plain)
    # OAEP with SHA-1 and MGF1-SHA-1: the rsa-oaep-mgf1p algorithm
    ek_value = openssl(["pkeyutl", "-encrypt", "-certin", "-inkey", sp_key.certfile,
                        "-pkeyopt", "rsa_padding_mode:oaep"], aes)
    ea = etree.Element(q(SAML, "EncryptedAssertion"), nsmap={"saml": SAML})
    ed = etree.SubElement(ea, q(XENC, "EncryptedData"), nsmap={"xenc": XENC})
    ed.set("Type", "http://www.w3.org/2001/04/xmlenc#Element")
    etree.SubElement(ed, q(XENC, "EncryptionMethod")).set(
        "Algorithm", "http://www.w3.org/2001/04/xmlenc#aes256-cbc")
    ek = etree.Element(q(XENC, "EncryptedKey"), nsmap={"xenc": XENC})
    etree.SubElement(ek, q(XENC, "EncryptionMethod")).set(
        "Algorithm", "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p")
    cd = etree.SubElement(ek, q(XENC, "CipherData"))
    etree.SubElement(cd, q(XENC, "CipherValue")).text = base64.b64encode(ek_value).decode()
    if sibling_key:
        ea.append(ek)
    else:
        ki = etree.SubElement(ed, q(DS, "KeyInfo"), nsmap={"ds": DS})
        ki.append(ek)
    cd = etree.SubElement(ed, q(XENC, "CipherData"))
    etree.SubElement(cd, q(XENC, "CipherValue")).text = base64.b64encode(ct).decode()
    return ea


# ---- output -----------------------------------------------------------------

def write(outdir, name, doc, wrap=True, raw=None):
    xml = raw if raw is not None else etree.tostring(doc, xml_declaration=False, encoding="UTF-8")
    b64 = base64.b64encode(xml).decode()
    if wrap:  # as browsers post it from IdPs that wrap lines: CR/LF every 76
        b64 = "\r\n".join(b64[i:i + 76] for i in range(0, len(b64), 76))
    with open(os.path.join(outdir, name + ".b64"), "w") as f:
        f.write(b64)
    with open(os.path.join(outdir, name + ".xml"), "wb") as f:
        f.write(xml)


def metadata(keys):
    ed = etree.Element(q(MD, "EntityDescriptor"), nsmap={"md": MD, "ds": DS})
    ed.set("entityID", IDP)
    idp = etree.SubElement(ed, q(MD, "IDPSSODescriptor"))
    idp.set("protocolSupportEnumeration", SAMLP)
    for k, use in keys:
        kd = etree.SubElement(idp, q(MD, "KeyDescriptor"))
        if use:
            kd.set("use", use)
        ki = etree.SubElement(kd, q(DS, "KeyInfo"))
        xd = etree.SubElement(ki, q(DS, "X509Data"))
        etree.SubElement(xd, q(DS, "X509Certificate")).text = k.cert_b64
    for tag, b in (("SingleLogoutService", "HTTP-Redirect"), ("SingleSignOnService", "HTTP-Redirect"),
                   ("SingleSignOnService", "HTTP-POST")):
        e = etree.SubElement(idp, q(MD, tag))
        e.set("Binding", "urn:oasis:names:tc:SAML:2.0:bindings:" + b)
        e.set("Location", "https://idp.example.test/" + tag.lower() + "/" + b.lower())
    return etree.tostring(ed, xml_declaration=True, encoding="UTF-8")


# ---- the cases --------------------------------------------------------------

def signed_assertion(key, **kw):
    a = make_assertion(**{k: v for k, v in kw.items() if k in MA_ARGS})
    sign(a, key)
    return a


MA_ARGS = {"aid", "email", "nameid", "nameid_format", "irt", "recipient", "audience", "issuer",
           "attrs", "not_before", "not_after", "scd_not_after", "session_index"}


def std(key, resp_kw=None, **kw):
    """The usual shape: Response (unsigned) > Assertion (signed)."""
    return make_response(signed_assertion(key, **kw), **(resp_kw or {}))


def xsw_cases(k):
    """Signature wrapping, after Somorovsky et al. 2012 (the XSW1-8 of SAML
    Raider): the signed content stays somewhere in the document while an
    evil, unsigned copy sits where a careless SP reads."""
    out = {}
    # XSW1: Response signature; the signed Response moves inside the
    # Signature, the root becomes an evil Response with a new ID.
    r = make_response(make_assertion(), rid="_r-orig")
    sig = sign(r, k)
    evil = make_response(make_assertion(email="mallory@acme.test", aid="_a-evil"), rid="_r-evil")
    orig = copy.deepcopy(r)
    orig.remove(orig.find(q(DS, "Signature")))
    s2 = copy.deepcopy(sig)
    s2.append(orig)
    evil.insert(1, s2)
    out["xsw1"] = evil
    # XSW2: as XSW1 but the original Response is placed before the signature
    # (a detached signature).
    evil = make_response(make_assertion(email="mallory@acme.test", aid="_a-evil"), rid="_r-evil")
    evil.insert(1, copy.deepcopy(orig))
    evil.insert(2, copy.deepcopy(sig))
    out["xsw2"] = evil
    # XSW3: an evil assertion with a new ID before the signed one.
    r = std(k)
    evil_a = make_assertion(email="mallory@acme.test", aid="_a-evil")
    r.insert(list(r).index(r.find(q(SAML, "Assertion"))), evil_a)
    out["xsw3"] = r
    # XSW4: the evil assertion wraps the signed one.
    r = std(k)
    signed = r.find(q(SAML, "Assertion"))
    evil_a = make_assertion(email="mallory@acme.test", aid="_a-evil")
    r.replace(signed, evil_a)
    evil_a.append(signed)
    out["xsw4"] = r
    # XSW5: the signed assertion's content is changed (its signature kept,
    # still pointing at the original ID), an untouched copy without
    # signature is appended to the Response.
    r = std(k)
    signed = r.find(q(SAML, "Assertion"))
    orig_a = copy.deepcopy(signed)
    orig_a.remove(orig_a.find(q(DS, "Signature")))
    signed.set("ID", "_a-evil")
    signed.find(".//" + q(SAML, "NameID")).text = "mallory@acme.test"
    r.append(orig_a)
    out["xsw5"] = r
    # XSW6: as XSW5, the untouched copy inside the evil assertion's Signature.
    r = std(k)
    signed = r.find(q(SAML, "Assertion"))
    orig_a = copy.deepcopy(signed)
    orig_a.remove(orig_a.find(q(DS, "Signature")))
    signed.set("ID", "_a-evil")
    signed.find(".//" + q(SAML, "NameID")).text = "mallory@acme.test"
    signed.find(q(DS, "Signature")).append(orig_a)
    out["xsw6"] = r
    # XSW7: the signed assertion goes into an Extensions element, an evil
    # assertion (unsigned) takes its place.
    r = std(k)
    signed = r.find(q(SAML, "Assertion"))
    r.remove(signed)
    ext = etree.Element(q(SAMLP, "Extensions"))
    ext.append(signed)
    r.insert(1, ext)
    r.append(make_assertion(email="mallory@acme.test", aid="_a-evil"))
    out["xsw7"] = r
    # XSW8: the evil assertion carries the signature; the original (without
    # signature) sits in a ds:Object inside that signature.
    r = std(k)
    signed = r.find(q(SAML, "Assertion"))
    orig_a = copy.deepcopy(signed)
    orig_a.remove(orig_a.find(q(DS, "Signature")))
    signed.set("ID", "_a-evil")
    signed.find(".//" + q(SAML, "NameID")).text = "mallory@acme.test"
    obj = etree.SubElement(signed.find(q(DS, "Signature")), q(DS, "Object"))
    obj.append(orig_a)
    out["xsw8"] = r
    return out


def with_comment(doc, path, before, after):
    """Split the text of the first element at path with an empty comment:
    the signature (c14n without comments) still verifies."""
    node = doc.find(path)
    node.text = before
    c = etree.Comment("")
    c.tail = after
    node.append(c)
    return doc


DOCTYPE_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE samlp:Response [
 <!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
 <!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;"><!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">
 <!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;"><!ENTITY h "&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;">
]>
"""


def main(outdir):
    os.makedirs(outdir, exist_ok=True)
    old = Key(outdir, "idp-old")
    k = Key(outdir, "idp")
    kec = Key(outdir, "idp-ec", "ec")
    evil = Key(outdir, "attacker")
    sp = Key(outdir, "sp")
    wrong_sp = Key(outdir, "wrong-sp")
    next_sp = Key(outdir, "sp-next")   # the SP's next key during a rollover
    os.rename(sp.keyfile, os.path.join(outdir, "sp.key"))
    os.rename(next_sp.keyfile, os.path.join(outdir, "sp-next.key"))
    os.rename(wrong_sp.keyfile, os.path.join(outdir, "wrong-sp.key"))
    # old certificate first (rollover), the attacker's listed for encryption
    # only: it must never be a signing key.
    with open(os.path.join(outdir, "idp-metadata.xml"), "wb") as f:
        f.write(metadata([(old, "signing"), (k, None), (kec, "signing"), (evil, "encryption")]))

    with open(os.path.join(outdir, "idp-metadata-old-only.xml"), "wb") as f:
        f.write(metadata([(old, "signing")]))
    w = lambda name, doc, **kw: write(outdir, name, doc, **kw)
    w("valid", std(k))
    w("valid_unwrapped", std(k), wrap=False)
    # Response signed only (the assertion inside is covered by it)
    r = make_response(make_assertion())
    sign(r, k)
    w("valid_response_signed", r)
    r = make_response(signed_assertion(k))
    sign(r, k)
    w("valid_both_signed", r)
    w("valid_ecdsa", make_response(signed_assertion(kec)))
    w("unsolicited", std(k, resp_kw={"irt": None}, irt=None))
    w("persistent_nameid_mail_attr", std(k, nameid="u-12345", nameid_format=NAMEID_PERSISTENT))
    w("custom_email_attr", std(k, nameid="u-12345", nameid_format=NAMEID_PERSISTENT,
                               attrs={"workEmail": ["Carol@Acme.Test"], "mail": ["x@other.test"]}))
    w("idn_email", std(k, email=" Bob@Bücher.Example "))
    w("two_at", std(k, email="alice@evil.test@acme.test"))
    w("no_email", std(k, nameid="u-1", nameid_format=NAMEID_PERSISTENT, attrs={"groups": ["x"]}))
    # signature problems
    r = std(k)
    a = r.find(q(SAML, "Assertion"))
    a.remove(a.find(q(DS, "Signature")))
    w("signature_stripped", r)
    w("other_key_in_keyinfo", make_response(signed_assertion(evil)))
    a = make_assertion()
    sign(a, evil, keyinfo_cert=k.cert_b64)
    w("other_key_idp_cert_in_keyinfo", make_response(a))
    for name, doc in xsw_cases(k).items():
        w(name, doc)
    r = std(k)
    r.insert(1, make_assertion(email="mallory@acme.test", aid="_a-extra"))
    w("extra_assertion_before", r)
    r = std(k)
    r.append(make_assertion(email="mallory@acme.test", aid="_a-extra"))
    w("extra_assertion_after", r)
    # comment truncation (CVE-2017-11427 and friends): signed as
    # alice@acme.test.evil.test, a comment splits the text afterwards.
    doc = std(k, email="alice@acme.test.evil.test")
    w("comment_nameid", with_comment(doc, ".//" + q(SAML, "NameID"), "alice@acme.test", ".evil.test"))
    doc = std(k, nameid="u-1", nameid_format=NAMEID_PERSISTENT,
              attrs={"mail": ["alice@acme.test.evil.test"]})
    w("comment_attribute", with_comment(doc, ".//" + q(SAML, "AttributeValue"), "alice@acme.test",
                                        ".evil.test"))
    body = etree.tostring(std(k))
    w("doctype_billion_laughs", None,
      raw=DOCTYPE_LAUGHS + body.replace(b"alice@acme.test</saml:NameID>", b"&h;</saml:NameID>", 1))
    w("doctype_external_entity", None, raw=b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM '
      b'"file:///etc/passwd">]>\n' + body.replace(b"alice@acme.test</saml:NameID>",
                                                 b"&x;</saml:NameID>", 1))
    xslt = etree.Element(q(DS, "Transform"))
    xslt.set("Algorithm", XSLT)
    ss = etree.SubElement(xslt, "{http://www.w3.org/1999/XSL/Transform}stylesheet")
    ss.set("version", "1.0")
    a = make_assertion()
    sign(a, k, transforms=(ENVELOPED,), extra_transform=xslt)
    w("xslt_transform", make_response(a))
    a = make_assertion()
    sign(a, k, transforms=(ENVELOPED, EXC_C14N + "WithComments"))
    w("c14n_with_comments_transform", make_response(a))
    a = make_assertion()
    sign(a, k, transforms=(ENVELOPED, "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"))
    w("inclusive_c14n_transform", make_response(a))
    a = make_assertion()
    sign(a, k, sig_alg="rsa-sha1", digest="sha1")
    w("rsa_sha1", make_response(a))
    a = make_assertion()
    sign(a, None, sig_alg="hmac-sha256", hmac_key=k.cert_b64.encode(), keyinfo=False)
    w("hmac", make_response(a))
    r = std(k)
    r.find(".//" + q(SAML, "NameID")).text = "mallory@acme.test"
    w("digest_mismatch", r)
    w("duplicate_ids", std(k, aid="_same", resp_kw={"rid": "_same"}))
    a = make_assertion()
    sign(a, k, ref_uri="")
    w("reference_whole_document", make_response(a))
    # content checks, each properly signed
    w("wrong_audience", std(k, audience="https://other-sp.test/metadata"))
    w("wrong_audience_and_recipient", std(k, audience="https://other-sp.test/metadata",
                                          recipient="https://evil.test/acs"))
    # a Response signature whose Reference names the assertion, not the Response
    r = make_response(make_assertion())
    sign(r, k, ref_uri="#_a-7d1e")
    w("response_signature_names_assertion", r)
    w("wrong_destination", std(k, resp_kw={"destination": "https://evil.test/acs"}))
    r = make_response(make_assertion(), destination=None)
    sign(r, k)
    w("signed_response_without_destination", r)
    w("wrong_recipient", std(k, recipient="https://evil.test/acs"))
    w("wrong_issuer", std(k, issuer="https://evil-idp.test/metadata"))
    w("conditions_expire_first", std(k, not_after=100, scd_not_after=300))
    w("confirmation_expires_first", std(k, not_after=300, scd_not_after=100))
    w("no_conditions_expiry", std(k, not_after=None))
    r = std(k)
    a = r.find(q(SAML, "Assertion"))
    a.find(".//" + q(SAML, "SubjectConfirmation")).set(
        "Method", "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key")
    a.remove(a.find(q(DS, "Signature")))
    sign(a, k)
    w("holder_of_key_only", r)
    r = std(k)
    a = r.find(q(SAML, "Assertion"))
    etree.SubElement(a.find(".//" + q(SAML, "AttributeValue")), q(SAML, "B")).text = "x"
    a.remove(a.find(q(DS, "Signature")))
    sign(a, k)
    w("element_in_attribute", r)
    w("wrong_response_issuer", std(k, resp_kw={"issuer": "https://evil-idp.test/metadata"}))
    w("irt_mismatch_between", std(k, irt="_other-request"))
    w("status_failed", make_response(None, status="urn:oasis:names:tc:SAML:2.0:status:Requester"))
    w("outside_domain", std(k, email="alice@other.test"))
    w("subdomain_suffix", std(k, email="alice@acme.test.evil.test"))
    r = std(k)
    nid = r.find(".//" + q(SAML, "NameID"))
    etree.SubElement(nid, q(SAML, "B")).text = "x"
    # re-sign so only the value shape is wrong
    a = r.find(q(SAML, "Assertion"))
    a.remove(a.find(q(DS, "Signature")))
    sign(a, k)
    w("element_in_nameid", r)
    # encryption
    w("encrypted", make_response(encrypt_assertion(signed_assertion(k), sp)))
    w("encrypted_sibling_key", make_response(encrypt_assertion(signed_assertion(k), sp,
                                                               sibling_key=True)))
    # anyone can encrypt to the SP: an unsigned evil assertion wrapping a
    # genuine signed one, encrypted
    evil_a = make_assertion(email="mallory@acme.test", aid="_a-evil")
    evil_a.append(signed_assertion(k))
    w("encrypted_wrapping", make_response(encrypt_assertion(evil_a, sp)))
    # a Response signed by a key outside the metadata, its assertion encrypted:
    # refused before any decryption work
    r = make_response(encrypt_assertion(signed_assertion(k), sp))
    sign(r, evil)
    w("encrypted_bad_response_signature", r)
    ea = encrypt_assertion(signed_assertion(k), sp)
    cd = ea.find(q(XENC, "EncryptedData")).find(q(XENC, "CipherData"))
    cd.remove(cd[0])
    etree.SubElement(cd, q(XENC, "CipherReference")).set("URI", "file:///etc/passwd")
    w("encrypted_cipher_reference", make_response(ea))
    # the EncryptedKey names its key by KeyName and a RetrievalMethod to a URL:
    # neither is needed nor followed
    ea = encrypt_assertion(signed_assertion(k), sp)
    ek = ea.find(".//" + q(XENC, "EncryptedKey"))
    eki = etree.Element(q(DS, "KeyInfo"))
    etree.SubElement(eki, q(DS, "KeyName")).text = "sp"
    etree.SubElement(eki, q(DS, "RetrievalMethod")).set("URI", "http://127.0.0.1:9/key")
    ek.insert(1, eki)
    w("encrypted_key_keyinfo", make_response(ea))
    w("encrypted_wrong_key", make_response(encrypt_assertion(signed_assertion(k), wrong_sp)))
    # an IdP that already took the next SP certificate from our metadata
    w("encrypted_next_key", make_response(encrypt_assertion(signed_assertion(k), next_sp)))
    lasso_response(outdir, k)


SP_METADATA = """<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="%s" entityID="%s">
 <md:SPSSODescriptor protocolSupportEnumeration="%s" WantAssertionsSigned="true">
  <md:NameIDFormat>%s</md:NameIDFormat>
  <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
    Location="%s" index="0" isDefault="true"/>
 </md:SPSSODescriptor>
</md:EntityDescriptor>""" % (MD, SP, SAMLP, NAMEID_EMAIL, ACS)


def lasso_response(outdir, k):
    """An IdP-initiated response made by python3-lasso as the IdP (its own
    signing code, RSA-SHA256, Response and Assertion signed)."""
    import lasso
    with open(os.path.join(outdir, "idp-metadata.xml")) as f:
        idp_md = f.read()
    with open(k.keyfile) as f:
        key_pem = f.read()
    with open(k.certfile) as f:
        cert_pem = f.read()
    server = lasso.Server.newFromBuffers(idp_md, key_pem, None, cert_pem)
    server.signatureMethod = lasso.SIGNATURE_METHOD_RSA_SHA256
    server.addProviderFromBuffer(lasso.PROVIDER_ROLE_SP, SP_METADATA)
    login = lasso.Login(server)
    login.initIdpInitiatedAuthnRequest(SP)
    login.request.nameIdPolicy.format = NAMEID_EMAIL
    login.request.nameIdPolicy.allowCreate = True
    login.request.protocolBinding = lasso.SAML2_METADATA_BINDING_POST
    login.processAuthnRequestMsg(None)
    login.validateRequestMsg(True, True)
    login.buildAssertion(lasso.SAML2_AUTHN_CONTEXT_PASSWORD, ts(), None, ts(-30), ts(300))
    login.assertion.subject.nameID.content = "alice@acme.test"
    login.assertion.subject.nameID.format = NAMEID_EMAIL
    login.buildAuthnResponseMsg()
    with open(os.path.join(outdir, "lasso_idp_initiated.b64"), "w") as f:
        f.write(login.msgBody)


def http_cases(outdir, base, org, n):
    """Responses for a running ssogate (integration tests, bench/acs): the
    real clock, ACS and audience of BASE/saml/ORG, request IDs _req-http-I
    (the caller stores them as pending requests), one signing key."""
    global NOW
    NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    sp = "%s/saml/%s/metadata" % (base, org)
    acs = "%s/saml/%s/acs" % (base, org)
    os.makedirs(outdir, exist_ok=True)
    k = Key(outdir, "idp")
    with open(os.path.join(outdir, "idp-metadata.xml"), "wb") as f:
        f.write(metadata([(k, "signing")]))

    def resp(name, irt, email="alice@acme.test", destination=acs, aid=None, **kw):
        a = make_assertion(aid=aid or "_a-" + name, email=email, irt=irt, recipient=acs, audience=sp,
                           **kw)
        sign(a, k)
        r = make_response(a, rid="_r-" + name, irt=irt, destination=destination)
        write(outdir, name, r, wrap=False)

    for i in range(n):
        resp("valid-%d" % i, "_req-http-%d" % i, aid="_a-http-%d" % i, session_index="_s-http-%d" % i)
    resp("wrong_destination", "_req-wd", destination=base + "/saml/other/acs")
    resp("outside_domain", "_req-od", email="alice@other.test")
    resp("evil_suffix", "_req-ev", email="alice@acme.test.evil.test")
    resp("unsolicited", None)
    resp("bob", "_req-bob", email="bob@acme.test")
    # IdP key rollover seen through metadata refresh: the IdP publishes a
    # second key, then signs with it
    # a signing certificate that expires tomorrow (expiry warnings)
    with open(os.path.join(outdir, "idp-metadata-short.xml"), "wb") as f:
        f.write(metadata([(k, "signing"), (Key(outdir, "idp-short", days=1), "signing")]))
    k2 = Key(outdir, "idp-rolled")
    with open(os.path.join(outdir, "idp-metadata-rolled.xml"), "wb") as f:
        f.write(metadata([(k, "signing"), (k2, "signing")]))
    a = make_assertion(aid="_a-rolled", email="alice@acme.test", irt="_req-rolled", recipient=acs, audience=sp)
    sign(a, k2)
    write(outdir, "valid-rolled", make_response(a, rid="_r-rolled", irt="_req-rolled", destination=acs),
          wrap=False)


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--http":
        # make_responses.py --http OUTDIR BASE_URL ORG N
        http_cases(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
        sys.exit(0)
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
