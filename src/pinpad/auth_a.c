/*
 * Two-way authentication module A (patent claims 4 and 8; step S5), the
 * PIN pad's half: send Rnd1; check that the KMS's Crnd1 is E(AUK, Rnd1)
 * (constant time) and only then answer Crnd2 = E(AUK, Rnd2).  Challenges
 * are one AUK block (8 bytes TDES, 16 AES), encrypted in ECB as the patent
 * profile specifies.
 */
#include <string.h>

#include "rkl/ct.h"
#include "rkl/err.h"
#include "pinpad_int.h"

/* E(AUK, in) for one block, with the TK loaded and verified just before. */
static int
auk_encrypt(struct rkl_pinpad *pp, const uint8_t *in, size_t len, uint8_t *out,
    struct rkl_pp_tk *tk)
{
	const struct rkl_crypto *c = pp->plat->crypto;

	return c->cipher(c->ctx, rkl_alg_cipher(tk->auk_alg), RKL_MODE_ECB, 1,
	    tk->auk, tk->auk_len, NULL, in, len, out);
}

/* AUTH_INIT {SN, RND1}: a fresh random block of the AUK's cipher. */
int
rkl_pp_auth_init_build(struct rkl_pinpad *pp, struct rkl_wire_msg *m)
{
	const struct rkl_crypto *c = pp->plat->crypto;
	struct rkl_wire_auth_init *a = &m->u.auth_init;
	struct rkl_pp_tk tk;
	int r;

	if ((r = rkl_pp_tk_load(pp->plat, pp->work, sizeof(pp->work), &tk, NULL)) != 0)
		goto out;
	pp->blk = rkl_alg_block_len(tk.auk_alg);
	if (pp->blk != 8 && pp->blk != 16) {
		r = RKL_ERR_INTEGRITY;
		goto out;
	}
	if ((r = c->random(c->ctx, pp->rnd1, pp->blk)) != 0)
		goto out;
	if (pp->blk == 16)
		pp->rnd1[0] &= 0x7F;	/* never the derivation mark (decision 154) */
	memcpy(a->sn, pp->sn, sizeof(a->sn));
	memcpy(a->rnd1, pp->rnd1, pp->blk);
	a->rnd1_len = pp->blk;
	r = 0;
out:
	rkl_pp_wipe_work(pp);
	return r;
}

/*
 * AUTH_CHALLENGE {CRND1, RND2}: verify CRND1 == E(AUK, RND1); on any
 * failure no Crnd2 is ever computed.  A Rnd2 equal to our own Rnd1 is
 * refused (it would make the PIN pad answer its own challenge).
 */
int
rkl_pp_auth_challenge(struct rkl_pinpad *pp, const struct rkl_wire_msg *m)
{
	const struct rkl_wire_auth_challenge *ch = &m->u.auth_challenge;
	struct rkl_pp_tk tk;
	uint8_t c1[16], c2[16];
	int r;

	if (ch->crnd1_len != pp->blk || ch->rnd2_len != pp->blk)
		return RKL_ERR_LENGTH;
	if ((r = rkl_pp_tk_load(pp->plat, pp->work, sizeof(pp->work), &tk, NULL)) != 0)
		goto out;
	if (rkl_alg_block_len(tk.auk_alg) != pp->blk) {
		r = RKL_ERR_INTEGRITY;
		goto out;
	}
	if ((r = auk_encrypt(pp, pp->rnd1, pp->blk, c1, &tk)) != 0)
		goto out;
	if (!rkl_ct_eq(c1, ch->crnd1, pp->blk) || rkl_ct_eq(ch->rnd2, pp->rnd1, pp->blk)) {
		r = RKL_ERR_AUTH;
		goto out;
	}
	if ((r = auk_encrypt(pp, ch->rnd2, pp->blk, c2, &tk)) != 0)
		goto out;
	memcpy(pp->crnd2, c2, pp->blk);
	r = 0;
out:
	rkl_cleanse(c1, sizeof(c1));
	rkl_cleanse(c2, sizeof(c2));
	rkl_pp_wipe_work(pp);
	return r;
}

/* AUTH_RESPONSE {CRND2}: only reachable after a verified Crnd1. */
int
rkl_pp_auth_response_build(struct rkl_pinpad *pp, struct rkl_wire_msg *m)
{
	struct rkl_wire_auth_response *a = &m->u.auth_response;

	memcpy(a->crnd2, pp->crnd2, pp->blk);
	a->crnd2_len = pp->blk;
	rkl_cleanse(pp->crnd2, sizeof(pp->crnd2));
	return 0;
}
