/* Fake key service for the KMS state machine tests and fuzzer (see fake_ks.h). */
#include "fake_ks.h"

#include <string.h>

#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/kcv.h"
#include "rkl/wire.h"

/* Deterministic generator: tests and fuzz runs are reproducible. */
static void
fake_random(struct fake_ks *f, uint8_t *out, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		uint32_t x = f->rng;

		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		f->rng = x;
		out[i] = (uint8_t)(x >> 24);
	}
}

/* A DER-shaped stand-in SPKI for toy mode (only its outer length is checked by the codec). */
static size_t
toy_spki(uint8_t *out)
{
	size_t i;

	out[0] = 0x30;
	out[1] = 0x81;
	out[2] = 0x9d;
	for (i = 3; i < 0xa0; i++)
		out[i] = (uint8_t)i;
	return 0xa0;
}

int
fake_ks_init(struct fake_ks *f, const struct rkl_crypto *c, int toy)
{
	int r = 0;

	memset(f, 0, sizeof(*f));
	f->c = c;
	f->toy = toy;
	f->rng = 0x2545F491u;
	f->next_key_id = 0x1000;
	f->xport_alg = RKL_ALG_RSA2048;
	f->hash = RKL_OAEP_SHA1;
	f->tmk_alg = RKL_ALG_AES128;
	if (toy)
		f->xport_spki_len = toy_spki(f->xport_spki);
	else
		r = c->rsa_keygen(c->ctx, 2048, f->xport_priv, sizeof(f->xport_priv), &f->xport_priv_len,
		    f->xport_spki, sizeof(f->xport_spki), &f->xport_spki_len);
	return r;
}

int
fake_ks_add(struct fake_ks *f, const char *sn, const char *pinpad_sn)
{
	struct fake_term *t;

	if (f->n_terms == FAKE_TERMS)
		return -1;
	t = &f->t[f->n_terms];
	memset(t, 0, sizeof(*t));
	strncpy(t->sn, sn, RKL_KMS_SN_MAX);
	if (pinpad_sn != NULL)
		strncpy(t->pinpad_sn, pinpad_sn, RKL_KMS_SN_MAX);
	return (int)f->n_terms++;
}

struct fake_term *
fake_ks_find(struct fake_ks *f, const char *sn)
{
	size_t i;

	for (i = 0; i < f->n_terms; i++)
		if (strcmp(f->t[i].sn, sn) == 0)
			return &f->t[i];
	return NULL;
}

void
fake_sess_init(struct fake_sess *s, struct fake_ks *f)
{
	memset(s, 0, sizeof(*s));
	s->ks = f;
	s->term = -1;
}

size_t
fake_ks_count(const struct fake_ks *f, enum rkl_ks_req req)
{
	size_t i, n = 0;

	for (i = 0; i < f->n_calls; i++)
		n += (f->calls[i] == req);
	return n;
}

static void
count_failure(struct fake_term *t)
{
	if (++t->fails >= FAKE_LOCK_AFTER)
		t->locked = 1;
}

static int
req_open(struct fake_ks *f, struct fake_sess *s, struct rkl_ks_open *o)
{
	struct fake_term *t = fake_ks_find(f, o->sn);

	if (t == NULL)
		return RKL_ERR_UNKNOWN_SN;
	if (t->revoked)
		return RKL_ERR_REVOKED;
	if (t->locked)
		return RKL_ERR_LOCKED;
	if (o->mode == RKL_KS_OPEN_FIRST && t->bound)
		return RKL_ERR_ALREADY_BOUND;
	if (o->mode == RKL_KS_OPEN_REDOWNLOAD && !t->bound)
		return RKL_ERR_NOT_BOUND;
	if (o->mode == RKL_KS_OPEN_FIRST && t->pinpad_sn[0] != '\0' &&
	    (o->pinpad_sn == NULL || strcmp(o->pinpad_sn, t->pinpad_sn) != 0))
		return RKL_ERR_AUTH;
	if (t->active)
		return RKL_ERR_BUSY;
	t->active = 1;
	s->term = (int)(t - f->t);
	o->auk_alg = t->auk_alg;
	return 0;
}

