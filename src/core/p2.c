/*
 * Profile 2 cryptographic core: transcript, authenticator digests, key
 * derivation data, device-side derive/MAC/sign, Annex C (see rkl/p2.h and
 * docs/protocol.md section 10).
 */
#include "rkl/p2.h"
#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/kcv.h"
#include "rkl/spki.h"

#include <string.h>

#include "der.h"

static const char *const labels[] = {
	"rkl-p2 sig kdh", "rkl-p2 sig krd", "rkl-p2 mac k2d", "rkl-p2 mac d2k"
};

const char *
rkl_p2_label_str(enum rkl_p2_label l)
{
	if ((unsigned)l >= sizeof(labels) / sizeof(labels[0]))
		return NULL;
	return labels[l];
}

int
rkl_p2_transcript_init(const struct rkl_crypto *c, struct rkl_p2_transcript *t)
{
	const uint8_t *parts[1];
	size_t lens[1];

	if (c == NULL || c->sha256 == NULL || t == NULL)
		return RKL_ERR_INVALID_ARG;
	parts[0] = (const uint8_t *)RKL_P2_TRANSCRIPT_LABEL;
	lens[0] = sizeof(RKL_P2_TRANSCRIPT_LABEL) - 1;
	return c->sha256(c->ctx, parts, lens, 1, t->h);
}

int
rkl_p2_transcript_add(const struct rkl_crypto *c, struct rkl_p2_transcript *t,
    const uint8_t *frame, size_t len)
{
	const uint8_t *parts[2];
	size_t lens[2];
	uint8_t h[RKL_P2_HASH_LEN];
	int r;

	if (c == NULL || c->sha256 == NULL || t == NULL || (frame == NULL && len != 0))
		return RKL_ERR_INVALID_ARG;
	parts[0] = t->h;
	lens[0] = sizeof(t->h);
	parts[1] = frame;
	lens[1] = len;
	if ((r = c->sha256(c->ctx, parts, lens, 2, h)) != 0)
		return r;
	memcpy(t->h, h, sizeof(h));
	return 0;
}

int
rkl_p2_find_field(const uint8_t *frame, size_t len, uint16_t tag, size_t *off, size_t *vlen)
{
	size_t pos, l;
	uint16_t want = (uint16_t)(tag & ~RKL_WIRE_TAG_CRITICAL), t;

	if (frame == NULL || off == NULL || vlen == NULL)
		return RKL_ERR_INVALID_ARG;
	if (len < RKL_WIRE_HDR_LEN || rkl_dec16be(frame) != len)
		return RKL_ERR_FORMAT;
	pos = RKL_WIRE_HDR_LEN;
	while (pos < len) {
		if (len - pos < 4)
			return RKL_ERR_FORMAT;
		t = rkl_dec16be(frame + pos);
		l = rkl_dec16be(frame + pos + 2);
		if (l > len - pos - 4)
			return RKL_ERR_FORMAT;
		if ((uint16_t)(t & ~RKL_WIRE_TAG_CRITICAL) == want) {
			*off = pos;
			*vlen = l;
			return 0;
		}
		pos += 4 + l;
	}
	return RKL_ERR_MISSING;
}

int
rkl_p2_auth_digest(const struct rkl_crypto *c, enum rkl_p2_label l,
    const struct rkl_p2_transcript *prev, const uint8_t *frame, size_t len,
    uint16_t tag, uint8_t d[RKL_P2_HASH_LEN])
{
	const uint8_t *parts[3];
	size_t lens[3], off, vlen;
	const char *label = rkl_p2_label_str(l);
	int r;

	if (c == NULL || c->sha256 == NULL || prev == NULL || d == NULL || label == NULL)
		return RKL_ERR_INVALID_ARG;
	if ((r = rkl_p2_find_field(frame, len, tag, &off, &vlen)) != 0)
		return r;
	parts[0] = (const uint8_t *)label;
	lens[0] = strlen(label);
	parts[1] = prev->h;
	lens[1] = sizeof(prev->h);
	parts[2] = frame;
	lens[2] = off;
	return c->sha256(c->ctx, parts, lens, 3, d);
}

int
rkl_p2_patch_auth(uint8_t *frame, size_t len, uint16_t tag, const uint8_t *value, size_t vlen)
{
	size_t off, have;
	int r;

	if (value == NULL)
		return RKL_ERR_INVALID_ARG;
	if ((r = rkl_p2_find_field(frame, len, tag, &off, &have)) != 0)
		return r;
	if (have != vlen)
		return RKL_ERR_LENGTH;
	memcpy(frame + off + 4, value, vlen);
	return 0;
}

