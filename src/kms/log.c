/*
 * rkl-kmsd log: one line per event, written with one write(2) so lines from
 * several threads never interleave.  Format:
 *   2026-11-28T02:00:00.123Z info event conn=12 peer=127.0.0.1:5555 sn=SN0001 step=auth result=ok usec=812
 * Never key material: the callers pass identifiers, step names and error codes only.
 *
 * A thread may buffer its "info" lines (rkl_kmsd_log_buffer): they collect in
 * a per-thread buffer written with one write(2) by rkl_kmsd_log_flush, when it
 * is full, or before any other line of that thread, so lines keep their order
 * and each write still holds whole lines only.
 */
#define _GNU_SOURCE 1

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rkl/err.h"
#include "rkl/kmsd.h"

static int log_fd = 2;	/* (atomic) the only process-wide state of the library: the log sink */

#define LOG_BUF 16384
static _Thread_local struct {
	int on;
	size_t len;
	char buf[LOG_BUF];
} tl;			/* this thread's buffered lines */

int
rkl_kmsd_log_open(const char *path)
{
	int fd;

	if (path == NULL || path[0] == '\0' || strcmp(path, "-") == 0) {
		log_fd = 2;
		return 0;
	}
	if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640)) < 0)
		return RKL_ERR_IO;
	__atomic_store_n(&log_fd, fd, __ATOMIC_RELEASE);
	return 0;
}

/*
 * SIGHUP: the descriptor number of an open log file stays the same (dup2
 * replaces what it refers to atomically), so a thread writing a line at
 * that moment writes it whole to the old file or to the new one.
 */
int
rkl_kmsd_log_reopen(const char *path)
{
	int cur = __atomic_load_n(&log_fd, __ATOMIC_ACQUIRE), fd;

	if (path == NULL || path[0] == '\0' || strcmp(path, "-") == 0) {
		if (cur > 2 && dup2(2, cur) < 0)
			return RKL_ERR_IO;
		return 0;
	}
	if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640)) < 0)
		return RKL_ERR_IO;
	if (cur <= 2) {
		__atomic_store_n(&log_fd, fd, __ATOMIC_RELEASE);
		return 0;
	}
	if (dup3(fd, cur, O_CLOEXEC) < 0) {
		close(fd);
		return RKL_ERR_IO;
	}
	close(fd);
	return 0;
}

void
rkl_kmsd_log_close(void)
{
	int fd;

	rkl_kmsd_log_flush();
	fd = __atomic_exchange_n(&log_fd, 2, __ATOMIC_ACQ_REL);
	if (fd > 2)
		close(fd);
}

static size_t
stamp(char *buf, size_t cap, const char *level)
{
	struct timespec ts;
	struct tm tm;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    ts.tv_nsec / 1000000L, level);
	return (n < 0 || (size_t)n >= cap) ? 0 : (size_t)n;
}

static void
write_all(const char *buf, size_t len)
{
	ssize_t w;
	size_t off = 0;

	while (off < len) {
		w = write(__atomic_load_n(&log_fd, __ATOMIC_ACQUIRE), buf + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		off += (size_t)w;
	}
}

void
rkl_kmsd_log_flush(void)
{
	if (tl.len > 0)
		write_all(tl.buf, tl.len);
	tl.len = 0;
}

void
rkl_kmsd_log_buffer(int on)
{
	rkl_kmsd_log_flush();
	tl.on = on;
}

static void
emit(char *buf, size_t len, size_t cap, int bufferable)
{
	if (len >= cap)
		len = cap - 1;
	buf[len++] = '\n';
	if (tl.on && bufferable) {
		if (tl.len + len > sizeof(tl.buf))
			rkl_kmsd_log_flush();
		memcpy(tl.buf + tl.len, buf, len);
		tl.len += len;
		return;
	}
	rkl_kmsd_log_flush();
	write_all(buf, len);
}

void
rkl_kmsd_log(const char *level, const char *fmt, ...)
{
	char buf[1024];
	size_t n = stamp(buf, sizeof(buf), level);
	va_list ap;
	int m;

	va_start(ap, fmt);
	m = vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += (size_t)m;
	emit(buf, n, sizeof(buf), strcmp(level, "info") == 0);
}

void
rkl_kmsd_log_event(uint64_t conn, const char *peer, const char *sn,
    enum rkl_kms_step step, int result, uint64_t usec)
{
	char snbuf[RKL_KMS_SN_MAX + 1];
	size_t i, sn_len = 0;

	for (i = 0; sn != NULL && sn[i] != '\0' && i < RKL_KMS_SN_MAX; i++)
		snbuf[i] = (sn[i] > 0x20 && sn[i] < 0x7f) ? sn[i] : '?';
	sn_len = i;
	snbuf[sn_len] = '\0';
	rkl_kmsd_log(result == 0 ? "info" : (rkl_err_is_internal(result) ? "error" : "warn"),
	    "event conn=%llu peer=%s sn=%s step=%s result=%s code=%d reason=\"%s\" usec=%llu",
	    (unsigned long long)conn, peer != NULL ? peer : "-", sn_len ? snbuf : "-",
	    rkl_kms_step_name(step), result == 0 ? "ok" : "fail", result,
	    result == 0 ? "" : rkl_err_str(result), (unsigned long long)usec);
}
