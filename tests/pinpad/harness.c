/* Test harness for the PIN pad library (see harness.h). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <poll.h>
#include <unistd.h>
#include <cmocka.h>

#include "backend.h"
#include "harness.h"
#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/kcv.h"

/* ---- in-memory storage ---- */

struct mem_rec *
mem_find(struct memstore *ms, const char *name)
{
	size_t i;

	for (i = 0; i < MEM_SLOTS; i++)
		if (ms->rec[i].used && strcmp(ms->rec[i].name, name) == 0)
			return &ms->rec[i];
	return NULL;
}

static int
mem_get(void *ctx, const char *name, uint8_t *buf, size_t cap, size_t *len)
{
	struct mem_rec *r = mem_find(ctx, name);

	if (r == NULL)
		return RKL_ERR_NOT_FOUND;
	if (r->len > cap)
		return RKL_ERR_BUFFER_SPACE;
	memcpy(buf, r->data, r->len);
	*len = r->len;
	return 0;
}

static int
mem_put(void *ctx, const char *name, const uint8_t *data, size_t len)
{
	struct memstore *ms = ctx;
	struct mem_rec *r = mem_find(ms, name);
	size_t i;

	if (ms->fail_put_at > 0 && --ms->fail_put_at == 0)
		return RKL_ERR_IO;
	if (ms->fail_put_name != NULL && strcmp(ms->fail_put_name, name) == 0)
		return RKL_ERR_IO;
	if (len > sizeof(r->data) || strlen(name) > RKL_PINPAD_NAME_MAX)
		return RKL_ERR_IO;
	for (i = 0; r == NULL && i < MEM_SLOTS; i++)
		if (!ms->rec[i].used)
			r = &ms->rec[i];
	if (r == NULL)
		return RKL_ERR_IO;
	r->used = 1;
	memset(r->name, 0, sizeof(r->name));
	memcpy(r->name, name, strlen(name));
	memcpy(r->data, data, len);
	r->len = len;
	ms->puts++;
	return 0;
}

static int
mem_del(void *ctx, const char *name)
{
	struct memstore *ms = ctx;
	struct mem_rec *r = mem_find(ms, name);

	if (r != NULL) {
		memset(r, 0, sizeof(*r));
		ms->dels++;
	}
	return 0;
}

static int
dev_key(void *ctx, uint8_t key[RKL_PINPAD_STORAGE_KEY_LEN])
{
	memcpy(key, ctx, RKL_PINPAD_STORAGE_KEY_LEN);
	return 0;
}

/* ---- cached RSA key generation ---- */

struct cached_key {
	unsigned bits;
	uint8_t priv[RKL_RSA_PRIV_MAX];
	size_t priv_len;
	uint8_t spki[RKL_SPKI_MAX];
	size_t spki_len;
};

static struct cached_key CACHE[2];
static struct rkl_crypto INNER;	/* the backend under test */
static unsigned KEYGENS;

unsigned
tp_keygens(void)
{
	return KEYGENS;
}

static int
real_keygen(void *ctx, unsigned bits, uint8_t *priv, size_t priv_cap,
    size_t *priv_len, uint8_t *spki, size_t spki_cap, size_t *spki_len)
{
	KEYGENS++;
	return INNER.rsa_keygen(ctx, bits, priv, priv_cap, priv_len, spki,
	    spki_cap, spki_len);
}

static int
cached_keygen(void *ctx, unsigned bits, uint8_t *priv, size_t priv_cap,
    size_t *priv_len, uint8_t *spki, size_t spki_cap, size_t *spki_len)
{
	struct cached_key *k = &CACHE[bits == 3072 ? 1 : 0];
	int r;

	if (k->bits != bits) {
		if ((r = real_keygen(ctx, bits, k->priv, sizeof(k->priv), &k->priv_len,
		    k->spki, sizeof(k->spki), &k->spki_len)) != 0)
			return r;
		k->bits = bits;
	}
	if (priv_cap < k->priv_len || spki_cap < k->spki_len)
		return RKL_ERR_BUFFER_SPACE;
	memcpy(priv, k->priv, k->priv_len);
	*priv_len = k->priv_len;
	memcpy(spki, k->spki, k->spki_len);
	*spki_len = k->spki_len;
	return 0;
}

void
tp_init(struct test_plat *t, int real)
{
	memset(t, 0, sizeof(*t));
	assert_int_equal(test_backend_init(&INNER), 0);
	t->crypto = INNER;
	t->crypto.rsa_keygen = real ? real_keygen : cached_keygen;
	memset(t->device_key, 0x5C, sizeof(t->device_key));
	t->device_key[0] = 0x01;
	t->plat.crypto = &t->crypto;
	t->plat.storage.ctx = &t->ms;
	t->plat.storage.get = mem_get;
	t->plat.storage.put = mem_put;
	t->plat.storage.del = mem_del;
	t->plat.storage_key = dev_key;
	t->plat.storage_key_ctx = t->device_key;
}

