/*
 * The token's identity as the database records it (rkl_hsm_identity): a
 * public fingerprint of each long-lived storage key.  Kept apart from the key
 * templates on purpose: whatever kind of key a storage key is (AES KEK, RSA
 * pair), the database only sees role names and fingerprint strings.
 */
#include <stdio.h>
#include <string.h>

#include "hsm_int.h"

#include "rkl/ct.h"
#include "rkl/err.h"

/* "prefix" + hex of n bytes into out[cap]. */
static int
fp_hex(char *out, size_t cap, const char *prefix, const uint8_t *v, size_t n)
{
	size_t p = strlen(prefix);

	if (p + 2 * n + 1 > cap)
		return RKL_ERR_BUFFER_SPACE;
	memcpy(out, prefix, p);
	rkl_hex_encode(v, n, out + p);
	out[p + 2 * n] = '\0';
	return 0;
}

/* SHA-256 of an RSA key's public part, computed by the token (no hash code of our own here). */
static int
fp_rsa(struct rkl_hsm *h, CK_SESSION_HANDLE sh, CK_OBJECT_HANDLE o, char *out, size_t cap)
{
	CK_BYTE n[RKL_RSA_MAX_BYTES], e[16], buf[RKL_RSA_MAX_BYTES + 16], md[32];
	CK_ATTRIBUTE t[] = {
		{ CKA_MODULUS, n, sizeof(n) }, { CKA_PUBLIC_EXPONENT, e, sizeof(e) },
	};
	CK_MECHANISM mech = { CKM_SHA256, NULL, 0 };
	CK_ULONG mdlen = sizeof(md);
	CK_RV rv;

	if ((rv = h->f->C_GetAttributeValue(sh, o, t, 2)) != CKR_OK)
		return hsm_rv(rv);
	memcpy(buf, n, t[0].ulValueLen);
	memcpy(buf + t[0].ulValueLen, e, t[1].ulValueLen);
	if ((rv = h->f->C_DigestInit(sh, &mech)) != CKR_OK ||
	    (rv = h->f->C_Digest(sh, buf, t[0].ulValueLen + t[1].ulValueLen, md, &mdlen)) != CKR_OK)
		return hsm_rv(rv);
	return fp_hex(out, cap, "rsa-sha256:", md, mdlen);
}

/*
 * A KEK the key ceremony imported has no CKA_CHECK_VALUE (SoftHSM2 computes
 * none for unwrapped keys): its check value, proven at import, is a private,
 * non-modifiable data object with the KEK's label and CKA_APPLICATION
 * RKL_HSM_KCV_APP (src/hsm/ceremony.c).
 */
static int
kcv_beside(struct rkl_hsm *h, CK_SESSION_HANDLE sh, CK_OBJECT_HANDLE key, CK_BYTE *kcv,
    CK_ULONG *len)
{
	char label[128];
	CK_ATTRIBUTE l = { CKA_LABEL, label, sizeof(label) };
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE q[3];
	CK_ATTRIBUTE v = { CKA_VALUE, kcv, 16 };
	CK_OBJECT_HANDLE o = 0;
	CK_ULONG n = 0;
	CK_RV rv;

	if (h->f->C_GetAttributeValue(sh, key, &l, 1) != CKR_OK || l.ulValueLen == 0)
		return RKL_ERR_UNSUPPORTED;
	q[0].type = CKA_CLASS; q[0].pValue = &cls; q[0].ulValueLen = sizeof(cls);
	q[1].type = CKA_LABEL; q[1].pValue = label; q[1].ulValueLen = l.ulValueLen;
	q[2].type = CKA_APPLICATION; q[2].pValue = hsm_unconst(RKL_HSM_KCV_APP);
	q[2].ulValueLen = strlen(RKL_HSM_KCV_APP);
	if (h->f->C_FindObjectsInit(sh, q, 3) != CKR_OK)
		return RKL_ERR_UNSUPPORTED;
	rv = h->f->C_FindObjects(sh, &o, 1, &n);
	h->f->C_FindObjectsFinal(sh);
	if (rv != CKR_OK || n != 1 || h->f->C_GetAttributeValue(sh, o, &v, 1) != CKR_OK ||
	    v.ulValueLen == 0 || v.ulValueLen > 16)
		return RKL_ERR_UNSUPPORTED;
	*len = v.ulValueLen;
	return 0;
}

/* The fingerprint of one key object. */
static int
fp_key(struct rkl_hsm *h, CK_SESSION_HANDLE sh, CK_OBJECT_HANDLE o, char *out, size_t cap)
{
	CK_OBJECT_CLASS cls = 0;
	CK_KEY_TYPE kt = 0;
	CK_BYTE kcv[16];
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) }, { CKA_KEY_TYPE, &kt, sizeof(kt) },
	};
	CK_ATTRIBUTE c = { CKA_CHECK_VALUE, kcv, sizeof(kcv) };
	CK_RV rv;

	if ((rv = h->f->C_GetAttributeValue(sh, o, t, 2)) != CKR_OK)
		return hsm_rv(rv);
	if ((cls == CKO_PRIVATE_KEY || cls == CKO_PUBLIC_KEY) && kt == CKK_RSA)
		return fp_rsa(h, sh, o, out, cap);
	if (cls != CKO_SECRET_KEY)
		return RKL_ERR_UNSUPPORTED;
	rv = h->f->C_GetAttributeValue(sh, o, &c, 1);
	if (rv == CKR_OK && c.ulValueLen == 0 && kcv_beside(h, sh, o, kcv, &c.ulValueLen) == 0)
		rv = CKR_OK;
	if (rv != CKR_OK || c.ulValueLen == 0 || c.ulValueLen > sizeof(kcv))
		return RKL_ERR_UNSUPPORTED;
	return fp_hex(out, cap, "kcv:", kcv, c.ulValueLen);
}

int
rkl_hsm_identity(struct rkl_hsm *h, struct rkl_hsm_identity *id)
{
	struct rkl_hsm_session *s = NULL;
	struct rkl_hsm_identity out;
	const struct {
		const char *role;
		CK_OBJECT_HANDLE obj;
	} keys[] = {
		{ "kek-auk", h != NULL ? h->kek_auk : 0 },
		{ "kek-tmk", h != NULL ? h->kek_tmk : 0 },
	};
	size_t i;
	int r;

	if (h == NULL || id == NULL)
		return RKL_ERR_INVALID_ARG;
	memset(&out, 0, sizeof(out));
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (keys[i].obj == 0)
			return RKL_ERR_HSM_TOKEN;
	if ((r = rkl_hsm_session_get(h, &s)) != 0)
		return r;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		snprintf(out.key[i].role, sizeof(out.key[i].role), "%s", keys[i].role);
		if ((r = fp_key(h, s->sh, keys[i].obj, out.key[i].fp, sizeof(out.key[i].fp))) != 0)
			goto out;
		out.n++;
	}
	*id = out;
out:
	rkl_hsm_session_put(h, s);
	return r;
}
