/*
 * BearSSL backend of the crypto table (see rkl/crypto_bearssl.h).
 *
 * Heap-free: every buffer is on the stack or in the caller's context, and
 * every secret copy is wiped before returning.  BearSSL types stay in this
 * file.  Keys arrive and leave as DER through the strict codecs of
 * rkl/spki.h; their integers are copied into local arrays because BearSSL's
 * key structures take non-const pointers.
 */
#include "rkl/crypto_bearssl.h"

#include "rkl/crypto.h"
#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/spki.h"
#include "bearssl_int.h"

#include <string.h>

#include <bearssl.h>

#define STATE_MAGIC 0x726b6c42u	/* "rklB": the context is seeded */

/* What the opaque context holds; moved in and out with memcpy. */
struct bssl_state {
	br_hmac_drbg_context drbg;	/* HMAC-DRBG with SHA-256 */
	uint32_t magic;			/* STATE_MAGIC once seeded */
};

_Static_assert(sizeof(struct bssl_state) <= sizeof(((struct rkl_bearssl_ctx *)0)->opaque),
    "rkl_bearssl_ctx too small for the DRBG state");

/* Copy the state out of ctx; 0 if seeded, RKL_ERR_RNG otherwise. */
static int
state_load(void *ctx, struct bssl_state *st)
{
	if (ctx == NULL)
		return RKL_ERR_RNG;
	memcpy(st, &((struct rkl_bearssl_ctx *)ctx)->opaque, sizeof(*st));
	if (st->magic != STATE_MAGIC) {
		rkl_cleanse(st, sizeof(*st));
		return RKL_ERR_RNG;
	}
	return 0;
}

/* Write the (advanced) state back into ctx and wipe the local copy. */
static void
state_store(void *ctx, struct bssl_state *st)
{
	memcpy(&((struct rkl_bearssl_ctx *)ctx)->opaque, st, sizeof(*st));
	rkl_cleanse(st, sizeof(*st));
}

/* ---- block ciphers: aes_ct, des_ct ---- */

union bssl_keys {
	br_aes_ct_cbcenc_keys aes_e;
	br_aes_ct_cbcdec_keys aes_d;
	br_des_ct_cbcenc_keys des_e;
	br_des_ct_cbcdec_keys des_d;
};

/* Run CBC over len bytes of buf in place with the IV in iv (updated). */
static void
cbc_run(const union bssl_keys *k, enum rkl_cipher c, int enc, uint8_t *iv, uint8_t *buf,
    size_t len)
{
	if (c == RKL_CIPHER_AES) {
		if (enc)
			br_aes_ct_cbcenc_run(&k->aes_e, iv, buf, len);
		else
			br_aes_ct_cbcdec_run(&k->aes_d, iv, buf, len);
	} else {
		if (enc)
			br_des_ct_cbcenc_run(&k->des_e, iv, buf, len);
		else
			br_des_ct_cbcdec_run(&k->des_d, iv, buf, len);
	}
}

