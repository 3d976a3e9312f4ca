/*
 * rkl-e2e-net - network helper of the end-to-end tests (the scripts in tests/e2e).
 *
 * A test-only program: it plays the parts of a misbehaving network or
 * client that rkl-terminal cannot (a man in the middle that flips a byte,
 * a client that stalls, raw malformed frames), using the real wire codec.
 * Every mode has a hard time limit (alarm) so a test can never hang.
 *
 *   proxy PORTFILE TARGET_PORT [--flip-ctmk OFFSET] [--flip-crnd2] [--capture FILE]
 *         [--hold-delivery HOLDFILE [--hold-reply TYPE]] [--drop-reply TYPE] [--max-conns N]
 *         [--from ADDR]
 *       Listen on 127.0.0.1:0 (port written to PORTFILE), relay each
 *       connection to 127.0.0.1:TARGET_PORT frame by frame.  In KMS ->
 *       terminal TMK_DELIVERY frames: --flip-ctmk flips (xor 0x01) byte
 *       OFFSET of the CTMK_TK value; --capture writes the CTMK_TK value, as
 *       received from the KMS, to FILE (raw bytes; also FILE.kcv and
 *       FILE.version as text); --hold-delivery does not forward the frame,
 *       creates HOLDFILE and keeps both connections open until the KMS
 *       side closes, then closes the terminal side.  In terminal -> KMS
 *       AUTH_RESPONSE frames, --flip-crnd2 flips the first byte of CRND2 (a
 *       wrong Crnd2, as a terminal without AUK would send).  --hold-reply
 *       TYPE (hex message type) holds the first KMS frame of that type
 *       instead of TMK_DELIVERY; --drop-reply TYPE closes both connections
 *       when a KMS frame of that type arrives (a lost reply).  --from ADDR
 *       connects to the target from that local IPv4 address (127.0.0.2: a
 *       peer the KMS tells from the terminals at 127.0.0.1).  Exits after N
 *       connections (default: runs until killed).
 *
 *   send PORT (--raw HEX | --frame TYPE BODYHEX | --oversize)
 *       Connect, send the bytes, read one reply frame and print
 *       "reply TYPE_NAME [code=N]" or "closed" (peer closed without a frame);
 *       then print "eof" once the server closes the connection.
 *       --frame builds a valid v1 header around BODYHEX; --oversize sends a
 *       header whose length field is 65535 followed by 64 KiB of data.
 *
 *   busy PORT SN (--pubkey | --auth)
 *       Open session A for SN (PUBKEY_REQ, or AUTH_INIT for a bound SN) and
 *       wait for its reply; while A is open, send the same first message on
 *       connection B.  Prints "A reply NAME" and "B reply NAME [code=N]".
 *
 *   stall PORT SN [--partial]
 *       Send a PUBKEY_REQ for SN (or only its first 5 bytes with
 *       --partial), read the reply if any, then send nothing more and wait
 *       for the server to close; prints "closed after S seconds".
 *
 *   grep FILE HEX
 *       Exit 0 if the key bytes HEX occur in FILE raw, as upper-case hex or
 *       as lower-case hex (prints where), 1 if not, 2 on error.
 *
 *   crnd1-oracle PORTFILE KMS_PORT
 *       The profile-2 pseudo-KMS through the KMS's CRND1 (docs/security.md
 *       A8, decision 148).  Listen as PORTFILE says; take one PIN pad
 *       connection and its AUTH_INIT (SN, RND1, nonce_t); pick nonce_k';
 *       open a KMS session of its own for that SN with RND1 := data_k2d(SN,
 *       nonce_t, nonce_k') and take CRND1 as the candidate K_k2d (before
 *       decision 148 it was E(AUK, data_k2d) = K_k2d), a second one with the
 *       device's RND1 for a CRND1 to show the device; then send the device
 *       AUTH_CHALLENGE(that CRND1, RND2, nonce_k', MAC under the candidate
 *       key).  If the KMS refuses RND1 = data_k2d (decision 147's
 *       derivation mark) it prints "kms refused RND1 = data_k2d" and asks
 *       for data_k2d without the mark instead.  Prints "kms answered" for
 *       each KMS session, then "device refused" (exit 0) or "device
 *       accepted the forged challenge" (exit 1, the attack worked).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rkl/buf.h"
#include "rkl/crypto.h"
#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/p2.h"
#include "rkl/wire.h"

#define TIME_LIMIT 120
#define IO_TIMEOUT_MS 30000

static void
die(const char *msg)
{
	fprintf(stderr, "rkl-e2e-net: %s\n", msg);
	exit(2);
}

static int
parse_port(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v <= 0 || v > 65535)
		die("bad port");
	return (int)v;
}

static size_t
parse_hex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = strlen(s);

	if (n % 2 != 0 || n / 2 > cap || rkl_hex_decode(s, n / 2, out, RKL_HEX_ANY) != 0)
		die("bad hex");
	return n / 2;
}

/* The local address of the proxy's connections to its target (--from); NULL: the kernel's. */
static const char *proxy_from;