static int
req_transport_key(struct fake_ks *f, struct fake_sess *s, struct rkl_ks_transport_key *k)
{
	size_t i;
	int alg_ok = 0, hash_ok = 0;

	for (i = 0; i < k->n_algs; i++)
		alg_ok |= (k->algs[i] == f->xport_alg);
	for (i = 0; i < k->n_hashes; i++)
		hash_ok |= (k->hashes[i] == f->hash);
	if (!alg_ok || !hash_ok)
		return RKL_ERR_ALGORITHM;
	s->key_id = f->next_key_id++;
	k->key_id = s->key_id;
	memcpy(k->spki, f->xport_spki, f->xport_spki_len);
	k->spki_len = f->xport_spki_len;
	k->alg = f->xport_alg;
	k->hash = f->hash;
	return 0;
}

static int
req_bind(struct fake_ks *f, struct fake_sess *s, const struct rkl_ks_bind *b)
{
	const struct rkl_wire_tk_upload *u = b->tk;
	struct fake_term *t = &f->t[s->term];
	uint8_t h[RKL_WIRE_TK_HASH_LEN], auk[RKL_RSA_MAX_BYTES], kcv[3];
	size_t auk_len = 0, klen = rkl_alg_key_len((enum rkl_alg)u->auk_alg);
	int r;

	if (u->key_id != s->key_id || strcmp(u->sn, t->sn) != 0) {
		r = RKL_ERR_AUTH;
		goto out;
	}
	if (klen == 0) {
		r = RKL_ERR_ALGORITHM;
		goto out;
	}
	if ((r = rkl_wire_tk_hash(f->c, u, h)) != 0)
		goto out;
	if (!rkl_ct_eq(h, u->tk_hash, sizeof(h))) {
		r = RKL_ERR_AUTH;
		goto out;
	}
	/* TEK_ALG is not covered by the TK hash: it must match Pu_tek's size. */
	if ((u->tek_alg == RKL_ALG_RSA2048) != (u->pu_tek_len < 350)) {
		r = RKL_ERR_AUTH;
		goto out;
	}
	if (f->toy) {
		size_t i;

		for (i = 0; i < klen; i++)
			auk[i] = u->pu_auk[i] ^ 0xA5;
		auk_len = klen;
	} else if ((r = f->c->rsa_oaep_decrypt(f->c->ctx, f->hash, f->xport_priv, f->xport_priv_len,
	    u->pu_auk, u->pu_auk_len, auk, sizeof(auk), &auk_len)) != 0) {
		r = RKL_ERR_AUTH;
		goto out;
	}
	if (auk_len != klen) {
		r = RKL_ERR_KEY_LENGTH;
		goto out;
	}
	if ((r = rkl_kcv_legacy(f->c, rkl_alg_cipher((enum rkl_alg)u->auk_alg), auk, klen, kcv)) != 0)
		goto out;
	if (!rkl_ct_eq(kcv, u->auk_kcv, 3)) {
		r = RKL_ERR_KCV;
		goto out;
	}
	if (t->bound) {
		r = RKL_ERR_ALREADY_BOUND;
		goto out;
	}
	t->bound = 1;
	t->auk_alg = (enum rkl_alg)u->auk_alg;
	memcpy(t->auk, auk, klen);
	memcpy(t->tek, u->pu_tek, u->pu_tek_len);
	t->tek_len = u->pu_tek_len;
	t->hash = f->hash;
out:
	if (r != 0 && r != RKL_ERR_ALGORITHM && !rkl_err_is_internal(r))
		count_failure(t);
	rkl_cleanse(auk, sizeof(auk));
	return r;
}

