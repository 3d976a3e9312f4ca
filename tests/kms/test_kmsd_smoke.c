/*
 * Smoke test of rkl-kmsd over real TCP (127.0.0.1, port 0) with a real
 * SoftHSM2 token and SQLite database in a temp state directory, prepared
 * here with the HSM and store APIs (what `rkl-admin init` + `terminal add`
 * do).  Checks: a malformed frame gets ERROR and close; an oversized length
 * prefix gets a close without reply; the server keeps serving (a whole first
 * download and a re-download with the test terminal simulator, an unknown
 * SN refused); no key bytes in the log or the database file; SIGTERM stops
 * it cleanly.  The full end-to-end suite is in tests/e2e (rkl-admin,
 * rkl-terminal).
 */
#define _GNU_SOURCE 1

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "term_sim.h"
#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/hsm.h"
#include "rkl/state.h"
#include "rkl/store.h"
#include "rkl/wire.h"

#define PIN "4711-user"
#define SO_PIN "4711-so"

static struct {
	char dir[256];
	char conf[320];
	char log[320];
	char db[320];
	char portfile[320];
	char pidfile[320];
	pid_t pid;
	uint16_t port;
	struct rkl_crypto c;
	struct tsim_keys keys;
} T;

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

/* The state directory: token with the KMS keys, database with two terminals. */
static void
init_state(void)
{
	struct rkl_hsm_config hc;
	struct rkl_hsm *h = NULL;
	struct rkl_store st;
	struct rkl_store_opts so = { RKL_STORE_CREATE, 0, NULL, NULL, NULL };
	struct rkl_store_who who = { "test", "cli" };
	struct rkl_store_terminal_new t;
	char path[320];

	umask(077);	/* state files as rkl-admin makes them: kmsd refuses others' access */
	assert_int_equal(rkl_hsm_softhsm_setup(NULL, T.dir, "rkl", PIN, SO_PIN), 0);
	snprintf(path, sizeof(path), "%s/pin", T.dir);
	write_file(path, PIN "\n");
	memset(&hc, 0, sizeof(hc));
	hc.token_uri = "pkcs11:token=rkl";
	hc.pin_file = path;
	hc.sessions = 1;
	assert_int_equal(rkl_hsm_open(&hc, &h), 0);
	assert_int_equal(rkl_hsm_provision(h, 0), 0);

	snprintf(T.db, sizeof(T.db), "%s/rkl.db", T.dir);
	assert_int_equal(rkl_store_open(&st, T.db, &so), 0);
	{
		struct rkl_crypto c;
		char err[256];
		int rec = 0;

		/* the database's identity: tied to this token (what rkl-admin init records) */
		rkl_crypto_openssl(&c);
		assert_int_equal(rkl_state_identity_init(&st, h, &who, &c, T.db, &rec, err,
		    sizeof(err)), 0);
		assert_int_equal(rec, 1);
	}
	rkl_hsm_close(h);
	memset(&t, 0, sizeof(t));
	strcpy(t.sn, "SN0001");
	strcpy(t.pinpad_sn, "PP0001");
	t.profile = 1;
	assert_int_equal(st.terminal_add(st.ctx, &who, &t), 0);
	strcpy(t.sn, "SN0002");
	t.pinpad_sn[0] = '\0';
	assert_int_equal(st.terminal_add(st.ctx, &who, &t), 0);
	rkl_store_close(&st);
}