static int
bssl_cipher(void *ctx, enum rkl_cipher c, enum rkl_mode m, int enc,
    const uint8_t *key, size_t key_len, const uint8_t *iv,
    const uint8_t *in, size_t len, uint8_t *out)
{
	union bssl_keys k;
	uint8_t ivb[16];
	size_t bs, off;

	(void)ctx;
	if (c == RKL_CIPHER_AES) {
		if (key_len != 16 && key_len != 24 && key_len != 32)
			return RKL_ERR_KEY_LENGTH;
		bs = 16;
	} else if (c == RKL_CIPHER_TDES) {
		if (key_len != 16 && key_len != 24)	/* 8 would be single DES */
			return RKL_ERR_KEY_LENGTH;
		bs = 8;
	} else {
		return RKL_ERR_ALGORITHM;
	}
	if (m != RKL_MODE_ECB && m != RKL_MODE_CBC)
		return RKL_ERR_INVALID_ARG;
	if (len % bs != 0 || len > (size_t)1 << 30)
		return RKL_ERR_LENGTH;
	if (m == RKL_MODE_CBC && iv == NULL)
		return RKL_ERR_INVALID_ARG;
	if (len == 0)
		return 0;
	if (c == RKL_CIPHER_AES) {
		if (enc)
			br_aes_ct_cbcenc_init(&k.aes_e, key, key_len);
		else
			br_aes_ct_cbcdec_init(&k.aes_d, key, key_len);
	} else {
		if (enc)
			br_des_ct_cbcenc_init(&k.des_e, key, key_len);
		else
			br_des_ct_cbcdec_init(&k.des_d, key, key_len);
	}
	if (out != in)
		memmove(out, in, len);
	if (m == RKL_MODE_CBC) {
		memcpy(ivb, iv, bs);
		cbc_run(&k, c, enc, ivb, out, len);
	} else {
		/* ECB: one-block CBC with a zero IV is the bare block cipher. */
		for (off = 0; off < len; off += bs) {
			memset(ivb, 0, bs);
			cbc_run(&k, c, enc, ivb, out + off, bs);
		}
	}
	rkl_cleanse(&k, sizeof(k));
	rkl_cleanse(ivb, sizeof(ivb));
	return 0;
}

/* ---- SHA-256 ---- */

static int
bssl_sha256(void *ctx, const uint8_t *const *parts, const size_t *lens, size_t n,
    uint8_t out[RKL_SHA256_LEN])
{
	br_sha256_context h;
	size_t i;

	(void)ctx;
	br_sha256_init(&h);
	for (i = 0; i < n; i++)
		if (lens[i] > 0)
			br_sha256_update(&h, parts[i], lens[i]);
	br_sha256_out(&h, out);
	rkl_cleanse(&h, sizeof(h));	/* the buffered block may be secret */
	return 0;
}

/* ---- random ---- */

static int
bssl_random(void *ctx, uint8_t *out, size_t len)
{
	struct bssl_state st;
	int r;

	if (len > (size_t)1 << 30)
		return RKL_ERR_LENGTH;
	if ((r = state_load(ctx, &st)) != 0)
		return r;
	if (len > 0)
		br_hmac_drbg_generate(&st.drbg, out, len);
	state_store(ctx, &st);
	return 0;
}

/* ---- RSA ---- */

static const br_hash_class *
oaep_hash(enum rkl_oaep_hash h, size_t *hlen)
{
	switch (h) {
	case RKL_OAEP_SHA1:
		*hlen = br_sha1_SIZE;
		return &br_sha1_vtable;
	case RKL_OAEP_SHA256:
		*hlen = br_sha256_SIZE;
		return &br_sha256_vtable;
	default:
		return NULL;
	}
}

/* i62 where the CPU has 64x64->128 multiplication, i31 otherwise. */
static br_rsa_keygen
keygen_impl(void)
{
	br_rsa_keygen f = br_rsa_i62_keygen_get();

	return f != 0 ? f : br_rsa_i31_keygen;
}

static br_rsa_oaep_encrypt
oaep_encrypt_impl(void)
{
	br_rsa_oaep_encrypt f = br_rsa_i62_oaep_encrypt_get();

	return f != 0 ? f : br_rsa_i31_oaep_encrypt;
}

static br_rsa_oaep_decrypt
oaep_decrypt_impl(void)
{
	br_rsa_oaep_decrypt f = br_rsa_i62_oaep_decrypt_get();

	return f != 0 ? f : br_rsa_i31_oaep_decrypt;
}

/* Private key elements from BearSSL's key generator, plus d. */
struct keygen_work {
	uint8_t kpriv[BR_RSA_KBUF_PRIV_SIZE(RKL_RSA_MAX_BITS)];
	uint8_t kpub[BR_RSA_KBUF_PUB_SIZE(RKL_RSA_MAX_BITS)];
	uint8_t d[RKL_RSA_MAX_BYTES];
	uint8_t priv[RKL_RSA_PRIV_MAX];
	uint8_t spki[RKL_SPKI_MAX];
};

