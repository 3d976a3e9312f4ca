/*
 * Device life cycle outside a download: manufacture (identity and storage
 * KBPK), inspection (attributes and KCVs, never key values) and erase.
 */
#include <string.h>

#include "rkl/buf.h"
#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/kcv.h"
#include "rkl/spki.h"
#include "pinpad_int.h"

int
rkl_pinpad_manufacture(struct rkl_pinpad *pp, const char *sn, const char *pinpad_sn,
    enum rkl_alg kbpk_alg)
{
	const struct rkl_pinpad_platform *p = pp->plat;
	const struct rkl_crypto *c;
	size_t room = sizeof(pp->work) - RKL_PP_REC_OFF - RKL_PP_REC_OVERHEAD;
	size_t klen = rkl_alg_key_len(kbpk_alg), sl, pl;
	uint8_t *payload = rkl_pp_rec_payload(pp->work);
	struct rkl_wbuf w;
	uint8_t tmp[4];
	size_t n;
	int r;

	if (p == NULL || pp->state != RKL_PINPAD_IDLE)
		return RKL_ERR_STATE;
	c = p->crypto;
	if (pinpad_sn == NULL)
		pinpad_sn = sn;
	if (sn == NULL || !rkl_pp_sn_valid(sn) || !rkl_pp_sn_valid(pinpad_sn))
		return RKL_ERR_INVALID_ARG;
	if (kbpk_alg != RKL_ALG_AES256 && kbpk_alg != RKL_ALG_TDES3)
		return RKL_ERR_ALGORITHM;
	/* Refuse to overwrite: a device is manufactured once. */
	r = p->storage.get(p->storage.ctx, RKL_PINPAD_REC_IDENT, tmp, sizeof(tmp), &n);
	if (r != RKL_ERR_NOT_FOUND)
		return r == 0 || r == RKL_ERR_BUFFER_SPACE ? RKL_ERR_EXISTS : r;
	r = p->storage.get(p->storage.ctx, RKL_PINPAD_REC_KBPK, tmp, sizeof(tmp), &n);
	if (r != RKL_ERR_NOT_FOUND)
		return r == 0 || r == RKL_ERR_BUFFER_SPACE ? RKL_ERR_EXISTS : r;

	/* KBPK first: an identity without a KBPK would look manufactured. */
	payload[0] = (uint8_t)kbpk_alg;
	if ((r = c->random(c->ctx, payload + 1, klen)) != 0 ||
	    (r = rkl_pp_rec_put(p, RKL_PINPAD_REC_KBPK, pp->work, sizeof(pp->work),
	    1 + klen, 1)) != 0)
		goto out;
	rkl_cleanse(pp->work, sizeof(pp->work));
	sl = strlen(sn);
	pl = strlen(pinpad_sn);
	rkl_wbuf_init(&w, payload, room);
	if ((r = rkl_put_u8(&w, 1)) != 0 || (r = rkl_put_u8(&w, (uint8_t)sl)) != 0 ||
	    (r = rkl_put_bytes(&w, sn, sl)) != 0 || (r = rkl_put_u8(&w, (uint8_t)pl)) != 0 ||
	    (r = rkl_put_bytes(&w, pinpad_sn, pl)) != 0 ||
	    (r = rkl_pp_rec_put(p, RKL_PINPAD_REC_IDENT, pp->work, sizeof(pp->work),
	    w.len, 1)) != 0)
		goto out;
	r = 0;
out:
	rkl_pp_wipe_work(pp);
	return r;
}

static void
rec_status(struct rkl_pinpad_rec_info *ri, int r, uint32_t counter)
{
	ri->status = r;
	ri->counter = r == 0 ? counter : 0;
}

