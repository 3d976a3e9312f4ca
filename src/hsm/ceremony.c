/*
 * The key ceremony (rkl/hsm.h, docs/operations.md "Adding a node"): a new
 * node's token receives the storage KEKs of an existing token without the
 * keys ever being in clear outside a token.
 *
 *   new token       rkl_hsm_ceremony_request: an RSA pair (token objects,
 *                   label rkl-ceremony) whose private key unwraps only keys
 *                   shaped exactly like a storage KEK (CKA_UNWRAP_TEMPLATE).
 *   existing token  rkl_hsm_ceremony_export: the security officer creates the
 *                   request's public key as a trusted wrapping key (only an SO
 *                   session may set CKA_TRUSTED); the user wraps each KEK
 *                   (AUK, TMK, profile-2 AUK) under it (the KEKs are CKA_WRAP_WITH_TRUSTED, so nothing
 *                   else can wrap them) and a probe key under each KEK; the
 *                   trusted key is destroyed.
 *   new token       rkl_hsm_ceremony_import: each KEK unwrapped as a token
 *                   object with the KEK template, the probes restored under
 *                   them (RFC 5649 integrity, and the AUK probe's KCV), the
 *                   check value kept beside each KEK, the pair destroyed.
 *
 * SoftHSM2 computes CKA_CHECK_VALUE only for keys it generates or is given in
 * clear, and refuses one in an unwrap template: an imported KEK has none.  Its
 * check value (proven by the probes) is kept in a non-modifiable private data
 * object with the KEK's label and CKA_APPLICATION "rkl-kcv", which
 * rkl_hsm_identity reads (src/hsm/identity.c).
 */
#include <string.h>

#include "hsm_int.h"

#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/spki.h"

#define ADD(tpl, n, typ, ptr, len) \
	do { (tpl)[n].type = (typ); (tpl)[n].pValue = hsm_unconst(ptr); \
	     (tpl)[n].ulValueLen = (len); (n)++; } while (0)

static CK_BBOOL ck_true = CK_TRUE;
static CK_BBOOL ck_false = CK_FALSE;

#define TRUE_(tpl, n, typ) ADD(tpl, n, typ, &ck_true, sizeof(CK_BBOOL))
#define FALSE_(tpl, n, typ) ADD(tpl, n, typ, &ck_false, sizeof(CK_BBOOL))

static const char trusted_label[] = "rkl-ceremony-trusted";

/* All objects of a class with a label (and, for data, an application). */
static int
find_all(struct rkl_hsm *h, CK_SESSION_HANDLE sh, CK_OBJECT_CLASS cls, const char *label,
    const char *app, CK_OBJECT_HANDLE *out, CK_ULONG cap, CK_ULONG *n)
{
	CK_ATTRIBUTE t[3];
	CK_ULONG k = 0;
	CK_RV rv;

	ADD(t, k, CKA_CLASS, &cls, sizeof(cls));
	ADD(t, k, CKA_LABEL, label, strlen(label));
	if (app != NULL)
		ADD(t, k, CKA_APPLICATION, app, strlen(app));
	if ((rv = h->f->C_FindObjectsInit(sh, t, k)) != CKR_OK)
		return hsm_rv(rv);
	rv = h->f->C_FindObjects(sh, out, cap, n);
	h->f->C_FindObjectsFinal(sh);
	return hsm_rv(rv);
}

static void
destroy_all(struct rkl_hsm *h, CK_SESSION_HANDLE sh, CK_OBJECT_CLASS cls, const char *label,
    const char *app)
{
	CK_OBJECT_HANDLE o[8];
	CK_ULONG n = 0, i;

	if (find_all(h, sh, cls, label, app, o, 8, &n) != 0)
		return;
	for (i = 0; i < n; i++)
		h->f->C_DestroyObject(sh, o[i]);
}

/* The storage KEKs in transfer order: out[i] of export, in[i] of import. */
static const struct {
	const char *name;
	enum rkl_hsm_role role;
} keks[RKL_HSM_CEREMONY_KEKS] = {
	{ "kek-auk", RKL_HSM_AUK }, { "kek-tmk", RKL_HSM_TMK }, { "kek-auk2", RKL_HSM_AUK2 },
};

static const struct rkl_p11_uri *
kek_uri(struct rkl_hsm *h, enum rkl_hsm_role role)
{
	return role == RKL_HSM_AUK ? &h->kek_auk_uri : role == RKL_HSM_TMK ? &h->kek_tmk_uri :
	    &h->kek_auk2_uri;
}

