/*
 * TK generation module (patent claims 5-8; step S2): the transmission key
 * TK = TEK (an RSA key pair Pu_tek / Pr_tek) + AUK (a random symmetric
 * authentication key), with the internal TK hash of patent [0081] computed
 * at generation.
 */
#include <string.h>

#include "rkl/buf.h"
#include "rkl/ct.h"
#include "rkl/err.h"
#include "pinpad_int.h"

/*
 * Lay the TK payload out at rkl_pp_rec_payload(pp->work) (layout in
 * pinpad_int.h) with flags 0 (RKL_PP_TK_P2 in a profile-2 session) and the
 * binding's OAEP hash.  The TEK private
 * key is generated straight into the work area.
 */
int
rkl_pp_tk_generate(struct rkl_pinpad *pp, uint8_t oaep_hash, struct rkl_pp_tk *tk,
    size_t *payload_len)
{
	const struct rkl_crypto *c = pp->plat->crypto;
	uint8_t *pl = rkl_pp_rec_payload(pp->work);
	size_t room = sizeof(pp->work) - RKL_PP_REC_OFF - RKL_PP_REC_OVERHEAD;
	size_t auk_len = rkl_alg_key_len(pp->cfg.auk_alg);
	unsigned bits = rkl_alg_rsa_bits(pp->cfg.tek_alg);
	uint8_t spki[RKL_SPKI_MAX];
	size_t off, priv_len = 0, spki_len = 0;
	struct rkl_pp_tk t;
	int r;

	/* flags, oaep, auk_alg, auk_len, auk, tek_alg, priv_len(2) */
	off = 4 + auk_len + 1 + 2;
	if (auk_len == 0 || bits == 0 ||
	    room < off + RKL_RSA_PRIV_MAX + 2 + RKL_SPKI_MAX + RKL_SHA256_LEN)
		return RKL_ERR_CONFIG;
	pl[0] = pp->profile == 2 ? RKL_PP_TK_P2 : 0;
	pl[1] = oaep_hash;
	pl[2] = (uint8_t)pp->cfg.auk_alg;
	pl[3] = (uint8_t)auk_len;
	if ((r = c->random(c->ctx, pl + 4, auk_len)) != 0)
		goto out;
	pl[4 + auk_len] = (uint8_t)pp->cfg.tek_alg;
	if ((r = c->rsa_keygen(c->ctx, bits, pl + off, RKL_RSA_PRIV_MAX, &priv_len,
	    spki, sizeof(spki), &spki_len)) != 0)
		goto out;
	if (priv_len == 0 || priv_len > RKL_RSA_PRIV_MAX || spki_len == 0 ||
	    spki_len > RKL_SPKI_MAX) {
		r = RKL_ERR_CRYPTO;
		goto out;
	}
	rkl_enc16be(pl + off - 2, (uint16_t)priv_len);
	off += priv_len;
	rkl_enc16be(pl + off, (uint16_t)spki_len);
	memcpy(pl + off + 2, spki, spki_len);
	off += 2 + spki_len;
	/* Parse what was laid out, then compute the [0081] hash into place. */
	memset(pl + off, 0, RKL_SHA256_LEN);
	if ((r = rkl_pp_tk_parse(pl, off + RKL_SHA256_LEN, &t)) != 0) {
		r = RKL_ERR_INTERNAL;
		goto out;
	}
	if ((r = rkl_pp_tk_hash(c, &t, pl + off)) != 0)
		goto out;
	*tk = t;
	*payload_len = off + RKL_SHA256_LEN;
	r = 0;
out:
	if (r != 0)
		rkl_cleanse(pp->work, sizeof(pp->work));
	return r;
}
