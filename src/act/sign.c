/* sign.c -- Ed25519 signatures over actions (OpenSSL libcrypto, see
 * act.h). The engine holds the private key (mend_signer); the executor
 * holds only public keys, by key id, so a compromised executor host cannot
 * forge actions and keys can rotate (add the new kid to the executor, then
 * switch the engine). The signed bytes are the message's fields as
 * netstrings, so no value can be shifted into another field. */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mend/act.h"

size_t mend_sign_canon(const char *const *fields, const char *const *values, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < 2 * n; i++) {
        const char *s = i % 2 ? values[i / 2] : fields[i / 2];
        size_t l = strlen(s);
        char hdr[24];
        int h = snprintf(hdr, sizeof hdr, "%zu:", l);
        const char *parts[3] = {hdr, s, ","};
        size_t lens[3] = {(size_t)h, l, 1};
        for (int k = 0; k < 3; k++) {
            if (o + lens[k] <= cap)
                memcpy(out + o, parts[k], lens[k]);
            o += lens[k];
        }
    }
    return o;
}

struct mend_signer {
    EVP_PKEY *key;
    char kid[64];
};

static EVP_PKEY *read_key(const char *path, int private_key, int *rc)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        *rc = MEND_EIO;
        return NULL;
    }
    EVP_PKEY *k = private_key ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    if (!k || EVP_PKEY_id(k) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(k);
        *rc = MEND_EPARSE;
        return NULL;
    }
    *rc = MEND_OK;
    return k;
}

int mend_signer_load(const char *pem_path, const char *kid, struct mend_signer **res)
{
    int rc;
    if (strlen(kid) >= 64 || !*kid)
        return MEND_EINVAL;
    EVP_PKEY *k = read_key(pem_path, 1, &rc);
    if (!k)
        return rc;
    struct mend_signer *s = calloc(1, sizeof *s);
    if (!s) {
        EVP_PKEY_free(k);
        return MEND_ENOMEM;
    }
    s->key = k;
    snprintf(s->kid, sizeof s->kid, "%s", kid);
    *res = s;
    return MEND_OK;
}

void mend_signer_free(struct mend_signer *s)
{
    if (!s)
        return;
    EVP_PKEY_free(s->key);
    free(s);
}

const char *mend_signer_kid(const struct mend_signer *s)
{
    return s->kid;
}

int mend_signer_sign(struct mend_signer *s, const void *msg, size_t len, char hex[129])
{
    unsigned char sig[64];
    size_t sl = sizeof sig;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && EVP_DigestSignInit(c, NULL, NULL, NULL, s->key) == 1 &&
             EVP_DigestSign(c, sig, &sl, msg, len) == 1 && sl == 64;
    EVP_MD_CTX_free(c);
    if (!ok)
        return MEND_EIO;
    for (int i = 0; i < 64; i++)
        snprintf(hex + 2 * i, 3, "%02x", sig[i]);
    return MEND_OK;
}

struct mend_verifier {
    EVP_PKEY *keys[MEND_VERIFY_MAX_KEYS];
    char kids[MEND_VERIFY_MAX_KEYS][64];
    size_t n;
};

int mend_verifier_new(struct mend_verifier **res)
{
    *res = calloc(1, sizeof **res);
    return *res ? MEND_OK : MEND_ENOMEM;
}

void mend_verifier_free(struct mend_verifier *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++)
        EVP_PKEY_free(v->keys[i]);
    free(v);
}

int mend_verifier_add(struct mend_verifier *v, const char *kid, const char *pem_path)
{
    int rc;
    if (v->n == MEND_VERIFY_MAX_KEYS)
        return MEND_ECAP;
    if (strlen(kid) >= 64 || !*kid)
        return MEND_EINVAL;
    EVP_PKEY *k = read_key(pem_path, 0, &rc);
    if (!k)
        return rc;
    v->keys[v->n] = k;
    snprintf(v->kids[v->n], 64, "%s", kid);
    v->n++;
    return MEND_OK;
}

static int unhex(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int mend_verifier_check(struct mend_verifier *v, const char *kid, const void *msg, size_t len, const char *sig_hex)
{
    size_t i;
    for (i = 0; i < v->n && strcmp(v->kids[i], kid); i++)
        ;
    if (i == v->n)
        return MEND_ENOTFOUND;
    unsigned char sig[64];
    if (strlen(sig_hex) != 128)
        return MEND_EPARSE;
    for (int j = 0; j < 64; j++) {
        int a = unhex(sig_hex[2 * j]), b = unhex(sig_hex[2 * j + 1]);
        if (a < 0 || b < 0)
            return MEND_EPARSE;
        sig[j] = (unsigned char)(a * 16 + b);
    }
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && EVP_DigestVerifyInit(c, NULL, NULL, NULL, v->keys[i]) == 1 &&
             EVP_DigestVerify(c, sig, sizeof sig, msg, len) == 1;
    EVP_MD_CTX_free(c);
    return ok ? MEND_OK : MEND_ECORRUPT;
}
