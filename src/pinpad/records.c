/*
 * The PIN pad's records: identity, storage KBPK, Pu_hsm, TK (with the
 * internal TK hash of patent [0081]) and TMK.  Payload layouts are in
 * pinpad_int.h; every parser validates the whole payload before using it.
 */
#include <string.h>

#include "rkl/buf.h"
#include "rkl/ct.h"
#include "rkl/err.h"
#include "pinpad_int.h"

int
rkl_pp_sn_valid(const char *s)
{
	size_t i;

	for (i = 0; i <= RKL_PINPAD_SN_MAX; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '\0')
			return i > 0;
		if (ch < 0x21 || ch > 0x7E)
			return 0;
	}
	return 0;
}

/* Read a u8-length-prefixed SN into out (RKL_PINPAD_SN_MAX + 1 bytes). */
static int
get_sn(struct rkl_rbuf *b, char *out)
{
	uint8_t n;
	char tmp[RKL_PINPAD_SN_MAX + 1];
	int r;

	if ((r = rkl_get_u8(b, &n)) != 0 || n == 0 || n > RKL_PINPAD_SN_MAX ||
	    (r = rkl_get_bytes(b, tmp, n)) != 0)
		return RKL_ERR_INTEGRITY;
	tmp[n] = '\0';
	if (strlen(tmp) != n || !rkl_pp_sn_valid(tmp))
		return RKL_ERR_INTEGRITY;
	memcpy(out, tmp, (size_t)n + 1);
	return 0;
}

int
rkl_pp_ident_load(const struct rkl_pinpad_platform *p, uint8_t *work,
    size_t cap, struct rkl_pp_ident *id)
{
	struct rkl_pp_ident t;
	struct rkl_rbuf b;
	const uint8_t *pl;
	size_t len;
	uint8_t ver;
	int r;

	if ((r = rkl_pp_rec_get(p, RKL_PINPAD_REC_IDENT, work, cap, &pl, &len, NULL)) != 0)
		return r;
	rkl_rbuf_init(&b, pl, len);
	r = RKL_ERR_INTEGRITY;
	if (rkl_get_u8(&b, &ver) != 0 || ver != 1 ||
	    get_sn(&b, t.sn) != 0 || get_sn(&b, t.pinpad_sn) != 0 ||
	    rkl_rbuf_left(&b) != 0)
		goto out;
	*id = t;
	r = 0;
out:
	rkl_cleanse(work, cap);
	return r;
}

int
rkl_pp_kbpk_load(const struct rkl_pinpad_platform *p, uint8_t *work,
    size_t cap, struct rkl_pp_kbpk *k)
{
	const uint8_t *pl;
	size_t len, klen;
	int r;

	if ((r = rkl_pp_rec_get(p, RKL_PINPAD_REC_KBPK, work, cap, &pl, &len, NULL)) != 0)
		return r;
	r = RKL_ERR_INTEGRITY;
	if (len < 1 || (pl[0] != RKL_ALG_AES256 && pl[0] != RKL_ALG_TDES3))
		goto out;
	klen = rkl_alg_key_len((enum rkl_alg)pl[0]);
	if (len != 1 + klen || klen > sizeof(k->key))
		goto out;
	k->alg = (enum rkl_alg)pl[0];
	k->len = klen;
	memcpy(k->key, pl + 1, klen);
	r = 0;
out:
	rkl_cleanse(work, cap);
	return r;
}