/* ---- the scripted KMS ---- */

struct hsm_key {
	uint8_t priv[RKL_RSA_PRIV_MAX];
	size_t priv_len;
	uint8_t spki[RKL_SPKI_MAX];
	size_t spki_len;
};
static struct hsm_key HSM[2];	/* 2048, 3072: generated once per program */

static const struct hsm_key *
hsm_key(struct kms *k)
{
	struct hsm_key *h = &HSM[k->hsm3072 ? 1 : 0];

	if (h->priv_len == 0) {
		assert_int_equal(k->c.rsa_keygen(k->c.ctx, k->hsm3072 ? 3072 : 2048,
		    h->priv, sizeof(h->priv), &h->priv_len, h->spki, sizeof(h->spki),
		    &h->spki_len), 0);
	}
	return h;
}

void
kms_rotate(struct kms *k, enum rkl_alg alg, uint32_t version)
{
	k->tmk_alg = alg;
	assert_int_equal(k->c.random(k->c.ctx, k->tmk, sizeof(k->tmk)), 0);
	k->key_version = version;
	k->delivered = 0;
}

void
kms_init(struct kms *k, enum rkl_alg tmk_alg)
{
	memset(k, 0, sizeof(*k));
	rkl_crypto_openssl(&k->c);
	k->oaep = RKL_OAEP_SHA256;
	k->kcv_len = 3;
	kms_rotate(k, tmk_alg, 1);
}

void
kms_new_connection(struct kms *k)
{
	k->in_session = 0;
	memset(k->session, 0, sizeof(k->session));
	k->pend_len = 0;
	k->msgs = 0;
	k->kms_err = 0;
}

static int
reply(struct kms *k, struct rkl_wire_msg *m, uint8_t *out, size_t cap, size_t *out_len)
{
	struct rkl_wbuf w;
	int r;

	rkl_wbuf_init(&w, out, cap);
	if ((r = rkl_wire_encode(m, &w)) != 0)
		return r;
	*out_len = w.len;
	return 0;
}

static int
kms_error(struct kms *k, uint16_t code, uint8_t *out, size_t cap, size_t *out_len)
{
	struct rkl_wire_msg m;

	rkl_wire_msg_init(&m, RKL_WIRE_ERROR, k->session);
	m.u.error.code = code;
	return reply(k, &m, out, cap, out_len);
}

