/*
 * Software EC keys for the certificate, CRL and enrolment tests (test_x509.c,
 * test_crl.c, tests/pinpad/test_enrol.c): a key pair made by a crypto
 * backend, and a soft signer over it for rkl_pki.  Test-only; include after
 * <cmocka.h>.
 */
#ifndef RKL_TEST_ECKEY_H
#define RKL_TEST_ECKEY_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rkl/crypto.h"
#include "rkl/pki.h"

struct eckey {
	enum rkl_curve curve;
	uint8_t priv[RKL_EC_PRIV_MAX];
	size_t priv_len;
	uint8_t spki[RKL_EC_SPKI_MAX];
	size_t spki_len;
};

/* A fresh key pair on curve, made by c. */
static inline void
eckey_gen(const struct rkl_crypto *c, enum rkl_curve curve, struct eckey *k)
{
	k->curve = curve;
	assert_int_equal(c->ec_keygen(c->ctx, curve, k->priv, sizeof(k->priv), &k->priv_len,
	    k->spki, sizeof(k->spki), &k->spki_len), 0);
}

/* s signs with k through o (sk holds the key for as long as s is used). */
static inline void
eckey_signer(const struct rkl_crypto *o, const struct eckey *k, struct rkl_pki_signer *s,
    struct rkl_pki_soft_key *sk)
{
	sk->c = o;
	sk->curve = k->curve;
	memcpy(sk->priv, k->priv, k->priv_len);
	sk->priv_len = k->priv_len;
	rkl_pki_soft_signer(s, sk);
}

#endif
