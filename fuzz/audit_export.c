/*
 * libFuzzer target for the audit export verifier (rkl-admin audit verify
 * --file): JSON lines and RFC 5424 records of any shape.  It must return
 * 0, RKL_ERR_INTEGRITY (with the line it stopped at) or an I/O or memory
 * error, and an export it accepts must be consistent with itself.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "rkl/err.h"

#include "audit_export.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t zero[RKL_SHA256_LEN];
	struct rkl_admin_verify_res res;
	FILE *f;
	int r;

	if (size == 0 || (f = fmemopen((void *)(uintptr_t)data, size, "r")) == NULL)
		return 0;
	r = rkl_admin_audit_verify_file(f, 0, zero, &res);
	fclose(f);
	if (r == 0) {
		if (res.exports == 0 || res.first_seq == 0 || res.last_seq + 1 < res.first_seq ||
		    res.last_seq - res.first_seq + 1 != res.rows)
			abort();
	} else if (r != RKL_ERR_INTEGRITY && r != RKL_ERR_IO && r != RKL_ERR_NOMEM) {
		abort();
	}
	return 0;
}
