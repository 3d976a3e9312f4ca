/*
 * rkl-kmsd's sd_notify datagram (tools/rkl-kmsd/notify.c) against sockets
 * this test creates: a path socket and an abstract one get exactly the
 * state given, in one datagram; NOTIFY_SOCKET unset or empty sends nothing
 * and succeeds; a relative or oversized name is refused (EINVAL).
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "notify.h"

/* A datagram socket bound to name ("/path" or "@abstract"). */
static int
listen_on(const char *name)
{
	struct sockaddr_un sa;
	socklen_t sl;
	size_t len = strlen(name);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, name, len);
	if (name[0] == '@')
		sa.sun_path[0] = '\0';
	sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (name[0] == '/' ? 1 : 0));
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sl), 0);
	return fd;
}

/* The next datagram, NUL-terminated; -1 if none is waiting. */
static ssize_t
next_dgram(int fd, char *buf, size_t cap)
{
	ssize_t n = recv(fd, buf, cap - 1, 0);

	if (n >= 0)
		buf[n] = '\0';
	return n;
}

static void
test_path_socket(void **state)
{
	char dir[] = "/tmp/rkl-notify.XXXXXX", path[64], buf[256];
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/notify", dir);
	fd = listen_on(path);
	assert_int_equal(setenv("NOTIFY_SOCKET", path, 1), 0);
	assert_int_equal(kmsd_notify("READY=1\nSTATUS=serving on 127.0.0.1:7031\nMAINPID=42"), 0);
	assert_int_equal(next_dgram(fd, buf, sizeof(buf)), 51);
	assert_string_equal(buf, "READY=1\nSTATUS=serving on 127.0.0.1:7031\nMAINPID=42");
	assert_int_equal(kmsd_notify("RELOADING=1"), 0);
	assert_int_equal(kmsd_notify("STOPPING=1"), 0);
	assert_true(next_dgram(fd, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "RELOADING=1");	/* one datagram per call, in order */
	assert_true(next_dgram(fd, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "STOPPING=1");
	assert_int_equal(next_dgram(fd, buf, sizeof(buf)), -1);
	/* The listener is gone: the sender says so. */
	close(fd);
	unlink(path);
	assert_int_equal(kmsd_notify("READY=1"), -1);
	rmdir(dir);
}

static void
test_abstract_socket(void **state)
{
	char name[64], buf[64];
	int fd;

	(void)state;
	snprintf(name, sizeof(name), "@rkl-notify-test-%ld", (long)getpid());
	fd = listen_on(name);
	assert_int_equal(setenv("NOTIFY_SOCKET", name, 1), 0);
	assert_int_equal(kmsd_notify("READY=1"), 0);
	assert_true(next_dgram(fd, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "READY=1");
	close(fd);
}

static void
test_unset_and_bad(void **state)
{
	char longname[200];

	(void)state;
	assert_int_equal(unsetenv("NOTIFY_SOCKET"), 0);
	assert_int_equal(kmsd_notify("READY=1"), 0);		/* not under systemd: nothing to do */
	assert_int_equal(setenv("NOTIFY_SOCKET", "", 1), 0);
	assert_int_equal(kmsd_notify("READY=1"), 0);
	assert_int_equal(setenv("NOTIFY_SOCKET", "relative/notify", 1), 0);
	errno = 0;
	assert_int_equal(kmsd_notify("READY=1"), -1);
	assert_int_equal(errno, EINVAL);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[0] = '/';
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(setenv("NOTIFY_SOCKET", longname, 1), 0);
	errno = 0;
	assert_int_equal(kmsd_notify("READY=1"), -1);
	assert_int_equal(errno, EINVAL);
	unsetenv("NOTIFY_SOCKET");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_socket),
		cmocka_unit_test(test_abstract_socket),
		cmocka_unit_test(test_unset_and_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
