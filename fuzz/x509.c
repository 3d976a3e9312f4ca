/*
 * Fuzz target: the PIN pad side certificate code (rkl/x509.h).  Every input
 * is parsed as a certificate; whatever parses must have its views inside the
 * input and pass the key and signature checks it promises.  The input is
 * then run through rkl_cert_verify as its own root and end entity on the
 * BearSSL backend (x509_minimal sees arbitrary DER too), and as a revoked
 * list, and rkl_x509_parse must never read past len (ASan).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rkl/crypto.h"
#include "rkl/crypto_bearssl.h"
#include "rkl/err.h"
#include "rkl/spki.h"
#include "rkl/x509.h"

static int
inside(const uint8_t *base, size_t len, const uint8_t *p, size_t n)
{
	return p >= base && n <= len && (size_t)(p - base) <= len - n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t seed[32] = { 1 };
	static struct rkl_bearssl_ctx bctx;
	struct rkl_crypto c;
	struct rkl_x509 x;
	struct rkl_cert_check chk;
	const uint8_t *chain[1];
	size_t lens[1];
	uint8_t *copy;
	enum rkl_curve cv;
	const uint8_t *pt;
	size_t pl;
	int r;

	/* an exact-size heap copy, so ASan sees any read past the end */
	if ((copy = malloc(size ? size : 1)) == NULL)
		return 0;
	if (size)
		memcpy(copy, data, size);
	if (rkl_x509_parse(copy, size, &x) == 0) {
		if (!inside(copy, size, x.tbs, x.tbs_len) ||
		    !inside(copy, size, x.serial, x.serial_len) ||
		    !inside(copy, size, x.issuer, x.issuer_len) ||
		    !inside(copy, size, x.subject, x.subject_len) ||
		    !inside(copy, size, x.spki, x.spki_len) || !inside(copy, size, x.sig, x.sig_len) ||
		    x.serial_len == 0 || x.serial_len > RKL_X509_SERIAL_MAX ||
		    rkl_ec_spki_decode(x.spki, x.spki_len, &cv, &pt, &pl) != 0 || cv != x.curve ||
		    strlen(x.cn) > RKL_X509_STR_MAX || strlen(x.serial_number) > RKL_X509_STR_MAX)
			abort();
	}
	if (rkl_crypto_bearssl_init(&c, &bctx, seed, sizeof(seed)) != 0)
		abort();
	chain[0] = copy;
	lens[0] = size;
	memset(&chk, 0, sizeof(chk));
	chk.root = copy;
	chk.root_len = size;
	chk.chain = chain;
	chk.chain_lens = lens;
	chk.n = 1;
	chk.now = 1798761600;
	chk.role = RKL_CERT_KDH;
	chk.revoked = copy;
	chk.revoked_len = size;
	r = rkl_cert_verify(&c, &chk, NULL);
	if (r == 0 && x.is_ca)
		abort();	/* a CA is never accepted as the end entity */
	(void)rkl_cert_serial_listed(copy, size, (const uint8_t *)"\x01", 1);
	/* the backend alone, on whatever the input is */
	(void)c.x509_verify(c.ctx, copy, size, chain, lens, 1, 1798761600);
	free(copy);
	return 0;
}