static int
connect_port(int port)
{
	struct sockaddr_in sa;
	int fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		die("socket");
	if (proxy_from != NULL) {
		memset(&sa, 0, sizeof(sa));
		sa.sin_family = AF_INET;
		if (inet_pton(AF_INET, proxy_from, &sa.sin_addr) != 1 ||
		    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
			die("proxy: cannot bind --from address");
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		die("connect");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int
write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read exactly n bytes within the timeout: 1 ok, 0 EOF/reset before, -1 timeout. */
static int
read_exact(int fd, uint8_t *p, size_t n, int timeout_ms)
{
	while (n > 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;
		int pr = poll(&pfd, 1, timeout_ms);

		if (pr < 0 && errno == EINTR)
			continue;
		if (pr == 0)
			return -1;
		r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return 0;
		p += r;
		n -= (size_t)r;
	}
	return 1;
}

/* Read one frame into buf: its length, 0 on EOF, -1 on timeout, -2 on a bad frame. */
static long
read_frame(int fd, uint8_t *buf, size_t cap, int timeout_ms)
{
	size_t have = 0, need = RKL_WIRE_HDR_LEN, flen = 0;
	int r;

	for (;;) {
		if (have + need > cap)
			return -2;
		r = read_exact(fd, buf + have, need, timeout_ms);
		if (r <= 0)
			return r == 0 ? 0 : -1;
		have += need;
		r = rkl_wire_frame_need(buf, have, &flen, &need);
		if (r == 0)
			return (long)flen;
		if (r != RKL_ERR_INCOMPLETE)
			return -2;
	}
}

/* Wait until the peer closes: 1 closed, 0 timeout.  Discards data. */
static int
wait_eof(int fd, int timeout_ms)
{
	uint8_t junk[4096];

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int pr = poll(&pfd, 1, timeout_ms);
		ssize_t r;

		if (pr < 0 && errno == EINTR)
			continue;
		if (pr == 0)
			return 0;
		r = read(fd, junk, sizeof(junk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return 1;
	}
}

static void
print_reply(const char *who, const uint8_t *buf, long n)
{
	struct rkl_wire_msg m;

	if (n == 0) {
		printf("%sclosed\n", who);
		return;
	}
	if (n < 0) {
		printf("%s%s\n", who, n == -1 ? "timeout" : "badframe");
		return;
	}
	if (rkl_wire_decode(buf, (size_t)n, RKL_WIRE_DIR_TO_TERMINAL, &m) != 0) {
		printf("%sundecodable\n", who);
		return;
	}
	if (m.type == RKL_WIRE_ERROR)
		printf("%sreply ERROR code=%u\n", who, (unsigned)m.u.error.code);
	else
		printf("%sreply %s\n", who, rkl_wire_type_name(m.type));
}

/* ---- message builders ---- */

static size_t
build_pubkey_req(const char *sn, uint8_t *out, size_t cap)
{
	struct rkl_wire_msg m;
	struct rkl_wbuf w;

	rkl_wire_msg_init(&m, RKL_WIRE_PUBKEY_REQ, NULL);
	if (strlen(sn) > RKL_WIRE_SN_MAX)
		die("SN too long");
	memcpy(m.u.pubkey_req.sn, sn, strlen(sn) + 1);
	memcpy(m.u.pubkey_req.pinpad_sn, sn, strlen(sn) + 1);
	m.u.pubkey_req.algs[0] = RKL_ALG_RSA2048;
	m.u.pubkey_req.algs[1] = RKL_ALG_AES128;
	m.u.pubkey_req.algs[2] = RKL_ALG_AES256;
	m.u.pubkey_req.algs[3] = RKL_ALG_TDES2;
	m.u.pubkey_req.algs[4] = RKL_ALG_TDES3;
	m.u.pubkey_req.n_algs = 5;
	m.u.pubkey_req.oaep_hashes[0] = RKL_OAEP_SHA1;
	m.u.pubkey_req.oaep_hashes[1] = RKL_OAEP_SHA256;
	m.u.pubkey_req.n_oaep_hashes = 2;
	rkl_wbuf_init(&w, out, cap);
	if (rkl_wire_encode(&m, &w) != 0)
		die("encode PUBKEY_REQ");
	return w.len;
}

static size_t
build_auth_init(const char *sn, uint8_t *out, size_t cap)
{
	struct rkl_wire_msg m;
	struct rkl_wbuf w;
	size_t i;

	rkl_wire_msg_init(&m, RKL_WIRE_AUTH_INIT, NULL);
	if (strlen(sn) > RKL_WIRE_SN_MAX)
		die("SN too long");
	memcpy(m.u.auth_init.sn, sn, strlen(sn) + 1);
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	for (i = 0; i < 16; i++)
		m.u.auth_init.rnd1[i] = (uint8_t)rand();
	m.u.auth_init.rnd1[0] &= 0x7F;	/* never the derivation mark (decision 154) */
	/* 16 bytes fits an AES AUK; a TDES AUK gets 8 (the KMS checks the length) */
	m.u.auth_init.rnd1_len = 16;
	if (getenv("RKL_E2E_RND_LEN") != NULL && strcmp(getenv("RKL_E2E_RND_LEN"), "8") == 0)
		m.u.auth_init.rnd1_len = 8;
	rkl_wbuf_init(&w, out, cap);
	if (rkl_wire_encode(&m, &w) != 0)
		die("encode AUTH_INIT");
	return w.len;
}

/* ---- modes ---- */

static int
mode_send(int argc, char **argv)
{
	static uint8_t out[70000], in[RKL_WIRE_FRAME_MAX + 16];
	size_t n = 0;
	long r;
	int fd, port;

	if (argc < 2)
		die("send PORT (--raw HEX | --frame TYPE BODYHEX | --oversize)");
	port = parse_port(argv[0]);
	if (strcmp(argv[1], "--raw") == 0 && argc == 3) {
		n = parse_hex(argv[2], out, sizeof(out));
	} else if (strcmp(argv[1], "--frame") == 0 && argc == 4) {
		size_t body = parse_hex(argv[3], out + RKL_WIRE_HDR_LEN,
		    sizeof(out) - RKL_WIRE_HDR_LEN);
		long type = strtol(argv[2], NULL, 0);

		n = RKL_WIRE_HDR_LEN + body;
		if (n > 0xFFFF)
			die("frame too long");
		memset(out, 0, RKL_WIRE_HDR_LEN);
		rkl_enc16be(out, (uint16_t)n);
		out[2] = RKL_WIRE_MAGIC0;
		out[3] = RKL_WIRE_MAGIC1;
		out[4] = RKL_WIRE_VERSION;
		out[5] = RKL_WIRE_PROFILE_PATENT;
		out[6] = (uint8_t)type;
	} else if (strcmp(argv[1], "--oversize") == 0 && argc == 2) {
		n = 65535;
		memset(out, 'A', n);
		rkl_enc16be(out, 0xFFFF);
		out[2] = RKL_WIRE_MAGIC0;
		out[3] = RKL_WIRE_MAGIC1;
		out[4] = RKL_WIRE_VERSION;
		out[5] = RKL_WIRE_PROFILE_PATENT;
		out[6] = RKL_WIRE_PUBKEY_REQ;
		out[7] = 0;
	} else {
		die("send: bad arguments");
	}
	fd = connect_port(port);
	/* the server may close before taking everything: ignore write errors */
	(void)write_all(fd, out, n);
	r = read_frame(fd, in, sizeof(in), IO_TIMEOUT_MS);
	print_reply("", in, r);
	if (r > 0 && wait_eof(fd, IO_TIMEOUT_MS))
		printf("eof\n");
	close(fd);
	return 0;
}

static int
mode_busy(int argc, char **argv)
{
	uint8_t req[RKL_WIRE_FRAME_MAX], in[RKL_WIRE_FRAME_MAX];
	size_t n;
	long r;
	int a, b, port;

	if (argc != 3)
		die("busy PORT SN (--pubkey | --auth)");
	port = parse_port(argv[0]);
	if (strcmp(argv[2], "--pubkey") == 0)
		n = build_pubkey_req(argv[1], req, sizeof(req));
	else if (strcmp(argv[2], "--auth") == 0)
		n = build_auth_init(argv[1], req, sizeof(req));
	else
		die("busy: --pubkey or --auth");
	a = connect_port(port);
	if (write_all(a, req, n) != 0)
		die("write A");
	r = read_frame(a, in, sizeof(in), IO_TIMEOUT_MS);
	print_reply("A ", in, r);
	fflush(stdout);
	b = connect_port(port);
	if (write_all(b, req, n) != 0)
		die("write B");
	r = read_frame(b, in, sizeof(in), IO_TIMEOUT_MS);
	print_reply("B ", in, r);
	close(b);
	close(a);
	return 0;
}

static int
mode_stall(int argc, char **argv)
{
	uint8_t req[RKL_WIRE_FRAME_MAX], in[RKL_WIRE_FRAME_MAX];
	struct timespec t0, t1;
	size_t n;
	int fd, partial = 0, closed;

	if (argc < 2 || argc > 3)
		die("stall PORT SN [--partial]");
	if (argc == 3) {
		if (strcmp(argv[2], "--partial") != 0)
			die("stall: unknown option");
		partial = 1;
	}
	n = build_pubkey_req(argv[1], req, sizeof(req));
	fd = connect_port(parse_port(argv[0]));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (write_all(fd, req, partial ? 5 : n) != 0)
		die("write");
	if (!partial) {
		long r = read_frame(fd, in, sizeof(in), IO_TIMEOUT_MS);

		print_reply("", in, r);
		fflush(stdout);
		clock_gettime(CLOCK_MONOTONIC, &t0);
	}
	closed = wait_eof(fd, 100 * 1000);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (closed)
		printf("closed after %ld seconds\n", (long)(t1.tv_sec - t0.tv_sec +
		    (t1.tv_nsec - t0.tv_nsec >= 500000000L ? 1 : 0) -
		    (t1.tv_nsec - t0.tv_nsec < -500000000L ? 1 : 0)));
	else
		printf("still open\n");
	close(fd);
	return 0;
}

/* Find the value of field tag inside a frame: offset and length. */
static int
find_field(const uint8_t *f, size_t n, uint16_t want, size_t *off, size_t *len)
{
	size_t i = RKL_WIRE_HDR_LEN;

	while (i + 4 <= n) {
		uint16_t tag = rkl_dec16be(f + i), l = rkl_dec16be(f + i + 2);

		if (i + 4 + l > n)
			return -1;
		if ((tag & ~RKL_WIRE_TAG_CRITICAL) == want) {
			*off = i + 4;
			*len = l;
			return 0;
		}
		i += 4 + (size_t)l;
	}
	return -1;
}

static void
write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0)
		die("cannot write capture file");
}

struct proxy_opts {
	long flip;		/* byte offset in CTMK_TK to flip, -1 none */
	int flip_crnd2;		/* flip the first byte of CRND2 in AUTH_RESPONSE */
	const char *capture;	/* capture file or NULL */
	const char *hold;	/* hold file or NULL */
	int drop_type;		/* KMS frame type whose arrival cuts both connections, -1 none */
	int hold_type;		/* KMS frame type to hold back (then write hold), -1: TMK_DELIVERY */
};

/* One direction of a relayed connection, reassembled frame by frame. */
struct half {
	int from, to;				/* sockets */
	uint8_t buf[RKL_WIRE_FRAME_MAX + 16];	/* the frame being read */
	size_t have;				/* bytes of it read */
	size_t need;				/* bytes still needed for the next step */
	int raw;				/* not frames: pass bytes through */
};

/* What the proxy does with a complete KMS -> terminal frame; 1 = forward, -1 = cut. */
static int
kms_frame(uint8_t *f, size_t n, const struct proxy_opts *o, int *holding)
{
	size_t off, len;
	struct rkl_wire_msg m;
	char path[4096], txt[64];

	if (o->drop_type >= 0 && f[6] == o->drop_type)
		return -1;	/* the reply is lost: both connections are closed */
	if (o->hold_type >= 0 && f[6] == o->hold_type && o->hold != NULL) {
		write_file(o->hold, "held\n", 5);
		*holding = 1;
		return 0;
	}
	if (f[6] != RKL_WIRE_TMK_DELIVERY || find_field(f, n, RKL_WIRE_T_CTMK_TK, &off, &len) != 0)
		return 1;
	if (o->capture != NULL) {
		write_file(o->capture, f + off, len);
		if (rkl_wire_decode(f, n, RKL_WIRE_DIR_TO_TERMINAL, &m) == 0) {
			rkl_hex_encode(m.u.tmk_delivery.kcv, m.u.tmk_delivery.kcv_len, txt);
			txt[2 * m.u.tmk_delivery.kcv_len] = '\n';
			snprintf(path, sizeof(path), "%s.kcv", o->capture);
			write_file(path, txt, 2 * m.u.tmk_delivery.kcv_len + 1);
			snprintf(path, sizeof(path), "%s.version", o->capture);
			snprintf(txt, sizeof(txt), "%u\n", (unsigned)m.u.tmk_delivery.key_version);
			write_file(path, txt, strlen(txt));
		}
	}
	if (o->flip >= 0 && (size_t)o->flip < len)
		f[off + (size_t)o->flip] ^= 0x01;
	if (o->hold != NULL) {
		write_file(o->hold, "held\n", 5);
		*holding = 1;
		return 0;
	}
	return 1;
}

/* What the proxy does with a complete terminal -> KMS frame; 1 = forward. */
static int
term_frame(uint8_t *f, size_t n, const struct proxy_opts *o)
{
	size_t off, len;

	if (o->flip_crnd2 && f[6] == RKL_WIRE_AUTH_RESPONSE &&
	    find_field(f, n, RKL_WIRE_T_CRND2, &off, &len) == 0 && len > 0)
		f[off] ^= 0x01;
	return 1;
}

/* Read what is available on h->from; forward complete frames.  0 = go on, -1 = done. */
static int
pump(struct half *h, int to_terminal, const struct proxy_opts *o, int *holding)
{
	size_t flen;
	ssize_t r;
	int fwd;

	if (h->raw) {
		r = read(h->from, h->buf, sizeof(h->buf));
		if (r <= 0)
			return -1;
		if (!*holding && write_all(h->to, h->buf, (size_t)r) != 0)
			return -1;
		return 0;
	}
	if (h->have + h->need > sizeof(h->buf))
		return -1;
	r = read(h->from, h->buf + h->have, h->need);
	if (r <= 0)
		return -1;
	h->have += (size_t)r;
	h->need -= (size_t)r;
	if (h->need > 0)
		return 0;
	r = rkl_wire_frame_need(h->buf, h->have, &flen, &h->need);
	if (r == RKL_ERR_INCOMPLETE)
		return 0;
	if (r != 0) {
		/* not a frame: from now on pass bytes through unchanged */
		h->raw = 1;
		fwd = !*holding && write_all(h->to, h->buf, h->have) == 0;
		h->have = 0;
		return fwd || *holding ? 0 : -1;
	}
	fwd = to_terminal ? kms_frame(h->buf, flen, o, holding) : term_frame(h->buf, flen, o);
	if (fwd < 0)
		return -1;
	if (fwd && !*holding && write_all(h->to, h->buf, flen) != 0)
		return -1;
	h->have = 0;
	h->need = RKL_WIRE_HDR_LEN;
	return 0;
}

/* Relay one connection; returns when either side is done. */
static void
relay(int t, int k, const struct proxy_opts *o)
{
	static struct half up, down;	/* terminal -> KMS, KMS -> terminal */
	int holding = 0;

	memset(&up, 0, sizeof(up));
	memset(&down, 0, sizeof(down));
	up.from = t;
	up.to = k;
	up.need = RKL_WIRE_HDR_LEN;
	down.from = k;
	down.to = t;
	down.need = RKL_WIRE_HDR_LEN;
	for (;;) {
		struct pollfd p[2] = { { .fd = t, .events = POLLIN }, { .fd = k, .events = POLLIN } };

		if (poll(p, 2, IO_TIMEOUT_MS * 4) <= 0)
			return;
		if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) && pump(&up, 0, o, &holding) != 0)
			return;
		if ((p[1].revents & (POLLIN | POLLHUP | POLLERR)) && pump(&down, 1, o, &holding) != 0)
			return;
	}
}

