/*
 * rkl-e2e-notify SOCKET OUT: stand in for systemd's notification socket in
 * the end-to-end tests (sighup.sh).  Binds an AF_UNIX datagram socket at the
 * path SOCKET, appends each datagram received to OUT followed by a line
 * "--" (flushed at once), and exits after a datagram holding STOPPING=1, or
 * after 600 s as a guard.
 */
#define _GNU_SOURCE 1
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct sockaddr_un sa;
	struct pollfd p;
	char buf[4096];
	ssize_t n;
	FILE *out;
	int fd, waited = 0;

	if (argc != 3 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: rkl-e2e-notify SOCKET OUT\n");
		return 2;
	}
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return 1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, argv[1], strlen(argv[1]));
	unlink(argv[1]);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || (out = fopen(argv[2], "a")) == NULL) {
		perror("rkl-e2e-notify");
		return 1;
	}
	p.fd = fd;
	p.events = POLLIN;
	while (waited < 600) {
		if (poll(&p, 1, 1000) <= 0) {
			waited++;
			continue;
		}
		if ((n = recv(fd, buf, sizeof(buf) - 1, 0)) < 0)
			continue;
		buf[n] = '\0';
		fprintf(out, "%s\n--\n", buf);
		fflush(out);
		if (strstr(buf, "STOPPING=1") != NULL)
			break;
	}
	fclose(out);
	close(fd);
	unlink(argv[1]);
	return 0;
}
