/*
 * Key operations inside the HSM (the contracts are in rkl/hsm.h).  Every
 * object template is written out here in full, so that what each key may do
 * is visible in one place: no object has wrap+decrypt or unwrap+encrypt.
 */
#include <string.h>

#include "hsm_int.h"

#include "rkl/ct.h"
#include "rkl/spki.h"
#include "rkl/err.h"

#define ADD(tpl, n, typ, ptr, len) \
	do { (tpl)[n].type = (typ); (tpl)[n].pValue = hsm_unconst(ptr); \
	     (tpl)[n].ulValueLen = (len); (n)++; } while (0)

static CK_BBOOL ck_true = CK_TRUE;
static CK_BBOOL ck_false = CK_FALSE;

#define TRUE_(tpl, n, typ) ADD(tpl, n, typ, &ck_true, sizeof(CK_BBOOL))
#define FALSE_(tpl, n, typ) ADD(tpl, n, typ, &ck_false, sizeof(CK_BBOOL))

static int
key_ok(const struct rkl_hsm_session *s, const struct rkl_hsm_key *k)
{
	if (k == NULL || k->obj == 0)
		return RKL_ERR_INVALID_ARG;
	if (k->gen != s->h->gen)
		return RKL_ERR_HSM_STALE;
	return 0;
}

static int
dl_room(const struct rkl_hsm_session *s, const struct rkl_hsm_dl *dl)
{
	if (dl == NULL)
		return RKL_ERR_INVALID_ARG;
	if (dl->gen != s->h->gen)
		return RKL_ERR_HSM_STALE;
	if (dl->n >= RKL_HSM_DL_MAX)
		return RKL_ERR_LIMIT;
	return 0;
}

int
hsm_dl_add(struct rkl_hsm_dl *dl, CK_OBJECT_HANDLE obj)
{
	if (dl->n >= RKL_HSM_DL_MAX)
		return RKL_ERR_LIMIT;
	dl->obj[dl->n++] = obj;
	return 0;
}

static void
destroy(struct rkl_hsm_session *s, CK_OBJECT_HANDLE *o)
{
	if (*o != 0)
		s->h->f->C_DestroyObject(s->sh, *o);
	*o = 0;
}

static CK_KEY_TYPE
key_type(enum rkl_alg alg)
{
	switch (alg) {
	case RKL_ALG_TDES2: return CKK_DES2;
	case RKL_ALG_TDES3: return CKK_DES3;
	default: return CKK_AES;
	}
}

static CK_MECHANISM_TYPE
ecb_mech(enum rkl_alg alg)
{
	return rkl_alg_cipher(alg) == RKL_CIPHER_TDES ? CKM_DES3_ECB : CKM_AES_ECB;
}

/* ---- the roles' templates ---- */

/* What a profile-2 AUK may be used with: the derivation of its session's
 * directional keys, nothing else (no CKM_AES_ECB: the challenges are CMACs
 * under the derived keys, so nothing reachable from the network computes
 * E(AUK, chosen data) - decision 148).  One entry; SoftHSM2 compares the
 * array byte for byte against its stored (sorted) set. */
static CK_MECHANISM_TYPE auk2_mechs[] = { CKM_AES_ECB_ENCRYPT_DATA };
/* What a profile-2 MAC key may be used with. */
static CK_MECHANISM_TYPE mac_mechs[] = { CKM_AES_CMAC };
static CK_OBJECT_CLASS secret_class = CKO_SECRET_KEY;

CK_ULONG
hsm_role_template(enum rkl_hsm_role role, CK_ATTRIBUTE *t)
{
	CK_BBOOL *use, *derive;
	CK_ULONG n = 0;

	switch (role) {
	case RKL_HSM_AUK: use = &ck_true; derive = &ck_false; break;
	case RKL_HSM_TMK: use = &ck_false; derive = &ck_false; break;
	case RKL_HSM_AUK2: use = &ck_false; derive = &ck_true; break;
	default: return 0;
	}
	ADD(t, n, CKA_CLASS, &secret_class, sizeof(secret_class));
	FALSE_(t, n, CKA_TOKEN);
	TRUE_(t, n, CKA_PRIVATE);
	TRUE_(t, n, CKA_SENSITIVE);
	FALSE_(t, n, CKA_EXTRACTABLE);
	/* An AUK encrypts and decrypts (challenges); a TMK does nothing (a
	 * re-download re-sends the stored Ctmk_tk); a profile-2 AUK only
	 * derives its session's MAC keys (ECB_ENCRYPT_DATA), and nothing
	 * else: no encrypt, no decrypt (decision 148). */
	ADD(t, n, CKA_ENCRYPT, use, sizeof(CK_BBOOL));
	ADD(t, n, CKA_DECRYPT, use, sizeof(CK_BBOOL));
	FALSE_(t, n, CKA_WRAP);
	FALSE_(t, n, CKA_UNWRAP);
	FALSE_(t, n, CKA_SIGN);
	FALSE_(t, n, CKA_VERIFY);
	ADD(t, n, CKA_DERIVE, derive, sizeof(CK_BBOOL));
	if (role == RKL_HSM_AUK2)
		ADD(t, n, CKA_ALLOWED_MECHANISMS, auk2_mechs, sizeof(auk2_mechs));
	FALSE_(t, n, CKA_COPYABLE);
	/* Last: SoftHSM2 applies a template in order and refuses every
	 * attribute after MODIFIABLE F (CKR_ATTRIBUTE_READ_ONLY). */
	FALSE_(t, n, CKA_MODIFIABLE);
	return n;
}

/* ---- download contexts ---- */

void
rkl_hsm_dl_init(struct rkl_hsm *h, struct rkl_hsm_dl *dl)
{
	memset(dl, 0, sizeof(*dl));
	dl->gen = h->gen;
}

int
rkl_hsm_dl_release(struct rkl_hsm_session *s, struct rkl_hsm_dl *dl)
{
	unsigned i;
	int r = 0, r2;

	if (s == NULL || dl == NULL)
		return RKL_ERR_INVALID_ARG;
	if (dl->gen == s->h->gen) {
		for (i = 0; i < dl->n; i++) {
			r2 = hsm_rv(s->h->f->C_DestroyObject(s->sh, dl->obj[i]));
			if (r == 0)
				r = r2;
		}
	}
	memset(dl->obj, 0, sizeof(dl->obj));
	dl->n = 0;
	dl->gen = s->h->gen;
	return r;
}

int
rkl_hsm_key_destroy(struct rkl_hsm_session *s, struct rkl_hsm_dl *dl, struct rkl_hsm_key *k)
{
	unsigned i;
	int r;

	if (s == NULL || dl == NULL)
		return RKL_ERR_INVALID_ARG;
	if ((r = key_ok(s, k)) != 0)
		return r;
	if (dl->gen != s->h->gen)
		return RKL_ERR_HSM_STALE;
	for (i = 0; i < dl->n; i++) {
		if (dl->obj[i] == k->obj) {
			r = hsm_rv(s->h->f->C_DestroyObject(s->sh, k->obj));
			dl->obj[i] = dl->obj[--dl->n];
			dl->obj[dl->n] = 0;
			k->obj = 0;
			return r;
		}
	}
	return RKL_ERR_NOT_FOUND;
}

