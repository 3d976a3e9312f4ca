/*
 * Fuzz target: the strict DER decoders of rkl/spki.h.  Every input goes to
 * both decoders; whatever decodes must re-encode to exactly the same bytes
 * (strict DER has one encoding per value), otherwise the target aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rkl/crypto.h"
#include "rkl/spki.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t enc[RKL_RSA_PRIV_MAX];
	struct rkl_rsa_pub pub;
	struct rkl_rsa_priv priv;
	unsigned bits = 0;
	size_t n = 0;

	if (rkl_spki_decode(data, size, &pub) == 0) {
		if (rkl_spki_encode(&pub, enc, RKL_SPKI_MAX, &n) != 0 || n != size ||
		    memcmp(enc, data, size) != 0)
			abort();
		if (rkl_spki_modulus_bits(data, size, &bits) != 0 ||
		    bits < RKL_RSA_MIN_BITS || bits > RKL_RSA_MAX_BITS)
			abort();
	}
	if (rkl_spki_priv_decode(data, size, &priv) == 0) {
		if (rkl_spki_priv_encode(&priv, enc, sizeof(enc), &n) != 0 || n != size ||
		    memcmp(enc, data, size) != 0)
			abort();
	}
	return 0;
}