int
rkl_pp_puhsm_load(const struct rkl_pinpad_platform *p, uint8_t *work,
    size_t cap, struct rkl_pp_puhsm *ph)
{
	struct rkl_rbuf b;
	const uint8_t *pl, *spki;
	size_t len;
	uint32_t id;
	uint16_t n;
	uint8_t h;
	int r;

	if ((r = rkl_pp_rec_get(p, RKL_PINPAD_REC_PUHSM, work, cap, &pl, &len, NULL)) != 0)
		return r;
	rkl_rbuf_init(&b, pl, len);
	if (rkl_get_u32(&b, &id) != 0 || rkl_get_u8(&b, &h) != 0 ||
	    (h != RKL_OAEP_SHA1 && h != RKL_OAEP_SHA256) ||
	    rkl_get_u16(&b, &n) != 0 || n == 0 || n > RKL_SPKI_MAX ||
	    rkl_get_direct(&b, n, &spki) != 0 || rkl_rbuf_left(&b) != 0) {
		rkl_cleanse(work, cap);
		return RKL_ERR_INTEGRITY;
	}
	ph->key_id = id;
	ph->oaep_hash = h;
	ph->spki = spki;
	ph->spki_len = n;
	return 0;
}

int
rkl_pp_puhsm_store(const struct rkl_pinpad_platform *p, uint8_t *work,
    size_t cap, uint32_t key_id, uint8_t oaep_hash, const uint8_t *spki,
    size_t spki_len)
{
	uint32_t ctr = rkl_pp_rec_next_counter(p, RKL_PINPAD_REC_PUHSM, work, cap);
	size_t room = cap - RKL_PP_REC_OFF - RKL_PP_REC_OVERHEAD;
	struct rkl_wbuf w;
	int r;

	if (spki_len == 0 || spki_len > RKL_SPKI_MAX)
		return RKL_ERR_LENGTH;
	rkl_wbuf_init(&w, rkl_pp_rec_payload(work), room);
	if ((r = rkl_put_u32(&w, key_id)) != 0 || (r = rkl_put_u8(&w, oaep_hash)) != 0 ||
	    (r = rkl_put_u16(&w, (uint16_t)spki_len)) != 0 ||
	    (r = rkl_put_bytes(&w, spki, spki_len)) != 0)
		goto out;
	r = rkl_pp_rec_put(p, RKL_PINPAD_REC_PUHSM, work, cap, w.len, ctr);
out:
	rkl_cleanse(work, cap);
	return r;
}

/* ---- TK ---- */

int
rkl_pp_tk_parse(const uint8_t *pl, size_t len, struct rkl_pp_tk *tk)
{
	struct rkl_pp_tk t;
	struct rkl_rbuf b;
	uint8_t v8, auk_len;
	uint16_t n;

	rkl_rbuf_init(&b, pl, len);
	if (rkl_get_u8(&b, &t.flags) != 0 || (t.flags & ~(RKL_PP_TK_ACCEPTED | RKL_PP_TK_P2)) != 0 ||
	    rkl_get_u8(&b, &t.oaep_hash) != 0 ||
	    (t.oaep_hash != RKL_OAEP_SHA1 && t.oaep_hash != RKL_OAEP_SHA256) ||
	    rkl_get_u8(&b, &v8) != 0)
		return RKL_ERR_INTEGRITY;
	t.auk_alg = (enum rkl_alg)v8;
	if (rkl_alg_key_len(t.auk_alg) == 0 || rkl_get_u8(&b, &auk_len) != 0 ||
	    auk_len != rkl_alg_key_len(t.auk_alg) ||
	    rkl_get_direct(&b, auk_len, &t.auk) != 0 || rkl_get_u8(&b, &v8) != 0)
		return RKL_ERR_INTEGRITY;
	t.auk_len = auk_len;
	t.tek_alg = (enum rkl_alg)v8;
	if (rkl_alg_rsa_bits(t.tek_alg) == 0 ||
	    rkl_get_u16(&b, &n) != 0 || n == 0 || n > RKL_RSA_PRIV_MAX ||
	    rkl_get_direct(&b, n, &t.priv) != 0)
		return RKL_ERR_INTEGRITY;
	t.priv_len = n;
	if (rkl_get_u16(&b, &n) != 0 || n == 0 || n > RKL_SPKI_MAX ||
	    rkl_get_direct(&b, n, &t.spki) != 0)
		return RKL_ERR_INTEGRITY;
	t.spki_len = n;
	if (rkl_get_direct(&b, RKL_SHA256_LEN, &t.hash) != 0 || rkl_rbuf_left(&b) != 0)
		return RKL_ERR_INTEGRITY;
	*tk = t;
	return 0;
}

