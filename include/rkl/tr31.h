/*
 * rkl/tr31.h - TR-31 / ANSI X9.143 / ISO 20038 key blocks.
 *
 * A key block is printable ASCII: a 16-character header (version, length,
 * key usage, algorithm, mode of use, key version, exportability, number of
 * optional blocks, key context, reserved), optional blocks, the encrypted key
 * data in hex and a MAC in hex.  The MAC binds the header to the key, so a
 * key cannot be used for another purpose than the one its header states.
 *
 * Versions (X9.143:2021 5; TR-31:2018 A.1; ISO 20038:2017 B.2):
 *   A  TDES, key variant binding, CBC + 4-byte CBC-MAC   import only (export
 *                                                        only with
 *                                                        RKL_TR31_EXPORT_A)
 *   B  TDES, CMAC key derivation, CBC + 8-byte CMAC      import and export
 *   C  TDES, key variant binding, as A                   import and export
 *   D  AES,  CMAC key derivation, CBC + 16-byte CMAC     import and export
 *   E  AES,  CMAC key derivation, CTR + 16-byte CMAC     import and export
 * TDES key block protection keys (KBPK) are 16 or 24 bytes, AES ones 16, 24
 * or 32 bytes.  The KBPK's cipher is implied by the version.
 *
 * The engine is pure: no I/O, no heap, no globals.  struct rkl_tr31_key is a
 * plain caller-allocated struct with fixed arrays and no interior pointers
 * (safe to memcpy); it holds the header fields, the optional blocks and,
 * after import, the clear key, so wipe it with rkl_tr31_key_release().
 * Import and export can be called in a loop without any allocation; each
 * uses about 6 KB of stack (scratch for the largest key data a 9999-character
 * block can carry, and a struct rkl_tr31_key).
 *
 * Import (rkl_tr31_import) verifies the MAC before anything decrypted is
 * interpreted: for A and C the MAC over the ciphertext is checked before
 * decryption; for B, D and E the key data is decrypted into scratch, the
 * CMAC over header and clear key data is checked, and only then is the key
 * length field read.  Every failure up to and including the MAC check -
 * malformed header, bad hex, wrong lengths, a KBPK of the wrong kind for the
 * version, a wrong MAC - returns the same RKL_ERR_AUTH, so the importer is
 * no oracle.  rkl_tr31_check() runs the same format checks without a KBPK
 * and returns a precise error, for diagnostics (rkl-keyblock uses it to
 * explain an RKL_ERR_AUTH).  All decrypted scratch is wiped on every path.
 *
 * Strict mode (the default) applies the field rules of X9.143:2021 6.2-6.3:
 *   - version A-E; length = 4 decimal digits equal to the block's length;
 *   - key usage from X9.143 table 2 or two digits (proprietary);
 *   - algorithm A D E H R S T or a digit (proprietary);
 *   - mode of use B C D E G N S T V X Y or a digit (proprietary);
 *   - key version two alphanumerics ("00" = unused, "cN" = component N);
 *   - exportability E N S;
 *   - number of optional blocks two decimal digits;
 *   - key context (byte 14) 0, 1 or 2, reserved (byte 15) 0;
 *   - optional block IDs two upper-case alphanumerics, lengths upper-case
 *     hex (extended "00LLxxxx" form accepted), data printable ASCII, no ID
 *     twice, PB only last; KS data upper-case hex; KC and KP "00" (legacy)
 *     + 2-3 bytes or "01" (CMAC) + 2-5 bytes, upper-case hex;
 *   - header with its optional blocks a multiple of the cipher block (8 for
 *     A-C, 16 for D and E: ISO 20038:2017 A.2.1 makes no exception for E;
 *     export pads with PB in every version); key data a multiple of the
 *     block for A-D (E encrypts it in CTR mode, unpadded); encrypted key data and MAC upper-case
 *     hex (X9.143 field format "H"; see docs/architecture.md);
 *   - after authentication: key length a whole number of bytes, fitting the
 *     key data, and matching the algorithm (T 16/24, A 16/24/32, D 8).
 * RKL_TR31_LENIENT relaxes exactly these, for interoperability with
 * producers that do not follow the letter of the standard:
 *   - lower-case hex is accepted wherever hex is (key data, MAC, optional
 *     block lengths, KS/KC/KP data);
 *   - key usage, algorithm, mode of use and exportability may be any
 *     upper-case letter or digit, and bytes 14-15 any letter or digit;
 *   - the key length need not match the algorithm.
 * Everything else (structure, lengths, MAC) is checked in both modes.
 *
 * After authentication, a KC block is checked against the unwrapped key and
 * a KP block against the KBPK (RKL_ERR_KCV on a mismatch) when the key's
 * cipher is TDES (algorithm T or D) or AES (A); other KC blocks are kept
 * unchecked.  PB blocks are dropped on import and regenerated on export;
 * all other optional blocks are kept in order and re-emitted by export.
 *
 * Export (rkl_tr31_export) always writes a strict block.  Random padding comes
 * from an injectable source (default: the crypto table's random), so tests
 * can reproduce published blocks byte for byte.  Key-length obfuscation
 * (X9.143 5.4): the key data is padded as if the key were mask_len bytes
 * long; RKL_TR31_MASK_AUTO (the default) masks to the longest key of the
 * algorithm (T 24, A 32, D 8), RKL_TR31_MASK_NONE pads only to the block.
 * PB blocks are filled with '0' characters.
 *
 * Return values: 0, or a negative RKL_ERR_* code (rkl/err.h).  Outputs are
 * written only on success.
 */