static CK_OBJECT_HANDLE *
kek_obj(struct rkl_hsm *h, enum rkl_hsm_role role)
{
	return role == RKL_HSM_AUK ? &h->kek_auk : role == RKL_HSM_TMK ? &h->kek_tmk :
	    &h->kek_auk2;
}

static int
any_kek(struct rkl_hsm *h)
{
	return h->kek_auk != 0 || h->kek_tmk != 0 || h->kek_auk2 != 0;
}

int
rkl_hsm_ceremony_request(struct rkl_hsm *h, unsigned bits, uint8_t *spki, size_t cap,
    size_t *spki_len)
{
	struct rkl_hsm_session *s = NULL;
	struct hsm_kek_tpl k;
	CK_MECHANISM mech = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
	CK_ULONG mbits = bits;
	CK_BYTE e[] = { 1, 0, 1 };
	CK_ATTRIBUTE pt[12], kt[16];
	CK_ULONG np = 0, nk = 0, i, j;
	CK_ATTRIBUTE ut[16];
	CK_OBJECT_HANDLE pub = 0, priv = 0;
	int r;

	if (h == NULL || spki == NULL || spki_len == NULL || (bits != 2048 && bits != 3072 &&
	    bits != 4096))
		return RKL_ERR_INVALID_ARG;
	if (any_kek(h))
		return RKL_ERR_EXISTS;	/* this token has storage keys of its own */
	if ((r = rkl_hsm_session_get(h, &s)) != 0)
		return r;
	/* One request at a time: a new one replaces an unused one. */
	destroy_all(h, s->sh, CKO_PRIVATE_KEY, RKL_HSM_CEREMONY_LABEL, NULL);
	destroy_all(h, s->sh, CKO_PUBLIC_KEY, RKL_HSM_CEREMONY_LABEL, NULL);
	/* What the private key unwraps: exactly a KEK (token object, sensitive,
	 * extractable only under a trusted key, no usage but wrap/unwrap, not
	 * modifiable, not copyable), whatever the caller asks. */
	if ((r = hsm_kek_template(&k, &h->kek_auk_uri, RKL_HSM_AUK, 1)) != 0)
		goto out;
	for (i = 0, j = 0; i < k.n && j < 16; i++) {
		CK_ATTRIBUTE_TYPE ty = k.t[i].type;

		if (ty == CKA_LABEL || ty == CKA_ID || ty == CKA_UNWRAP_TEMPLATE ||
		    ty == CKA_WRAP_TEMPLATE)
			continue;
		ut[j++] = k.t[i];
	}

	ADD(pt, np, CKA_TOKEN, &ck_true, sizeof(CK_BBOOL));
	FALSE_(pt, np, CKA_PRIVATE);
	ADD(pt, np, CKA_MODULUS_BITS, &mbits, sizeof(mbits));
	ADD(pt, np, CKA_PUBLIC_EXPONENT, e, sizeof(e));
	FALSE_(pt, np, CKA_ENCRYPT);
	FALSE_(pt, np, CKA_WRAP);	/* this token never wraps under it */
	FALSE_(pt, np, CKA_VERIFY);
	FALSE_(pt, np, CKA_DERIVE);
	FALSE_(pt, np, CKA_COPYABLE);
	ADD(pt, np, CKA_LABEL, RKL_HSM_CEREMONY_LABEL, strlen(RKL_HSM_CEREMONY_LABEL));
	FALSE_(pt, np, CKA_MODIFIABLE);

	TRUE_(kt, nk, CKA_TOKEN);
	TRUE_(kt, nk, CKA_PRIVATE);
	TRUE_(kt, nk, CKA_SENSITIVE);
	FALSE_(kt, nk, CKA_EXTRACTABLE);
	FALSE_(kt, nk, CKA_DECRYPT);
	FALSE_(kt, nk, CKA_SIGN);
	FALSE_(kt, nk, CKA_DERIVE);
	TRUE_(kt, nk, CKA_UNWRAP);
	FALSE_(kt, nk, CKA_COPYABLE);
	ADD(kt, nk, CKA_UNWRAP_TEMPLATE, ut, j * sizeof(CK_ATTRIBUTE));
	ADD(kt, nk, CKA_LABEL, RKL_HSM_CEREMONY_LABEL, strlen(RKL_HSM_CEREMONY_LABEL));
	FALSE_(kt, nk, CKA_MODIFIABLE);
	if ((r = hsm_rv(h->f->C_GenerateKeyPair(s->sh, &mech, pt, np, kt, nk, &pub, &priv))) != 0)
		goto out;
	if ((r = hsm_pub_spki(h, s->sh, pub, spki, cap, spki_len)) != 0) {
		h->f->C_DestroyObject(s->sh, pub);
		h->f->C_DestroyObject(s->sh, priv);
		goto out;
	}
out:
	rkl_hsm_session_put(h, s);
	return r;
}

