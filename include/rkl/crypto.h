/*
 * rkl/crypto.h - the crypto function table the core and the PIN pad library
 * run on.
 *
 * The core never calls a crypto library directly: it takes a
 * `const struct rkl_crypto *` whose functions a backend fills in.  rkl ships
 * an OpenSSL 3 backend (host tools, KMS-side tests) and a BearSSL backend
 * (heap-free, for PIN pad firmware).  The backend is chosen by which source
 * file is linked, never by #ifdef in the core.
 *
 * Key formats are backend-neutral so that a key made by one backend is usable
 * by the other:
 *   - RSA public keys:  SubjectPublicKeyInfo DER (rsaEncryption).
 *   - RSA private keys: PKCS#1 RSAPrivateKey DER (all CRT components).
 * Symmetric keys are raw bytes; 2-key TDES is 16 bytes (K1 K2, K3 = K1).
 *
 * Every function returns 0 or a negative RKL_ERR_* code.  Output sizes are
 * checked against the caller's capacity (RKL_ERR_BUFFER_SPACE).  Functions
 * must be safe to call from several threads with one table unless the
 * backend's constructor says otherwise.
 */
#ifndef RKL_CRYPTO_H
#define RKL_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Key algorithms used across the protocol (values are the wire encoding). */
enum rkl_alg {
	RKL_ALG_NONE = 0,
	RKL_ALG_TDES2 = 1,	/* 2-key TDES, 16 bytes */
	RKL_ALG_TDES3 = 2,	/* 3-key TDES, 24 bytes */
	RKL_ALG_AES128 = 3,
	RKL_ALG_AES192 = 4,
	RKL_ALG_AES256 = 5,
	RKL_ALG_RSA2048 = 16,
	RKL_ALG_RSA3072 = 17
};

/* Key length in bytes of a symmetric alg, 0 for others. */
size_t rkl_alg_key_len(enum rkl_alg alg);
/* Cipher block length (8 TDES, 16 AES), 0 for others. */
size_t rkl_alg_block_len(enum rkl_alg alg);
/* RSA modulus size in bits, 0 for others. */
unsigned rkl_alg_rsa_bits(enum rkl_alg alg);
/* Short name ("AES-128", "TDES-2KEY", "RSA-2048"), "?" if unknown. */
const char *rkl_alg_name(enum rkl_alg alg);

enum rkl_cipher {
	RKL_CIPHER_TDES = 1,	/* key 16 or 24 bytes, block 8 */
	RKL_CIPHER_AES = 2	/* key 16, 24 or 32 bytes, block 16 */
};

/* Cipher family of a symmetric alg (0 if not symmetric). */
enum rkl_cipher rkl_alg_cipher(enum rkl_alg alg);

enum rkl_mode {
	RKL_MODE_ECB = 1,
	RKL_MODE_CBC = 2
};

enum rkl_oaep_hash {
	RKL_OAEP_SHA1 = 1,	/* OAEP with SHA-1 and MGF1-SHA-1 (SoftHSM2) */
	RKL_OAEP_SHA256 = 2	/* OAEP with SHA-256 and MGF1-SHA-256 */
};

/* Largest RSA modulus rkl handles, and DER size bounds for it. */
#define RKL_RSA_MAX_BITS 4096
#define RKL_RSA_MAX_BYTES (RKL_RSA_MAX_BITS / 8)
#define RKL_SPKI_MAX 600	/* SPKI DER of an RSA-4096 key with e < 2^32 */
#define RKL_RSA_PRIV_MAX 2400	/* PKCS#1 RSAPrivateKey DER of RSA-4096 */
#define RKL_SHA256_LEN 32

/* Elliptic curves for ECDSA (device keys, KMS signing key, the CA). */
enum rkl_curve {
	RKL_CURVE_P256 = 1,	/* NIST P-256 / secp256r1, 32-byte scalars */
	RKL_CURVE_P384 = 2	/* NIST P-384 / secp384r1, 48-byte scalars */
};

/* Scalar (private key) length of a curve in bytes, 0 if unknown. */
size_t rkl_curve_len(enum rkl_curve curve);

