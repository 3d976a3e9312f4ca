/*
 * The PROXY protocol, version 2 (HAProxy's "send-proxy-v2"): the header a
 * TCP balancer sends first on each connection it opens to a node, carrying
 * the client's address.  rkl-kmsd reads it only from the addresses listed in
 * proxy_protocol_from (docs/operations.md, "Load balancer"), so that limits
 * per source apply to terminals, not to the balancer.
 */
#ifndef RKL_PROXY_H
#define RKL_PROXY_H

#include <stddef.h>
#include <stdint.h>

#define RKL_PROXY_V2_MAX 536		/* 16-byte preamble + at most 520 bytes of addresses and TLVs */

struct rkl_proxy_src {
	int local;			/* LOCAL command (the balancer's own, e.g. a health check): no address */
	char addr[48];			/* the client's address alone, "" if local or not TCP over IPv4/IPv6 */
	char text[64];			/* "addr:port" or "[addr]:port" */
};

/*
 * Parse a PROXY v2 header at the start of b[0..n): 0 with *used bytes and
 * *out filled; RKL_ERR_INCOMPLETE if more bytes are needed; RKL_ERR_FORMAT
 * if b does not start with a v2 header (wrong signature, version, command,
 * family, or lengths); RKL_ERR_TOO_LARGE if it declares more than
 * RKL_PROXY_V2_MAX bytes.  A PROXY command whose family is not TCP over
 * IPv4 or IPv6 is RKL_ERR_FORMAT (rkl listens on TCP only).  TLVs are skipped.
 */
int rkl_proxy_v2_parse(const uint8_t *b, size_t n, size_t *used, struct rkl_proxy_src *out);

#endif