/* Listen on 127.0.0.1:0 (backlog), the port written to portfile (write + rename). */
static int
listen_portfile(const char *portfile, int backlog)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	char tmp[4200];
	int ls, one = 1;
	FILE *f;

	if ((ls = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		die("socket");
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(ls, backlog) != 0 ||
	    getsockname(ls, (struct sockaddr *)&sa, &sl) != 0)
		die("listen");
	snprintf(tmp, sizeof(tmp), "%s.tmp", portfile);
	if ((f = fopen(tmp, "w")) == NULL)
		die("port file");
	fprintf(f, "%u\n", (unsigned)ntohs(sa.sin_port));
	if (fclose(f) != 0 || rename(tmp, portfile) != 0)
		die("port file");
	return ls;
}

static int
mode_proxy(int argc, char **argv)
{
	struct proxy_opts o = { .flip = -1, .flip_crnd2 = 0, .capture = NULL, .hold = NULL,
	    .drop_type = -1, .hold_type = -1 };
	long max_conns = -1, done = 0;
	int ls, target, i, one = 1;

	if (argc < 2)
		die("proxy PORTFILE TARGET_PORT [options]");
	target = parse_port(argv[1]);
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--flip-crnd2") == 0) {
			o.flip_crnd2 = 1;
			continue;
		}
		if (i + 1 >= argc)
			die("proxy: option needs a value");
		if (strcmp(argv[i], "--flip-ctmk") == 0)
			o.flip = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--capture") == 0)
			o.capture = argv[++i];
		else if (strcmp(argv[i], "--from") == 0)
			proxy_from = argv[++i];
		else if (strcmp(argv[i], "--hold-delivery") == 0)
			o.hold = argv[++i];
		else if (strcmp(argv[i], "--max-conns") == 0)
			max_conns = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--drop-reply") == 0)
			o.drop_type = (int)strtol(argv[++i], NULL, 16);
		else if (strcmp(argv[i], "--hold-reply") == 0)
			o.hold_type = (int)strtol(argv[++i], NULL, 16);
		else
			die("proxy: unknown option");
	}
	alarm(0);	/* the proxy lives as long as its test; the test kills it */
	ls = listen_portfile(argv[0], 16);
	while (max_conns < 0 || done < max_conns) {
		int t = accept(ls, NULL, NULL), k;

		if (t < 0) {
			if (errno == EINTR)
				continue;
			die("accept");
		}
		k = connect_port(target);
		setsockopt(t, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		relay(t, k, &o);
		close(k);
		close(t);
		done++;
	}
	close(ls);
	return 0;
}

