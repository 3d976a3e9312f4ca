/*
 * EC signing keys in the token for the deployment PKI (rkl/hsm.h): the CA's
 * key in the CA's own token, the KMS's signing key in the KMS's token.  Long
 * lived token objects, found by label; the private key can sign and nothing
 * else, and never leaves the token.
 */
#include <string.h>

#include "hsm_int.h"

#include "rkl/err.h"
#include "rkl/spki.h"

static CK_BBOOL ck_t = CK_TRUE;
static CK_BBOOL ck_f = CK_FALSE;

/* DER OIDs as CKA_EC_PARAMS (namedCurve). */
static const CK_BYTE P256_PARAMS[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const CK_BYTE P384_PARAMS[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };

#define A(typ, ptr, len) { (typ), hsm_unconst(ptr), (len) }
#define B(typ, v) { (typ), (v) ? &ck_t : &ck_f, sizeof(CK_BBOOL) }

static int
find_label(struct rkl_hsm_session *s, const char *label, CK_OBJECT_CLASS cls,
    CK_OBJECT_HANDLE *obj)
{
	CK_KEY_TYPE kt = CKK_EC;
	CK_ATTRIBUTE t[] = {
		A(CKA_CLASS, &cls, sizeof(cls)), A(CKA_KEY_TYPE, &kt, sizeof(kt)),
		B(CKA_TOKEN, 1), A(CKA_LABEL, label, strlen(label)),
	};
	CK_OBJECT_HANDLE o[2];
	CK_ULONG n = 0;
	CK_RV rv;

	if ((rv = s->h->f->C_FindObjectsInit(s->sh, t, 4)) != CKR_OK)
		return hsm_rv(rv);
	rv = s->h->f->C_FindObjects(s->sh, o, 2, &n);
	s->h->f->C_FindObjectsFinal(s->sh);
	if (rv != CKR_OK)
		return hsm_rv(rv);
	if (n == 0)
		return RKL_ERR_NOT_FOUND;
	if (n > 1)
		return RKL_ERR_CONFIG;	/* two keys with one label: ambiguous */
	*obj = o[0];
	return 0;
}

/* SPKI of a public key object from CKA_EC_PARAMS and CKA_EC_POINT. */
static int
pub_spki(struct rkl_hsm_session *s, CK_OBJECT_HANDLE pub, enum rkl_curve *curve,
    uint8_t *spki, size_t cap, size_t *len)
{
	CK_BYTE params[16], point[8 + 1 + 2 * RKL_EC_PRIV_MAX];
	CK_ATTRIBUTE t[] = {
		{ CKA_EC_PARAMS, params, sizeof(params) }, { CKA_EC_POINT, point, sizeof(point) },
	};
	const CK_BYTE *q = point;
	size_t ql;
	CK_RV rv;

	if ((rv = s->h->f->C_GetAttributeValue(s->sh, pub, t, 2)) != CKR_OK)
		return hsm_rv(rv);
	if (t[0].ulValueLen == sizeof(P256_PARAMS) && memcmp(params, P256_PARAMS, sizeof(P256_PARAMS)) == 0)
		*curve = RKL_CURVE_P256;
	else if (t[0].ulValueLen == sizeof(P384_PARAMS) &&
	    memcmp(params, P384_PARAMS, sizeof(P384_PARAMS)) == 0)
		*curve = RKL_CURVE_P384;
	else
		return RKL_ERR_ALGORITHM;
	/* CKA_EC_POINT is a DER OCTET STRING around the point (PKCS#11 2.40) */
	ql = t[1].ulValueLen;
	if (ql >= 2 && point[0] == 0x04 && point[1] == ql - 2) {
		q = point + 2;
		ql -= 2;
	} else if (ql >= 3 && point[0] == 0x04 && point[1] == 0x81 && point[2] == ql - 3) {
		q = point + 3;
		ql -= 3;
	}
	return rkl_ec_spki_encode(*curve, q, ql, spki, cap, len);
}

int
rkl_hsm_ec_generate(struct rkl_hsm_session *s, const char *label, enum rkl_curve curve,
    struct rkl_hsm_eckey *key, uint8_t *spki, size_t spki_cap, size_t *spki_len)
{
	CK_MECHANISM mech = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_OBJECT_HANDLE pub = 0, priv = 0;
	const CK_BYTE *params;
	CK_ULONG plen;
	enum rkl_curve got;
	CK_RV rv;
	int r;

	if (s == NULL || label == NULL || key == NULL || spki == NULL || spki_len == NULL ||
	    label[0] == '\0')
		return RKL_ERR_INVALID_ARG;
	if (curve == RKL_CURVE_P256) {
		params = P256_PARAMS;
		plen = sizeof(P256_PARAMS);
	} else if (curve == RKL_CURVE_P384) {
		params = P384_PARAMS;
		plen = sizeof(P384_PARAMS);
	} else {
		return RKL_ERR_ALGORITHM;
	}
	r = find_label(s, label, CKO_PRIVATE_KEY, &priv);
	if (r == 0)
		return RKL_ERR_EXISTS;
	if (r != RKL_ERR_NOT_FOUND)
		return r;
	{
		CK_ATTRIBUTE pubt[] = {
			B(CKA_TOKEN, 1), B(CKA_PRIVATE, 0), A(CKA_LABEL, label, strlen(label)),
			A(CKA_EC_PARAMS, params, plen), B(CKA_VERIFY, 1), B(CKA_ENCRYPT, 0),
			B(CKA_WRAP, 0), B(CKA_DERIVE, 0), B(CKA_MODIFIABLE, 0),
		};
		CK_ATTRIBUTE privt[] = {
			B(CKA_TOKEN, 1), B(CKA_PRIVATE, 1), A(CKA_LABEL, label, strlen(label)),
			B(CKA_SENSITIVE, 1), B(CKA_EXTRACTABLE, 0), B(CKA_SIGN, 1),
			B(CKA_DECRYPT, 0), B(CKA_UNWRAP, 0), B(CKA_DERIVE, 0),
			B(CKA_SIGN_RECOVER, 0), B(CKA_MODIFIABLE, 0),
		};

		rv = s->h->f->C_GenerateKeyPair(s->sh, &mech, pubt, sizeof(pubt) / sizeof(pubt[0]),
		    privt, sizeof(privt) / sizeof(privt[0]), &pub, &priv);
	}
	if (rv != CKR_OK)
		return hsm_rv(rv);
	if ((r = pub_spki(s, pub, &got, spki, spki_cap, spki_len)) != 0 || got != curve) {
		s->h->f->C_DestroyObject(s->sh, priv);
		s->h->f->C_DestroyObject(s->sh, pub);
		return r != 0 ? r : RKL_ERR_INTERNAL;
	}
	key->obj = priv;
	key->curve = curve;
	key->gen = s->h->gen;
	return 0;
}

int
rkl_hsm_ec_find(struct rkl_hsm_session *s, const char *label, struct rkl_hsm_eckey *key,
    uint8_t *spki, size_t spki_cap, size_t *spki_len)
{
	CK_OBJECT_HANDLE priv = 0, pub = 0;
	enum rkl_curve curve = RKL_CURVE_P256;
	int r;

	if (s == NULL || label == NULL || key == NULL || spki == NULL || spki_len == NULL)
		return RKL_ERR_INVALID_ARG;
	if ((r = find_label(s, label, CKO_PRIVATE_KEY, &priv)) != 0 ||
	    (r = find_label(s, label, CKO_PUBLIC_KEY, &pub)) != 0)
		return r;
	if ((r = pub_spki(s, pub, &curve, spki, spki_cap, spki_len)) != 0)
		return r;
	key->obj = priv;
	key->curve = curve;
	key->gen = s->h->gen;
	return 0;
}

int
rkl_hsm_ec_sign(struct rkl_hsm_session *s, const struct rkl_hsm_eckey *key,
    const uint8_t *hash, size_t hash_len, uint8_t *sig, size_t sig_cap, size_t *sig_len)
{
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	CK_BYTE raw[2 * RKL_EC_PRIV_MAX];
	CK_ULONG rl = sizeof(raw);
	CK_RV rv;

	if (s == NULL || key == NULL || key->obj == 0 || hash == NULL || sig == NULL ||
	    sig_len == NULL)
		return RKL_ERR_INVALID_ARG;
	if (key->gen != s->h->gen)
		return RKL_ERR_HSM_STALE;
	if (hash_len != 32 && hash_len != 48)
		return RKL_ERR_LENGTH;
	if ((rv = s->h->f->C_SignInit(s->sh, &mech, key->obj)) != CKR_OK)
		return hsm_rv(rv);
	if ((rv = s->h->f->C_Sign(s->sh, hsm_unconst(hash), hash_len, raw, &rl)) != CKR_OK)
		return hsm_rv(rv);
	return rkl_ecdsa_raw_to_der(key->curve, raw, rl, sig, sig_cap, sig_len);
}
