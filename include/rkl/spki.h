/*
 * rkl/spki.h - DER codecs for the two RSA key formats of the crypto table.
 *
 * rkl moves RSA public keys as X.509 SubjectPublicKeyInfo DER (RFC 5280
 * 4.1.2.7, algorithm rsaEncryption 1.2.840.113549.1.1.1 with NULL parameters,
 * RFC 3279 2.3.1) and stores RSA private keys as PKCS#1 RSAPrivateKey DER
 * (RFC 8017 A.1.2, version 0, two primes).  These functions are pure: no
 * heap, no I/O, no globals.  The OpenSSL backend uses the decoders as a strict
 * gate before handing bytes to OpenSSL; the BearSSL backend uses them to turn
 * its raw key structures into DER and back.
 *
 * Decoding is strict DER:
 *   - definite lengths in minimal form only (no 0x80 indefinite length, no
 *     long form where the short form fits, no leading zero length octets);
 *   - INTEGERs minimal (no redundant leading 0x00 or 0xFF) and positive
 *     (zero and negative values are rejected);
 *   - the outer item must fill the input exactly (RKL_ERR_TRAILING otherwise),
 *     and every SEQUENCE must be filled exactly by its members;
 *   - the modulus must be odd and 2048..4096 bits (RKL_RSA_MIN_BITS ..
 *     RKL_RSA_MAX_BITS), the public exponent odd, >= 3 and < 2^32.
 * Errors: RKL_ERR_INCOMPLETE (input ends early), RKL_ERR_FORMAT (wrong tag,
 * bad length form, non-minimal or non-positive integer, wrong OID or
 * parameters, unsupported version), RKL_ERR_TOO_LARGE (a length of 64 KiB or
 * more), RKL_ERR_TRAILING, RKL_ERR_KEY_LENGTH
 * (modulus size or exponent out of range).  On failure the output struct is
 * left untouched.
 *
 * Decoded integers are views into the input: big-endian magnitudes without the
 * DER sign octet, so n_len is the modulus length in bytes.  They stay valid
 * while the input buffer lives.
 *
 * Encoders take big-endian magnitudes (leading zero octets are skipped, a sign
 * octet is added where needed), apply the same range checks as the decoders,
 * and write nothing to out unless the whole encoding fits
 * (RKL_ERR_BUFFER_SPACE otherwise).
 */
#ifndef RKL_SPKI_H
#define RKL_SPKI_H

#include <stddef.h>
#include <stdint.h>

#include "rkl/buf.h"
#include "rkl/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RKL_RSA_MIN_BITS 2048

/* An RSA public key: views of big-endian magnitudes. */
struct rkl_rsa_pub {
	const uint8_t *n;	/* modulus */
	size_t n_len;
	const uint8_t *e;	/* public exponent */
	size_t e_len;
};

/* An RSA private key (PKCS#1, two primes): views of big-endian magnitudes. */
struct rkl_rsa_priv {
	const uint8_t *n;	/* modulus */
	size_t n_len;
	const uint8_t *e;	/* public exponent */
	size_t e_len;
	const uint8_t *d;	/* private exponent */
	size_t d_len;
	const uint8_t *p;	/* first prime */
	size_t p_len;
	const uint8_t *q;	/* second prime */
	size_t q_len;
	const uint8_t *dp;	/* d mod (p - 1) */
	size_t dp_len;
	const uint8_t *dq;	/* d mod (q - 1) */
	size_t dq_len;
	const uint8_t *qinv;	/* q^-1 mod p */
	size_t qinv_len;
};

/* Decode an RSA SubjectPublicKeyInfo; see the strictness rules above. */
RKL_WUR int rkl_spki_decode(const uint8_t *der, size_t len, struct rkl_rsa_pub *pub);

/* Encode an RSA SubjectPublicKeyInfo into out (at most RKL_SPKI_MAX bytes). */
RKL_WUR int rkl_spki_encode(const struct rkl_rsa_pub *pub, uint8_t *out, size_t cap,
    size_t *out_len);

/*
 * Decode a PKCS#1 RSAPrivateKey (version 0 only).  Besides the rules above,
 * every component must be positive, d no longer than the modulus, p, q, dp,
 * dq and qinv at most n_len / 2 + 1 octets (balanced primes, which bounds the
 * encoding by RKL_RSA_PRIV_MAX); p and q must be odd.  The values are not checked for mathematical consistency
 * (p * q = n etc.): a backend using an inconsistent key fails to decrypt.
 */
RKL_WUR int rkl_spki_priv_decode(const uint8_t *der, size_t len, struct rkl_rsa_priv *priv);