int
rkl_pp_tk_hash(const struct rkl_crypto *c, const struct rkl_pp_tk *tk,
    uint8_t out[RKL_SHA256_LEN])
{
	static const uint8_t label[] = "rkl-tk-v1";
	uint8_t a[2], t[3], sl[2];
	const uint8_t *parts[8];
	size_t lens[8];

	a[0] = (uint8_t)tk->auk_alg;
	a[1] = (uint8_t)tk->auk_len;
	t[0] = (uint8_t)tk->tek_alg;
	rkl_enc16be(t + 1, (uint16_t)tk->priv_len);
	rkl_enc16be(sl, (uint16_t)tk->spki_len);
	parts[0] = label;	lens[0] = sizeof(label) - 1;
	parts[1] = a;		lens[1] = sizeof(a);
	parts[2] = tk->auk;	lens[2] = tk->auk_len;
	parts[3] = t;		lens[3] = sizeof(t);
	parts[4] = tk->priv;	lens[4] = tk->priv_len;
	parts[5] = sl;		lens[5] = sizeof(sl);
	parts[6] = tk->spki;	lens[6] = tk->spki_len;
	return c->sha256(c->ctx, parts, lens, 7, out);
}

int
rkl_pp_tk_verify(const struct rkl_crypto *c, const struct rkl_pp_tk *tk)
{
	uint8_t h[RKL_SHA256_LEN];
	int r;

	if ((r = rkl_pp_tk_hash(c, tk, h)) != 0)
		goto out;
	r = rkl_ct_eq(h, tk->hash, sizeof(h)) ? 0 : RKL_ERR_INTEGRITY;
out:
	rkl_cleanse(h, sizeof(h));
	return r;
}

int
rkl_pp_tk_load(const struct rkl_pinpad_platform *p, uint8_t *work,
    size_t cap, struct rkl_pp_tk *tk, uint32_t *counter)
{
	struct rkl_pp_tk t;
	const uint8_t *pl;
	size_t len;
	int r;

	if ((r = rkl_pp_rec_get(p, RKL_PINPAD_REC_TK, work, cap, &pl, &len, counter)) != 0)
		return r;
	if ((r = rkl_pp_tk_parse(pl, len, &t)) != 0 ||
	    (r = rkl_pp_tk_verify(p->crypto, &t)) != 0) {
		rkl_cleanse(work, cap);
		return r;
	}
	*tk = t;
	return 0;
}

int
rkl_pp_tk_store(const struct rkl_pinpad_platform *p, uint8_t *work,
    size_t cap, size_t payload_len, const struct rkl_pp_tk *tk, uint32_t counter)
{
	int r;

	/* [0081]: the TK hash is checked before every storage of TK. */
	if ((r = rkl_pp_tk_verify(p->crypto, tk)) != 0)
		return r;
	return rkl_pp_rec_put(p, RKL_PINPAD_REC_TK, work, cap, payload_len, counter);
}

/* ---- TMK ---- */

