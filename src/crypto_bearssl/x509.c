/*
 * BearSSL backend: X.509 path validation with BearSSL's "minimal" engine
 * (br_x509_minimal), heap-free.  The trust anchor (subject name and EC key
 * of the installed root) is taken from rkl's own parser; the engine then
 * validates the chain on its own: DN chaining by hash, signatures (ECDSA
 * i31 over SHA-256/384), validity at the given time, basicConstraints of
 * the CAs, unknown critical extensions, key usage of the end entity.
 *
 * Stack: the engine's context (about 3.2 KiB on 64-bit, measured by
 * tests/pki/test_x509) plus a copy of the root's point.
 */
#include <string.h>

#include <bearssl.h>

#include "bearssl_int.h"
#include "rkl/crypto.h"
#include "rkl/err.h"
#include "rkl/spki.h"
#include "rkl/x509.h"

/* Days from 0000-01-01 (proleptic Gregorian) to 1970-01-01. */
#define DAYS_0_TO_1970 719528

static int
map_err(int e)
{
	switch (e) {
	case BR_ERR_X509_EXPIRED:
		return RKL_ERR_CERT_EXPIRED;	/* BearSSL does not tell which end */
	case BR_ERR_X509_BAD_SIGNATURE:
	case BR_ERR_X509_NOT_TRUSTED:
	case BR_ERR_X509_DN_MISMATCH:
		return RKL_ERR_CERT_SIGNATURE;
	case BR_ERR_X509_NOT_CA:
	case BR_ERR_X509_FORBIDDEN_KEY_USAGE:
	case BR_ERR_X509_CRITICAL_EXTENSION:
		return RKL_ERR_CERT_USAGE;
	case BR_ERR_X509_WRONG_KEY_TYPE:
	case BR_ERR_X509_UNSUPPORTED:
	case BR_ERR_X509_WEAK_PUBLIC_KEY:
		return RKL_ERR_ALGORITHM;
	default:
		return RKL_ERR_FORMAT;
	}
}

int
rkl_bssl_x509_verify(void *ctx, const uint8_t *root, size_t root_len,
    const uint8_t *const *chain, const size_t *chain_lens, size_t n, int64_t now)
{
	br_x509_minimal_context xc;
	br_x509_trust_anchor ta;
	struct rkl_x509 rx;
	const br_x509_class **vt;
	const br_x509_pkey *pk;
	uint8_t q[1 + 2 * RKL_EC_PRIV_MAX];
	const uint8_t *pt;
	size_t pl, i;
	enum rkl_curve curve;
	unsigned usages = 0;
	int64_t days;
	int r;

	(void)ctx;
	if (root == NULL || chain == NULL || chain_lens == NULL || n == 0 ||
	    n > RKL_X509_CHAIN_MAX)
		return RKL_ERR_INVALID_ARG;
	if (now < 0)
		return RKL_ERR_INVALID_ARG;
	if ((r = rkl_x509_parse(root, root_len, &rx)) != 0)
		return r;
	if ((r = rkl_ec_spki_decode(rx.spki, rx.spki_len, &curve, &pt, &pl)) != 0)
		return r;
	memcpy(q, pt, pl);
	memset(&ta, 0, sizeof(ta));
	ta.dn.data = (unsigned char *)(uintptr_t)rx.subject;
	ta.dn.len = rx.subject_len;
	ta.flags = BR_X509_TA_CA;
	ta.pkey.key_type = BR_KEYTYPE_EC;
	ta.pkey.key.ec.curve = curve == RKL_CURVE_P256 ? BR_EC_secp256r1 : BR_EC_secp384r1;
	ta.pkey.key.ec.q = q;
	ta.pkey.key.ec.qlen = pl;

	br_x509_minimal_init(&xc, &br_sha256_vtable, &ta, 1);
	br_x509_minimal_set_hash(&xc, br_sha256_ID, &br_sha256_vtable);
	br_x509_minimal_set_hash(&xc, br_sha384_ID, &br_sha384_vtable);
	br_x509_minimal_set_ecdsa(&xc, &br_ec_all_m31, br_ecdsa_i31_vrfy_asn1);
	days = now / 86400;
	br_x509_minimal_set_time(&xc, (uint32_t)(days + DAYS_0_TO_1970),
	    (uint32_t)(now % 86400));
	vt = &xc.vtable;
	(*vt)->start_chain(vt, NULL);	/* no server name: rkl checks the subject itself */
	for (i = 0; i < n; i++) {
		if (chain[i] == NULL)
			return RKL_ERR_INVALID_ARG;
		(*vt)->start_cert(vt, (uint32_t)chain_lens[i]);
		(*vt)->append(vt, chain[i], chain_lens[i]);
		(*vt)->end_cert(vt);
	}
	r = (int)(*vt)->end_chain(vt);
	if (r != 0)
		return map_err(r);
	pk = (*vt)->get_pkey(vt, &usages);
	if (pk == NULL || pk->key_type != BR_KEYTYPE_EC)
		return RKL_ERR_ALGORITHM;
	if ((usages & BR_KEYTYPE_SIGN) == 0)
		return RKL_ERR_CERT_USAGE;
	return 0;
}
