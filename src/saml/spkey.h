/* The service provider's private key, loaded once per connection, used only
 * to decrypt EncryptedAssertion elements. Immutable once loaded: shareable
 * by worker threads. */
#ifndef SSOGATE_SAML_SPKEY_H
#define SSOGATE_SAML_SPKEY_H

#include <stddef.h>

#include "util/err.h"

struct spkey;
struct _xmlSecKeysMngr;

/* PEM private key (PKCS#8 or traditional, unencrypted). NULL + e on error. */
struct spkey *spkey_new(const char *pem, size_t len, struct err *e);
struct spkey *spkey_new_from_file(const char *path, struct err *e);
void spkey_free(struct spkey *k);
/* Chain next (the [saml] sp_next_key during a rollover) after k: decryption
 * tries k's keys in order. k owns next from then on. */
void spkey_chain(struct spkey *k, struct spkey *next);

struct _xmlNode;
/* For saml/ only: decrypt the xenc:EncryptedData of a saml:EncryptedAssertion
 * in place (EncryptedKey inside its KeyInfo or beside it; RSA-OAEP key
 * transport, AES-CBC/GCM content) and return the saml:Assertion element that
 * replaced it. -1 with saml_decrypt_failed. */
int spkey_decrypt(const struct spkey *k, struct _xmlNode *encrypted_assertion,
                  struct _xmlNode **assertion, struct err *e);

#endif