static int
bssl_rsa_keygen(void *ctx, unsigned bits, uint8_t *priv, size_t priv_cap,
    size_t *priv_len, uint8_t *spki, size_t spki_cap, size_t *spki_len)
{
	struct keygen_work w;
	struct bssl_state st;
	br_rsa_private_key sk;
	br_rsa_public_key pk;
	struct rkl_rsa_priv kp;
	struct rkl_rsa_pub kq;
	size_t d_len, pl = 0, sl = 0;
	int r, loaded = 0;

	if (bits != 2048 && bits != 3072 && bits != 4096)
		return RKL_ERR_KEY_LENGTH;
	if ((r = state_load(ctx, &st)) != 0)
		return r;
	loaded = 1;
	r = RKL_ERR_CRYPTO;
	if (keygen_impl()(&st.drbg.vtable, &sk, w.kpriv, &pk, w.kpub, bits, 65537) != 1)
		goto out;
	/* PKCS#1 also wants the full private exponent. */
	if ((d_len = br_rsa_compute_privexp_get_default()(w.d, &sk, 65537)) == 0 ||
	    d_len > sizeof(w.d))
		goto out;
	kp.n = pk.n;
	kp.n_len = pk.nlen;
	kp.e = pk.e;
	kp.e_len = pk.elen;
	kp.d = w.d;
	kp.d_len = d_len;
	kp.p = sk.p;
	kp.p_len = sk.plen;
	kp.q = sk.q;
	kp.q_len = sk.qlen;
	kp.dp = sk.dp;
	kp.dp_len = sk.dplen;
	kp.dq = sk.dq;
	kp.dq_len = sk.dqlen;
	kp.qinv = sk.iq;
	kp.qinv_len = sk.iqlen;
	kq.n = pk.n;
	kq.n_len = pk.nlen;
	kq.e = pk.e;
	kq.e_len = pk.elen;
	if (rkl_spki_bits(pk.n, pk.nlen) != bits ||
	    rkl_spki_priv_encode(&kp, w.priv, sizeof(w.priv), &pl) != 0 ||
	    rkl_spki_encode(&kq, w.spki, sizeof(w.spki), &sl) != 0) {
		r = RKL_ERR_INTERNAL;
		goto out;
	}
	if (pl > priv_cap || sl > spki_cap) {
		r = RKL_ERR_BUFFER_SPACE;
		goto out;
	}
	memcpy(priv, w.priv, pl);
	memcpy(spki, w.spki, sl);
	*priv_len = pl;
	*spki_len = sl;
	r = 0;
out:
	if (loaded)
		state_store(ctx, &st);
	rkl_cleanse(&w, sizeof(w));
	rkl_cleanse(&sk, sizeof(sk));
	return r;
}

static int
bssl_rsa_oaep_encrypt(void *ctx, enum rkl_oaep_hash h, const uint8_t *spki,
    size_t spki_len, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap,
    size_t *out_len)
{
	uint8_t nb[RKL_RSA_MAX_BYTES], eb[4], buf[RKL_RSA_MAX_BYTES];
	const br_hash_class *dig;
	struct bssl_state st;
	struct rkl_rsa_pub pub;
	br_rsa_public_key pk;
	size_t hlen = 0, k, n;
	int r;

	if ((dig = oaep_hash(h, &hlen)) == NULL)
		return RKL_ERR_ALGORITHM;
	if (spki == NULL || (in == NULL && in_len != 0))
		return RKL_ERR_INVALID_ARG;
	if ((r = rkl_spki_oaep_enc_check(spki, spki_len, in_len, out_cap, hlen, &pub)) != 0)
		return r;
	k = pub.n_len;
	if ((r = state_load(ctx, &st)) != 0)
		return r;
	memcpy(nb, pub.n, k);
	memcpy(eb, pub.e, pub.e_len);
	pk.n = nb;
	pk.nlen = k;
	pk.e = eb;
	pk.elen = pub.e_len;
	n = oaep_encrypt_impl()(&st.drbg.vtable, dig, NULL, 0, &pk, buf, sizeof(buf),
	    in_len ? in : buf, in_len);
	state_store(ctx, &st);
	if (n != k)
		return RKL_ERR_CRYPTO;
	memcpy(out, buf, k);
	*out_len = k;
	return 0;
}