int
rkl_hsm_count_session_objects(struct rkl_hsm_session *s, unsigned long *n)
{
	CK_ATTRIBUTE t[] = { { CKA_TOKEN, &ck_false, sizeof(CK_BBOOL) } };
	CK_OBJECT_HANDLE o[64];
	CK_ULONG got, total = 0;
	CK_RV rv;

	rv = s->h->f->C_FindObjectsInit(s->sh, t, 1);
	if (rv != CKR_OK)
		return hsm_rv(rv);
	do {
		rv = s->h->f->C_FindObjects(s->sh, o, 64, &got);
		if (rv != CKR_OK)
			break;
		total += got;
	} while (got > 0);
	s->h->f->C_FindObjectsFinal(s->sh);
	if (rv != CKR_OK)
		return hsm_rv(rv);
	*n = total;
	return 0;
}

/* ---- RSA transport pairs ---- */

int
hsm_pub_spki(struct rkl_hsm *h, CK_SESSION_HANDLE sh, CK_OBJECT_HANDLE pub,
    uint8_t *spki, size_t cap, size_t *spki_len)
{
	CK_BYTE n[RKL_RSA_MAX_BYTES], e[16];
	CK_ATTRIBUTE t[] = {
		{ CKA_MODULUS, n, sizeof(n) }, { CKA_PUBLIC_EXPONENT, e, sizeof(e) },
	};
	struct rkl_rsa_pub pk;
	CK_RV rv;

	rv = h->f->C_GetAttributeValue(sh, pub, t, 2);
	if (rv != CKR_OK)
		return hsm_rv(rv);
	pk.n = n;
	pk.n_len = t[0].ulValueLen;
	pk.e = e;
	pk.e_len = t[1].ulValueLen;
	return rkl_spki_encode(&pk, spki, cap, spki_len);
}

int
hsm_gen_pair(struct rkl_hsm *h, CK_SESSION_HANDLE sh, unsigned bits,
    const struct rkl_p11_uri *u, CK_OBJECT_HANDLE *priv_out, uint8_t *spki, size_t cap,
    size_t *spki_len)
{
	CK_MECHANISM mech = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
	CK_ULONG mbits = bits;
	CK_BYTE e[] = { 1, 0, 1 };
	CK_BBOOL token = u != NULL ? CK_TRUE : CK_FALSE;
	/* What Pr_hsm unwraps is an AUK in a session object: sensitive,
	 * encrypt/decrypt only (challenges), never copied, never wrapping,
	 * signing or deriving.  It stays extractable (and modifiable, to make
	 * it non-extractable after its one wrap under the AUK KEK): the length
	 * check and the storage blob need that wrap (docs/architecture.md,
	 * decision 26; the limit this leaves is in docs/security.md). */
	static CK_OBJECT_CLASS sk = CKO_SECRET_KEY;
	CK_ATTRIBUTE unwrap_tpl[] = {
		{ CKA_CLASS, &sk, sizeof(sk) },
		{ CKA_TOKEN, &ck_false, sizeof(CK_BBOOL) },
		{ CKA_PRIVATE, &ck_true, sizeof(CK_BBOOL) },
		{ CKA_SENSITIVE, &ck_true, sizeof(CK_BBOOL) },
		{ CKA_ENCRYPT, &ck_true, sizeof(CK_BBOOL) },
		{ CKA_DECRYPT, &ck_true, sizeof(CK_BBOOL) },
		{ CKA_WRAP, &ck_false, sizeof(CK_BBOOL) },
		{ CKA_UNWRAP, &ck_false, sizeof(CK_BBOOL) },
		{ CKA_SIGN, &ck_false, sizeof(CK_BBOOL) },
		{ CKA_VERIFY, &ck_false, sizeof(CK_BBOOL) },
		{ CKA_DERIVE, &ck_false, sizeof(CK_BBOOL) },
		{ CKA_COPYABLE, &ck_false, sizeof(CK_BBOOL) },
	};
	CK_ATTRIBUTE pt[12], kt[16];
	CK_ULONG np = 0, nk = 0;
	CK_OBJECT_HANDLE pub = 0, priv = 0;
	size_t len = 0;
	int r;

	ADD(pt, np, CKA_TOKEN, &token, sizeof(token));
	FALSE_(pt, np, CKA_PRIVATE);
	ADD(pt, np, CKA_MODULUS_BITS, &mbits, sizeof(mbits));
	ADD(pt, np, CKA_PUBLIC_EXPONENT, e, sizeof(e));
	FALSE_(pt, np, CKA_ENCRYPT);	/* the terminal encrypts, never the KMS */
	FALSE_(pt, np, CKA_WRAP);
	FALSE_(pt, np, CKA_VERIFY);
	FALSE_(pt, np, CKA_DERIVE);
	FALSE_(pt, np, CKA_MODIFIABLE);
	FALSE_(pt, np, CKA_COPYABLE);

	ADD(kt, nk, CKA_TOKEN, &token, sizeof(token));
	TRUE_(kt, nk, CKA_PRIVATE);
	TRUE_(kt, nk, CKA_SENSITIVE);
	FALSE_(kt, nk, CKA_EXTRACTABLE);
	FALSE_(kt, nk, CKA_DECRYPT);	/* Pu_auk never decrypts to the host */
	FALSE_(kt, nk, CKA_SIGN);
	FALSE_(kt, nk, CKA_DERIVE);
	TRUE_(kt, nk, CKA_UNWRAP);
	FALSE_(kt, nk, CKA_MODIFIABLE);
	FALSE_(kt, nk, CKA_COPYABLE);
	ADD(kt, nk, CKA_UNWRAP_TEMPLATE, unwrap_tpl, sizeof(unwrap_tpl));
	if (u != NULL && u->object[0] != '\0') {
		ADD(pt, np, CKA_LABEL, u->object, strlen(u->object));
		ADD(kt, nk, CKA_LABEL, u->object, strlen(u->object));
	}
	if (u != NULL && u->has_id) {
		ADD(pt, np, CKA_ID, u->id, u->id_len);
		ADD(kt, nk, CKA_ID, u->id, u->id_len);
	}
	r = hsm_rv(h->f->C_GenerateKeyPair(sh, &mech, pt, np, kt, nk, &pub, &priv));
	if (r != 0)
		goto out;
	if ((r = hsm_pub_spki(h, sh, pub, spki, cap, &len)) != 0)
		goto out;
	if (!token)
		h->f->C_DestroyObject(sh, pub);
	pub = 0;
	*priv_out = priv;
	priv = 0;
	*spki_len = len;
out:
	if (pub != 0)
		h->f->C_DestroyObject(sh, pub);
	if (priv != 0)
		h->f->C_DestroyObject(sh, priv);
	return r;
}

static enum rkl_alg
rsa_alg(size_t spki_len_bits)
{
	return spki_len_bits == 3072 ? RKL_ALG_RSA3072 : spki_len_bits == 2048 ?
	    RKL_ALG_RSA2048 : RKL_ALG_NONE;
}