/* ---- crnd1-oracle ---- */

/*
 * One KMS session of the attacker's own: a profile-2 AUTH_INIT for sn with
 * rnd1 and a fresh nonce_t; the CRND1 of the AUTH_CHALLENGE into crnd1, its
 * session id into sid.  Then the connection is dropped (not counted).
 */
static int kms_crnd1_once(const struct rkl_crypto *c, int port, const char *sn,
    const uint8_t rnd1[16], uint8_t crnd1[16], uint8_t sid[8]);

/* The same, again while the KMS answers BUSY (the previous session's lease is
 * released once the KMS has seen its connection close). */
static int
kms_crnd1(const struct rkl_crypto *c, int port, const char *sn, const uint8_t rnd1[16],
    uint8_t crnd1[16], uint8_t sid[8])
{
	struct timespec ts = { 0, 100000000 };
	int r, i;

	for (i = 0; (r = kms_crnd1_once(c, port, sn, rnd1, crnd1, sid)) == RKL_WIRE_E_BUSY &&
	    i < 100; i++)
		nanosleep(&ts, NULL);
	return r;
}

static int
kms_crnd1_once(const struct rkl_crypto *c, int port, const char *sn, const uint8_t rnd1[16],
    uint8_t crnd1[16], uint8_t sid[8])
{
	struct rkl_wire_msg m;
	struct rkl_wbuf w;
	uint8_t buf[RKL_WIRE_FRAME_MAX];
	size_t off = 0, vl = 0;
	long n;
	int fd = connect_port(port);

	rkl_wire_msg_init_profile(&m, RKL_WIRE_PROFILE_HARDENED, RKL_WIRE_AUTH_INIT, NULL);
	memcpy(m.u.auth_init.sn, sn, strlen(sn) + 1);
	memcpy(m.u.auth_init.rnd1, rnd1, 16);
	m.u.auth_init.rnd1[0] &= 0x7f;	/* the encoder refuses a marked RND1 ... */
	m.u.auth_init.rnd1_len = 16;
	if (c->random(c->ctx, m.u.auth_init.nonce, RKL_P2_NONCE_LEN) != 0)
		die("random");
	rkl_wbuf_init(&w, buf, sizeof(buf));
	if (rkl_wire_encode(&m, &w) != 0 ||
	    rkl_p2_find_field(buf, w.len, RKL_WIRE_T_RND1, &off, &vl) != 0 || vl != 16)
		die("AUTH_INIT to the KMS");
	buf[off + 4] = rnd1[0];		/* ... the attacker's bytes are its own */
	if (write_all(fd, buf, w.len) != 0)
		die("AUTH_INIT to the KMS");
	n = read_frame(fd, buf, sizeof(buf), IO_TIMEOUT_MS);
	if (n <= 0 || rkl_wire_decode(buf, (size_t)n, RKL_WIRE_DIR_TO_TERMINAL, &m) != 0 ||
	    m.type != RKL_WIRE_AUTH_CHALLENGE || m.u.auth_challenge.crnd1_len != 16) {
		close(fd);
		if (n > 0 && m.type == RKL_WIRE_ERROR && m.u.error.code == RKL_WIRE_E_BUSY)
			return RKL_WIRE_E_BUSY;
		print_reply("kms ", buf, n);
		return -1;
	}
	memcpy(crnd1, m.u.auth_challenge.crnd1, 16);
	memcpy(sid, m.session, 8);
	close(fd);
	printf("kms answered AUTH_CHALLENGE\n");
	return 0;
}