/* Profile 2 records: device key, certificate, root, KDH CRL state. */
static int
p2_info(struct rkl_pinpad *pp, struct rkl_pinpad_info *in)
{
	const struct rkl_pinpad_platform *p = pp->plat;
	const struct rkl_crypto *c = p->crypto;
	uint8_t area[RKL_PP_DEVKEY_AREA];
	struct rkl_pp_devkey k;
	struct rkl_pp_certs dc;
	struct rkl_pp_crlstate cs;
	struct rkl_x509 x;
	const uint8_t *root, *pl;
	const uint8_t *parts[1];
	size_t lens[1], rl, len;
	uint32_t ctr = 0;
	int r;

	r = rkl_pp_rec_get(p, RKL_PINPAD_REC_DEVKEY, area, sizeof(area), &pl, &len, &ctr);
	if (r == 0)
		r = rkl_pp_devkey_load(p, area, sizeof(area), &k);
	rkl_cleanse(area, sizeof(area));
	rec_status(&in->devkey, r, ctr);

	r = rkl_pp_rec_get(p, RKL_PINPAD_REC_DEVCERT, pp->work, sizeof(pp->work), &pl, &len, &ctr);
	if (r == 0)
		r = rkl_pp_devcert_load(p, pp->work, sizeof(pp->work), &dc);
	if (r == 0 && rkl_x509_parse(dc.cert[0], dc.len[0], &x) != 0)
		r = RKL_ERR_INTEGRITY;
	rec_status(&in->devcert, r, ctr);
	if (r == 0) {
		memcpy(in->cert_cn, x.cn, sizeof(in->cert_cn));
		memcpy(in->cert_serial_number, x.serial_number, sizeof(in->cert_serial_number));
		memcpy(in->cert_serial, x.serial, x.serial_len);
		in->cert_serial_len = x.serial_len;
		in->cert_not_before = x.not_before;
		in->cert_not_after = x.not_after;
	}
	rkl_cleanse(pp->work, sizeof(pp->work));

	r = rkl_pp_rec_get(p, RKL_PINPAD_REC_CAROOT, pp->work, sizeof(pp->work), &pl, &len, &ctr);
	if (r == 0)
		r = rkl_pp_caroot_load(p, pp->work, sizeof(pp->work), &root, &rl);
	if (r == 0 && rkl_x509_parse(root, rl, &x) != 0)
		r = RKL_ERR_INTEGRITY;
	rec_status(&in->caroot, r, ctr);
	if (r == 0) {
		memcpy(in->root_cn, x.cn, sizeof(in->root_cn));
		parts[0] = root;
		lens[0] = rl;
		if ((r = c->sha256(c->ctx, parts, lens, 1, in->root_sha256)) != 0)
			return r;
	}
	rkl_cleanse(pp->work, sizeof(pp->work));

	r = rkl_pp_rec_get(p, RKL_PINPAD_REC_KDHCRL, pp->work, sizeof(pp->work), &pl, &len, &ctr);
	if (r == 0)
		r = rkl_pp_crlstate_load(p, pp->work, sizeof(pp->work), &cs);
	rec_status(&in->kdhcrl, r, ctr);
	if (r == 0) {
		in->kdh_crl_this_update = cs.this_update;
		in->kdh_crl_number = cs.crl_number;
	}
	in->enrolled = in->devkey.status == 0 && in->devcert.status == 0 &&
	    in->caroot.status == 0;
	return 0;
}