int
rkl_hsm_transport_shared(struct rkl_hsm_session *s, struct rkl_hsm_key *priv,
    uint8_t *spki, size_t spki_cap, size_t *spki_len)
{
	struct rkl_hsm *h = s->h;
	CK_ULONG bits = 0;
	CK_ATTRIBUTE t[] = { { CKA_MODULUS_BITS, &bits, sizeof(bits) } };
	size_t len;
	int r;

	if (h->xport_priv == 0 || h->xport_pub == 0)
		return RKL_ERR_HSM_TOKEN;
	if ((r = hsm_pub_spki(h, s->sh, h->xport_pub, spki, spki_cap, &len)) != 0)
		return r;
	if (h->f->C_GetAttributeValue(s->sh, h->xport_pub, t, 1) != CKR_OK)
		bits = 0;
	priv->obj = h->xport_priv;
	priv->alg = rsa_alg(bits);
	priv->gen = h->gen;
	*spki_len = len;
	return 0;
}

int
rkl_hsm_transport_generate(struct rkl_hsm_session *s, struct rkl_hsm_dl *dl,
    enum rkl_alg alg, struct rkl_hsm_key *priv, uint8_t *spki, size_t spki_cap,
    size_t *spki_len)
{
	CK_OBJECT_HANDLE o = 0;
	int r;

	if (alg != RKL_ALG_RSA2048 && alg != RKL_ALG_RSA3072)
		return RKL_ERR_ALGORITHM;
	if ((r = dl_room(s, dl)) != 0)
		return r;
	if ((r = hsm_gen_pair(s->h, s->sh, rkl_alg_rsa_bits(alg), NULL, &o, spki, spki_cap,
	    spki_len)) != 0)
		return r;
	(void)hsm_dl_add(dl, o);	/* room checked above */
	priv->obj = o;
	priv->alg = alg;
	priv->gen = s->h->gen;
	return 0;
}

/* ---- symmetric helpers ---- */

/* One ECB block under k; the PKCS#11 result as it is (key_ok() failures:
 * *r set and CKR_GENERAL_ERROR returned). */
static CK_RV
ecb_rv(struct rkl_hsm_session *s, const struct rkl_hsm_key *k, int enc, const uint8_t *in,
    size_t len, uint8_t *out, int *r)
{
	CK_MECHANISM m = { ecb_mech(k->alg), NULL, 0 };
	CK_BYTE buf[16];
	CK_ULONG olen = sizeof(buf);
	CK_RV rv;

	*r = 0;
	if ((*r = key_ok(s, k)) != 0)
		return CKR_GENERAL_ERROR;
	if (rkl_alg_block_len(k->alg) == 0)
		*r = RKL_ERR_ALGORITHM;
	else if (in == NULL || out == NULL || len != rkl_alg_block_len(k->alg))
		*r = RKL_ERR_LENGTH;
	if (*r != 0)
		return CKR_GENERAL_ERROR;
	rv = enc ? s->h->f->C_EncryptInit(s->sh, &m, k->obj) :
	    s->h->f->C_DecryptInit(s->sh, &m, k->obj);
	if (rv == CKR_OK) {
		rv = enc ? s->h->f->C_Encrypt(s->sh, hsm_unconst(in), len, buf, &olen) :
		    s->h->f->C_Decrypt(s->sh, hsm_unconst(in), len, buf, &olen);
	}
	if (rv == CKR_OK && olen != len)
		rv = CKR_GENERAL_ERROR;
	if (rv == CKR_OK)
		memcpy(out, buf, len);
	rkl_cleanse(buf, sizeof(buf));
	return rv;
}

static int
ecb(struct rkl_hsm_session *s, const struct rkl_hsm_key *k, int enc, const uint8_t *in,
    size_t len, uint8_t *out)
{
	int r;
	CK_RV rv = ecb_rv(s, k, enc, in, len, out, &r);

	return r != 0 ? r : hsm_rv(rv);
}

int
rkl_hsm_encrypt_block(struct rkl_hsm_session *s, const struct rkl_hsm_key *k,
    const uint8_t *in, size_t len, uint8_t *out)
{
	return ecb(s, k, 1, in, len, out);
}

int
rkl_hsm_decrypt_block(struct rkl_hsm_session *s, const struct rkl_hsm_key *k,
    const uint8_t *in, size_t len, uint8_t *out)
{
	return ecb(s, k, 0, in, len, out);
}

int
rkl_hsm_kcv(struct rkl_hsm_session *s, const struct rkl_hsm_key *k, uint8_t kcv[RKL_HSM_KCV_LEN])
{
	CK_BYTE cv[16];
	CK_ATTRIBUTE t[] = { { CKA_CHECK_VALUE, cv, sizeof(cv) } };
	uint8_t zero[16] = { 0 }, out[16];
	CK_BBOOL can = CK_FALSE;
	CK_ATTRIBUTE e[] = { { CKA_ENCRYPT, &can, sizeof(can) } };
	int r;

	if ((r = key_ok(s, k)) != 0)
		return r;
	if (rkl_alg_block_len(k->alg) == 0)
		return RKL_ERR_ALGORITHM;
	if (s->h->f->C_GetAttributeValue(s->sh, k->obj, t, 1) == CKR_OK &&
	    t[0].ulValueLen >= RKL_HSM_KCV_LEN && t[0].ulValueLen <= sizeof(cv)) {
		memcpy(kcv, cv, RKL_HSM_KCV_LEN);
		return 0;
	}
	if ((r = hsm_rv_internal(s->h->f->C_GetAttributeValue(s->sh, k->obj, e, 1))) != 0)
		return r;
	if (can != CK_TRUE)
		return RKL_ERR_UNSUPPORTED;
	if ((r = ecb(s, k, 1, zero, rkl_alg_block_len(k->alg), out)) != 0)
		return r;
	memcpy(kcv, out, RKL_HSM_KCV_LEN);
	return 0;
}

int
rkl_hsm_kcv_verify(struct rkl_hsm_session *s, const struct rkl_hsm_key *k,
    const uint8_t *kcv, size_t kcv_len)
{
	uint8_t mine[RKL_HSM_KCV_LEN];
	int r;

	if (kcv == NULL || kcv_len == 0 || kcv_len > RKL_HSM_KCV_LEN)
		return RKL_ERR_LENGTH;
	if ((r = rkl_hsm_kcv(s, k, mine)) != 0)
		return r;
	return rkl_ct_eq(mine, kcv, kcv_len) ? 0 : RKL_ERR_KCV;
}

/* Is the object's length right for alg, as far as CKA_VALUE_LEN tells?
 * SoftHSM2 leaves it 0 on unwrapped AES keys and TDES keys have none, so
 * callers also check the length another way. */
static int
check_value_len(struct rkl_hsm_session *s, CK_OBJECT_HANDLE o, enum rkl_alg alg)
{
	CK_ULONG vl = 0;
	CK_ATTRIBUTE t[] = { { CKA_VALUE_LEN, &vl, sizeof(vl) } };
	CK_RV rv;

	rv = s->h->f->C_GetAttributeValue(s->sh, o, t, 1);
	if (rv == CKR_OK && t[0].ulValueLen == sizeof(vl) && vl != 0)
		return vl == rkl_alg_key_len(alg) ? 0 : RKL_ERR_KEY_LENGTH;
	return 0;
}