/* CRT elements of a private key, copied out of the DER for BearSSL. */
struct crt_copy {
	uint8_t p[RKL_RSA_MAX_BYTES / 2 + 1];
	uint8_t q[RKL_RSA_MAX_BYTES / 2 + 1];
	uint8_t dp[RKL_RSA_MAX_BYTES / 2 + 1];
	uint8_t dq[RKL_RSA_MAX_BYTES / 2 + 1];
	uint8_t iq[RKL_RSA_MAX_BYTES / 2 + 1];
};

static int
bssl_rsa_oaep_decrypt(void *ctx, enum rkl_oaep_hash h, const uint8_t *priv,
    size_t priv_len, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap,
    size_t *out_len)
{
	uint8_t buf[RKL_RSA_MAX_BYTES];
	struct crt_copy cc;
	const br_hash_class *dig;
	struct rkl_rsa_priv key;
	br_rsa_private_key sk;
	size_t hlen = 0, k, len;
	int r = RKL_ERR_AUTH;

	(void)ctx;
	memset(&sk, 0, sizeof(sk));
	if ((dig = oaep_hash(h, &hlen)) == NULL) {
		r = RKL_ERR_ALGORITHM;
		goto out;
	}
	if (priv == NULL || in == NULL || out == NULL) {
		r = RKL_ERR_INVALID_ARG;
		goto out;
	}
	/* spki.h bounds p, q, dp, dq, qinv by n_len / 2 + 1 octets. */
	if ((r = rkl_spki_oaep_dec_check(priv, priv_len, in_len, out_cap, hlen, &key)) != 0)
		goto out;
	r = RKL_ERR_AUTH;
	k = key.n_len;
	memcpy(cc.p, key.p, key.p_len);
	memcpy(cc.q, key.q, key.q_len);
	memcpy(cc.dp, key.dp, key.dp_len);
	memcpy(cc.dq, key.dq, key.dq_len);
	memcpy(cc.iq, key.qinv, key.qinv_len);
	sk.n_bitlen = rkl_spki_bits(key.n, key.n_len);
	sk.p = cc.p;
	sk.plen = key.p_len;
	sk.q = cc.q;
	sk.qlen = key.q_len;
	sk.dp = cc.dp;
	sk.dplen = key.dp_len;
	sk.dq = cc.dq;
	sk.dqlen = key.dq_len;
	sk.iq = cc.iq;
	sk.iqlen = key.qinv_len;
	memcpy(buf, in, k);
	len = k;
	if (oaep_decrypt_impl()(dig, NULL, 0, &sk, buf, &len) != 1 || len > out_cap)
		goto out;
	memcpy(out, buf, len);
	*out_len = len;
	r = 0;
out:
	if (r != 0 && out != NULL)
		rkl_cleanse(out, out_cap);
	rkl_cleanse(buf, sizeof(buf));
	rkl_cleanse(&cc, sizeof(cc));
	return r;
}


/* ---- EC: key generation and ECDSA (br_ec_all_m31, i31 ECDSA) ---- */

static int
br_curve(enum rkl_curve curve)
{
	switch (curve) {
	case RKL_CURVE_P256: return BR_EC_secp256r1;
	case RKL_CURVE_P384: return BR_EC_secp384r1;
	default: return 0;
	}
}