static int
req_challenge(struct fake_ks *f, struct fake_sess *s, struct rkl_ks_challenge *c)
{
	struct fake_term *t = &f->t[s->term];
	size_t bl = rkl_alg_block_len(t->auk_alg), i;
	int r;

	if (c->rnd_len != bl)
		return RKL_ERR_LENGTH;
	for (i = 0; i < t->n_seen && i < 4; i++)
		if (rkl_ct_eq(t->seen_rnd1[i], c->rnd1, bl))
			return RKL_ERR_AUTH;	/* repeated RND1 */
	memcpy(t->seen_rnd1[t->n_seen++ % 4], c->rnd1, bl);
	if ((r = f->c->cipher(f->c->ctx, rkl_alg_cipher(t->auk_alg), RKL_MODE_ECB, 1,
	    t->auk, rkl_alg_key_len(t->auk_alg), NULL, c->rnd1, bl, c->crnd1)) != 0)
		return r;
	do
		fake_random(f, c->rnd2, bl);
	while (rkl_ct_eq(c->rnd2, c->rnd1, bl));
	memcpy(s->rnd1, c->rnd1, bl);
	memcpy(s->crnd1, c->crnd1, bl);
	memcpy(s->rnd2, c->rnd2, bl);
	s->rnd_len = bl;
	return 0;
}

static int
req_verify(struct fake_ks *f, struct fake_sess *s, const struct rkl_ks_verify *v)
{
	struct fake_term *t = &f->t[s->term];
	uint8_t p[RKL_KMS_BLOCK_MAX];
	int r;

	if (v->len != s->rnd_len) {
		r = RKL_ERR_AUTH;
		goto out;
	}
	if ((r = f->c->cipher(f->c->ctx, rkl_alg_cipher(t->auk_alg), RKL_MODE_ECB, 0,
	    t->auk, rkl_alg_key_len(t->auk_alg), NULL, v->crnd2, v->len, p)) != 0)
		goto out;
	r = rkl_ct_eq(p, s->rnd2, v->len) ? 0 : RKL_ERR_AUTH;
out:
	if (r != 0)
		count_failure(t);
	else
		t->fails = 0;
	rkl_cleanse(p, sizeof(p));
	return r;
}

static int
req_tmk(struct fake_ks *f, struct fake_sess *s, struct rkl_ks_tmk *k)
{
	struct fake_term *t = &f->t[s->term];
	size_t klen;
	int r;

	if (!t->has_tmk) {
		t->tmk_alg = f->tmk_alg;
		klen = rkl_alg_key_len(t->tmk_alg);
		fake_random(f, t->tmk, klen);
		if ((r = rkl_kcv_legacy(f->c, rkl_alg_cipher(t->tmk_alg), t->tmk, klen, t->tmk_kcv)) != 0)
			return r;
		t->tmk_version++;
		t->has_tmk = 1;
		t->tmk_delivered = 0;
	}
	klen = rkl_alg_key_len(t->tmk_alg);
	if (f->toy) {
		fake_random(f, k->ctmk, 256);
		k->ctmk_len = 256;
	} else if ((r = f->c->rsa_oaep_encrypt(f->c->ctx, t->hash, t->tek, t->tek_len,
	    t->tmk, klen, k->ctmk, sizeof(k->ctmk), &k->ctmk_len)) != 0) {
		return r;
	}
	k->tmk_alg = t->tmk_alg;
	k->tmk_len = (uint16_t)klen;
	memcpy(k->kcv, t->tmk_kcv, 3);
	k->key_version = t->tmk_version;
	return 0;
}

static int
req_confirm(struct fake_ks *f, struct fake_sess *s, const struct rkl_ks_confirm *c)
{
	struct fake_term *t = &f->t[s->term];

	if (c->kcv_len != 3 || !rkl_ct_eq(c->kcv, t->tmk_kcv, 3) || c->key_version != t->tmk_version)
		return RKL_ERR_KCV;
	t->tmk_delivered = 1;
	return 0;
}