/* ---- telling the token's faults from the data's ---- */

int
hsm_probe(struct rkl_hsm_session *s)
{
	CK_FUNCTION_LIST_PTR f = s->h->f;
	CK_MECHANISM gen = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_MECHANISM kw = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_ULONG len = 16;
	CK_OBJECT_HANDLE kek = 0, key = 0, back = 0;
	CK_ATTRIBUTE kekt[12], keyt[12], backt[12];
	CK_ULONG n1 = 0, n2 = 0, n3 = 0, wlen;
	CK_BYTE w[64];
	int r = RKL_ERR_HSM;

	ADD(kekt, n1, CKA_VALUE_LEN, &len, sizeof(len));
	FALSE_(kekt, n1, CKA_TOKEN);
	TRUE_(kekt, n1, CKA_PRIVATE);
	TRUE_(kekt, n1, CKA_SENSITIVE);
	FALSE_(kekt, n1, CKA_EXTRACTABLE);
	TRUE_(kekt, n1, CKA_WRAP);
	TRUE_(kekt, n1, CKA_UNWRAP);
	FALSE_(kekt, n1, CKA_ENCRYPT);
	FALSE_(kekt, n1, CKA_DECRYPT);
	ADD(keyt, n2, CKA_VALUE_LEN, &len, sizeof(len));
	FALSE_(keyt, n2, CKA_TOKEN);
	TRUE_(keyt, n2, CKA_PRIVATE);
	TRUE_(keyt, n2, CKA_SENSITIVE);
	TRUE_(keyt, n2, CKA_EXTRACTABLE);
	FALSE_(keyt, n2, CKA_ENCRYPT);
	FALSE_(keyt, n2, CKA_DECRYPT);
	ADD(backt, n3, CKA_CLASS, &cls, sizeof(cls));
	ADD(backt, n3, CKA_KEY_TYPE, &kt, sizeof(kt));
	FALSE_(backt, n3, CKA_TOKEN);
	TRUE_(backt, n3, CKA_PRIVATE);
	TRUE_(backt, n3, CKA_SENSITIVE);
	FALSE_(backt, n3, CKA_EXTRACTABLE);
	FALSE_(backt, n3, CKA_ENCRYPT);
	FALSE_(backt, n3, CKA_DECRYPT);
	wlen = sizeof(w);
	if (f->C_GenerateKey(s->sh, &gen, kekt, n1, &kek) == CKR_OK &&
	    f->C_GenerateKey(s->sh, &gen, keyt, n2, &key) == CKR_OK &&
	    f->C_WrapKey(s->sh, &kw, kek, key, w, &wlen) == CKR_OK &&
	    f->C_UnwrapKey(s->sh, &kw, kek, w, wlen, backt, n3, &back) == CKR_OK)
		r = 0;
	else
		back = 0;
	if (back != 0)
		f->C_DestroyObject(s->sh, back);
	if (key != 0)
		f->C_DestroyObject(s->sh, key);
	if (kek != 0)
		f->C_DestroyObject(s->sh, kek);
	return r;
}

int
hsm_unwrap_err(struct rkl_hsm_session *s, CK_RV rv, int data_err)
{
	if (hsm_rv_bad_data(rv))
		return data_err;
	if (rv == CKR_GENERAL_ERROR)
		return hsm_probe(s) == 0 ? data_err : RKL_ERR_HSM;
	return hsm_rv_internal(rv);
}

/* ---- S4: AUK ---- */

/*
 * SoftHSM2 does not check unwrapped key lengths, a TDES key of the wrong
 * length (24 bytes as 2-key, 16 as 3-key) even encrypts without complaint,
 * and an unwrapped AES key has CKA_VALUE_LEN 0.  So the AUK is unwrapped
 * extractable and wrapped once under the AUK storage KEK: an RFC 5649 blob
 * is the key length rounded up to 8, plus 8.  All rkl key lengths are
 * multiples of 8, so a blob of key_len + 8 bytes leaves only lengths
 * key_len - 7 .. key_len - 1, which the trial encryption of the KCV refuses
 * for AES (no such AES key size) and TDES (no such TDES key size).  Then the
 * key is made non-extractable for good.
 */
int
rkl_hsm_auk_unwrap(struct rkl_hsm_session *s, struct rkl_hsm_dl *dl,
    const struct rkl_hsm_key *xport, enum rkl_alg alg,
    const uint8_t *pu_auk, size_t pu_auk_len, const uint8_t *kcv, size_t kcv_len,
    struct rkl_hsm_key *auk, uint8_t *blob, size_t blob_cap, size_t *blob_len)
{
	return rkl_hsm_auk_unwrap_role(s, dl, RKL_HSM_AUK, xport, alg, pu_auk, pu_auk_len,
	    kcv, kcv_len, auk, blob, blob_cap, blob_len);
}

/*
 * Profile 2 (role AUK2): the same unwrap and checks (the KCV on the unwrapped
 * object, before it is destroyed), the blob made under the AUK2 KEK, and the
 * live key restored from that blob, so that it carries the AUK2 template
 * (derive only) while the transport keys' unwrap template stays the
 * profile-1 shape for both profiles (pool pairs are made before anyone knows
 * which profile will use them).  Costs one AES key unwrap more.
 */
int
rkl_hsm_auk_unwrap_role(struct rkl_hsm_session *s, struct rkl_hsm_dl *dl,
    enum rkl_hsm_role role, const struct rkl_hsm_key *xport, enum rkl_alg alg,
    const uint8_t *pu_auk, size_t pu_auk_len, const uint8_t *kcv, size_t kcv_len,
    struct rkl_hsm_key *auk, uint8_t *blob, size_t blob_cap, size_t *blob_len)
{
	struct rkl_hsm *h = s->h;
	CK_RSA_PKCS_OAEP_PARAMS op = { h->oaep_hash, h->oaep_mgf, CKZ_DATA_SPECIFIED, NULL, 0 };
	CK_MECHANISM oaep = { CKM_RSA_PKCS_OAEP, &op, sizeof(op) };
	CK_MECHANISM kw = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = key_type(alg);
	size_t bl = rkl_alg_block_len(alg), klen = rkl_alg_key_len(alg);
	CK_BBOOL wrap = CK_TRUE;		/* wrapped once under the KEK */
	CK_ATTRIBUTE t[16], lock[] = { { CKA_EXTRACTABLE, &ck_false, sizeof(CK_BBOOL) } };
	CK_ULONG n = 0, wlen = 0;
	CK_OBJECT_HANDLE o = 0;
	CK_BYTE wbuf[RKL_HSM_BLOB_MAX];
	CK_BBOOL chk = CK_TRUE;
	CK_ATTRIBUTE back[] = { { CKA_EXTRACTABLE, &chk, sizeof(chk) } };
	struct rkl_hsm_key tmp;
	uint8_t zero[16] = { 0 }, e0[16] = { 0 };
	CK_OBJECT_HANDLE kek;
	CK_RV rv;
	int r;

