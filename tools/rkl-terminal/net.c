/* Blocking TCP with poll() timeouts (see net.h). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net.h"
#include "rkl/err.h"
#include "rkl/wire.h"

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for events on fd until deadline: 0, RKL_ERR_TIMEOUT or RKL_ERR_IO. */
static int
wait_fd(int fd, short events, long long deadline)
{
	struct pollfd p;
	long long left;
	int n;

	for (;;) {
		left = deadline - now_ms();
		if (left <= 0)
			return RKL_ERR_TIMEOUT;
		p.fd = fd;
		p.events = events;
		p.revents = 0;
		n = poll(&p, 1, left > 1000000 ? 1000000 : (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return RKL_ERR_IO;
		if (n == 0)
			return RKL_ERR_TIMEOUT;
		return 0;
	}
}

static int
split_hostport(const char *s, char *host, size_t hcap, char *port, size_t pcap)
{
	const char *colon, *h = s, *hend;
	size_t hl, pl;

	if (s[0] == '[') {
		if ((hend = strchr(s, ']')) == NULL || hend[1] != ':')
			return RKL_ERR_CONFIG;
		h = s + 1;
		colon = hend + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return RKL_ERR_CONFIG;
		hend = colon;
	}
	hl = (size_t)(hend - h);
	pl = strlen(colon + 1);
	if (hl == 0 || hl >= hcap || pl == 0 || pl >= pcap)
		return RKL_ERR_CONFIG;
	memcpy(host, h, hl);
	host[hl] = '\0';
	memcpy(port, colon + 1, pl + 1);
	return 0;
}

int
term_net_connect(const char *hostport, int timeout_ms, int *fdp)
{
	char host[256], port[16];
	struct addrinfo hints, *res = NULL, *ai;
	long long deadline = now_ms() + timeout_ms;
	int fd = -1, r, err = 0;
	socklen_t el = sizeof(err);

	if ((r = split_hostport(hostport, host, sizeof(host), port, sizeof(port))) != 0)
		return r;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return RKL_ERR_CONFIG;
	r = RKL_ERR_IO;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0)
			goto next;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			r = 0;
			break;
		}
		if (errno != EINPROGRESS)
			goto next;
		if ((r = wait_fd(fd, POLLOUT, deadline)) != 0)
			goto next;
		err = 0;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == 0) {
			r = 0;
			break;
		}
		r = RKL_ERR_IO;
next:
		close(fd);
		fd = -1;
		if (r == RKL_ERR_TIMEOUT)
			break;
	}
	freeaddrinfo(res);
	if (r != 0)
		return r;
	*fdp = fd;
	return 0;
}

int
term_net_send(int fd, const uint8_t *p, size_t len, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	ssize_t w;
	int r;

	while (len > 0) {
		w = send(fd, p, len, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			len -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if ((r = wait_fd(fd, POLLOUT, deadline)) != 0)
				return r;
			continue;
		}
		return w < 0 && (errno == EPIPE || errno == ECONNRESET) ? RKL_ERR_PEER : RKL_ERR_IO;
	}
	return 0;
}

int
term_net_recv_frame(int fd, uint8_t *buf, size_t cap, size_t *len, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	size_t have = 0, need = RKL_WIRE_HDR_LEN, flen = 0;
	ssize_t got;
	int r;

	for (;;) {
		r = rkl_wire_frame_need(buf, have, &flen, &need);
		if (r == 0)
			break;
		if (r != RKL_ERR_INCOMPLETE)
			return r;
		if (have + need > cap)
			return RKL_ERR_TOO_LARGE;
		while (need > 0) {
			got = recv(fd, buf + have, need, 0);
			if (got > 0) {
				have += (size_t)got;
				need -= (size_t)got;
				continue;
			}
			if (got == 0)
				return RKL_ERR_PEER;	/* closed by the KMS */
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if ((r = wait_fd(fd, POLLIN, deadline)) != 0)
					return r;
				continue;
			}
			return errno == ECONNRESET ? RKL_ERR_PEER : RKL_ERR_IO;
		}
	}
	*len = flen;
	return 0;
}
