/* Private to the BearSSL backend: functions shared between its files. */
#ifndef RKL_BEARSSL_INT_H
#define RKL_BEARSSL_INT_H

#include <stddef.h>
#include <stdint.h>

int rkl_bssl_x509_verify(void *ctx, const uint8_t *root, size_t root_len,
    const uint8_t *const *chain, const size_t *chain_lens, size_t n, int64_t now);

#endif