	if (klen == 0)
		return RKL_ERR_ALGORITHM;
	if (role != RKL_HSM_AUK && role != RKL_HSM_AUK2)
		return RKL_ERR_INVALID_ARG;
	if (role == RKL_HSM_AUK2 && alg != RKL_ALG_AES128 && alg != RKL_ALG_AES256)
		return RKL_ERR_ALGORITHM;
	if (auk == NULL)
		return RKL_ERR_INVALID_ARG;
	if ((r = key_ok(s, xport)) != 0 || (r = dl_room(s, dl)) != 0)
		return r;
	if (pu_auk == NULL || pu_auk_len == 0 || pu_auk_len > RKL_RSA_MAX_BYTES)
		return RKL_ERR_AUTH;
	if (kcv != NULL && (kcv_len < 2 || kcv_len > bl))
		return RKL_ERR_LENGTH;
	if (blob != NULL && blob_len == NULL)
		return RKL_ERR_INVALID_ARG;
	kek = role == RKL_HSM_AUK2 ? h->kek_auk2 : h->kek_auk;
	if (kek == 0)
		return RKL_ERR_HSM_TOKEN;
	if (rkl_alg_cipher(alg) == RKL_CIPHER_TDES && !h->info.des3_ecb)
		return RKL_ERR_HSM_MECH;

	ADD(t, n, CKA_CLASS, &cls, sizeof(cls));
	ADD(t, n, CKA_KEY_TYPE, &kt, sizeof(kt));
	FALSE_(t, n, CKA_TOKEN);
	TRUE_(t, n, CKA_PRIVATE);
	TRUE_(t, n, CKA_SENSITIVE);
	ADD(t, n, CKA_EXTRACTABLE, &wrap, sizeof(wrap));
	/* A key that is made non-extractable afterwards must stay modifiable
	 * (SoftHSM2 refuses any change to a non-modifiable object); it is a
	 * session object, visible to this process only. */
	ADD(t, n, CKA_MODIFIABLE, &wrap, sizeof(wrap));
	TRUE_(t, n, CKA_ENCRYPT);
	TRUE_(t, n, CKA_DECRYPT);
	FALSE_(t, n, CKA_WRAP);
	FALSE_(t, n, CKA_UNWRAP);
	FALSE_(t, n, CKA_SIGN);
	FALSE_(t, n, CKA_VERIFY);
	FALSE_(t, n, CKA_DERIVE);
	FALSE_(t, n, CKA_COPYABLE);
	rv = h->f->C_UnwrapKey(s->sh, &oaep, xport->obj, hsm_unconst(pu_auk), pu_auk_len,
	    t, n, &o);
	if (rv != CKR_OK) {
		o = 0;
		r = hsm_unwrap_err(s, rv, RKL_ERR_AUTH);
		goto out;
	}
	if ((r = check_value_len(s, o, alg)) != 0)
		goto out;
	{
		wlen = sizeof(wbuf);
		rv = h->f->C_WrapKey(s->sh, &kw, kek, o, wbuf, &wlen);
		/* KW-PAD is checked at open; failing on this key means a
		 * key of no usable length: CKR_KEY_SIZE_RANGE, SoftHSM2's
		 * CKR_KEY_NOT_WRAPPABLE for an empty key, or its
		 * CKR_GENERAL_ERROR on a working token. */
		if (rv != CKR_OK) {
			r = rv == CKR_KEY_SIZE_RANGE || rv == CKR_KEY_NOT_WRAPPABLE ?
			    RKL_ERR_KEY_LENGTH : hsm_unwrap_err(s, rv, RKL_ERR_KEY_LENGTH);
			goto out;
		}
		if (wlen != klen + 8) {
			r = RKL_ERR_KEY_LENGTH;
			goto out;
		}
		if (blob != NULL && wlen > blob_cap) {
			r = RKL_ERR_BUFFER_SPACE;
			goto out;
		}
		/* From now on the AUK never leaves the HSM again. */
		if ((r = hsm_rv_internal(h->f->C_SetAttributeValue(s->sh, o, lock, 1))) != 0 ||
		    (r = hsm_rv_internal(h->f->C_GetAttributeValue(s->sh, o, back, 1))) != 0)
			goto out;
		if (chk != CK_FALSE) {
			r = RKL_ERR_HSM;
			goto out;
		}
	}
	/* Legacy KCV: E(AUK, zero block), compared with the terminal's.  For
	 * profile 2 too: o is this function's own session object (encrypt
	 * allowed, never handed out), used once on the fixed zero block and
	 * destroyed below; the AUK2 key that lives on is restored from the
	 * blob and only derives (decision 148). */
	tmp.obj = o;
	tmp.alg = alg;
	tmp.gen = h->gen;
	rv = ecb_rv(s, &tmp, 1, zero, bl, e0, &r);
	if (r == 0 && rv != CKR_OK) {
		/* The mechanism was checked at open: refusing it for this key
		 * (SoftHSM2: CKR_MECHANISM_INVALID from C_EncryptInit) means
		 * the key's length is wrong.  Anything else is the token's. */
		r = rv == CKR_MECHANISM_INVALID || rv == CKR_KEY_SIZE_RANGE ||
		    rv == CKR_KEY_TYPE_INCONSISTENT ? RKL_ERR_KEY_LENGTH : hsm_rv_internal(rv);
	}
	if (r != 0)
		goto out;
	if (kcv != NULL && !rkl_ct_eq(e0, kcv, kcv_len)) {
		r = RKL_ERR_KCV;
		goto out;
	}
	if (role == RKL_HSM_AUK2) {
		/* Our own blob of a checked key: a failure is the token's. */
		if ((r = rkl_hsm_restore(s, dl, RKL_HSM_AUK2, alg, wbuf, wlen, &tmp)) != 0) {
			if (!rkl_err_is_internal(r))
				r = RKL_ERR_HSM;
			goto out;
		}
		destroy(s, &o);
		*auk = tmp;
	} else {
		(void)hsm_dl_add(dl, o);
		auk->obj = o;
		auk->alg = alg;
		auk->gen = h->gen;
		o = 0;
	}
	if (blob != NULL) {
		memcpy(blob, wbuf, wlen);
		*blob_len = wlen;
	}
out:
	rkl_cleanse(e0, sizeof(e0));
	destroy(s, &o);
	return r;
}

/* ---- S6: TMK ---- */

int
rkl_hsm_tmk_generate(struct rkl_hsm_session *s, struct rkl_hsm_dl *dl,
    enum rkl_alg alg, struct rkl_hsm_key *tmk, uint8_t kcv[RKL_HSM_KCV_LEN])
{
	struct rkl_hsm *h = s->h;
	CK_MECHANISM m = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = key_type(alg);
	CK_ULONG vlen = rkl_alg_key_len(alg);
	CK_BYTE cv[16];
	CK_ATTRIBUTE t[16], ct[] = { { CKA_CHECK_VALUE, cv, sizeof(cv) } };
	CK_ULONG n = 0;
	CK_OBJECT_HANDLE o = 0;
	int r;