int
rkl_pinpad_info(struct rkl_pinpad *pp, struct rkl_pinpad_info *info)
{
	const struct rkl_pinpad_platform *p = pp->plat;
	const struct rkl_crypto *c;
	const uint8_t *pl;
	const uint8_t *parts[1];
	size_t lens[1], len;
	struct rkl_pp_ident id;
	struct rkl_pp_kbpk kbpk;
	struct rkl_pp_puhsm ph;
	struct rkl_pp_tk tk;
	struct rkl_pp_tmk t;
	struct rkl_pinpad_info in;
	uint32_t ctr = 0;
	int r, have_kbpk = 0;

	if (p == NULL)
		return RKL_ERR_STATE;
	c = p->crypto;
	memset(&in, 0, sizeof(in));
	memset(&kbpk, 0, sizeof(kbpk));

	r = rkl_pp_rec_get(p, RKL_PINPAD_REC_IDENT, pp->work, sizeof(pp->work), &pl, &len, &ctr);
	if (r == 0)
		r = rkl_pp_ident_load(p, pp->work, sizeof(pp->work), &id);
	rec_status(&in.ident, r, ctr);
	if (r == 0) {
		memcpy(in.sn, id.sn, sizeof(in.sn));
		memcpy(in.pinpad_sn, id.pinpad_sn, sizeof(in.pinpad_sn));
	}

	r = rkl_pp_rec_get(p, RKL_PINPAD_REC_KBPK, pp->work, sizeof(pp->work), &pl, &len, &ctr);
	if (r == 0)
		r = rkl_pp_kbpk_load(p, pp->work, sizeof(pp->work), &kbpk);
	rec_status(&in.kbpk, r, ctr);
	if (r == 0) {
		have_kbpk = 1;
		in.kbpk_alg = kbpk.alg;
		if ((r = rkl_kcv_legacy(c, rkl_alg_cipher(kbpk.alg), kbpk.key, kbpk.len,
		    in.kbpk_kcv)) != 0)
			goto out;
	}

	r = rkl_pp_rec_get(p, RKL_PINPAD_REC_PUHSM, pp->work, sizeof(pp->work), &pl, &len, &ctr);
	if (r == 0)
		r = rkl_pp_puhsm_load(p, pp->work, sizeof(pp->work), &ph);
	if (r == 0) {
		in.puhsm_key_id = ph.key_id;
		in.oaep_hash = ph.oaep_hash;
		if (rkl_spki_modulus_bits(ph.spki, ph.spki_len, &in.puhsm_bits) != 0)
			r = RKL_ERR_INTEGRITY;
	}
	rec_status(&in.puhsm, r, ctr);

	r = rkl_pp_tk_load(p, pp->work, sizeof(pp->work), &tk, &ctr);
	rec_status(&in.tk, r, ctr);
	if (r == 0) {
		in.tk_accepted = (tk.flags & RKL_PP_TK_ACCEPTED) != 0;
		in.oaep_hash = tk.oaep_hash;
		in.auk_alg = tk.auk_alg;
		in.tek_alg = tk.tek_alg;
		parts[0] = tk.spki;
		lens[0] = tk.spki_len;
		if ((r = rkl_kcv_legacy(c, rkl_alg_cipher(tk.auk_alg), tk.auk, tk.auk_len,
		    in.auk_kcv)) != 0 ||
		    (r = c->sha256(c->ctx, parts, lens, 1, in.pu_tek_sha256)) != 0)
			goto out;
	}

	r = rkl_pp_tmk_load(p, pp->work, sizeof(pp->work), &t, &ctr);
	if (r == 0) {
		in.tmk_present = t.present;
		in.tmk_version = t.key_version;
		in.tmk_alg = t.tmk_alg;
		if (t.present) {
			if (!have_kbpk)
				r = in.kbpk.status;
			else if (rkl_pp_tr31_kcv(p, &kbpk, t.block, t.block_len, in.tmk_kcv,
			    &in) != 0)
				r = RKL_ERR_INTEGRITY;
		}
	}
	rec_status(&in.tmk, r, ctr);
	if ((r = p2_info(pp, &in)) != 0)
		goto out;
	*info = in;
	r = 0;
out:
	rkl_cleanse(&kbpk, sizeof(kbpk));
	rkl_pp_wipe_work(pp);
	return r;
}

int
rkl_pinpad_erase(struct rkl_pinpad *pp, int all)
{
	const struct rkl_pinpad_platform *p = pp->plat;
	struct rkl_pp_tmk t;
	uint32_t ctr = 0, version = 0, floor = 0;
	int r, has_floor = 0;

	if (p == NULL)
		return RKL_ERR_STATE;
	/* Keep the key version (and profile 2's floor) so a later download cannot roll it back. */
	r = rkl_pp_tmk_load(p, pp->work, sizeof(pp->work), &t, &ctr);
	if (r == 0 || r == RKL_ERR_INTEGRITY || r == RKL_ERR_NOT_FOUND) {
		if (r == 0) {
			version = t.key_version;
			has_floor = t.has_floor;
			floor = t.floor;
		}
		rkl_cleanse(pp->work, sizeof(pp->work));
		if (r != RKL_ERR_NOT_FOUND) {
			memset(&t, 0, sizeof(t));
			t.key_version = version;
			t.has_floor = has_floor;
			t.floor = floor;
			r = rkl_pp_tmk_store(p, pp->work, sizeof(pp->work), &t,
			    ctr == UINT32_MAX ? ctr : ctr + 1);
		} else {
			r = 0;
		}
	}
	if (r != 0)
		goto out;
	if (all) {
		if ((r = p->storage.del(p->storage.ctx, RKL_PINPAD_REC_TK)) != 0 ||
		    (r = p->storage.del(p->storage.ctx, RKL_PINPAD_REC_PUHSM)) != 0)
			goto out;
	}
	r = 0;
out:
	rkl_pp_wipe_work(pp);
	return r;
}