static int
fake_call(void *ctx, void *sessp, struct rkl_ks_call *c)
{
	struct fake_ks *f = ctx;
	struct fake_sess *s = sessp;
	int r;

	if (f->n_calls < FAKE_CALLS)
		f->calls[f->n_calls++] = c->req;
	/* The request table, enforced independently of rkl_ks_track_check. */
	if (s->closed && c->req != RKL_KS_CLOSE) {
		f->violations++;
		return RKL_ERR_STATE;
	}
	if (f->fail_req == (int)c->req && f->fail_err != 0) {
		r = f->fail_err;
		f->fail_req = 0;
		s->done |= 1u << c->req;
		return r;
	}
	switch (c->req) {
	case RKL_KS_OPEN:
		if (s->done != 0) {
			f->violations++;
			return RKL_ERR_STATE;
		}
		s->done |= 1u << c->req;
		r = req_open(f, s, &c->u.open);
		if (r == 0) {
			s->mode = c->u.open.mode;
			f->open_sessions++;
		}
		return r;
	case RKL_KS_AUDIT:
		if (f->n_audit < FAKE_AUDIT) {
			struct fake_audit *a = &f->audit[f->n_audit++];

			memset(a, 0, sizeof(*a));
			a->step = c->u.audit.step;
			a->result = c->u.audit.result;
			if (s->term >= 0) {
				strncpy(a->sn, f->t[s->term].sn, RKL_KMS_SN_MAX);
			} else if (c->u.audit.sn != NULL) {
				strncpy(a->sn, c->u.audit.sn, RKL_KMS_SN_MAX);
				a->claimed = 1;
			}
		}
		return 0;
	case RKL_KS_CLOSE:
		if (!s->closed && s->term >= 0) {
			f->t[s->term].active = 0;
			f->open_sessions--;
		}
		s->closed = 1;
		return 0;
	default:
		break;
	}
	/* Every other request needs an open session and follows the table. */
	if (s->term < 0 || (s->done & (1u << c->req))) {
		f->violations++;
		return RKL_ERR_STATE;
	}
	switch (c->req) {
	case RKL_KS_TRANSPORT_KEY:
		if (s->mode != RKL_KS_OPEN_FIRST) {
			f->violations++;
			return RKL_ERR_STATE;
		}
		s->done |= 1u << c->req;
		return req_transport_key(f, s, &c->u.transport_key);
	case RKL_KS_BIND:
		if (!(s->done & (1u << RKL_KS_TRANSPORT_KEY))) {
			f->violations++;
			return RKL_ERR_STATE;
		}
		s->done |= 1u << c->req;
		return req_bind(f, s, &c->u.bind);
	case RKL_KS_CHALLENGE:
		if (!(s->mode == RKL_KS_OPEN_REDOWNLOAD || (s->done & (1u << RKL_KS_BIND)))) {
			f->violations++;
			return RKL_ERR_STATE;
		}
		s->done |= 1u << c->req;
		return req_challenge(f, s, &c->u.challenge);
	case RKL_KS_VERIFY:
		if (!(s->done & (1u << RKL_KS_CHALLENGE))) {
			f->violations++;
			return RKL_ERR_STATE;
		}
		s->done |= 1u << c->req;
		r = req_verify(f, s, &c->u.verify);
		s->verified = (r == 0);
		return r;
	case RKL_KS_TMK:
		if (!s->verified) {
			f->violations++;
			return RKL_ERR_STATE;
		}
		s->done |= 1u << c->req;
		return req_tmk(f, s, &c->u.tmk);
	case RKL_KS_CONFIRM:
		if (!(s->done & (1u << RKL_KS_TMK))) {
			f->violations++;
			return RKL_ERR_STATE;
		}
		s->done |= 1u << c->req;
		return req_confirm(f, s, &c->u.confirm);
	default:
		f->violations++;
		return RKL_ERR_STATE;
	}
}

void
fake_ks_table(struct fake_ks *f, struct rkl_keysvc *ks)
{
	ks->ctx = f;
	ks->call = fake_call;
}