	if (vlen == 0)
		return RKL_ERR_ALGORITHM;
	if ((r = dl_room(s, dl)) != 0)
		return r;
	if (alg == RKL_ALG_TDES2)
		m.mechanism = CKM_DES2_KEY_GEN;
	else if (alg == RKL_ALG_TDES3)
		m.mechanism = CKM_DES3_KEY_GEN;
	ADD(t, n, CKA_CLASS, &cls, sizeof(cls));
	ADD(t, n, CKA_KEY_TYPE, &kt, sizeof(kt));
	if (kt == CKK_AES)
		ADD(t, n, CKA_VALUE_LEN, &vlen, sizeof(vlen));
	FALSE_(t, n, CKA_TOKEN);
	TRUE_(t, n, CKA_PRIVATE);
	TRUE_(t, n, CKA_SENSITIVE);
	TRUE_(t, n, CKA_EXTRACTABLE);	/* only ever by wrapping: sensitive */
	FALSE_(t, n, CKA_ENCRYPT);
	FALSE_(t, n, CKA_DECRYPT);
	FALSE_(t, n, CKA_WRAP);
	FALSE_(t, n, CKA_UNWRAP);
	FALSE_(t, n, CKA_SIGN);
	FALSE_(t, n, CKA_VERIFY);
	FALSE_(t, n, CKA_DERIVE);
	FALSE_(t, n, CKA_MODIFIABLE);
	FALSE_(t, n, CKA_COPYABLE);
	if ((r = hsm_rv(h->f->C_GenerateKey(s->sh, &m, t, n, &o))) != 0) {
		o = 0;
		goto out;
	}
	if (kcv != NULL) {
		if ((r = hsm_rv(h->f->C_GetAttributeValue(s->sh, o, ct, 1))) != 0)
			goto out;
		if (ct[0].ulValueLen < RKL_HSM_KCV_LEN) {
			r = RKL_ERR_HSM;
			goto out;
		}
		memcpy(kcv, cv, RKL_HSM_KCV_LEN);
	}
	(void)hsm_dl_add(dl, o);
	tmk->obj = o;
	tmk->alg = alg;
	tmk->gen = h->gen;
	o = 0;
out:
	destroy(s, &o);
	return r;
}

int
rkl_hsm_tmk_wrap(struct rkl_hsm_session *s, const struct rkl_hsm_key *tmk,
    const uint8_t *pu_tek, size_t pu_tek_len, uint8_t *out, size_t out_cap, size_t *out_len)
{
	struct rkl_hsm *h = s->h;
	CK_RSA_PKCS_OAEP_PARAMS op = { h->oaep_hash, h->oaep_mgf, CKZ_DATA_SPECIFIED, NULL, 0 };
	CK_MECHANISM oaep = { CKM_RSA_PKCS_OAEP, &op, sizeof(op) };
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_KEY_TYPE kt = CKK_RSA;
	struct rkl_rsa_pub pk;
	CK_ATTRIBUTE t[12];
	CK_ULONG nt = 0, wlen;
	CK_OBJECT_HANDLE pub = 0;
	CK_BYTE buf[RKL_RSA_MAX_BYTES];
	int r;

	if ((r = key_ok(s, tmk)) != 0)
		return r;
	if (pu_tek == NULL || out == NULL || out_len == NULL)
		return RKL_ERR_INVALID_ARG;
	if ((r = rkl_spki_decode(pu_tek, pu_tek_len, &pk)) != 0)
		return r;
	ADD(t, nt, CKA_CLASS, &cls, sizeof(cls));
	ADD(t, nt, CKA_KEY_TYPE, &kt, sizeof(kt));
	FALSE_(t, nt, CKA_TOKEN);
	FALSE_(t, nt, CKA_PRIVATE);
	ADD(t, nt, CKA_MODULUS, pk.n, pk.n_len);
	ADD(t, nt, CKA_PUBLIC_EXPONENT, pk.e, pk.e_len);
	TRUE_(t, nt, CKA_WRAP);
	FALSE_(t, nt, CKA_ENCRYPT);
	FALSE_(t, nt, CKA_VERIFY);
	FALSE_(t, nt, CKA_DERIVE);
	FALSE_(t, nt, CKA_MODIFIABLE);
	if ((r = hsm_rv(h->f->C_CreateObject(s->sh, t, nt, &pub))) != 0) {
		pub = 0;
		goto out;
	}
	wlen = sizeof(buf);
	if ((r = hsm_rv(h->f->C_WrapKey(s->sh, &oaep, pub, tmk->obj, buf, &wlen))) != 0)
		goto out;
	if (wlen > out_cap) {
		r = RKL_ERR_BUFFER_SPACE;
		goto out;
	}
	memcpy(out, buf, wlen);
	*out_len = wlen;
out:
	destroy(s, &pub);
	return r;
}

/* ---- storage blobs ---- */

int
rkl_hsm_tmk_store(struct rkl_hsm_session *s, const struct rkl_hsm_key *tmk,
    uint8_t *blob, size_t blob_cap, size_t *blob_len)
{
	CK_MECHANISM kw = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_BYTE buf[RKL_HSM_BLOB_MAX];
	CK_ULONG wlen = sizeof(buf);
	int r;

	if ((r = key_ok(s, tmk)) != 0)
		return r;
	if (s->h->kek_tmk == 0)
		return RKL_ERR_HSM_TOKEN;
	if ((r = hsm_rv(s->h->f->C_WrapKey(s->sh, &kw, s->h->kek_tmk, tmk->obj, buf, &wlen))) != 0)
		return r;
	if (wlen > blob_cap)
		return RKL_ERR_BUFFER_SPACE;
	memcpy(blob, buf, wlen);
	*blob_len = wlen;
	return 0;
}

int
rkl_hsm_restore(struct rkl_hsm_session *s, struct rkl_hsm_dl *dl,
    enum rkl_hsm_role role, enum rkl_alg alg, const uint8_t *blob, size_t blob_len,
    struct rkl_hsm_key *k)
{
	struct rkl_hsm *h = s->h;
	CK_MECHANISM kw = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_KEY_TYPE kt = key_type(alg);
	CK_OBJECT_HANDLE kek, o = 0;
	CK_ATTRIBUTE t[1 + HSM_ROLE_TPL_MAX];
	CK_ULONG n = 0;
	CK_RV rv;
	int r;

