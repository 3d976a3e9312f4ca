/*
 * TR-31 packing module (patent claims 3 and 7; step S7): the TMK is packed
 * as a TR-31 key block under the PIN pad's storage KBPK - version D under
 * an AES-256 KBPK, version B under a TDES KBPK - and stored durably with its
 * key version.  The stored block is read back and unwrapped before the
 * confirmation may be sent, and a key version lower than the stored one is
 * refused before anything is decrypted.
 */
#include <string.h>

#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/kcv.h"
#include "rkl/tr31.h"
#include "pinpad_int.h"

int
rkl_pp_tmk_check_version(struct rkl_pinpad *pp, uint32_t key_version)
{
	struct rkl_pp_tmk t;
	int r;

	pp->tmk_has_floor = 0;
	pp->tmk_floor = 0;
	r = rkl_pp_tmk_load(pp->plat, pp->work2, sizeof(pp->work2), &t, NULL);
	rkl_cleanse(pp->work2, sizeof(pp->work2));
	if (r == RKL_ERR_NOT_FOUND)
		return 0;
	if (r != 0)
		return r;
	pp->tmk_has_floor = (uint8_t)t.has_floor;
	pp->tmk_floor = t.floor;
	/*
	 * Profile 2 (docs/protocol.md 10.7): above the version of the last
	 * acknowledged download.  Otherwise (profile 1, or no profile-2
	 * download acknowledged yet): not below the stored version.
	 */
	if (pp->profile == 2 && t.has_floor)
		return key_version <= t.floor ? RKL_ERR_ROLLBACK : 0;
	return key_version < t.key_version ? RKL_ERR_ROLLBACK : 0;
}

int
rkl_pp_tmk_acknowledged(struct rkl_pinpad *pp)
{
	struct rkl_pp_tmk t;
	uint32_t ctr = 0;
	int r;

	if ((r = rkl_pp_tmk_load(pp->plat, pp->work2, sizeof(pp->work2), &t, &ctr)) != 0)
		goto out;
	if (!t.present || t.key_version != pp->key_version) {
		r = RKL_ERR_INTEGRITY;
		goto out;
	}
	t.has_floor = 1;
	t.floor = t.key_version;
	r = rkl_pp_tmk_store(pp->plat, pp->work, sizeof(pp->work), &t,
	    ctr == UINT32_MAX ? ctr : ctr + 1);
out:
	rkl_pp_wipe_work(pp);
	return r;
}

/* Header attributes of a stored TMK (X9.143 6.2 table 1 and 6.3). */
static int
tmk_header(struct rkl_tr31_key *k, enum rkl_alg kbpk_alg, enum rkl_alg tmk_alg,
    uint32_t key_version, const uint8_t kcv[3])
{
	char kc[2 + 6];

	memset(k, 0, sizeof(*k));
	k->version = kbpk_alg == RKL_ALG_AES256 ? 'D' : 'B';
	k->usage[0] = 'K';		/* K0: key encryption or wrapping (table 2) */
	k->usage[1] = '0';
	k->algorithm = rkl_alg_cipher(tmk_alg) == RKL_CIPHER_AES ? 'A' : 'T';
	k->mode = 'B';			/* both wrap and unwrap */
	if (key_version >= 1 && key_version <= 99) {
		k->key_version[0] = (char)('0' + key_version / 10);
		k->key_version[1] = (char)('0' + key_version % 10);
	} else {
		k->key_version[0] = '0';	/* "00": the record holds the version */
		k->key_version[1] = '0';
	}
	k->exportability = 'N';		/* never leaves the PIN pad */
	k->key_context = '1';		/* storage context only */
	k->reserved = '0';
	/* KC: legacy KCV of the wrapped key ("00" + 3 bytes, X9.143 6.3.6). */
	kc[0] = '0';
	kc[1] = '0';
	rkl_hex_encode(kcv, 3, kc + 2);
	return rkl_tr31_opt_add(k, "KC", kc, sizeof(kc));
}