static const br_hash_class *
ecdsa_hash(size_t hash_len)
{
	switch (hash_len) {
	case br_sha256_SIZE: return &br_sha256_vtable;
	case br_sha384_SIZE: return &br_sha384_vtable;
	default: return NULL;
	}
}

static int
bssl_ec_keygen(void *ctx, enum rkl_curve curve, uint8_t *priv, size_t priv_cap,
    size_t *priv_len, uint8_t *spki, size_t spki_cap, size_t *spki_len)
{
	uint8_t kpriv[BR_EC_KBUF_PRIV_MAX_SIZE], kpub[BR_EC_KBUF_PUB_MAX_SIZE];
	uint8_t der[RKL_EC_SPKI_MAX];
	struct bssl_state st;
	br_ec_private_key sk;
	br_ec_public_key pk;
	size_t flen = rkl_curve_len(curve), dl = 0;
	int id = br_curve(curve), r;

	if (id == 0)
		return RKL_ERR_ALGORITHM;
	if (priv == NULL || priv_len == NULL || spki == NULL || spki_len == NULL)
		return RKL_ERR_INVALID_ARG;
	if ((r = state_load(ctx, &st)) != 0)
		return r;
	r = RKL_ERR_CRYPTO;
	if (br_ec_keygen(&st.drbg.vtable, &br_ec_all_m31, &sk, kpriv, id) != flen ||
	    br_ec_compute_pub(&br_ec_all_m31, &pk, kpub, &sk) != 1 + 2 * flen)
		goto out;
	if (rkl_ec_spki_encode(curve, pk.q, pk.qlen, der, sizeof(der), &dl) != 0) {
		r = RKL_ERR_INTERNAL;
		goto out;
	}
	if (priv_cap < flen || spki_cap < dl) {
		r = RKL_ERR_BUFFER_SPACE;
		goto out;
	}
	memcpy(priv, sk.x, flen);
	*priv_len = flen;
	memcpy(spki, der, dl);
	*spki_len = dl;
	r = 0;
out:
	state_store(ctx, &st);
	rkl_cleanse(kpriv, sizeof(kpriv));
	rkl_cleanse(&sk, sizeof(sk));
	return r;
}

static int
bssl_ecdsa_sign(void *ctx, enum rkl_curve curve, const uint8_t *priv, size_t priv_len,
    const uint8_t *hash, size_t hash_len, uint8_t *sig, size_t sig_cap, size_t *sig_len)
{
	uint8_t x[RKL_EC_PRIV_MAX], kpub[BR_EC_KBUF_PUB_MAX_SIZE], out[RKL_ECDSA_SIG_MAX + 8];
	const br_hash_class *hf;
	br_ec_private_key sk;
	br_ec_public_key pk;
	size_t flen = rkl_curve_len(curve), n;
	int id = br_curve(curve), r = RKL_ERR_AUTH;

	(void)ctx;
	if (id == 0)
		return RKL_ERR_ALGORITHM;
	if (priv == NULL || hash == NULL || sig == NULL || sig_len == NULL)
		return RKL_ERR_INVALID_ARG;
	if ((hf = ecdsa_hash(hash_len)) == NULL)
		return RKL_ERR_LENGTH;
	if ((r = rkl_ec_priv_check(curve, priv, priv_len)) != 0)
		return r;
	r = RKL_ERR_AUTH;
	memcpy(x, priv, flen);
	sk.curve = id;
	sk.x = x;
	sk.xlen = flen;
	if (br_ec_compute_pub(&br_ec_all_m31, &pk, kpub, &sk) == 0)
		goto done;
	r = RKL_ERR_CRYPTO;
	if ((n = br_ecdsa_i31_sign_asn1(&br_ec_all_m31, hf, hash, &sk, out)) == 0)
		goto done;
	if (n > sig_cap) {
		r = RKL_ERR_BUFFER_SPACE;
		goto done;
	}
	memcpy(sig, out, n);
	*sig_len = n;
	r = 0;
done:
	rkl_cleanse(x, sizeof(x));
	rkl_cleanse(&sk, sizeof(sk));
	return r;
}

