/*
 * The PROXY protocol v2 header parser (rkl/proxy.h): the headers HAProxy's
 * send-proxy-v2 sends (TCP over IPv4 and IPv6, LOCAL, with TLVs), what
 * follows the header left alone, every prefix incomplete, and refusals.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "rkl/err.h"
#include "rkl/proxy.h"

static const uint8_t SIG[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };

static size_t
hdr(uint8_t *b, uint8_t vc, uint8_t fam, const uint8_t *body, size_t len)
{
	memcpy(b, SIG, 12);
	b[12] = vc;
	b[13] = fam;
	b[14] = (uint8_t)(len >> 8);
	b[15] = (uint8_t)len;
	if (len > 0)
		memcpy(b + 16, body, len);
	return 16 + len;
}

static void
test_tcp4(void **state)
{
	static const uint8_t v4[] = { 192, 0, 2, 7, 10, 0, 0, 1, 0x9c, 0x40, 0x1b, 0x58, 0x04, 0x00, 0x01, 'x' };
	uint8_t b[64];
	struct rkl_proxy_src s;
	size_t n, used = 0, cut;

	(void)state;
	n = hdr(b, 0x21, 0x11, v4, sizeof(v4));
	b[n] = 0x01;	/* the first byte of a frame */
	assert_int_equal(rkl_proxy_v2_parse(b, n + 1, &used, &s), 0);
	assert_int_equal(used, n);	/* the TLV is skipped, the frame left */
	assert_false(s.local);
	assert_string_equal(s.addr, "192.0.2.7");
	assert_string_equal(s.text, "192.0.2.7:40000");
	for (cut = 0; cut < n; cut++)
		assert_int_equal(rkl_proxy_v2_parse(b, cut, &used, &s), RKL_ERR_INCOMPLETE);
}

static void
test_tcp6_and_local(void **state)
{
	uint8_t v6[36], b[64];
	struct rkl_proxy_src s;
	size_t n, used = 0;

	(void)state;
	memset(v6, 0, sizeof(v6));
	v6[0] = 0x20;
	v6[1] = 0x01;
	v6[2] = 0x0d;
	v6[3] = 0xb8;
	v6[15] = 0x05;
	v6[32] = 0x01;
	v6[33] = 0xbb;
	n = hdr(b, 0x21, 0x21, v6, sizeof(v6));
	assert_int_equal(rkl_proxy_v2_parse(b, n, &used, &s), 0);
	assert_string_equal(s.addr, "2001:db8::5");
	assert_string_equal(s.text, "[2001:db8::5]:443");
	n = hdr(b, 0x20, 0x00, NULL, 0);
	assert_int_equal(rkl_proxy_v2_parse(b, n, &used, &s), 0);
	assert_int_equal(used, 16);
	assert_true(s.local);
	assert_string_equal(s.addr, "");
}

static void
test_refused(void **state)
{
	static const uint8_t v4[12] = { 127, 0, 0, 2, 127, 0, 0, 1, 0, 1, 0, 2 };
	static const char v1[] = "PROXY TCP4 127.0.0.2 127.0.0.1 1 2\r\n";
	uint8_t b[64];
	struct rkl_proxy_src s;
	size_t n, used = 0;

	(void)state;
	/* not a header at all (a frame, or PROXY v1 text): refused at the first byte */
	assert_int_equal(rkl_proxy_v2_parse((const uint8_t *)v1, 1, &used, &s), RKL_ERR_FORMAT);
	b[0] = 0x01;
	assert_int_equal(rkl_proxy_v2_parse(b, 1, &used, &s), RKL_ERR_FORMAT);
	n = hdr(b, 0x11, 0x11, v4, sizeof(v4));	/* version 1 */
	assert_int_equal(rkl_proxy_v2_parse(b, n, &used, &s), RKL_ERR_FORMAT);
	n = hdr(b, 0x22, 0x11, v4, sizeof(v4));	/* command 2 */
	assert_int_equal(rkl_proxy_v2_parse(b, n, &used, &s), RKL_ERR_FORMAT);
	n = hdr(b, 0x21, 0x12, v4, sizeof(v4));	/* UDP */
	assert_int_equal(rkl_proxy_v2_parse(b, n, &used, &s), RKL_ERR_FORMAT);
	n = hdr(b, 0x21, 0x11, v4, 8);		/* shorter than two IPv4 addresses and ports */
	assert_int_equal(rkl_proxy_v2_parse(b, n, &used, &s), RKL_ERR_FORMAT);
	n = hdr(b, 0x21, 0x11, v4, sizeof(v4));
	b[14] = 0x02;				/* declares 524 + 16 bytes */
	b[15] = 0x0c;
	assert_int_equal(rkl_proxy_v2_parse(b, n, &used, &s), RKL_ERR_TOO_LARGE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp4),
		cmocka_unit_test(test_tcp6_and_local),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