int
kms_handle(struct kms *k, const uint8_t *in, size_t len, uint8_t *out, size_t cap,
    size_t *out_len)
{
	struct rkl_wire_msg q, m;
	const struct hsm_key *h;
	uint8_t buf[RKL_RSA_MAX_BYTES], hash[32], blk[16];
	size_t n = 0, klen;
	int r;

	*out_len = 0;
	k->msgs++;
	if ((r = rkl_wire_decode(in, len, RKL_WIRE_DIR_TO_KMS, &q)) != 0)
		return r;
	if (q.type == RKL_WIRE_ERROR)
		return RKL_ERR_PEER;
	if (!k->in_session) {
		assert_true(rkl_ct_is_zero(q.session, sizeof(q.session)));
		assert_int_equal(k->c.random(k->c.ctx, k->session, sizeof(k->session)), 0);
		k->in_session = 1;
	} else if (memcmp(q.session, k->session, sizeof(k->session)) != 0) {
		return RKL_ERR_STATE;
	}
	switch (q.type) {
	case RKL_WIRE_PUBKEY_REQ:
		if (k->bound)
			return kms_error(k, RKL_WIRE_E_ALREADY_BOUND, out, cap, out_len);
		memcpy(k->sn, q.u.pubkey_req.sn, sizeof(k->sn));
		h = hsm_key(k);
		rkl_wire_msg_init(&m, RKL_WIRE_PUBKEY_RESP, k->session);
		m.u.pubkey_resp.key_id = 7;
		m.u.pubkey_resp.pu_hsm = h->spki;
		m.u.pubkey_resp.pu_hsm_len = h->spki_len;
		m.u.pubkey_resp.oaep_hash = (uint8_t)k->oaep;
		break;
	case RKL_WIRE_TK_UPLOAD:
		h = hsm_key(k);
		if (q.u.tk_upload.key_id != 7 || strcmp(q.u.tk_upload.sn, k->sn) != 0)
			return RKL_ERR_STATE;
		assert_int_equal(rkl_wire_tk_hash(&k->c, &q.u.tk_upload, hash), 0);
		if (!rkl_ct_eq(hash, q.u.tk_upload.tk_hash, sizeof(hash)))
			return RKL_ERR_INTEGRITY;
		if ((r = k->c.rsa_oaep_decrypt(k->c.ctx, k->oaep, h->priv, h->priv_len,
		    q.u.tk_upload.pu_auk, q.u.tk_upload.pu_auk_len, buf, sizeof(buf), &n)) != 0)
			return r;
		klen = rkl_alg_key_len((enum rkl_alg)q.u.tk_upload.auk_alg);
		if (n != klen)
			return RKL_ERR_KEY_LENGTH;
		if ((r = rkl_kcv_verify(&k->c, rkl_alg_cipher((enum rkl_alg)q.u.tk_upload.auk_alg),
		    RKL_KCV_LEGACY, buf, n, q.u.tk_upload.auk_kcv, 3)) != 0)
			return r;
		k->auk_alg = (enum rkl_alg)q.u.tk_upload.auk_alg;
		memcpy(k->auk, buf, n);
		memcpy(k->pu_tek, q.u.tk_upload.pu_tek, q.u.tk_upload.pu_tek_len);
		k->pu_tek_len = q.u.tk_upload.pu_tek_len;
		k->bind_oaep = k->oaep;
		k->bound = 1;
		rkl_wire_msg_init(&m, RKL_WIRE_TK_ACCEPTED, k->session);
		break;
	case RKL_WIRE_AUTH_INIT:
		if (!k->bound)
			return kms_error(k, RKL_WIRE_E_NOT_BOUND, out, cap, out_len);
		k->blk = rkl_alg_block_len(k->auk_alg);
		if (q.u.auth_init.rnd1_len != k->blk)
			return RKL_ERR_LENGTH;
		rkl_wire_msg_init(&m, RKL_WIRE_AUTH_CHALLENGE, k->session);
		assert_int_equal(k->c.cipher(k->c.ctx, rkl_alg_cipher(k->auk_alg), RKL_MODE_ECB,
		    1, k->auk, rkl_alg_key_len(k->auk_alg), NULL, q.u.auth_init.rnd1, k->blk,
		    m.u.auth_challenge.crnd1), 0);
		if (k->tamper & KMS_T_CRND1)
			m.u.auth_challenge.crnd1[0] ^= 0x01;
		m.u.auth_challenge.crnd1_len = k->blk;
		if (k->tamper & KMS_T_RND2_ECHO)
			memcpy(k->rnd2, q.u.auth_init.rnd1, k->blk);
		else
			assert_int_equal(k->c.random(k->c.ctx, k->rnd2, k->blk), 0);
		memcpy(m.u.auth_challenge.rnd2, k->rnd2, k->blk);
		m.u.auth_challenge.rnd2_len = k->blk;
		break;
	case RKL_WIRE_AUTH_RESPONSE:
		if (q.u.auth_response.crnd2_len != k->blk)
			return RKL_ERR_LENGTH;
		assert_int_equal(k->c.cipher(k->c.ctx, rkl_alg_cipher(k->auk_alg), RKL_MODE_ECB,
		    1, k->auk, rkl_alg_key_len(k->auk_alg), NULL, k->rnd2, k->blk, blk), 0);
		if (!rkl_ct_eq(blk, q.u.auth_response.crnd2, k->blk))
			return kms_error(k, RKL_WIRE_E_FAILED, out, cap, out_len);
		klen = rkl_alg_key_len(k->tmk_alg);
		rkl_wire_msg_init(&m, RKL_WIRE_TMK_DELIVERY, k->session);
		assert_int_equal(k->c.rsa_oaep_encrypt(k->c.ctx, k->bind_oaep, k->pu_tek,
		    k->pu_tek_len, k->tmk, (k->tamper & KMS_T_TMK_LEN) ? klen - 8 : klen,
		    buf, sizeof(buf), &n), 0);
		if (k->tamper & KMS_T_CTMK)
			buf[n / 2] ^= 0x40;
		m.u.tmk_delivery.ctmk_tk = buf;
		m.u.tmk_delivery.ctmk_tk_len = n;
		m.u.tmk_delivery.tmk_alg = (uint8_t)k->tmk_alg;
		m.u.tmk_delivery.tmk_len = (uint8_t)klen;
		if (k->kcv_len == 5)
			assert_int_equal(rkl_kcv_cmac(&k->c, rkl_alg_cipher(k->tmk_alg), k->tmk,
			    klen, m.u.tmk_delivery.kcv), 0);
		else
			assert_int_equal(rkl_kcv_legacy(&k->c, rkl_alg_cipher(k->tmk_alg), k->tmk,
			    klen, m.u.tmk_delivery.kcv), 0);
		if (k->tamper & KMS_T_KCV)
			m.u.tmk_delivery.kcv[1] ^= 0x20;
		m.u.tmk_delivery.kcv_len = k->kcv_len;
		m.u.tmk_delivery.key_version = k->key_version;
		break;
	case RKL_WIRE_TMK_CONFIRM:
		klen = rkl_alg_key_len(k->tmk_alg);
		if (q.u.tmk_confirm.key_version != k->key_version ||
		    q.u.tmk_confirm.kcv_len != k->kcv_len ||
		    rkl_kcv_verify(&k->c, rkl_alg_cipher(k->tmk_alg),
		    k->kcv_len == 5 ? RKL_KCV_CMAC : RKL_KCV_LEGACY, k->tmk, klen,
		    q.u.tmk_confirm.kcv, q.u.tmk_confirm.kcv_len) != 0)
			return RKL_ERR_KCV;
		k->delivered = 1;
		rkl_wire_msg_init(&m, RKL_WIRE_CONFIRM_ACK, k->session);
		break;
	default:
		return RKL_ERR_MSG_TYPE;
	}
	if (k->tamper & KMS_T_SESSION && k->msgs > 1)
		m.session[0] ^= 0x80;
	return reply(k, &m, out, cap, out_len);
}

