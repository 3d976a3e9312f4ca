/*
 * rkl/ct.h - secret hygiene: wiping and constant-time helpers.
 *
 * rkl_cleanse() is the one function every module uses to wipe a secret
 * buffer; it writes through a volatile function pointer so the compiler
 * cannot drop it as a dead store.  rkl_ct_eq() compares MACs, KCVs and
 * decrypted challenges in time that depends only on the length.  Hex
 * conversion is branch-free on the data because TR-31 key blocks carry
 * encrypted key material as hex.
 */
#ifndef RKL_CT_H
#define RKL_CT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Overwrite n bytes at p with zeros; never optimised away.  p may be NULL if n is 0. */
void rkl_cleanse(void *p, size_t n);

/* 1 if the n bytes at a and b are equal, 0 otherwise; time depends on n only. */
int rkl_ct_eq(const void *a, const void *b, size_t n);

/* 1 if all n bytes are zero; time depends on n only. */
int rkl_ct_is_zero(const void *p, size_t n);

/* Encode n bytes as 2n upper-case hex characters (no terminator). */
void rkl_hex_encode(const uint8_t *in, size_t n, char *out);

#define RKL_HEX_UPPER 0	/* accept only 0-9 A-F */
#define RKL_HEX_ANY   1	/* accept 0-9 A-F a-f */

/*
 * Decode 2n hex characters into n bytes without data-dependent branches.
 * Returns 0, or RKL_ERR_FORMAT if any character is not accepted by mode
 * (out is wiped in that case).
 */
int rkl_hex_decode(const char *in, size_t n, uint8_t *out, int mode);

#ifdef __cplusplus
}
#endif
#endif /* RKL_CT_H */