static int
mode_crnd1_oracle(int argc, char **argv)
{
	struct rkl_crypto c;
	struct rkl_wire_msg m, q;
	struct rkl_wbuf w;
	struct rkl_p2_transcript t;
	uint8_t f[RKL_WIRE_FRAME_MAX], out[RKL_WIRE_FRAME_MAX], nk[RKL_P2_NONCE_LEN];
	uint8_t data[16], kx[16], crnd1[16], sid[8], d[RKL_P2_HASH_LEN], mac[16];
	long n;
	int ls, dev, kport;

	if (argc != 2)
		die("crnd1-oracle PORTFILE KMS_PORT");
	kport = parse_port(argv[1]);
	rkl_crypto_openssl(&c);
	ls = listen_portfile(argv[0], 4);
	if ((dev = accept(ls, NULL, NULL)) < 0)
		die("accept");
	close(ls);
	/* the device's AUTH_INIT: its SN, RND1 and nonce_t */
	n = read_frame(dev, f, sizeof(f), IO_TIMEOUT_MS);
	if (n <= 0 || rkl_wire_decode(f, (size_t)n, RKL_WIRE_DIR_TO_KMS, &q) != 0 ||
	    q.profile != RKL_WIRE_PROFILE_HARDENED || q.type != RKL_WIRE_AUTH_INIT ||
	    q.u.auth_init.rnd1_len != 16)
		die("expected a profile-2 AUTH_INIT from the device");
	if (rkl_p2_transcript_init(&c, &t) != 0 || rkl_p2_transcript_add(&c, &t, f, (size_t)n) != 0)
		die("transcript");
	/* nonce_k' of the attacker's choosing; the KMS encrypts data_k2d for it */
	if (c.random(c.ctx, nk, sizeof(nk)) != 0 ||
	    rkl_p2_kdf_data(&c, "k2d", q.u.auth_init.sn, q.u.auth_init.nonce, nk, 16, data) != 0)
		die("kdf data");
	if (kms_crnd1(&c, kport, q.u.auth_init.sn, data, kx, sid) != 0) {
		/* decision 147's mark: the best the attacker can ask for then is
		 * data_k2d without its mark */
		printf("kms refused RND1 = data_k2d\n");
		data[0] &= 0x7f;
		if (kms_crnd1(&c, kport, q.u.auth_init.sn, data, kx, sid) != 0)
			die("the KMS did not answer AUTH_CHALLENGE");
	}
	if (kms_crnd1(&c, kport, q.u.auth_init.sn, q.u.auth_init.rnd1, crnd1, sid) != 0)
		die("the KMS did not answer AUTH_CHALLENGE");
	/* the forged AUTH_CHALLENGE, MAC(k2d) under the candidate key */
	rkl_wire_msg_init_profile(&m, RKL_WIRE_PROFILE_HARDENED, RKL_WIRE_AUTH_CHALLENGE, sid);
	memcpy(m.u.auth_challenge.crnd1, crnd1, 16);
	m.u.auth_challenge.crnd1_len = 16;
	if (c.random(c.ctx, m.u.auth_challenge.rnd2, 16) != 0)
		die("random");
	m.u.auth_challenge.rnd2_len = 16;
	memcpy(m.u.auth_challenge.nonce, nk, sizeof(nk));
	rkl_wbuf_init(&w, out, sizeof(out));
	if (rkl_wire_encode(&m, &w) != 0 ||
	    rkl_p2_auth_digest(&c, RKL_P2_MAC_K2D, &t, out, w.len, RKL_WIRE_T_MAC, d) != 0 ||
	    rkl_p2_mac_sw(&c, kx, 16, d, mac) != 0 ||
	    rkl_p2_patch_auth(out, w.len, RKL_WIRE_T_MAC, mac, sizeof(mac)) != 0 ||
	    write_all(dev, out, w.len) != 0)
		die("forged AUTH_CHALLENGE");
	n = read_frame(dev, f, sizeof(f), IO_TIMEOUT_MS);
	close(dev);
	if (n > 0 && rkl_wire_decode(f, (size_t)n, RKL_WIRE_DIR_TO_KMS, &q) == 0 &&
	    q.type == RKL_WIRE_AUTH_RESPONSE) {
		printf("device accepted the forged challenge (AUTH_RESPONSE)\n");
		return 1;
	}
	print_reply("device ", f, n);
	printf("device refused\n");
	return 0;
}