/* The SO's step: the request's public key as a trusted wrapping key (token
 * object, public: an SO session can create no other). */
static int
so_mark_trusted(struct rkl_hsm *h, CK_SESSION_HANDLE sh, const char *so_pin,
    const struct rkl_rsa_pub *pk)
{
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_KEY_TYPE kt = CKK_RSA;
	CK_ATTRIBUTE t[16];
	CK_ULONG n = 0;
	CK_OBJECT_HANDLE o = 0;
	CK_RV rv;
	int r, r2;

	ADD(t, n, CKA_CLASS, &cls, sizeof(cls));
	ADD(t, n, CKA_KEY_TYPE, &kt, sizeof(kt));
	TRUE_(t, n, CKA_TOKEN);
	FALSE_(t, n, CKA_PRIVATE);
	ADD(t, n, CKA_MODULUS, pk->n, pk->n_len);
	ADD(t, n, CKA_PUBLIC_EXPONENT, pk->e, pk->e_len);
	TRUE_(t, n, CKA_WRAP);
	FALSE_(t, n, CKA_ENCRYPT);
	FALSE_(t, n, CKA_VERIFY);
	FALSE_(t, n, CKA_DERIVE);
	TRUE_(t, n, CKA_TRUSTED);
	ADD(t, n, CKA_LABEL, trusted_label, strlen(trusted_label));
	FALSE_(t, n, CKA_MODIFIABLE);

	rv = h->f->C_Logout(sh);
	if (rv != CKR_OK && rv != CKR_USER_NOT_LOGGED_IN)
		return hsm_rv(rv);
	rv = h->f->C_Login(sh, CKU_SO, (CK_UTF8CHAR_PTR)hsm_unconst(so_pin), strlen(so_pin));
	if (rv == CKR_OK) {
		r = hsm_rv(h->f->C_CreateObject(sh, t, n, &o));
		h->f->C_Logout(sh);
	} else {
		r = hsm_rv(rv);
	}
	/* Back to the user in any case: the handle stays usable. */
	if ((r2 = hsm_login(h)) != 0 && r == 0)
		r = r2;
	if ((r2 = hsm_find_token_objects(h, sh)) != 0 && r == 0)
		r = r2;
	return r;
}

