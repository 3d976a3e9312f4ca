/* CMAC (NIST SP 800-38B) and key check values over the crypto table (see rkl/kcv.h). */
#include "rkl/kcv.h"
#include "rkl/ct.h"
#include "rkl/err.h"

#include <string.h>

/* Block size of a cipher, 0 if unknown. */
static size_t
cipher_bs(enum rkl_cipher cipher)
{
	switch (cipher) {
	case RKL_CIPHER_AES: return 16;
	case RKL_CIPHER_TDES: return 8;
	default: return 0;
	}
}

/*
 * Copy key into dst (RKL_CMAC_KEY_MAX bytes) in the form the backend takes:
 * a single-DES key K becomes the 2-key TDES key K || K.  Sets *dst_len.
 */
static int
key_load(enum rkl_cipher cipher, const uint8_t *key, size_t key_len,
    uint8_t *dst, size_t *dst_len)
{
	if (key == NULL)
		return RKL_ERR_INVALID_ARG;
	if (cipher == RKL_CIPHER_TDES) {
		if (key_len == 8) {
			memcpy(dst, key, 8);
			memcpy(dst + 8, key, 8);
			*dst_len = 16;
			return 0;
		}
		if (key_len != 16 && key_len != 24)
			return RKL_ERR_KEY_LENGTH;
	} else if (cipher == RKL_CIPHER_AES) {
		if (key_len != 16 && key_len != 24 && key_len != 32)
			return RKL_ERR_KEY_LENGTH;
	} else {
		return RKL_ERR_INVALID_ARG;
	}
	memcpy(dst, key, key_len);
	*dst_len = key_len;
	return 0;
}

/* One block in place: blk = E(K, blk). */
static int
enc_block(const struct rkl_cmac *m, uint8_t *blk)
{
	return m->c->cipher(m->c->ctx, m->cipher, RKL_MODE_ECB, 1, m->key, m->key_len,
	    NULL, blk, m->bs, blk);
}

/* Doubling in GF(2^b) (SP 800-38B 6.1): shift left one bit, xor R if the top bit fell out. */
static void
dbl(uint8_t *v, size_t bs)
{
	uint8_t carry = (uint8_t)(v[0] >> 7), r = bs == 16 ? 0x87 : 0x1B;
	size_t i;

	for (i = 0; i + 1 < bs; i++)
		v[i] = (uint8_t)(v[i] << 1 | v[i + 1] >> 7);
	/* constant time: mask is 0xFF if carry, 0 otherwise */
	v[bs - 1] = (uint8_t)(v[bs - 1] << 1 ^ ((0u - carry) & r));
}

void
rkl_cmac_release(struct rkl_cmac *m)
{
	if (m != NULL)
		rkl_cleanse(m, sizeof(*m));
}

int
rkl_cmac_init(struct rkl_cmac *m, const struct rkl_crypto *c,
    enum rkl_cipher cipher, const uint8_t *key, size_t key_len)
{
	int r;

	if (m == NULL)
		return RKL_ERR_INVALID_ARG;
	rkl_cleanse(m, sizeof(*m));
	if (c == NULL || c->cipher == NULL || cipher_bs(cipher) == 0)
		return RKL_ERR_INVALID_ARG;
	if ((r = key_load(cipher, key, key_len, m->key, &m->key_len)) != 0)
		goto out;
	m->c = c;
	m->cipher = cipher;
	m->bs = cipher_bs(cipher);
	m->n = 0;
out:
	if (r != 0)
		rkl_cmac_release(m);
	return r;
}

int
rkl_cmac_update(struct rkl_cmac *m, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t i, take;
	int r = 0;

	if (m == NULL || m->c == NULL || (p == NULL && len > 0))
		return RKL_ERR_INVALID_ARG;
	while (len > 0) {
		/* A full pending block is processed only once more data follows:
		 * the last block is treated differently by rkl_cmac_out(). */
		if (m->n == m->bs) {
			for (i = 0; i < m->bs; i++)
				m->x[i] ^= m->buf[i];
			if ((r = enc_block(m, m->x)) != 0)
				goto out;
			m->n = 0;
		}
		take = m->bs - m->n < len ? m->bs - m->n : len;
		memcpy(m->buf + m->n, p, take);
		m->n += take;
		p += take;
		len -= take;
	}
out:
	if (r != 0)
		rkl_cmac_release(m);
	return r;
}

