/*
 * TK sending module (patent claims 5-8; step S3): AUK encrypted under
 * Pu_hsm (Pu_auk) and Pu_tek go to the KMS in TK_UPLOAD, after the new TK is
 * stored and re-read with its [0081] hash verified; TK_ACCEPTED marks the
 * TK as registered so that later downloads start at S5.  A stored TK whose
 * TK_ACCEPTED never arrived is sent again instead of a new one (the KMS may
 * have bound it: docs/protocol.md 8.2).
 */
#include <string.h>

#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/kcv.h"
#include "pinpad_int.h"

/*
 * 1 if the stored TK may be uploaded again: it verifies, the KMS has not
 * acknowledged it, it has the configured AUK and TEK algorithms (a changed
 * configuration means a new TK) and the OAEP hash the KMS named in S1.
 */
static int
reusable_tk(struct rkl_pinpad *pp, const struct rkl_pp_puhsm *ph)
{
	struct rkl_pp_tk tk;
	int ok;

	if (rkl_pp_tk_load(pp->plat, pp->work, sizeof(pp->work), &tk, NULL) != 0)
		return 0;	/* none, or not usable: replaced by a new one */
	ok = (tk.flags & RKL_PP_TK_ACCEPTED) == 0 && tk.auk_alg == pp->cfg.auk_alg &&
	    ((tk.flags & RKL_PP_TK_P2) != 0) == (pp->profile == 2) &&
	    tk.tek_alg == pp->cfg.tek_alg && tk.oaep_hash == ph->oaep_hash;
	rkl_cleanse(pp->work, sizeof(pp->work));
	return ok;
}

int
rkl_pp_tk_send_build(struct rkl_pinpad *pp, uint8_t *out, size_t cap, size_t *out_len)
{
	const struct rkl_pinpad_platform *p = pp->plat;
	const struct rkl_crypto *c = p->crypto;
	struct rkl_pp_puhsm ph;
	struct rkl_pp_tk tk;
	struct rkl_wire_msg m;
	struct rkl_wire_tk_upload *u = &m.u.tk_upload;
	uint8_t pu_auk[RKL_RSA_MAX_BYTES];
	size_t pu_auk_len = 0, pl_len = 0;
	uint32_t ctr;
	int r;

	/* Pu_hsm as stored in S1 (work2). */
	if ((r = rkl_pp_puhsm_load(p, pp->work2, sizeof(pp->work2), &ph)) != 0)
		goto out;
	/*
	 * A stored TK the KMS never acknowledged is sent again (its reply may
	 * have been lost after the KMS bound it: the KMS accepts the same TK
	 * again, never another).  Otherwise, or after rkl_pinpad_start_full,
	 * S2 makes a new one.
	 */
	if (pp->new_tk || !reusable_tk(pp, &ph)) {
		ctr = rkl_pp_rec_next_counter(p, RKL_PINPAD_REC_TK, pp->work, sizeof(pp->work));
		if ((r = rkl_pp_tk_generate(pp, ph.oaep_hash, &tk, &pl_len)) != 0 ||
		    (r = rkl_pp_tk_store(p, pp->work, sizeof(pp->work), pl_len, &tk, ctr)) != 0)
			goto out;
	}
	/* Send what is stored: re-read, MAC and [0081] hash verified. */
	rkl_cleanse(pp->work, sizeof(pp->work));
	if ((r = rkl_pp_tk_load(p, pp->work, sizeof(pp->work), &tk, NULL)) != 0)
		goto out;

	rkl_wire_msg_init(&m, RKL_WIRE_TK_UPLOAD, pp->have_session ? pp->session : NULL);
	/* profile 2: the device's certificate (work2, Pu_hsm is no longer needed
	 * once AUK is encrypted below; key_id is copied first) and a SIG slot */
	memcpy(u->sn, pp->sn, sizeof(u->sn));
	u->key_id = ph.key_id;
	u->auk_alg = (uint8_t)tk.auk_alg;
	u->tek_alg = (uint8_t)tk.tek_alg;
	if ((r = rkl_kcv_legacy(c, rkl_alg_cipher(tk.auk_alg), tk.auk, tk.auk_len,
	    u->auk_kcv)) != 0)
		goto out;
	/* S3: Pu_auk = RSA-OAEP(Pu_hsm, AUK). */
	if ((r = c->rsa_oaep_encrypt(c->ctx, (enum rkl_oaep_hash)ph.oaep_hash,
	    ph.spki, ph.spki_len, tk.auk, tk.auk_len, pu_auk, sizeof(pu_auk),
	    &pu_auk_len)) != 0)
		goto out;
	u->pu_auk = pu_auk;
	u->pu_auk_len = pu_auk_len;
	if (pp->profile == 2 && (r = rkl_pp2_tk_upload_fill(pp, &m)) != 0)
		goto out;
	u->pu_tek = tk.spki;
	u->pu_tek_len = tk.spki_len;
	if ((r = rkl_wire_tk_hash(c, u, u->tk_hash)) != 0 ||
	    (r = rkl_pp_encode(&m, out, cap, out_len)) != 0)
		goto out;
	if (pp->profile == 2 && (r = rkl_pp2_tk_upload_sign(pp, out, *out_len)) != 0)
		goto out;
	r = 0;
out:
	rkl_cleanse(pu_auk, sizeof(pu_auk));
	rkl_pp_wipe_work(pp);
	return r;
}

/* TK_ACCEPTED: the KMS committed the binding; record it with the TK. */
int
rkl_pp_tk_send_accepted(struct rkl_pinpad *pp)
{
	const struct rkl_pinpad_platform *p = pp->plat;
	struct rkl_pp_tk tk;
	uint8_t *pl = rkl_pp_rec_payload(pp->work);
	size_t pl_len;
	uint32_t ctr = 0;
	int r;

	if ((r = rkl_pp_tk_load(p, pp->work, sizeof(pp->work), &tk, &ctr)) != 0)
		goto out;
	pl_len = (size_t)(tk.hash + RKL_SHA256_LEN - pl);
	pl[0] |= RKL_PP_TK_ACCEPTED;	/* flags: not covered by the TK hash */
	tk.flags = pl[0];
	r = rkl_pp_tk_store(p, pp->work, sizeof(pp->work), pl_len, &tk,
	    ctr == UINT32_MAX ? ctr : ctr + 1);
out:
	rkl_pp_wipe_work(pp);
	return r;
}