static int
mode_grep(int argc, char **argv)
{
	uint8_t key[64];
	char hu[129], hl[129];
	uint8_t *data = NULL;
	size_t kn, n = 0, cap = 0, i;
	FILE *f;
	int found = 0;

	if (argc != 2)
		die("grep FILE HEX");
	kn = parse_hex(argv[1], key, sizeof(key));
	if (kn < 8)
		die("grep: key too short to search for");
	rkl_hex_encode(key, kn, hu);
	for (i = 0; i < 2 * kn; i++)
		hl[i] = (hu[i] >= 'A' && hu[i] <= 'F') ? (char)(hu[i] - 'A' + 'a') : hu[i];
	if ((f = fopen(argv[0], "rb")) == NULL)
		die("grep: cannot open file");
	for (;;) {
		size_t r;

		if (n == cap) {
			uint8_t *nd;

			cap = cap == 0 ? 65536 : cap * 2;
			if ((nd = realloc(data, cap)) == NULL)
				die("out of memory");
			data = nd;
		}
		r = fread(data + n, 1, cap - n, f);
		if (r == 0)
			break;
		n += r;
	}
	fclose(f);
	for (i = 0; i < n; i++) {
		if (i + kn <= n && memcmp(data + i, key, kn) == 0) {
			printf("%s: raw key bytes at offset %zu\n", argv[0], i);
			found = 1;
		}
		if (i + 2 * kn <= n && (memcmp(data + i, hu, 2 * kn) == 0 ||
		    memcmp(data + i, hl, 2 * kn) == 0)) {
			printf("%s: key as hex at offset %zu\n", argv[0], i);
			found = 1;
		}
	}
	free(data);
	return found ? 0 : 1;
}

int
main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	alarm(TIME_LIMIT);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		die("usage: rkl-e2e-net (proxy|send|busy|stall|grep|crnd1-oracle) ...");
	if (strcmp(argv[1], "proxy") == 0)
		return mode_proxy(argc - 2, argv + 2);
	if (strcmp(argv[1], "send") == 0)
		return mode_send(argc - 2, argv + 2);
	if (strcmp(argv[1], "busy") == 0)
		return mode_busy(argc - 2, argv + 2);
	if (strcmp(argv[1], "stall") == 0)
		return mode_stall(argc - 2, argv + 2);
	if (strcmp(argv[1], "grep") == 0)
		return mode_grep(argc - 2, argv + 2);
	if (strcmp(argv[1], "crnd1-oracle") == 0)
		return mode_crnd1_oracle(argc - 2, argv + 2);
	die("unknown mode");
	return 2;
}