#ifndef RKL_TR31_H
#define RKL_TR31_H

#include <stddef.h>
#include <stdint.h>

#include "rkl/buf.h"	/* RKL_WUR */
#include "rkl/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RKL_TR31_HDR_LEN 16		/* fixed header, X9.143 6.2 table 1 */
#define RKL_TR31_BLOCK_MAX 9999		/* 4-digit length field */
#define RKL_TR31_KEY_MAX 64		/* largest key held (bytes) */
#define RKL_TR31_KBPK_MAX 32		/* largest KBPK (AES-256) */
#define RKL_TR31_OPT_MAX 16		/* optional blocks kept, PB excluded */
#define RKL_TR31_OPT_DATA_MAX 1024	/* characters of optional-block data kept */

/* Import flags. */
#define RKL_TR31_STRICT 0u
#define RKL_TR31_LENIENT 1u		/* see the narrative above */

/* Export flags. */
#define RKL_TR31_EXPORT_A 2u		/* allow exporting deprecated version A */

/* Key-length obfuscation (rkl_tr31_export_opts.mask_len). */
#define RKL_TR31_MASK_NONE 0
#define RKL_TR31_MASK_AUTO ((size_t)-1)

/* One optional block kept from import or to emit on export. */
struct rkl_tr31_opt {
	char id[2];		/* block ID, e.g. 'K' 'S' */
	uint16_t off;		/* offset of its data in rkl_tr31_key.opt_data */
	uint16_t len;		/* data length in characters */
};

/* A key with its header attributes (field names follow X9.143 6.2). */
struct rkl_tr31_key {
	char version;			/* 'A' 'B' 'C' 'D' 'E' */
	char usage[2];			/* key usage, e.g. "P0", "K0" */
	char algorithm;			/* 'T' TDES, 'A' AES, 'D' DES, ... */
	char mode;			/* mode of use, e.g. 'E', 'N' */
	char key_version[2];		/* "00" when unused */
	char exportability;		/* 'E' 'N' 'S' */
	char key_context;		/* byte 14: '0' any, '1' storage, '2' exchange */
	char reserved;			/* byte 15: '0' */
	size_t n_opt;			/* optional blocks in opt[] */
	struct rkl_tr31_opt opt[RKL_TR31_OPT_MAX]; /* in header order, no PB */
	size_t opt_data_len;		/* characters used in opt_data */
	char opt_data[RKL_TR31_OPT_DATA_MAX]; /* all blocks' data, concatenated */
	size_t key_len;			/* bytes in key, 0 if none */
	uint8_t key[RKL_TR31_KEY_MAX];	/* the clear key (secret) */
};

/* Random source for export padding: fill out with len bytes, return 0. */
typedef int (*rkl_tr31_random_fn)(void *ctx, uint8_t *out, size_t len);

struct rkl_tr31_export_opts {
	size_t mask_len;		/* RKL_TR31_MASK_AUTO, _NONE, or bytes */
	unsigned flags;			/* RKL_TR31_EXPORT_A */
	rkl_tr31_random_fn random;	/* NULL: the crypto table's random */
	void *random_ctx;		/* passed to random */
};

/*
 * Import block (block_len characters, no terminator needed) under kbpk.
 * kbpk_len must be 16, 24 or 32 (else RKL_ERR_INVALID_ARG); flags is
 * RKL_TR31_STRICT or RKL_TR31_LENIENT.  Returns 0 and fills *out, or:
 *   RKL_ERR_AUTH        any failure up to the MAC check (see above);
 *   RKL_ERR_KEY_LENGTH  authenticated, but the key length field is invalid;
 *   RKL_ERR_TOO_LARGE   authenticated, but the key is over RKL_TR31_KEY_MAX;
 *   RKL_ERR_KCV         authenticated, but KC or KP does not match;
 *   RKL_ERR_CRYPTO etc. from the backend.
 * *out is untouched on failure.
 */