#define RKL_EC_PRIV_MAX 48	/* raw private scalar of P-384 */
#define RKL_EC_SPKI_MAX 120	/* SPKI DER of a P-384 key (uncompressed point) */
#define RKL_ECDSA_SIG_MAX 104	/* DER ECDSA-Sig-Value of P-384 */
#define RKL_X509_CHAIN_MAX 3	/* certificates in a chain below the root */

struct rkl_crypto {
	void *ctx;	/* backend state, passed back to every call */

	/*
	 * Encrypt (enc = 1) or decrypt (enc = 0) len bytes, a multiple of the
	 * block size, no padding.  iv is the block-sized IV for CBC and ignored
	 * for ECB.  in and out may be the same buffer.
	 */
	int (*cipher)(void *ctx, enum rkl_cipher c, enum rkl_mode m, int enc,
	    const uint8_t *key, size_t key_len, const uint8_t *iv,
	    const uint8_t *in, size_t len, uint8_t *out);

	/* SHA-256 over the concatenation of n parts. */
	int (*sha256)(void *ctx, const uint8_t *const *parts,
	    const size_t *lens, size_t n, uint8_t out[RKL_SHA256_LEN]);

	/* len bytes from a cryptographically secure generator. */
	int (*random)(void *ctx, uint8_t *out, size_t len);

	/*
	 * Generate an RSA key pair with e = 65537; bits is 2048, 3072 or 4096
	 * (RKL_ERR_KEY_LENGTH otherwise).  priv gets PKCS#1 RSAPrivateKey DER
	 * (at most RKL_RSA_PRIV_MAX bytes), spki SubjectPublicKeyInfo DER (at
	 * most RKL_SPKI_MAX); both pass the strict decoders of rkl/spki.h.
	 * RKL_ERR_BUFFER_SPACE if either does not fit; nothing is written then.
	 */
	int (*rsa_keygen)(void *ctx, unsigned bits,
	    uint8_t *priv, size_t priv_cap, size_t *priv_len,
	    uint8_t *spki, size_t spki_cap, size_t *spki_len);

	/*
	 * RSAES-OAEP encryption under a public key given as SPKI DER, no label.
	 * The key must pass rkl_spki_decode (its error is returned otherwise);
	 * in_len at most k - 2 hLen - 2 (RKL_ERR_LENGTH), out_cap at least the
	 * modulus length k (RKL_ERR_BUFFER_SPACE); *out_len becomes k.  An
	 * unknown h gives RKL_ERR_ALGORITHM.
	 */
	int (*rsa_oaep_encrypt)(void *ctx, enum rkl_oaep_hash h,
	    const uint8_t *spki, size_t spki_len,
	    const uint8_t *in, size_t in_len,
	    uint8_t *out, size_t out_cap, size_t *out_len);

	/*
	 * RSAES-OAEP decryption with a PKCS#1 private key.  Every failure
	 * that depends on the key or the ciphertext (key does not decode,
	 * in_len != modulus length, padding, wrong hash) returns the same
	 * RKL_ERR_AUTH so that the caller cannot become a padding oracle.
	 * Caller errors that depend on neither secret data nor ciphertext are
	 * reported as such: unknown h (RKL_ERR_ALGORITHM), NULL pointers
	 * (RKL_ERR_INVALID_ARG), out_cap below the longest possible message
	 * k - 2 hLen - 2 (RKL_ERR_BUFFER_SPACE).  out (all out_cap bytes) is
	 * wiped on every failure.
	 */
	int (*rsa_oaep_decrypt)(void *ctx, enum rkl_oaep_hash h,
	    const uint8_t *priv, size_t priv_len,
	    const uint8_t *in, size_t in_len,
	    uint8_t *out, size_t out_cap, size_t *out_len);

	/*
	 * Generate an EC key pair on curve.  priv gets the raw big-endian
	 * private scalar (exactly rkl_curve_len bytes), spki the
	 * SubjectPublicKeyInfo DER (id-ecPublicKey, named curve, uncompressed
	 * point; at most RKL_EC_SPKI_MAX bytes) as rkl_ec_spki_encode writes
	 * it.  RKL_ERR_ALGORITHM for an unknown curve, RKL_ERR_BUFFER_SPACE if
	 * either does not fit (nothing written then).
	 */
	int (*ec_keygen)(void *ctx, enum rkl_curve curve,
	    uint8_t *priv, size_t priv_cap, size_t *priv_len,
	    uint8_t *spki, size_t spki_cap, size_t *spki_len);

