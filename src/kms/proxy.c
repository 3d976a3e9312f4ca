/*
 * PROXY protocol v2 header (include/rkl/proxy.h).  Layout: 12-byte
 * signature, version/command byte (0x2?: version 2; command 0 LOCAL, 1
 * PROXY), family/transport byte (0x11 TCP over IPv4, 0x21 TCP over IPv6),
 * 2-byte big-endian length of what follows; then, for PROXY over TCP/IPv4,
 * source and destination address (4 + 4) and ports (2 + 2), for IPv6 16 +
 * 16 + 2 + 2; TLVs fill the rest of the declared length.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "rkl/err.h"
#include "rkl/proxy.h"

static const uint8_t SIG[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };

int
rkl_proxy_v2_parse(const uint8_t *b, size_t n, size_t *used, struct rkl_proxy_src *out)
{
	size_t len, need;
	unsigned cmd, fam;
	uint16_t port;

	memset(out, 0, sizeof(*out));
	/* A prefix that already differs from the signature is refused at once. */
	if (n > 0 && memcmp(b, SIG, n < sizeof(SIG) ? n : sizeof(SIG)) != 0)
		return RKL_ERR_FORMAT;
	if (n < 16)
		return RKL_ERR_INCOMPLETE;
	if ((b[12] & 0xf0) != 0x20)
		return RKL_ERR_FORMAT;
	cmd = b[12] & 0x0f;
	fam = b[13];
	len = ((size_t)b[14] << 8) | b[15];
	if (cmd > 1)
		return RKL_ERR_FORMAT;
	if (16 + len > RKL_PROXY_V2_MAX)
		return RKL_ERR_TOO_LARGE;
	if (cmd == 1) {
		if (fam == 0x11)
			need = 12;
		else if (fam == 0x21)
			need = 36;
		else
			return RKL_ERR_FORMAT;
		if (len < need)
			return RKL_ERR_FORMAT;
	}
	if (n < 16 + len)
		return RKL_ERR_INCOMPLETE;
	*used = 16 + len;
	if (cmd == 0) {
		out->local = 1;
		return 0;
	}
	if (fam == 0x11) {
		if (inet_ntop(AF_INET, b + 16, out->addr, sizeof(out->addr)) == NULL)
			return RKL_ERR_FORMAT;
		port = (uint16_t)((b[24] << 8) | b[25]);
		snprintf(out->text, sizeof(out->text), "%s:%u", out->addr, port);
	} else {
		if (inet_ntop(AF_INET6, b + 16, out->addr, sizeof(out->addr)) == NULL)
			return RKL_ERR_FORMAT;
		port = (uint16_t)((b[48] << 8) | b[49]);
		snprintf(out->text, sizeof(out->text), "[%s]:%u", out->addr, port);
	}
	return 0;
}