int
rkl_pp_tmk_load(const struct rkl_pinpad_platform *p, uint8_t *work,
    size_t cap, struct rkl_pp_tmk *t, uint32_t *counter)
{
	struct rkl_pp_tmk v;
	struct rkl_rbuf b;
	const uint8_t *pl, *blk;
	size_t len;
	uint8_t present, alg, kl, mark = 0;
	uint16_t n;
	int r;

	if ((r = rkl_pp_rec_get(p, RKL_PINPAD_REC_TMK, work, cap, &pl, &len, counter)) != 0)
		return r;
	memset(&v, 0, sizeof(v));
	rkl_rbuf_init(&b, pl, len);
	if (rkl_get_u8(&b, &present) != 0 || present > 1 ||
	    rkl_get_u32(&b, &v.key_version) != 0 || rkl_get_u8(&b, &alg) != 0 ||
	    rkl_get_u8(&b, &kl) != 0 || kl > RKL_PINPAD_KCV_MAX ||
	    rkl_get_bytes(&b, v.kcv, RKL_PINPAD_KCV_MAX) != 0 ||
	    rkl_get_u16(&b, &n) != 0 || n > RKL_PINPAD_TR31_MAX ||
	    rkl_get_direct(&b, n, &blk) != 0 ||
	    (rkl_rbuf_left(&b) == 5 && (rkl_get_u8(&b, &mark) != 0 || mark != 1 ||
	    rkl_get_u32(&b, &v.floor) != 0)) ||
	    rkl_rbuf_left(&b) != 0 ||
	    (present && (n == 0 || rkl_alg_key_len((enum rkl_alg)alg) == 0 ||
	    (kl != 3 && kl != 5))) || (!present && n != 0)) {
		rkl_cleanse(work, cap);
		return RKL_ERR_INTEGRITY;
	}
	v.present = present;
	v.has_floor = mark == 1;
	v.tmk_alg = (enum rkl_alg)alg;
	v.kcv_len = kl;
	v.block = (const char *)blk;
	v.block_len = n;
	*t = v;
	return 0;
}

int
rkl_pp_tmk_store(const struct rkl_pinpad_platform *p, uint8_t *work,
    size_t cap, const struct rkl_pp_tmk *t, uint32_t counter)
{
	size_t room = cap - RKL_PP_REC_OFF - RKL_PP_REC_OVERHEAD;
	uint8_t kcv[RKL_PINPAD_KCV_MAX];
	struct rkl_wbuf w;
	int r;

	if (t->block_len > RKL_PINPAD_TR31_MAX || t->kcv_len > RKL_PINPAD_KCV_MAX)
		return RKL_ERR_LENGTH;
	memset(kcv, 0, sizeof(kcv));
	memcpy(kcv, t->kcv, t->kcv_len);
	rkl_wbuf_init(&w, rkl_pp_rec_payload(work), room);
	if ((r = rkl_put_u8(&w, t->present ? 1 : 0)) != 0 ||
	    (r = rkl_put_u32(&w, t->key_version)) != 0 ||
	    (r = rkl_put_u8(&w, (uint8_t)t->tmk_alg)) != 0 ||
	    (r = rkl_put_u8(&w, (uint8_t)t->kcv_len)) != 0 ||
	    (r = rkl_put_bytes(&w, kcv, sizeof(kcv))) != 0 ||
	    (r = rkl_put_u16(&w, (uint16_t)t->block_len)) != 0 ||
	    (r = rkl_put_bytes(&w, t->block, t->block_len)) != 0)
		goto out;
	if (t->has_floor && ((r = rkl_put_u8(&w, 1)) != 0 || (r = rkl_put_u32(&w, t->floor)) != 0))
		goto out;
	r = rkl_pp_rec_put(p, RKL_PINPAD_REC_TMK, work, cap, w.len, counter);
out:
	rkl_cleanse(work, cap);
	return r;
}

/* ---- profile 2: device key, certificates, root, KDH CRL state ---- */

int
rkl_pp_devkey_load(const struct rkl_pinpad_platform *p, uint8_t *area, size_t cap,
    struct rkl_pp_devkey *k)
{
	struct rkl_pp_devkey t;
	struct rkl_rbuf b;
	const uint8_t *pl;
	size_t len;
	uint8_t ver, cv, n;
	int r;