static int
bssl_ecdsa_verify(void *ctx, const uint8_t *spki, size_t spki_len, const uint8_t *hash,
    size_t hash_len, const uint8_t *sig, size_t sig_len)
{
	uint8_t q[1 + 2 * RKL_EC_PRIV_MAX];
	const uint8_t *pt = NULL;
	size_t pl = 0;
	enum rkl_curve curve = RKL_CURVE_P256;
	br_ec_public_key pk;
	int r;

	(void)ctx;
	if (hash == NULL)
		return RKL_ERR_INVALID_ARG;
	if (hash_len != br_sha256_SIZE && hash_len != br_sha384_SIZE)
		return RKL_ERR_LENGTH;
	if ((r = rkl_ec_spki_decode(spki, spki_len, &curve, &pt, &pl)) != 0)
		return r;
	if ((r = rkl_ecdsa_sig_check(curve, sig, sig_len)) != 0)
		return r;
	memcpy(q, pt, pl);
	pk.curve = br_curve(curve);
	pk.q = q;
	pk.qlen = pl;
	return br_ecdsa_i31_vrfy_asn1(&br_ec_all_m31, hash, hash_len, &pk, sig, sig_len) == 1 ?
	    0 : RKL_ERR_AUTH;
}

/* ---- constructor ---- */

int
rkl_crypto_bearssl_init(struct rkl_crypto *c, struct rkl_bearssl_ctx *ctx,
    const uint8_t *seed, size_t seed_len)
{
	struct bssl_state st;

	if (c == NULL || ctx == NULL || seed == NULL)
		return RKL_ERR_INVALID_ARG;
	if (seed_len < RKL_BEARSSL_SEED_MIN || seed_len > RKL_BEARSSL_SEED_MAX)
		return RKL_ERR_LENGTH;
	memset(&st, 0, sizeof(st));
	br_hmac_drbg_init(&st.drbg, &br_sha256_vtable, seed, seed_len);
	st.magic = STATE_MAGIC;
	memset(ctx, 0, sizeof(*ctx));
	state_store(ctx, &st);
	c->ctx = ctx;
	c->cipher = bssl_cipher;
	c->sha256 = bssl_sha256;
	c->random = bssl_random;
	c->rsa_keygen = bssl_rsa_keygen;
	c->rsa_oaep_encrypt = bssl_rsa_oaep_encrypt;
	c->rsa_oaep_decrypt = bssl_rsa_oaep_decrypt;
	c->ec_keygen = bssl_ec_keygen;
	c->ecdsa_sign = bssl_ecdsa_sign;
	c->ecdsa_verify = bssl_ecdsa_verify;
	c->x509_verify = rkl_bssl_x509_verify;
	return 0;
}

int
rkl_crypto_bearssl_reseed(struct rkl_bearssl_ctx *ctx, const uint8_t *seed, size_t seed_len)
{
	struct bssl_state st;
	int r;

	if (seed == NULL)
		return RKL_ERR_INVALID_ARG;
	if (seed_len < RKL_BEARSSL_SEED_MIN || seed_len > RKL_BEARSSL_SEED_MAX)
		return RKL_ERR_LENGTH;
	if ((r = state_load(ctx, &st)) != 0)
		return r;
	br_hmac_drbg_update(&st.drbg, seed, seed_len);
	state_store(ctx, &st);
	return 0;
}

void
rkl_crypto_bearssl_release(struct rkl_bearssl_ctx *ctx)
{
	if (ctx != NULL)
		rkl_cleanse(ctx, sizeof(*ctx));
}