	/*
	 * ECDSA signature of a hash (hash_len 32 or 48: SHA-256 or SHA-384,
	 * RKL_ERR_LENGTH otherwise) with the raw private scalar of
	 * rkl_ec_keygen's format (RKL_ERR_KEY_LENGTH if its length does not
	 * fit the curve, RKL_ERR_AUTH if it is 0 or not below the order).
	 * sig gets the DER ECDSA-Sig-Value (RFC 3279 2.2.3), at most
	 * RKL_ECDSA_SIG_MAX bytes.
	 */
	int (*ecdsa_sign)(void *ctx, enum rkl_curve curve,
	    const uint8_t *priv, size_t priv_len,
	    const uint8_t *hash, size_t hash_len,
	    uint8_t *sig, size_t sig_cap, size_t *sig_len);

	/*
	 * Verify a DER ECDSA-Sig-Value over a hash (32 or 48 bytes) under a
	 * public key given as EC SPKI DER.  The key must pass
	 * rkl_ec_spki_decode and the signature rkl_ecdsa_sig_check (their
	 * errors are returned otherwise), so both backends accept the same
	 * encodings.  A signature that does not verify: RKL_ERR_AUTH.
	 */
	int (*ecdsa_verify)(void *ctx, const uint8_t *spki, size_t spki_len,
	    const uint8_t *hash, size_t hash_len,
	    const uint8_t *sig, size_t sig_len);

	/*
	 * The backend's own X.509 path validation: chain[0] (the end-entity
	 * certificate) .. chain[n-1] (n 1..RKL_X509_CHAIN_MAX, each DER), the
	 * last one issued by the trust anchor root (a self-signed CA
	 * certificate, DER, whose subject and key are the anchor), every
	 * signature checked (ECDSA P-256/P-384 with SHA-256/SHA-384), every
	 * certificate valid at now (seconds since 1970-01-01 UTC), CA
	 * certificates with basicConstraints cA, the end entity's key usable
	 * for signatures.  rkl's own policy checks (rkl/x509.h) run before
	 * this and are not repeated here; this is the second, independent
	 * implementation (BearSSL's x509_minimal engine, OpenSSL's
	 * X509_verify_cert).  Errors: RKL_ERR_CERT_SIGNATURE (a signature
	 * does not verify or the chain does not reach the root),
	 * RKL_ERR_CERT_EXPIRED, RKL_ERR_CERT_USAGE, RKL_ERR_FORMAT (the
	 * backend cannot parse a certificate), RKL_ERR_ALGORITHM.
	 */
	int (*x509_verify)(void *ctx, const uint8_t *root, size_t root_len,
	    const uint8_t *const *chain, const size_t *chain_lens, size_t n,
	    int64_t now);
};

/*
 * Fill *c with the OpenSSL 3 backend (thread-safe, ctx NULL); part of
 * librkl, not of librkl-pinpad.  The BearSSL backend's constructor is in
 * rkl/crypto_bearssl.h.  DER codecs for the key
 * formats are in rkl/spki.h.
 */
void rkl_crypto_openssl(struct rkl_crypto *c);

/*
 * A trust anchor parsed once for many path validations (rkl-kmsd's ca_root:
 * OpenSSL 3 decodes a certificate's key with the certificate, so a root
 * parsed per check was most of a device check's cost).  _anchored fills *c
 * as rkl_crypto_openssl, with x509_verify using a's parsed root whenever
 * it is given the same root DER (any other root is parsed per call, as
 * without an anchor); results are the same as without it.  a must outlive
 * c's use; both are thread-safe.  _anchor: 0, RKL_ERR_FORMAT (root does not
 * parse), RKL_ERR_NOMEM.
 */
struct rkl_ossl_anchor;
int rkl_crypto_openssl_anchor(const uint8_t *root, size_t root_len,
    struct rkl_ossl_anchor **out);
void rkl_crypto_openssl_anchor_free(struct rkl_ossl_anchor *a);
void rkl_crypto_openssl_anchored(struct rkl_crypto *c, const struct rkl_ossl_anchor *a);

#ifdef __cplusplus
}
#endif
#endif /* RKL_CRYPTO_H */