int
rkl_cmac_out(struct rkl_cmac *m, uint8_t *mac, size_t mac_len)
{
	uint8_t k[RKL_CMAC_MAX] = { 0 };
	size_t i;
	int r;

	if (m == NULL || m->c == NULL || mac == NULL || mac_len == 0 || mac_len > m->bs) {
		r = RKL_ERR_INVALID_ARG;
		goto out;
	}
	/* Subkeys (SP 800-38B 6.1): L = E(K, 0^b), K1 = dbl(L), K2 = dbl(K1). */
	if ((r = enc_block(m, k)) != 0)
		goto out;
	dbl(k, m->bs);
	if (m->n < m->bs) {
		/* incomplete (or empty) last block: pad 10*, use K2 */
		dbl(k, m->bs);
		m->buf[m->n] = 0x80;
		memset(m->buf + m->n + 1, 0, m->bs - m->n - 1);
	}
	for (i = 0; i < m->bs; i++)
		m->x[i] ^= m->buf[i] ^ k[i];
	if ((r = enc_block(m, m->x)) != 0)
		goto out;
	memcpy(mac, m->x, mac_len);
out:
	rkl_cleanse(k, sizeof(k));
	rkl_cmac_release(m);
	return r;
}

int
rkl_cmac(const struct rkl_crypto *c, enum rkl_cipher cipher,
    const uint8_t *key, size_t key_len, const uint8_t *msg, size_t len,
    uint8_t *mac, size_t mac_len)
{
	struct rkl_cmac m;
	int r;

	if ((r = rkl_cmac_init(&m, c, cipher, key, key_len)) != 0 ||
	    (r = rkl_cmac_update(&m, msg, len)) != 0 ||
	    (r = rkl_cmac_out(&m, mac, mac_len)) != 0)
		goto out;
out:
	rkl_cmac_release(&m);
	return r;
}

int
rkl_kcv_legacy(const struct rkl_crypto *c, enum rkl_cipher cipher,
    const uint8_t *key, size_t key_len, uint8_t out[RKL_KCV_LEGACY_LEN])
{
	uint8_t k[RKL_CMAC_KEY_MAX], blk[RKL_CMAC_MAX] = { 0 };
	size_t kl = 0, bs = cipher_bs(cipher);
	int r;

	if (c == NULL || c->cipher == NULL || out == NULL || bs == 0)
		return RKL_ERR_INVALID_ARG;
	if ((r = key_load(cipher, key, key_len, k, &kl)) != 0 ||
	    (r = c->cipher(c->ctx, cipher, RKL_MODE_ECB, 1, k, kl, NULL, blk, bs, blk)) != 0)
		goto out;
	memcpy(out, blk, RKL_KCV_LEGACY_LEN);
out:
	rkl_cleanse(k, sizeof(k));
	rkl_cleanse(blk, sizeof(blk));
	return r;
}

int
rkl_kcv_cmac(const struct rkl_crypto *c, enum rkl_cipher cipher,
    const uint8_t *key, size_t key_len, uint8_t out[RKL_KCV_CMAC_LEN])
{
	static const uint8_t zero[RKL_CMAC_MAX];
	size_t bs = cipher_bs(cipher);

	if (bs == 0 || out == NULL)
		return RKL_ERR_INVALID_ARG;
	return rkl_cmac(c, cipher, key, key_len, zero, bs, out, RKL_KCV_CMAC_LEN);
}

int
rkl_kcv_verify(const struct rkl_crypto *c, enum rkl_cipher cipher,
    enum rkl_kcv_method method, const uint8_t *key, size_t key_len,
    const uint8_t *kcv, size_t kcv_len)
{
	uint8_t got[RKL_KCV_CMAC_LEN];
	size_t full;
	int r;

	if (kcv == NULL)
		return RKL_ERR_INVALID_ARG;
	if (method == RKL_KCV_LEGACY)
		full = RKL_KCV_LEGACY_LEN;
	else if (method == RKL_KCV_CMAC)
		full = RKL_KCV_CMAC_LEN;
	else
		return RKL_ERR_INVALID_ARG;
	if (kcv_len < 2 || kcv_len > full)
		return RKL_ERR_LENGTH;
	r = method == RKL_KCV_LEGACY ? rkl_kcv_legacy(c, cipher, key, key_len, got) :
	    rkl_kcv_cmac(c, cipher, key, key_len, got);
	if (r != 0)
		goto out;
	if (!rkl_ct_eq(got, kcv, kcv_len))
		r = RKL_ERR_KCV;
out:
	rkl_cleanse(got, sizeof(got));
	return r;
}