static void
start_kmsd(void)
{
	char bin[512], text[1024];
	const char *bdir = getenv("RKL_BINARY_DIR");
	int i;

	assert_non_null(bdir);
	snprintf(bin, sizeof(bin), "%s/tools/rkl-kmsd/rkl-kmsd", bdir);
	snprintf(T.conf, sizeof(T.conf), "%s/rkl.conf", T.dir);
	snprintf(T.log, sizeof(T.log), "%s/kmsd.log", T.dir);
	snprintf(T.portfile, sizeof(T.portfile), "%s/port", T.dir);
	snprintf(T.pidfile, sizeof(T.pidfile), "%s/rkl-kmsd.pid", T.dir);
	snprintf(text, sizeof(text),
	    "# smoke test\n"
	    "listen = 127.0.0.1:0\n"
	    "state_dir = %s\n"
	    "softhsm2_conf = softhsm2.conf\n"
	    "log_file = kmsd.log\n"
	    "pool_size = 1\n"
	    "workers = 1\n"
	    "idle_timeout = 60\n"
	    "max_connections = 200\n"
	    "max_startups_per_source = 0\n"	/* (every test connection is from 127.0.0.1) */
	    "shutdown_timeout = 5\n"
	    "profiles = 1\n", T.dir);
	write_file(T.conf, text);
	unlink(T.portfile);
	T.pid = fork();
	assert_true(T.pid >= 0);
	if (T.pid == 0) {
		execl(bin, bin, "-c", T.conf, "--foreground", "--port-file", T.portfile, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 300; i++) {
		FILE *f = fopen(T.portfile, "r");
		unsigned p = 0;
		int st;

		if (f != NULL) {
			int n = fscanf(f, "%u", &p);

			fclose(f);
			if (n == 1 && p > 0) {
				T.port = (uint16_t)p;
				return;
			}
		}
		if (waitpid(T.pid, &st, WNOHANG) == T.pid)
			fail_msg("rkl-kmsd exited during start-up (status %d); see %s", st, T.log);
		usleep(100 * 1000);
	}
	fail_msg("rkl-kmsd did not start listening in 30 s");
}

static int
connect_kmsd(void)
{
	struct sockaddr_in sa;
	struct timeval tv = { 20, 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(T.port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	return fd;
}

static void
send_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		assert_true(w > 0);
		p += w;
		n -= (size_t)w;
	}
}

/* Read one whole frame: its length, or 0 on EOF before any byte. */
static size_t
recv_frame(int fd, uint8_t *buf, size_t cap)
{
	size_t have = 0, flen = 0, need = RKL_WIRE_HDR_LEN;
	int r;

	for (;;) {
		ssize_t n;

		r = rkl_wire_frame_need(buf, have, &flen, &need);
		if (r == 0)
			return flen;
		assert_int_equal(r, RKL_ERR_INCOMPLETE);
		assert_true(have + need <= cap);
		n = recv(fd, buf + have, need, 0);
		assert_true(n >= 0);	/* no timeout */
		if (n == 0) {
			assert_int_equal(have, 0);	/* EOF only between frames */
			return 0;
		}
		have += (size_t)n;
	}
}

static void
expect_eof(int fd)
{
	uint8_t b;

	assert_int_equal(recv(fd, &b, 1, 0), 0);
}

static uint16_t
expect_error(int fd)
{
	uint8_t buf[RKL_WIRE_FRAME_MAX];
	struct rkl_wire_msg m;
	size_t n = recv_frame(fd, buf, sizeof(buf));

	assert_true(n > 0);
	assert_int_equal(rkl_wire_decode(buf, n, RKL_WIRE_DIR_TO_TERMINAL, &m), 0);
	assert_int_equal(m.type, RKL_WIRE_ERROR);
	expect_eof(fd);
	return m.u.error.code;
}

/* One download over TCP; returns the last reply type. */
static int
download(struct tsim *t, int first, uint16_t *code)
{
	uint8_t out[RKL_WIRE_FRAME_MAX], in[RKL_WIRE_FRAME_MAX];
	struct rkl_wbuf w;
	struct rkl_wire_msg m;
	int fd = connect_kmsd(), r;
	size_t n;

	memset(t->session, 0, sizeof(t->session));
	rkl_wbuf_init(&w, out, sizeof(out));
	assert_int_equal(first ? tsim_pubkey_req(t, &w) : tsim_auth_init(t, &w), 0);
	for (;;) {
		send_all(fd, out, w.len);
		n = recv_frame(fd, in, sizeof(in));
		assert_true(n > 0);
		assert_int_equal(rkl_wire_decode(in, n, RKL_WIRE_DIR_TO_TERMINAL, &m), 0);
		r = tsim_reply(t, in, n, code);
		if (m.type == RKL_WIRE_ERROR) {
			assert_int_equal(r, RKL_ERR_PEER);
			expect_eof(fd);
			break;
		}
		assert_int_equal(r, 0);
		if (m.type == RKL_WIRE_CONFIRM_ACK) {
			expect_eof(fd);
			break;
		}
		rkl_wbuf_init(&w, out, sizeof(out));
		assert_int_equal(tsim_next(t, &w), 0);
	}
	close(fd);
	return m.type;
}

/* 1 if the n bytes at needle occur in the file. */
static int
file_contains(const char *path, const uint8_t *needle, size_t n)
{
	FILE *f = fopen(path, "rb");
	static uint8_t buf[4 << 20];
	size_t len, i;

	if (f == NULL)
		return 0;
	len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	for (i = 0; i + n <= len; i++)
		if (memcmp(buf + i, needle, n) == 0)
			return 1;
	return 0;
}

static void
test_smoke(void **state)
{
	uint8_t buf[64];
	struct tsim t;
	struct rkl_store st;
	struct rkl_store_tmk tmk;
	uint16_t code = 0;
	int fd, status, i;
	char hex[65];

	(void)state;
	/* 1. Malformed frames: ERROR, then close.  Bad magic: */
	fd = connect_kmsd();
	memset(buf, 0xee, 40);
	buf[0] = 0;
	buf[1] = 40;
	send_all(fd, buf, 40);
	assert_int_equal(expect_error(fd), RKL_WIRE_E_BAD_MESSAGE);
	close(fd);
	/* A good header, then a truncated field: */
	fd = connect_kmsd();
	memset(buf, 0, 24);
	buf[1] = 24;
	buf[2] = RKL_WIRE_MAGIC0;
	buf[3] = RKL_WIRE_MAGIC1;
	buf[4] = RKL_WIRE_VERSION;
	buf[5] = RKL_WIRE_PROFILE_PATENT;
	buf[6] = RKL_WIRE_PUBKEY_REQ;
	buf[16] = 0x80;
	buf[17] = RKL_WIRE_T_SN;
	buf[19] = 200;	/* longer than the frame */
	send_all(fd, buf, 24);
	assert_int_equal(expect_error(fd), RKL_WIRE_E_BAD_MESSAGE);
	close(fd);

	/* 2. A length prefix over the maximum: closed without a reply. */
	fd = connect_kmsd();
	buf[0] = 0xff;
	buf[1] = 0xff;
	buf[2] = RKL_WIRE_MAGIC0;
	buf[3] = RKL_WIRE_MAGIC1;
	send_all(fd, buf, 4);
	expect_eof(fd);
	close(fd);

	/* 3. Still serving: a whole first download, then a re-download (S5). */
	tsim_init(&t, &T.c, &T.keys, "SN0001", "PP0001", RKL_ALG_AES128, 42);
	t.rng = (uint32_t)time(NULL) | 1u;	/* fresh RND1s for a new token */
	assert_int_equal(download(&t, 1, &code), RKL_WIRE_CONFIRM_ACK);
	assert_true(t.done);
	assert_int_equal(t.version, 1);
	assert_int_equal(t.tmk_len, 16);
	t.done = 0;
	assert_int_equal(download(&t, 0, &code), RKL_WIRE_CONFIRM_ACK);
	assert_int_equal(t.version, 1);

	/* 4. Policy refusals still answered: unknown SN, second S0 for a bound SN. */
	{
		struct tsim u;

		tsim_init(&u, &T.c, &T.keys, "NOSUCH", "PP", RKL_ALG_AES128, 3);
		assert_int_equal(download(&u, 1, &code), RKL_WIRE_ERROR);
		assert_int_equal(code, RKL_WIRE_E_NOT_REGISTERED);
		tsim_init(&u, &T.c, &T.keys, "SN0001", "PP0001", RKL_ALG_AES128, 3);
		assert_int_equal(download(&u, 1, &code), RKL_WIRE_ERROR);
		assert_int_equal(code, RKL_WIRE_E_ALREADY_BOUND);
	}

	/*
	 * 5. max_connections: 200 connections are held, the 201st is closed at
	 * once (one worker: it accepts in the order of the connects, so the
	 * 201st to connect is the 201st counted; the e2e tests run two).  Each held one is then shown to be served (a malformed frame gets
	 * its ERROR and the close), which also releases it: the server uncounts a
	 * connection before the peer can see its close, so the next download is
	 * not refused.  (The idle timeout is tested on an injected clock in
	 * test_server, and over TCP by tests/e2e/frames.sh.)
	 */
	{
		static int fds[200];
		uint8_t b;
		int extra, k;

		for (k = 0; k < 200; k++)
			fds[k] = connect_kmsd();
		extra = connect_kmsd();
		assert_int_equal(recv(extra, &b, 1, 0), 0);
		close(extra);
		memset(buf, 0xee, 40);
		buf[0] = 0;
		buf[1] = 40;
		for (k = 0; k < 200; k++) {
			send_all(fds[k], buf, 40);
			assert_int_equal(expect_error(fds[k]), RKL_WIRE_E_BAD_MESSAGE);
			close(fds[k]);
		}
	}

	/* 6. Still serving after all that: a re-download. */
	t.done = 0;
	assert_int_equal(download(&t, 0, &code), RKL_WIRE_CONFIRM_ACK);

	/* 7. SIGTERM with a session half done: it is closed, the server exits 0, pid file removed. */
	{
		uint8_t out[RKL_WIRE_FRAME_MAX], in[RKL_WIRE_FRAME_MAX];
		struct rkl_wbuf w;
		struct tsim u;
		size_t n;

		tsim_init(&u, &T.c, &T.keys, "SN0002", "PPX", RKL_ALG_AES128, 9);
		fd = connect_kmsd();
		rkl_wbuf_init(&w, out, sizeof(out));
		assert_int_equal(tsim_pubkey_req(&u, &w), 0);
		send_all(fd, out, w.len);
		n = recv_frame(fd, in, sizeof(in));
		assert_true(n > 0);
		assert_int_equal(tsim_reply(&u, in, n, NULL), 0);	/* PUBKEY_RESP: S0 done */
		assert_int_equal(kill(T.pid, SIGTERM), 0);
		expect_eof(fd);
		close(fd);
	}
	for (i = 0; i < 200; i++) {
		if (waitpid(T.pid, &status, WNOHANG) == T.pid)
			break;
		usleep(50 * 1000);
	}
	assert_true(i < 200);
	T.pid = 0;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(access(T.pidfile, F_OK), -1);

	/* 8. The database says delivered, with the KCV the terminal computed. */
	assert_int_equal(rkl_store_open(&st, T.db, NULL), 0);
	assert_int_equal(st.tmk_current(st.ctx, "SN0001", &tmk), 0);
	assert_int_equal(tmk.state, RKL_TMK_DELIVERED);
	assert_int_equal(tmk.version, 1);
	assert_memory_equal(tmk.kcv, t.kcv, 3);
	rkl_store_close(&st);

	/* 9. Key hygiene: neither AUK nor TMK, raw or hex, in the log or the database. */
	for (i = 0; i < 2; i++) {
		const uint8_t *k = i == 0 ? t.auk : t.tmk;

		assert_false(file_contains(T.log, k, 16));
		assert_false(file_contains(T.db, k, 16));
		rkl_hex_encode(k, 16, hex);
		assert_false(file_contains(T.log, (const uint8_t *)hex, 32));
		assert_false(file_contains(T.db, (const uint8_t *)hex, 32));
	}
	assert_true(file_contains(T.log, (const uint8_t *)"step=confirm result=ok", 22));
	/* The half-done session was logged as abandoned, and audited. */
	assert_true(file_contains(T.log, (const uint8_t *)"sn=SN0002 step=close result=fail", 32));
	assert_int_equal(rkl_store_open(&st, T.db, NULL), 0);
	{
		struct rkl_store_audit_row rows[64];
		size_t n = 0, k, abandoned = 0;

		assert_int_equal(st.audit_list(st.ctx, 0, rows, 64, &n), 0);
		for (k = 0; k < n; k++)
			abandoned += (strcmp(rows[k].sn, "SN0002") == 0 &&
			    strcmp(rows[k].event, "session.abandoned") == 0);
		assert_int_equal(abandoned, 1);
	}
	rkl_store_close(&st);
}

static int
rm_rf(const char *dir)
{
	char cmd[400];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static int
group_setup(void **state)
{
	(void)state;
	snprintf(T.dir, sizeof(T.dir), "/tmp/rkl-kmsd-smoke-XXXXXX");
	if (mkdtemp(T.dir) == NULL)
		return -1;
	rkl_crypto_openssl(&T.c);
	if (tsim_keys_make(&T.c, &T.keys) != 0)
		return -1;
	init_state();
	start_kmsd();
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	if (T.pid > 0) {
		int st;

		kill(T.pid, SIGKILL);
		waitpid(T.pid, &st, 0);
	}
	if (getenv("RKL_KEEP_TMP") == NULL)
		rm_rf(T.dir);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_smoke),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
