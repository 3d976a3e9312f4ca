/*
 * Fuzz target: the RFC 7512 PKCS#11 URI parser of rkl/hsm.h.  Whatever
 * parses must have NUL-terminated text fields within their arrays, an id no
 * longer than its array, and a type in range; otherwise the target aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rkl/hsm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_text(const char *s, size_t cap)
{
	if (memchr(s, '\0', cap) == NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rkl_p11_uri u;

	if (rkl_p11_uri_parse((const char *)data, size, &u) != 0)
		return 0;
	check_text(u.token, sizeof(u.token));
	check_text(u.manufacturer, sizeof(u.manufacturer));
	check_text(u.model, sizeof(u.model));
	check_text(u.serial, sizeof(u.serial));
	check_text(u.object, sizeof(u.object));
	check_text(u.module_path, sizeof(u.module_path));
	check_text(u.pin_source, sizeof(u.pin_source));
	if (u.id_len > sizeof(u.id) || (!u.has_id && u.id_len != 0))
		abort();
	if (u.type < 0 || u.type > 5)
		abort();
	return 0;
}