/* ---- drivers ---- */

static int
step(struct rkl_pinpad *pp, struct kms *k, uint8_t *types, size_t *nt,
    uint8_t *last, size_t *last_len)
{
	uint8_t fr[RKL_WIRE_FRAME_MAX];
	size_t n = 0;
	int r;

	switch (rkl_pinpad_want(pp)) {
	case RKL_PINPAD_WANT_SEND:
		if (rkl_pinpad_next(pp, fr, sizeof(fr), &n) != 0)
			return 1;	/* failed: the ERROR frame comes next */
		if (types != NULL && *nt < 32)
			types[(*nt)++] = fr[6];
		if (fr[6] == RKL_WIRE_ERROR)
			return 1;
		k->pend_len = 0;
		r = kms_handle(k, fr, n, k->pend, sizeof(k->pend), &k->pend_len);
		if (r != 0) {
			k->kms_err = r;
			return -1;
		}
		return 1;
	case RKL_PINPAD_WANT_RECV:
		if (k->pend_len == 0)
			return -1;
		if (types != NULL && *nt < 32)
			types[(*nt)++] = k->pend[6];
		if (last != NULL) {
			memcpy(last, k->pend, k->pend_len);
			*last_len = k->pend_len;
		}
		n = k->pend_len;
		k->pend_len = 0;
		if (rkl_pinpad_consume(pp, k->pend, n) != 0)
			return 1;	/* failed: the ERROR frame (if any) comes next */
		return 1;
	default:
		return 0;
	}
}

int
drive(struct rkl_pinpad *pp, struct kms *k, uint8_t *types, size_t *n_types)
{
	size_t nt = 0;
	int s;

	while ((s = step(pp, k, types, &nt, NULL, NULL)) == 1)
		;
	if (n_types != NULL)
		*n_types = nt;
	if (s < 0 && rkl_pinpad_last_error(pp) == 0)
		return RKL_ERR_PEER;
	return rkl_pinpad_last_error(pp);
}

int
drive_to(struct rkl_pinpad *pp, struct kms *k, enum rkl_pinpad_state target,
    uint8_t *last, size_t *last_len)
{
	while (rkl_pinpad_state(pp) != target) {
		if (step(pp, k, NULL, NULL, last, last_len) != 1)
			return -1;
		if (rkl_pinpad_state(pp) == RKL_PINPAD_FAILED)
			return -1;
	}
	return 0;
}

int
harness_read_frame(int fd, uint8_t *buf, size_t cap, size_t *len)
{
	size_t have = 0, need = 0, flen = 0;
	struct pollfd p;
	ssize_t got;
	int r;

	for (;;) {
		r = rkl_wire_frame_need(buf, have, &flen, &need);
		if (r == 0)
			break;
		if (r != RKL_ERR_INCOMPLETE || have + need > cap)
			return -1;
		p.fd = fd;
		p.events = POLLIN;
		if (poll(&p, 1, 20000) != 1)
			return -1;
		got = read(fd, buf + have, need);
		if (got <= 0)
			return -1;
		have += (size_t)got;
	}
	*len = flen;
	return 0;
}
