/* Algorithm tables shared by every module (see rkl/crypto.h). */
#include "rkl/crypto.h"

size_t
rkl_alg_key_len(enum rkl_alg alg)
{
	switch (alg) {
	case RKL_ALG_TDES2: return 16;
	case RKL_ALG_TDES3: return 24;
	case RKL_ALG_AES128: return 16;
	case RKL_ALG_AES192: return 24;
	case RKL_ALG_AES256: return 32;
	default: return 0;
	}
}

enum rkl_cipher
rkl_alg_cipher(enum rkl_alg alg)
{
	switch (alg) {
	case RKL_ALG_TDES2:
	case RKL_ALG_TDES3:
		return RKL_CIPHER_TDES;
	case RKL_ALG_AES128:
	case RKL_ALG_AES192:
	case RKL_ALG_AES256:
		return RKL_CIPHER_AES;
	default:
		return (enum rkl_cipher)0;
	}
}

size_t
rkl_alg_block_len(enum rkl_alg alg)
{
	switch (rkl_alg_cipher(alg)) {
	case RKL_CIPHER_TDES: return 8;
	case RKL_CIPHER_AES: return 16;
	default: return 0;
	}
}

unsigned
rkl_alg_rsa_bits(enum rkl_alg alg)
{
	switch (alg) {
	case RKL_ALG_RSA2048: return 2048;
	case RKL_ALG_RSA3072: return 3072;
	default: return 0;
	}
}

const char *
rkl_alg_name(enum rkl_alg alg)
{
	switch (alg) {
	case RKL_ALG_TDES2: return "TDES-2KEY";
	case RKL_ALG_TDES3: return "TDES-3KEY";
	case RKL_ALG_AES128: return "AES-128";
	case RKL_ALG_AES192: return "AES-192";
	case RKL_ALG_AES256: return "AES-256";
	case RKL_ALG_RSA2048: return "RSA-2048";
	case RKL_ALG_RSA3072: return "RSA-3072";
	default: return "?";
	}
}