int
rkl_p2_kdf_data(const struct rkl_crypto *c, const char *dir, const char *sn,
    const uint8_t nonce_t[RKL_P2_NONCE_LEN], const uint8_t nonce_k[RKL_P2_NONCE_LEN],
    size_t L, uint8_t *out)
{
	const uint8_t *parts[5];
	size_t lens[5], snl;
	uint8_t h[RKL_P2_HASH_LEN];
	int r;

	if (c == NULL || c->sha256 == NULL || dir == NULL || sn == NULL || nonce_t == NULL ||
	    nonce_k == NULL || out == NULL)
		return RKL_ERR_INVALID_ARG;
	if (strcmp(dir, "k2d") != 0 && strcmp(dir, "d2k") != 0)
		return RKL_ERR_INVALID_ARG;
	if (L != 16 && L != 32)
		return RKL_ERR_KEY_LENGTH;
	for (snl = 0; snl <= RKL_WIRE_SN_MAX && sn[snl] != 0; snl++)
		;
	if (snl == 0 || snl > RKL_WIRE_SN_MAX)
		return RKL_ERR_INVALID_ARG;
	parts[0] = (const uint8_t *)RKL_P2_KEY_LABEL;
	lens[0] = sizeof(RKL_P2_KEY_LABEL) - 1;
	parts[1] = (const uint8_t *)dir;
	lens[1] = 3;
	parts[2] = (const uint8_t *)sn;
	lens[2] = snl;
	parts[3] = nonce_t;
	lens[3] = RKL_P2_NONCE_LEN;
	parts[4] = nonce_k;
	lens[4] = RKL_P2_NONCE_LEN;
	if ((r = c->sha256(c->ctx, parts, lens, 5, h)) != 0)
		return r;
	/* every block starts with the mark no RND1 may start with (rkl/wire.h) */
	h[0] = RKL_WIRE_P2_KDF_MARK;
	h[16] = RKL_WIRE_P2_KDF_MARK;
	memcpy(out, h, L);
	rkl_cleanse(h, sizeof(h));
	return 0;
}

int
rkl_p2_derive_sw(const struct rkl_crypto *c, const uint8_t *auk, size_t auk_len,
    const char *dir, const char *sn, const uint8_t nonce_t[RKL_P2_NONCE_LEN],
    const uint8_t nonce_k[RKL_P2_NONCE_LEN], uint8_t *k)
{
	uint8_t data[RKL_P2_KEY_MAX];
	int r;

	if (c == NULL || c->cipher == NULL || auk == NULL || k == NULL)
		return RKL_ERR_INVALID_ARG;
	if (auk_len != 16 && auk_len != 32)
		return RKL_ERR_KEY_LENGTH;
	if ((r = rkl_p2_kdf_data(c, dir, sn, nonce_t, nonce_k, auk_len, data)) != 0)
		return r;
	r = c->cipher(c->ctx, RKL_CIPHER_AES, RKL_MODE_ECB, 1, auk, auk_len, NULL, data,
	    auk_len, k);
	if (r != 0)
		rkl_cleanse(k, auk_len);
	rkl_cleanse(data, sizeof(data));
	return r;
}

int
rkl_p2_mac_sw(const struct rkl_crypto *c, const uint8_t *key, size_t key_len,
    const uint8_t d[RKL_P2_HASH_LEN], uint8_t mac[RKL_P2_MAC_LEN])
{
	if (key_len != 16 && key_len != 32)
		return RKL_ERR_KEY_LENGTH;
	if (d == NULL || mac == NULL)
		return RKL_ERR_INVALID_ARG;
	return rkl_cmac(c, RKL_CIPHER_AES, key, key_len, d, RKL_P2_HASH_LEN, mac,
	    RKL_P2_MAC_LEN);
}

_Static_assert(sizeof(RKL_P2_CRND1_LABEL) - 1 == RKL_P2_CRND_MSG_LEN - RKL_P2_RND_LEN &&
    sizeof(RKL_P2_CRND2_LABEL) - 1 == RKL_P2_CRND_MSG_LEN - RKL_P2_RND_LEN,
    "CRND labels are 12 bytes: inputs of 28 bytes, never 32 like a MAC's D");

int
rkl_p2_crnd_msg(int which, const uint8_t rnd[RKL_P2_RND_LEN], uint8_t msg[RKL_P2_CRND_MSG_LEN])
{
	const char *l = which == 1 ? RKL_P2_CRND1_LABEL : which == 2 ? RKL_P2_CRND2_LABEL : NULL;

	if (l == NULL || rnd == NULL || msg == NULL)
		return RKL_ERR_INVALID_ARG;
	memcpy(msg, l, RKL_P2_CRND_MSG_LEN - RKL_P2_RND_LEN);
	memcpy(msg + RKL_P2_CRND_MSG_LEN - RKL_P2_RND_LEN, rnd, RKL_P2_RND_LEN);
	return 0;
}

int
rkl_p2_crnd_sw(const struct rkl_crypto *c, const uint8_t *key, size_t key_len, int which,
    const uint8_t rnd[RKL_P2_RND_LEN], uint8_t crnd[RKL_P2_RND_LEN])
{
	uint8_t msg[RKL_P2_CRND_MSG_LEN];
	int r;

	if (key_len != 16 && key_len != 32)
		return RKL_ERR_KEY_LENGTH;
	if (key == NULL || crnd == NULL)
		return RKL_ERR_INVALID_ARG;
	if ((r = rkl_p2_crnd_msg(which, rnd, msg)) != 0)
		return r;
	r = rkl_cmac(c, RKL_CIPHER_AES, key, key_len, msg, sizeof(msg), crnd, RKL_P2_RND_LEN);
	if (r != 0)
		rkl_cleanse(crnd, RKL_P2_RND_LEN);
	return r;
}