RKL_WUR int rkl_tr31_import(const struct rkl_crypto *c, const uint8_t *kbpk,
    size_t kbpk_len, const char *block, size_t block_len, unsigned flags,
    struct rkl_tr31_key *out);

/*
 * Format checks of import without a KBPK: header, optional blocks, lengths
 * and hex.  Returns 0 and fills *hdr (key_len 0) if block is well formed,
 * else a precise data error (RKL_ERR_FORMAT, RKL_ERR_LENGTH, RKL_ERR_VERSION,
 * RKL_ERR_DUPLICATE, RKL_ERR_TOO_LARGE, RKL_ERR_INCOMPLETE).  hdr may be NULL.
 */
RKL_WUR int rkl_tr31_check(const char *block, size_t block_len, unsigned flags,
    struct rkl_tr31_key *hdr);

/*
 * Parse a header template for export: the 16-character header followed by
 * exactly the optional blocks it announces (e.g. "B0000B0TX12S0100KS18...").
 * The length digits must be decimal but are otherwise ignored (export
 * computes them); PB blocks are dropped.  Fills *out with key_len 0.
 * Returns 0 or a data error as rkl_tr31_check().
 */
RKL_WUR int rkl_tr31_header_parse(const char *hdr, size_t hdr_len, unsigned flags,
    struct rkl_tr31_key *out);

/*
 * Export key (header fields, optional blocks and key) under kbpk into out
 * (out_cap characters; no terminator is written).  opts may be NULL
 * (mask AUTO, crypto table's random, no flags).  Returns 0 and sets
 * *out_len, or RKL_ERR_INVALID_ARG (a field fails the strict rules, wrong
 * KBPK length for the version, no key), RKL_ERR_VERSION (A without
 * RKL_TR31_EXPORT_A), RKL_ERR_KEY_LENGTH (key length does not fit the
 * algorithm), RKL_ERR_TOO_LARGE (block over 9999 characters),
 * RKL_ERR_BUFFER_SPACE, RKL_ERR_RNG, or a backend error.  On failure the
 * first out_cap characters of out are zeroed.
 */
RKL_WUR int rkl_tr31_export(const struct rkl_crypto *c, const uint8_t *kbpk,
    size_t kbpk_len, const struct rkl_tr31_key *key,
    const struct rkl_tr31_export_opts *opts, char *out, size_t out_cap,
    size_t *out_len);

/*
 * Derive the key block encryption key and MAC key from kbpk for version
 * (X9.143 / TR-31:2018 A.3): 'A' and 'C' by variant (KBPK xor 0x45 / 0x4D
 * per byte), 'B', 'D' and 'E' by the CMAC KDF of NIST SP 800-108 counter
 * mode.  kbek and kbak each receive kbpk_len bytes.  Returns 0,
 * RKL_ERR_VERSION, RKL_ERR_KEY_LENGTH (kbpk_len wrong for the version) or a
 * backend error; outputs are wiped on failure.
 */
RKL_WUR int rkl_tr31_derive(const struct rkl_crypto *c, char version,
    const uint8_t *kbpk, size_t kbpk_len, uint8_t *kbek, uint8_t *kbak);

/*
 * Find optional block id; sets *data (pointing into k, not terminated) and
 * *len.  Returns 0 or RKL_ERR_NOT_FOUND.
 */
RKL_WUR int rkl_tr31_opt_find(const struct rkl_tr31_key *k, const char id[2],
    const char **data, size_t *len);

/*
 * Append optional block id with len characters of data (printable ASCII;
 * "PB" is refused, it is generated on export).  Returns 0,
 * RKL_ERR_INVALID_ARG, RKL_ERR_DUPLICATE or RKL_ERR_TOO_LARGE.
 */
RKL_WUR int rkl_tr31_opt_add(struct rkl_tr31_key *k, const char id[2],
    const char *data, size_t len);

/* Set the clear key (1..RKL_TR31_KEY_MAX bytes). Returns 0 or RKL_ERR_KEY_LENGTH. */
RKL_WUR int rkl_tr31_set_key(struct rkl_tr31_key *k, const uint8_t *key, size_t len);

/* Wipe *k entirely (key and attributes). */
void rkl_tr31_key_release(struct rkl_tr31_key *k);

#ifdef __cplusplus
}
#endif
#endif /* RKL_TR31_H */
