/*
 * Fuzz target: the PROXY protocol v2 header parser of rkl/proxy.h.  A header
 * that parses must have used no more than the input and RKL_PROXY_V2_MAX,
 * NUL-terminated address fields, and an address only for the PROXY command;
 * an input that is refused must be refused whatever follows it, and a prefix
 * of a header must ask for more.  Otherwise the target aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rkl/err.h"
#include "rkl/proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rkl_proxy_src s;
	size_t used = 0, used2 = 0, cut;
	int r;

	r = rkl_proxy_v2_parse(data, size, &used, &s);
	if (r == 0) {
		if (used > size || used > RKL_PROXY_V2_MAX || used < 16)
			abort();
		if (memchr(s.addr, '\0', sizeof(s.addr)) == NULL || memchr(s.text, '\0', sizeof(s.text)) == NULL)
			abort();
		if (s.local && s.addr[0] != '\0')
			abort();
		/* every strict prefix asks for more */
		for (cut = 0; cut < used; cut += 1 + cut / 4)
			if (rkl_proxy_v2_parse(data, cut, &used2, &s) != RKL_ERR_INCOMPLETE)
				abort();
	} else if (r != RKL_ERR_INCOMPLETE && r != RKL_ERR_FORMAT && r != RKL_ERR_TOO_LARGE) {
		abort();
	}
	return 0;
}