	if (rkl_alg_key_len(alg) == 0)
		return RKL_ERR_ALGORITHM;
	if (role != RKL_HSM_AUK && role != RKL_HSM_TMK && role != RKL_HSM_AUK2)
		return RKL_ERR_INVALID_ARG;
	if (role == RKL_HSM_AUK2 && alg != RKL_ALG_AES128 && alg != RKL_ALG_AES256)
		return RKL_ERR_ALGORITHM;
	if ((r = dl_room(s, dl)) != 0)
		return r;
	kek = role == RKL_HSM_AUK ? h->kek_auk : role == RKL_HSM_TMK ? h->kek_tmk : h->kek_auk2;
	if (kek == 0)
		return RKL_ERR_HSM_TOKEN;
	if (blob == NULL)
		return RKL_ERR_INVALID_ARG;
	/* RFC 5649: the blob is the key rounded up to 8 bytes plus the 8-byte
	 * AIV, whose MLI authenticates the exact length.  TDES and AES key
	 * lengths are multiples of 8, so the blob length gives the key's. */
	if (blob_len != rkl_alg_key_len(alg) + 8)
		return RKL_ERR_KEY_LENGTH;
	/* Exactly the KEK's unwrap template (hsm.c, make_kek): the role's one
	 * template, plus the key type. */
	ADD(t, n, CKA_KEY_TYPE, &kt, sizeof(kt));
	n += hsm_role_template(role, t + n);
	rv = h->f->C_UnwrapKey(s->sh, &kw, kek, hsm_unconst(blob), blob_len, t, n, &o);
	if (rv != CKR_OK) {
		o = 0;
		r = hsm_unwrap_err(s, rv, RKL_ERR_AUTH);
		goto out;
	}
	if ((r = check_value_len(s, o, alg)) != 0)
		goto out;
	(void)hsm_dl_add(dl, o);
	k->obj = o;
	k->alg = alg;
	k->gen = h->gen;
	o = 0;
out:
	destroy(s, &o);
	return r;
}

/* ---- profile 2: directional MAC keys and AES-CMAC ---- */

int
rkl_hsm_p2_derive(struct rkl_hsm_session *s, struct rkl_hsm_dl *dl,
    const struct rkl_hsm_key *auk, enum rkl_hsm_dir dir, const uint8_t *data, size_t data_len,
    struct rkl_hsm_key *k)
{
	struct rkl_hsm *h = s->h;
	CK_KEY_DERIVATION_STRING_DATA kd;
	CK_MECHANISM m = { CKM_AES_ECB_ENCRYPT_DATA, &kd, sizeof(kd) };
	CK_KEY_TYPE kt = CKK_AES;
	CK_ULONG vlen = data_len;
	CK_ATTRIBUTE t[20];
	CK_ULONG n = 0;
	CK_OBJECT_HANDLE o = 0;
	int r;

	if ((r = key_ok(s, auk)) != 0)
		return r;
	if (k == NULL || data == NULL || (dir != RKL_HSM_K2D && dir != RKL_HSM_D2K))
		return RKL_ERR_INVALID_ARG;
	if (auk->alg != RKL_ALG_AES128 && auk->alg != RKL_ALG_AES256)
		return RKL_ERR_ALGORITHM;
	if (data_len != rkl_alg_key_len(auk->alg))
		return RKL_ERR_LENGTH;
	if ((r = dl_room(s, dl)) != 0)
		return r;
	if (!h->info.aes_ecb_derive || !h->info.aes_cmac)
		return RKL_ERR_HSM_MECH;
	kd.pData = hsm_unconst(data);
	kd.ulLen = data_len;
	ADD(t, n, CKA_CLASS, &secret_class, sizeof(secret_class));
	ADD(t, n, CKA_KEY_TYPE, &kt, sizeof(kt));
	ADD(t, n, CKA_VALUE_LEN, &vlen, sizeof(vlen));
	FALSE_(t, n, CKA_TOKEN);
	TRUE_(t, n, CKA_PRIVATE);
	TRUE_(t, n, CKA_SENSITIVE);
	FALSE_(t, n, CKA_EXTRACTABLE);
	FALSE_(t, n, CKA_ENCRYPT);
	FALSE_(t, n, CKA_DECRYPT);
	FALSE_(t, n, CKA_WRAP);
	FALSE_(t, n, CKA_UNWRAP);
	FALSE_(t, n, CKA_DERIVE);
	/* One direction, one operation: the KMS only makes MACs for the
	 * device (k2d) and only checks the device's (d2k). */
	ADD(t, n, CKA_SIGN, dir == RKL_HSM_K2D ? &ck_true : &ck_false, sizeof(CK_BBOOL));
	ADD(t, n, CKA_VERIFY, dir == RKL_HSM_D2K ? &ck_true : &ck_false, sizeof(CK_BBOOL));
	ADD(t, n, CKA_ALLOWED_MECHANISMS, mac_mechs, sizeof(mac_mechs));
	FALSE_(t, n, CKA_COPYABLE);
	FALSE_(t, n, CKA_MODIFIABLE);
	if ((r = hsm_rv_internal(h->f->C_DeriveKey(s->sh, &m, auk->obj, t, n, &o))) != 0)
		return r;
	(void)hsm_dl_add(dl, o);	/* room checked above */
	k->obj = o;
	k->alg = auk->alg;
	k->gen = h->gen;
	return 0;
}

int
rkl_hsm_cmac_sign(struct rkl_hsm_session *s, const struct rkl_hsm_key *k,
    const uint8_t *msg, size_t len, uint8_t mac[RKL_HSM_CMAC_LEN])
{
	CK_MECHANISM m = { CKM_AES_CMAC, NULL, 0 };
	CK_BYTE out[RKL_HSM_CMAC_LEN];
	CK_ULONG olen = sizeof(out);
	CK_RV rv;
	int r;

	if ((r = key_ok(s, k)) != 0)
		return r;
	if (msg == NULL || mac == NULL)
		return RKL_ERR_INVALID_ARG;
	if ((rv = s->h->f->C_SignInit(s->sh, &m, k->obj)) == CKR_OK)
		rv = s->h->f->C_Sign(s->sh, hsm_unconst(msg), len, out, &olen);
	if (rv == CKR_OK && olen != sizeof(out))
		rv = CKR_GENERAL_ERROR;
	if ((r = hsm_rv_internal(rv)) != 0)
		return r;
	memcpy(mac, out, sizeof(out));
	return 0;
}

int
rkl_hsm_cmac_verify(struct rkl_hsm_session *s, const struct rkl_hsm_key *k,
    const uint8_t *msg, size_t len, const uint8_t *mac, size_t mac_len)
{
	CK_MECHANISM m = { CKM_AES_CMAC, NULL, 0 };
	CK_RV rv;
	int r;

	if ((r = key_ok(s, k)) != 0)
		return r;
	if (msg == NULL || mac == NULL)
		return RKL_ERR_INVALID_ARG;
	if (mac_len != RKL_HSM_CMAC_LEN)
		return RKL_ERR_AUTH;
	if ((rv = s->h->f->C_VerifyInit(s->sh, &m, k->obj)) != CKR_OK)
		return hsm_rv_internal(rv);
	rv = s->h->f->C_Verify(s->sh, hsm_unconst(msg), len, hsm_unconst(mac), mac_len);
	if (rv == CKR_SIGNATURE_INVALID || rv == CKR_SIGNATURE_LEN_RANGE)
		return RKL_ERR_AUTH;
	return hsm_rv_internal(rv);
}