	if ((r = rkl_pp_rec_get(p, RKL_PINPAD_REC_DEVKEY, area, cap, &pl, &len, NULL)) != 0)
		return r;
	rkl_rbuf_init(&b, pl, len);
	if (rkl_get_u8(&b, &ver) != 0 || ver != 1 || rkl_get_u8(&b, &cv) != 0 ||
	    rkl_curve_len((enum rkl_curve)cv) == 0 || rkl_get_u8(&b, &n) != 0 ||
	    n != rkl_curve_len((enum rkl_curve)cv) || rkl_get_direct(&b, n, &t.priv) != 0)
		goto bad;
	t.curve = (enum rkl_curve)cv;
	t.priv_len = n;
	if (rkl_get_u8(&b, &n) != 0 || n == 0 || n > RKL_EC_SPKI_MAX ||
	    rkl_get_direct(&b, n, &t.spki) != 0 || rkl_rbuf_left(&b) != 0)
		goto bad;
	t.spki_len = n;
	*k = t;
	return 0;
bad:
	rkl_cleanse(area, cap);
	return RKL_ERR_INTEGRITY;
}

int
rkl_pp_caroot_load(const struct rkl_pinpad_platform *p, uint8_t *work, size_t cap,
    const uint8_t **root, size_t *root_len)
{
	const uint8_t *pl;
	size_t len;
	int r;

	if ((r = rkl_pp_rec_get(p, RKL_PINPAD_REC_CAROOT, work, cap, &pl, &len, NULL)) != 0)
		return r;
	if (len < 2 || pl[0] != 1 || len - 1 > RKL_X509_CERT_MAX) {
		rkl_cleanse(work, cap);
		return RKL_ERR_INTEGRITY;
	}
	*root = pl + 1;
	*root_len = len - 1;
	return 0;
}

int
rkl_pp_devcert_load(const struct rkl_pinpad_platform *p, uint8_t *work, size_t cap,
    struct rkl_pp_certs *c)
{
	struct rkl_pp_certs t;
	const uint8_t *pl;
	size_t len;
	int r;

	if ((r = rkl_pp_rec_get(p, RKL_PINPAD_REC_DEVCERT, work, cap, &pl, &len, NULL)) != 0)
		return r;
	memset(&t, 0, sizeof(t));
	if (len < 2 || pl[0] != 1 ||
	    rkl_x509_split(pl + 1, len - 1, t.cert, t.len, RKL_X509_CHAIN_MAX, &t.n) != 0) {
		rkl_cleanse(work, cap);
		return RKL_ERR_INTEGRITY;
	}
	t.der = pl + 1;
	t.der_len = len - 1;
	*c = t;
	return 0;
}

int
rkl_pp_crlstate_load(const struct rkl_pinpad_platform *p, uint8_t *work, size_t cap,
    struct rkl_pp_crlstate *s)
{
	const uint8_t *pl;
	size_t len;
	int r;

	if ((r = rkl_pp_rec_get(p, RKL_PINPAD_REC_KDHCRL, work, cap, &pl, &len, NULL)) != 0)
		return r;
	if (len != 17 || pl[0] != 1) {
		rkl_cleanse(work, cap);
		return RKL_ERR_INTEGRITY;
	}
	s->this_update = (int64_t)(((uint64_t)rkl_dec32be(pl + 1) << 32) | rkl_dec32be(pl + 5));
	s->crl_number = ((uint64_t)rkl_dec32be(pl + 9) << 32) | rkl_dec32be(pl + 13);
	rkl_cleanse(work, cap);
	return 0;
}

int
rkl_pp_crlstate_store(const struct rkl_pinpad_platform *p, uint8_t *work, size_t cap,
    const struct rkl_pp_crlstate *s)
{
	uint32_t ctr = rkl_pp_rec_next_counter(p, RKL_PINPAD_REC_KDHCRL, work, cap);
	uint8_t *pl = rkl_pp_rec_payload(work);
	uint64_t tu = (uint64_t)s->this_update;
	int r;

	pl[0] = 1;
	rkl_enc32be(pl + 1, (uint32_t)(tu >> 32));
	rkl_enc32be(pl + 5, (uint32_t)tu);
	rkl_enc32be(pl + 9, (uint32_t)(s->crl_number >> 32));
	rkl_enc32be(pl + 13, (uint32_t)s->crl_number);
	r = rkl_pp_rec_put(p, RKL_PINPAD_REC_KDHCRL, work, cap, 17, ctr);
	rkl_cleanse(work, cap);
	return r;
}