int
rkl_p2_mac_verify_sw(const struct rkl_crypto *c, const uint8_t *key, size_t key_len,
    const uint8_t d[RKL_P2_HASH_LEN], const uint8_t *mac, size_t mac_len)
{
	uint8_t want[RKL_P2_MAC_LEN];
	int r;

	if (mac == NULL)
		return RKL_ERR_INVALID_ARG;
	if ((r = rkl_p2_mac_sw(c, key, key_len, d, want)) != 0)
		return r;
	r = (mac_len == RKL_P2_MAC_LEN && rkl_ct_eq(want, mac, RKL_P2_MAC_LEN)) ? 0 :
	    RKL_ERR_AUTH;
	rkl_cleanse(want, sizeof(want));
	return r;
}

int
rkl_p2_sig_from_der(enum rkl_curve curve, const uint8_t *der, size_t der_len, uint8_t *raw,
    size_t cap, size_t *raw_len)
{
	struct der d, seq, i;
	const uint8_t *m;
	size_t ml, flen = rkl_curve_len(curve);
	int k, r;

	if (flen == 0)
		return RKL_ERR_ALGORITHM;
	if (der == NULL || raw == NULL || raw_len == NULL)
		return RKL_ERR_INVALID_ARG;
	if (cap < 2 * flen)
		return RKL_ERR_BUFFER_SPACE;
	if ((r = rkl_ecdsa_sig_check(curve, der, der_len)) != 0)
		return r;
	der_init(&d, der, der_len);
	if ((r = der_get(&d, 0x30, &seq, NULL)) != 0)
		return r;
	for (k = 0; k < 2; k++) {
		if ((r = der_get(&seq, 0x02, &i, NULL)) != 0 || (r = der_uint(&i, &m, &ml)) != 0)
			return r;
		memset(raw + (size_t)k * flen, 0, flen - ml);
		memcpy(raw + (size_t)k * flen + (flen - ml), m, ml);
	}
	*raw_len = 2 * flen;
	return 0;
}

int
rkl_p2_sign_sw(const struct rkl_crypto *c, enum rkl_curve curve, const uint8_t *priv,
    size_t priv_len, const uint8_t d[RKL_P2_HASH_LEN], uint8_t *sig, size_t cap,
    size_t *sig_len)
{
	uint8_t der[RKL_ECDSA_SIG_MAX];
	size_t dl;
	int r;

	if (c == NULL || c->ecdsa_sign == NULL || d == NULL)
		return RKL_ERR_INVALID_ARG;
	if ((r = c->ecdsa_sign(c->ctx, curve, priv, priv_len, d, RKL_P2_HASH_LEN, der,
	    sizeof(der), &dl)) != 0)
		return r;
	return rkl_p2_sig_from_der(curve, der, dl, sig, cap, sig_len);
}

int
rkl_p2_sig_verify(const struct rkl_crypto *c, const uint8_t *spki, size_t spki_len,
    const uint8_t d[RKL_P2_HASH_LEN], const uint8_t *sig, size_t sig_len)
{
	uint8_t der[RKL_ECDSA_SIG_MAX];
	enum rkl_curve curve;
	const uint8_t *pt;
	size_t pl, dl;
	int r;

	if (c == NULL || c->ecdsa_verify == NULL || d == NULL || sig == NULL)
		return RKL_ERR_INVALID_ARG;
	if ((r = rkl_ec_spki_decode(spki, spki_len, &curve, &pt, &pl)) != 0)
		return r;
	if (sig_len != 2 * rkl_curve_len(curve))
		return RKL_ERR_AUTH;
	/* r or s zero: never a valid signature */
	if (rkl_ecdsa_raw_to_der(curve, sig, sig_len, der, sizeof(der), &dl) != 0)
		return RKL_ERR_AUTH;
	return c->ecdsa_verify(c->ctx, spki, spki_len, d, RKL_P2_HASH_LEN, der, dl);
}

/* Security strength in bits per PCI PIN Annex C, 0 for unknown. */
static unsigned
strength(enum rkl_alg a)
{
	switch (a) {
	case RKL_ALG_TDES2: return 80;
	case RKL_ALG_TDES3: return 112;
	case RKL_ALG_AES128: return 128;
	case RKL_ALG_AES192: return 192;
	case RKL_ALG_AES256: return 256;
	case RKL_ALG_RSA2048: return 112;
	case RKL_ALG_RSA3072: return 128;
	default: return 0;
	}
}

int
rkl_p2_annexc_ok(enum rkl_alg protector, enum rkl_alg protected_alg)
{
	unsigned a = strength(protector), b = strength(protected_alg);

	return a != 0 && b != 0 && a >= b;
}