int
rkl_hsm_ceremony_export(struct rkl_hsm *h, const char *so_pin, const uint8_t *spki,
    size_t spki_len, struct rkl_hsm_kek_transfer out[RKL_HSM_CEREMONY_KEKS])
{
	struct rkl_hsm_session *s = NULL;
	struct rkl_hsm_dl dl;
	struct rkl_rsa_pub pk;
	CK_RSA_PKCS_OAEP_PARAMS op;
	CK_MECHANISM oaep = { CKM_RSA_PKCS_OAEP, &op, sizeof(op) };
	CK_MECHANISM kw = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_MECHANISM gen = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_OBJECT_CLASS sk = CKO_SECRET_KEY;
	CK_KEY_TYPE aes = CKK_AES;
	CK_ULONG len16 = 16, n, wl;
	CK_OBJECT_HANDLE trusted = 0, probe = 0;
	CK_BYTE cv[16];
	CK_ATTRIBUTE cva = { CKA_CHECK_VALUE, cv, sizeof(cv) };
	CK_ATTRIBUTE pt[16];
	struct rkl_hsm_key tmk;
	struct rkl_hsm_kek_transfer res[RKL_HSM_CEREMONY_KEKS];
	size_t blob_len;
	int r, i, dl_open = 0;

	if (h == NULL || so_pin == NULL || spki == NULL || out == NULL)
		return RKL_ERR_INVALID_ARG;
	if ((r = rkl_spki_decode(spki, spki_len, &pk)) != 0)
		return r;
	if (h->kek_auk == 0 || h->kek_tmk == 0 || h->kek_auk2 == 0)
		return RKL_ERR_HSM_TOKEN;
	memset(res, 0, sizeof(res));
	memset(&op, 0, sizeof(op));
	op.hashAlg = h->oaep_hash;
	op.mgf = h->oaep_mgf;
	op.source = CKZ_DATA_SPECIFIED;
	if ((r = rkl_hsm_session_get(h, &s)) != 0)
		return r;
	destroy_all(h, s->sh, CKO_PUBLIC_KEY, trusted_label, NULL);
	if ((r = so_mark_trusted(h, s->sh, so_pin, &pk)) != 0)
		goto out;
	if ((r = find_all(h, s->sh, CKO_PUBLIC_KEY, trusted_label, NULL, &trusted, 1, &n)) != 0)
		goto out;
	if (n != 1) {
		r = RKL_ERR_HSM_TOKEN;
		goto out;
	}
	rkl_hsm_dl_init(h, &dl);
	dl_open = 1;
	for (i = 0; i < RKL_HSM_CEREMONY_KEKS; i++) {
		enum rkl_hsm_role role = keks[i].role;
		CK_OBJECT_HANDLE kek = *kek_obj(h, role);
		struct rkl_hsm_kek_transfer *x = &res[i];

		memcpy(x->role, keks[i].name, strlen(keks[i].name) + 1);
		cva.ulValueLen = sizeof(cv);
		if ((r = hsm_rv(h->f->C_GetAttributeValue(s->sh, kek, &cva, 1))) != 0)
			goto out;
		if (cva.ulValueLen < RKL_HSM_KCV_LEN || cva.ulValueLen > sizeof(cv)) {
			r = RKL_ERR_UNSUPPORTED;
			goto out;
		}
		memcpy(x->kcv, cv, RKL_HSM_KCV_LEN);
		wl = sizeof(x->wrapped);
		if ((r = hsm_rv(h->f->C_WrapKey(s->sh, &oaep, trusted, kek, x->wrapped, &wl))) != 0)
			goto out;
		x->wrapped_len = wl;
		/* The probe: a key of the KEK's role wrapped under it, which the
		 * new token must be able to restore. */
		if (role != RKL_HSM_TMK) {
			/* an AES-128 key of the AUK's shape: both AUK KEKs wrap it */
			n = 0;
			ADD(pt, n, CKA_CLASS, &sk, sizeof(sk));
			ADD(pt, n, CKA_KEY_TYPE, &aes, sizeof(aes));
			ADD(pt, n, CKA_VALUE_LEN, &len16, sizeof(len16));
			FALSE_(pt, n, CKA_TOKEN);
			TRUE_(pt, n, CKA_SENSITIVE);
			TRUE_(pt, n, CKA_EXTRACTABLE);
			TRUE_(pt, n, CKA_ENCRYPT);
			TRUE_(pt, n, CKA_DECRYPT);
			FALSE_(pt, n, CKA_WRAP);
			FALSE_(pt, n, CKA_UNWRAP);
			FALSE_(pt, n, CKA_SIGN);
			FALSE_(pt, n, CKA_VERIFY);
			FALSE_(pt, n, CKA_DERIVE);
			if ((r = hsm_rv(h->f->C_GenerateKey(s->sh, &gen, pt, n, &probe))) != 0)
				goto out;
			cva.ulValueLen = sizeof(cv);
			if ((r = hsm_rv(h->f->C_GetAttributeValue(s->sh, probe, &cva, 1))) != 0 ||
			    cva.ulValueLen < RKL_HSM_KCV_LEN) {
				r = r != 0 ? r : RKL_ERR_UNSUPPORTED;
				goto out;
			}
			memcpy(x->probe_kcv, cv, RKL_HSM_KCV_LEN);
			wl = sizeof(x->probe);
			r = hsm_rv(h->f->C_WrapKey(s->sh, &kw, kek, probe, x->probe, &wl));
			h->f->C_DestroyObject(s->sh, probe);
			probe = 0;
			if (r != 0)
				goto out;
			x->probe_len = wl;
		} else {
			if ((r = rkl_hsm_tmk_generate(s, &dl, RKL_ALG_AES128, &tmk, x->probe_kcv)) != 0)
				goto out;
			r = rkl_hsm_tmk_store(s, &tmk, x->probe, sizeof(x->probe), &blob_len);
			(void)rkl_hsm_key_destroy(s, &dl, &tmk);
			if (r != 0)
				goto out;
			x->probe_len = blob_len;
		}
	}
	memcpy(out, res, sizeof(res));
out:
	if (dl_open)
		(void)rkl_hsm_dl_release(s, &dl);
	if (probe != 0)
		h->f->C_DestroyObject(s->sh, probe);
	/* The trusted key goes at once: nothing else may ever be wrapped under it. */
	if (trusted != 0 && h->f->C_DestroyObject(s->sh, trusted) != CKR_OK && r == 0)
		r = RKL_ERR_HSM;
	rkl_hsm_session_put(h, s);
	rkl_cleanse(res, sizeof(res));
	return r;
}

