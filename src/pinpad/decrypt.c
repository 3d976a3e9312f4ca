/*
 * Decryption module (patent claims 5-8; steps S6/S7): Ctmk_tk is decrypted
 * with Pr_tek (RSA-OAEP, the binding's hash) and the TMK is accepted only if
 * its KCV equals the one the KMS sent (constant-time comparison).
 */
#include <string.h>

#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/kcv.h"
#include "pinpad_int.h"

#define ALG_BIT(a) (1u << (unsigned)(a))

int
rkl_pp_decrypt_tmk(struct rkl_pinpad *pp, const struct rkl_wire_tmk_delivery *d,
    uint8_t *tmk, size_t tmk_cap)
{
	const struct rkl_crypto *c = pp->plat->crypto;
	enum rkl_alg alg = (enum rkl_alg)d->tmk_alg;
	size_t klen = rkl_alg_key_len(alg), n = 0;
	struct rkl_pp_tk tk;
	uint8_t buf[RKL_RSA_MAX_BYTES];
	int r;

	if (klen == 0 || (pp->cfg.algs_offered & ALG_BIT(alg)) == 0)
		return RKL_ERR_ALGORITHM;
	if (d->tmk_len != klen || klen > tmk_cap)
		return RKL_ERR_KEY_LENGTH;
	if (d->kcv_len != RKL_WIRE_KCV_LEGACY && d->kcv_len != RKL_WIRE_KCV_CMAC)
		return RKL_ERR_LENGTH;
	if ((r = rkl_pp_tk_load(pp->plat, pp->work, sizeof(pp->work), &tk, NULL)) != 0)
		goto out;
	/* One error for every decryption failure: no padding oracle. */
	if (c->rsa_oaep_decrypt(c->ctx, (enum rkl_oaep_hash)tk.oaep_hash, tk.priv,
	    tk.priv_len, d->ctmk_tk, d->ctmk_tk_len, buf, sizeof(buf), &n) != 0 ||
	    n != klen) {
		r = RKL_ERR_AUTH;
		goto out;
	}
	if ((r = rkl_kcv_verify(c, rkl_alg_cipher(alg),
	    d->kcv_len == RKL_WIRE_KCV_CMAC ? RKL_KCV_CMAC : RKL_KCV_LEGACY,
	    buf, klen, d->kcv, d->kcv_len)) != 0)
		goto out;
	memcpy(tmk, buf, klen);
	r = 0;
out:
	rkl_cleanse(buf, sizeof(buf));
	rkl_pp_wipe_work(pp);
	if (r != 0)
		rkl_cleanse(tmk, tmk_cap);
	return r;
}