/*
 * The checks every backend's RSAES-OAEP encryption makes (RFC 8017 section
 * 7.1.1): the public key decodes (its decoder's data error otherwise), the
 * message fits (in_len <= k - 2*hlen - 2, else RKL_ERR_LENGTH) and out_cap
 * holds k octets (else RKL_ERR_BUFFER_SPACE).  Returns 0 with *pub filled.
 */
RKL_WUR int rkl_spki_oaep_enc_check(const uint8_t *spki, size_t spki_len, size_t in_len,
    size_t out_cap, size_t hlen, struct rkl_rsa_pub *pub);

/*
 * The checks every backend's RSAES-OAEP decryption makes before touching the
 * ciphertext (RFC 8017 section 7.1.2): the private key decodes, out_cap holds
 * the longest message (k - 2*hlen - 2 octets, k the modulus length) and the
 * ciphertext is exactly k octets.  Returns 0 with *key filled,
 * RKL_ERR_BUFFER_SPACE when out_cap is short (a function of the key size only,
 * so no oracle), or RKL_ERR_AUTH for everything else.
 */
RKL_WUR int rkl_spki_oaep_dec_check(const uint8_t *priv, size_t priv_len, size_t in_len,
    size_t out_cap, size_t hlen, struct rkl_rsa_priv *key);

/* Encode a PKCS#1 RSAPrivateKey into out (at most RKL_RSA_PRIV_MAX bytes). */
RKL_WUR int rkl_spki_priv_encode(const struct rkl_rsa_priv *priv, uint8_t *out, size_t cap,
    size_t *out_len);

/* Bit length of a big-endian magnitude (leading zero octets allowed); 0 if zero. */
unsigned rkl_spki_bits(const uint8_t *n, size_t n_len);

/*
 * Modulus size in bits of an RSA SubjectPublicKeyInfo, after a full strict
 * decode (same errors as rkl_spki_decode).  *bits is set only on success.
 */
RKL_WUR int rkl_spki_modulus_bits(const uint8_t *der, size_t len, unsigned *bits);


/* ---- EC public keys and ECDSA signatures (rkl/crypto.h's EC entries) ---- */

/*
 * Write the SubjectPublicKeyInfo DER of an EC public key (RFC 5480:
 * id-ecPublicKey 1.2.840.10045.2.1 with the named curve's OID, the point
 * uncompressed).  point is 0x04 || X || Y (65 bytes for P-256, 97 for
 * P-384; RKL_ERR_KEY_LENGTH otherwise).  Whether the point is on the curve
 * is checked by the backends, not here.
 */
RKL_WUR int rkl_ec_spki_encode(enum rkl_curve curve, const uint8_t *point, size_t point_len,
    uint8_t *out, size_t cap, size_t *out_len);

/*
 * Decode an EC SPKI written as above (the only form rkl accepts: named
 * curve P-256 or P-384, uncompressed point, nothing else): *curve and a
 * view of the point (0x04 || X || Y) inside spki.  RKL_ERR_ALGORITHM for
 * another algorithm or curve, RKL_ERR_FORMAT / RKL_ERR_INCOMPLETE /
 * RKL_ERR_TRAILING for bad DER.  Outputs untouched on failure.
 */
RKL_WUR int rkl_ec_spki_decode(const uint8_t *spki, size_t len, enum rkl_curve *curve,
    const uint8_t **point, size_t *point_len);

/*
 * A raw private scalar for curve: exactly rkl_curve_len(curve) octets
 * (RKL_ERR_KEY_LENGTH), 1 <= d < the group order (RKL_ERR_AUTH).  Both
 * backends run it before using a scalar.  Constant time in the value.
 */
RKL_WUR int rkl_ec_priv_check(enum rkl_curve curve, const uint8_t *priv, size_t len);

/*
 * Turn a raw ECDSA signature r || s (2 * rkl_curve_len(curve) octets, as
 * PKCS#11 CKM_ECDSA returns it) into a DER ECDSA-Sig-Value (at most
 * RKL_ECDSA_SIG_MAX bytes).  RKL_ERR_LENGTH for another length, RKL_ERR_FORMAT
 * if r or s is zero.
 */
RKL_WUR int rkl_ecdsa_raw_to_der(enum rkl_curve curve, const uint8_t *raw, size_t raw_len,
    uint8_t *out, size_t cap, size_t *out_len);

/*
 * Strict DER check of an ECDSA-Sig-Value SEQUENCE { r INTEGER, s INTEGER }
 * for curve: r and s positive, minimal, at most rkl_curve_len(curve) octets
 * of magnitude, nothing trailing.  0 or RKL_ERR_FORMAT / RKL_ERR_INCOMPLETE
 * / RKL_ERR_TRAILING / RKL_ERR_LENGTH.
 */
RKL_WUR int rkl_ecdsa_sig_check(enum rkl_curve curve, const uint8_t *sig, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* RKL_SPKI_H */