/* The check value of an imported KEK, kept beside it (see the top). */
static int
kcv_object(struct rkl_hsm *h, CK_SESSION_HANDLE sh, const char *label, const uint8_t kcv[3],
    CK_OBJECT_HANDLE *out)
{
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE t[8];
	CK_ULONG n = 0;

	ADD(t, n, CKA_CLASS, &cls, sizeof(cls));
	TRUE_(t, n, CKA_TOKEN);
	TRUE_(t, n, CKA_PRIVATE);
	ADD(t, n, CKA_LABEL, label, strlen(label));
	ADD(t, n, CKA_APPLICATION, RKL_HSM_KCV_APP, strlen(RKL_HSM_KCV_APP));
	ADD(t, n, CKA_VALUE, kcv, RKL_HSM_KCV_LEN);
	FALSE_(t, n, CKA_MODIFIABLE);
	return hsm_rv(h->f->C_CreateObject(sh, t, n, out));
}

/*
 * The profile-2 AUK KEK's probe comes back derive-only (decision 148): no
 * encryption, and SoftHSM2 gives an unwrapped key no CKA_CHECK_VALUE.  Its
 * KCV E(probe, 0)[0..3) is read from a key derived with the zero block as
 * data (CKM_AES_ECB_ENCRYPT_DATA yields E(probe, 0)), made readable for this
 * one comparison and destroyed: the probe is a throwaway random key whose
 * KCV travels in clear anyway.  0, RKL_ERR_KCV or a token error.
 */
static int
auk2_probe_kcv(struct rkl_hsm *h, struct rkl_hsm_session *s, const struct rkl_hsm_key *k,
    const uint8_t kcv[RKL_HSM_KCV_LEN])
{
	static uint8_t zero[16];
	CK_KEY_DERIVATION_STRING_DATA kd = { zero, sizeof(zero) };
	CK_MECHANISM m = { CKM_AES_ECB_ENCRYPT_DATA, &kd, sizeof(kd) };
	CK_OBJECT_CLASS sk = CKO_SECRET_KEY;
	CK_KEY_TYPE aes = CKK_AES;
	CK_ULONG len16 = 16, n = 0;
	CK_ATTRIBUTE t[8];
	uint8_t v[16];
	CK_ATTRIBUTE g[] = { { CKA_VALUE, v, sizeof(v) } };
	CK_OBJECT_HANDLE o = 0;
	int r;

	ADD(t, n, CKA_CLASS, &sk, sizeof(sk));
	ADD(t, n, CKA_KEY_TYPE, &aes, sizeof(aes));
	ADD(t, n, CKA_VALUE_LEN, &len16, sizeof(len16));
	ADD(t, n, CKA_TOKEN, &ck_false, sizeof(ck_false));
	ADD(t, n, CKA_SENSITIVE, &ck_false, sizeof(ck_false));
	ADD(t, n, CKA_EXTRACTABLE, &ck_true, sizeof(ck_true));
	if ((r = hsm_rv(h->f->C_DeriveKey(s->sh, &m, k->obj, t, n, &o))) != 0)
		return r;
	r = hsm_rv(h->f->C_GetAttributeValue(s->sh, o, g, 1));
	h->f->C_DestroyObject(s->sh, o);
	if (r == 0)
		r = g[0].ulValueLen == sizeof(v) && rkl_ct_eq(v, kcv, RKL_HSM_KCV_LEN) ? 0 :
		    RKL_ERR_KCV;
	rkl_cleanse(v, sizeof(v));
	return r;
}