int
rkl_pp_tr31_pack_store(struct rkl_pinpad *pp, const struct rkl_wire_tmk_delivery *d,
    const uint8_t *tmk)
{
	const struct rkl_pinpad_platform *p = pp->plat;
	const struct rkl_crypto *c = p->crypto;
	enum rkl_alg alg = (enum rkl_alg)d->tmk_alg;
	size_t klen = rkl_alg_key_len(alg), blen = 0;
	struct rkl_tr31_key k, back;
	struct rkl_pp_kbpk kbpk;
	struct rkl_pp_tmk t;
	uint8_t kcv3[3], kcv[RKL_PINPAD_KCV_MAX];
	char block[RKL_PINPAD_TR31_MAX];
	uint32_t ctr;
	int r;

	memset(&k, 0, sizeof(k));
	memset(&back, 0, sizeof(back));
	memset(&kbpk, 0, sizeof(kbpk));
	if ((r = rkl_pp_kbpk_load(p, pp->work2, sizeof(pp->work2), &kbpk)) != 0 ||
	    (r = rkl_kcv_legacy(c, rkl_alg_cipher(alg), tmk, klen, kcv3)) != 0 ||
	    (r = tmk_header(&k, kbpk.alg, alg, d->key_version, kcv3)) != 0 ||
	    (r = rkl_tr31_set_key(&k, tmk, klen)) != 0 ||
	    (r = rkl_tr31_export(c, kbpk.key, kbpk.len, &k, NULL, block,
	    sizeof(block), &blen)) != 0)
		goto out;

	memset(&t, 0, sizeof(t));
	t.present = 1;
	t.key_version = d->key_version;
	t.tmk_alg = alg;
	memcpy(t.kcv, d->kcv, d->kcv_len);
	t.kcv_len = d->kcv_len;
	t.block = block;
	t.block_len = blen;
	t.has_floor = pp->tmk_has_floor;	/* kept until this one is acknowledged */
	t.floor = pp->tmk_floor;
	ctr = rkl_pp_rec_next_counter(p, RKL_PINPAD_REC_TMK, pp->work, sizeof(pp->work));
	if ((r = rkl_pp_tmk_store(p, pp->work, sizeof(pp->work), &t, ctr)) != 0)
		goto out;

	/* Read back: the durable record must unwrap to the same TMK. */
	if ((r = rkl_pp_tmk_load(p, pp->work, sizeof(pp->work), &t, NULL)) != 0 ||
	    (r = rkl_tr31_import(c, kbpk.key, kbpk.len, t.block, t.block_len,
	    RKL_TR31_STRICT, &back)) != 0)
		goto out;
	if (back.key_len != klen || !rkl_ct_eq(back.key, tmk, klen)) {
		r = RKL_ERR_INTEGRITY;
		goto out;
	}
	/* The confirmation's KCV: computed from the stored key, same method. */
	if (d->kcv_len == RKL_WIRE_KCV_CMAC)
		r = rkl_kcv_cmac(c, rkl_alg_cipher(alg), back.key, back.key_len, kcv);
	else
		r = rkl_kcv_legacy(c, rkl_alg_cipher(alg), back.key, back.key_len, kcv);
	if (r != 0)
		goto out;
	pp->tmk_alg = alg;
	pp->key_version = d->key_version;
	memcpy(pp->kcv, kcv, d->kcv_len);
	pp->kcv_len = d->kcv_len;
	r = 0;
out:
	rkl_tr31_key_release(&k);
	rkl_tr31_key_release(&back);
	rkl_cleanse(&kbpk, sizeof(kbpk));
	rkl_cleanse(block, sizeof(block));
	rkl_pp_wipe_work(pp);
	return r;
}

int
rkl_pp_tr31_kcv(const struct rkl_pinpad_platform *p, const struct rkl_pp_kbpk *kbpk,
    const char *block, size_t block_len, uint8_t kcv[3], struct rkl_pinpad_info *info)
{
	struct rkl_tr31_key k;
	int r;

	memset(&k, 0, sizeof(k));
	if ((r = rkl_tr31_import(p->crypto, kbpk->key, kbpk->len, block, block_len,
	    RKL_TR31_STRICT, &k)) != 0)
		goto out;
	info->tr31_version = k.version;
	info->tr31_usage[0] = k.usage[0];
	info->tr31_usage[1] = k.usage[1];
	info->tr31_usage[2] = '\0';
	info->tr31_algorithm = k.algorithm;
	info->tr31_mode = k.mode;
	info->tr31_key_version[0] = k.key_version[0];
	info->tr31_key_version[1] = k.key_version[1];
	info->tr31_key_version[2] = '\0';
	info->tr31_exportability = k.exportability;
	if (block_len >= RKL_TR31_HDR_LEN) {
		memcpy(info->tr31_header, block, RKL_TR31_HDR_LEN);
		info->tr31_header[RKL_TR31_HDR_LEN] = '\0';
	}
	info->tr31_len = block_len;
	r = rkl_kcv_legacy(p->crypto, k.algorithm == 'A' ? RKL_CIPHER_AES : RKL_CIPHER_TDES,
	    k.key, k.key_len, kcv);
out:
	rkl_tr31_key_release(&k);
	return r;
}