int
rkl_hsm_tmk_kcv_cmac(struct rkl_hsm_session *s, const struct rkl_hsm_key *tmk,
    uint8_t kcv[RKL_HSM_KCV_CMAC_LEN])
{
	CK_FUNCTION_LIST_PTR f = s->h->f;
	CK_MECHANISM gen = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_MECHANISM kw = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_MECHANISM cmac = { CKM_AES_CMAC, NULL, 0 };
	CK_KEY_TYPE kt = CKK_AES;
	CK_ULONG len = 32, wlen, mlen;
	CK_OBJECT_HANDLE kek = 0, copy = 0;
	CK_ATTRIBUTE kt1[12], kt2[16];
	CK_ULONG n1 = 0, n2 = 0;
	CK_BYTE w[64], mac[16], zero[16] = { 0 };
	int r;

	if ((r = key_ok(s, tmk)) != 0)
		return r;
	if (tmk->alg != RKL_ALG_AES128 && tmk->alg != RKL_ALG_AES192 && tmk->alg != RKL_ALG_AES256)
		return RKL_ERR_ALGORITHM;
	if (kcv == NULL)
		return RKL_ERR_INVALID_ARG;
	if (!s->h->info.aes_cmac)
		return RKL_ERR_HSM_MECH;
	ADD(kt1, n1, CKA_VALUE_LEN, &len, sizeof(len));
	FALSE_(kt1, n1, CKA_TOKEN);
	TRUE_(kt1, n1, CKA_PRIVATE);
	TRUE_(kt1, n1, CKA_SENSITIVE);
	FALSE_(kt1, n1, CKA_EXTRACTABLE);
	TRUE_(kt1, n1, CKA_WRAP);
	TRUE_(kt1, n1, CKA_UNWRAP);
	FALSE_(kt1, n1, CKA_ENCRYPT);
	FALSE_(kt1, n1, CKA_DECRYPT);
	ADD(kt2, n2, CKA_CLASS, &secret_class, sizeof(secret_class));
	ADD(kt2, n2, CKA_KEY_TYPE, &kt, sizeof(kt));
	FALSE_(kt2, n2, CKA_TOKEN);
	TRUE_(kt2, n2, CKA_PRIVATE);
	TRUE_(kt2, n2, CKA_SENSITIVE);
	FALSE_(kt2, n2, CKA_EXTRACTABLE);
	TRUE_(kt2, n2, CKA_SIGN);
	FALSE_(kt2, n2, CKA_VERIFY);
	FALSE_(kt2, n2, CKA_ENCRYPT);
	FALSE_(kt2, n2, CKA_DECRYPT);
	FALSE_(kt2, n2, CKA_DERIVE);
	ADD(kt2, n2, CKA_ALLOWED_MECHANISMS, mac_mechs, sizeof(mac_mechs));
	FALSE_(kt2, n2, CKA_COPYABLE);
	FALSE_(kt2, n2, CKA_MODIFIABLE);
	wlen = sizeof(w);
	mlen = sizeof(mac);
	if ((r = hsm_rv_internal(f->C_GenerateKey(s->sh, &gen, kt1, n1, &kek))) != 0) {
		kek = 0;
		goto out;
	}
	if ((r = hsm_rv_internal(f->C_WrapKey(s->sh, &kw, kek, tmk->obj, w, &wlen))) != 0)
		goto out;
	if ((r = hsm_rv_internal(f->C_UnwrapKey(s->sh, &kw, kek, w, wlen, kt2, n2, &copy))) != 0) {
		copy = 0;
		goto out;
	}
	if ((r = hsm_rv_internal(f->C_SignInit(s->sh, &cmac, copy))) != 0 ||
	    (r = hsm_rv_internal(f->C_Sign(s->sh, zero, sizeof(zero), mac, &mlen))) != 0)
		goto out;
	if (mlen != sizeof(mac)) {
		r = RKL_ERR_HSM;
		goto out;
	}
	memcpy(kcv, mac, RKL_HSM_KCV_CMAC_LEN);
out:
	rkl_cleanse(w, sizeof(w));
	destroy(s, &copy);
	destroy(s, &kek);
	return r;
}

/* ---- a storage KEK's unwrap template (review L4) ---- */

#define KEK_TPL_MAX 24		/* attributes read from a CKA_UNWRAP_TEMPLATE */
#define KEK_TPL_VALUE_MAX 64	/* bytes of one attribute value */

int
rkl_hsm_kek_template_check(struct rkl_hsm_session *s, enum rkl_hsm_role role)
{
	struct rkl_hsm *h = s->h;
	CK_ATTRIBUTE want[KEK_TPL_MAX], got[KEK_TPL_MAX], outer;
	uint8_t vals[KEK_TPL_MAX][KEK_TPL_VALUE_MAX];
	CK_OBJECT_HANDLE kek;
	CK_ULONG nw, ng, i, j;
	CK_RV rv;

	switch (role) {
	case RKL_HSM_AUK: kek = h->kek_auk; break;
	case RKL_HSM_TMK: kek = h->kek_tmk; break;
	case RKL_HSM_AUK2: kek = h->kek_auk2; break;
	default: return RKL_ERR_INVALID_ARG;
	}
	if (kek == 0)
		return RKL_ERR_HSM_TOKEN;
	if ((nw = hsm_role_template(role, want)) == 0)
		return RKL_ERR_INVALID_ARG;
	/* PKCS#11 3.0 4.1.3 (arrays of attributes): the array's size, each
	 * value's size, then the values. */
	outer.type = CKA_UNWRAP_TEMPLATE;
	outer.pValue = NULL;
	outer.ulValueLen = 0;
	rv = h->f->C_GetAttributeValue(s->sh, kek, &outer, 1);
	if (rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE)
		return RKL_ERR_UNSUPPORTED;
	if (rv != CKR_OK)
		return hsm_rv(rv);
	if (outer.ulValueLen == CK_UNAVAILABLE_INFORMATION || outer.ulValueLen == 0 ||
	    outer.ulValueLen % sizeof(CK_ATTRIBUTE) != 0)
		return RKL_ERR_KEK_TEMPLATE;	/* none at all: anything could come out */
	if ((ng = outer.ulValueLen / sizeof(CK_ATTRIBUTE)) != nw)
		return RKL_ERR_KEK_TEMPLATE;
	memset(got, 0, sizeof(got));
	outer.pValue = got;
	if ((rv = h->f->C_GetAttributeValue(s->sh, kek, &outer, 1)) != CKR_OK)
		return hsm_rv(rv);
	for (i = 0; i < ng; i++) {
		if (got[i].ulValueLen == CK_UNAVAILABLE_INFORMATION ||
		    got[i].ulValueLen > KEK_TPL_VALUE_MAX)
			return RKL_ERR_KEK_TEMPLATE;
		got[i].pValue = vals[i];
	}
	if ((rv = h->f->C_GetAttributeValue(s->sh, kek, &outer, 1)) != CKR_OK)
		return hsm_rv(rv);
	/* The same set: every attribute wanted, with the same value (arrays of
	 * mechanisms compared byte for byte), none more (ng == nw). */
	for (i = 0; i < nw; i++) {
		for (j = 0; j < ng; j++)
			if (got[j].type == want[i].type)
				break;
		if (j == ng || got[j].ulValueLen != want[i].ulValueLen ||
		    memcmp(got[j].pValue, want[i].pValue, want[i].ulValueLen) != 0)
			return RKL_ERR_KEK_TEMPLATE;
	}
	return 0;
}