int
rkl_hsm_ceremony_import(struct rkl_hsm *h,
    const struct rkl_hsm_kek_transfer in[RKL_HSM_CEREMONY_KEKS])
{
	struct rkl_hsm_session *s = NULL;
	struct rkl_hsm_dl dl;
	struct rkl_hsm_key k;
	struct hsm_kek_tpl kt;
	CK_RSA_PKCS_OAEP_PARAMS op;
	CK_MECHANISM oaep = { CKM_RSA_PKCS_OAEP, &op, sizeof(op) };
	CK_OBJECT_HANDLE priv = 0, made[2 * RKL_HSM_CEREMONY_KEKS];
	CK_ULONG n = 0;
	int r, i, dl_open = 0;

	if (h == NULL || in == NULL)
		return RKL_ERR_INVALID_ARG;
	for (i = 0; i < RKL_HSM_CEREMONY_KEKS; i++)
		if (strcmp(in[i].role, keks[i].name) != 0)
			return RKL_ERR_INVALID_ARG;
	if (any_kek(h))
		return RKL_ERR_EXISTS;
	memset(made, 0, sizeof(made));
	memset(&op, 0, sizeof(op));
	op.hashAlg = h->oaep_hash;
	op.mgf = h->oaep_mgf;
	op.source = CKZ_DATA_SPECIFIED;
	if ((r = rkl_hsm_session_get(h, &s)) != 0)
		return r;
	if ((r = find_all(h, s->sh, CKO_PRIVATE_KEY, RKL_HSM_CEREMONY_LABEL, NULL, &priv, 1,
	    &n)) != 0)
		goto out;
	if (n != 1) {
		r = RKL_ERR_NOT_FOUND;	/* no request made on this token */
		goto out;
	}
	for (i = 0; i < RKL_HSM_CEREMONY_KEKS; i++) {
		enum rkl_hsm_role role = keks[i].role;
		const struct rkl_p11_uri *u = kek_uri(h, role);

		if ((r = hsm_kek_template(&kt, u, role, 1)) != 0)
			goto out;
		r = h->f->C_UnwrapKey(s->sh, &oaep, priv, (CK_BYTE_PTR)hsm_unconst(in[i].wrapped),
		    in[i].wrapped_len, kt.t, kt.n, &made[2 * i]);
		if ((r = hsm_rv(r)) != 0) {
			if (r == RKL_ERR_HSM && hsm_probe(s) == 0)
				r = RKL_ERR_AUTH;	/* not for this request */
			goto out;
		}
		if ((r = kcv_object(h, s->sh, u->object, in[i].kcv, &made[2 * i + 1])) != 0)
			goto out;
	}
	if ((r = hsm_find_token_objects(h, s->sh)) != 0)
		goto out;
	for (i = 0; i < RKL_HSM_CEREMONY_KEKS; i++) {
		if (*kek_obj(h, keks[i].role) != made[2 * i]) {
			r = RKL_ERR_HSM_TOKEN;	/* the URIs do not find what was made */
			goto out;
		}
	}
	/* The probes: each KEK restores what the old token wrapped under it
	 * (an AUK's with its check value; a TMK has no usage to compute one). */
	rkl_hsm_dl_init(h, &dl);
	dl_open = 1;
	for (i = 0; i < RKL_HSM_CEREMONY_KEKS; i++) {
		if ((r = rkl_hsm_restore(s, &dl, keks[i].role, RKL_ALG_AES128, in[i].probe,
		    in[i].probe_len, &k)) != 0)
			goto probe_failed;
		if (keks[i].role == RKL_HSM_AUK2 &&
		    (r = auk2_probe_kcv(h, s, &k, in[i].probe_kcv)) != 0)
			goto probe_failed;
		if (keks[i].role == RKL_HSM_AUK &&
		    (r = rkl_hsm_kcv_verify(s, &k, in[i].probe_kcv, RKL_HSM_KCV_LEN)) != 0)
			goto probe_failed;
	}
	memset(made, 0, sizeof(made));	/* kept */
	destroy_all(h, s->sh, CKO_PRIVATE_KEY, RKL_HSM_CEREMONY_LABEL, NULL);
	destroy_all(h, s->sh, CKO_PUBLIC_KEY, RKL_HSM_CEREMONY_LABEL, NULL);
	goto out;
probe_failed:
	if (r == RKL_ERR_AUTH || r == RKL_ERR_KEY_LENGTH)
		r = RKL_ERR_KCV;	/* another KEK than the check values say */
out:
	if (dl_open)
		(void)rkl_hsm_dl_release(s, &dl);
	for (i = 0, n = 0; i < 2 * RKL_HSM_CEREMONY_KEKS; i++) {
		if (made[i] != 0) {
			h->f->C_DestroyObject(s->sh, made[i]);
			n++;
		}
	}
	if (n != 0)
		(void)hsm_find_token_objects(h, s->sh);
	rkl_hsm_session_put(h, s);
	return r;
}
