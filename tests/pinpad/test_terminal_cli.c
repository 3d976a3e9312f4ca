/*
 * rkl-terminal's command line: exit codes, --json output, timeouts and the
 * test-only tamper switches, with the binary run as a child process against
 * the scripted KMS of harness.c served over loopback TCP by this process.
 * (The real KMS daemon is exercised by the end-to-end tests.)
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"
#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/kcv.h"

static char TOOL[512];
static char DIR_[64];
static char STATE[96];
static char KMS[32];
static int LFD = -1;
static struct kms K;

enum serve { SERVE_NONE, SERVE_KMS, SERVE_SILENT, SERVE_KMS_TWICE };

static int
setup(void **state)
{
	const char *bin = getenv("RKL_BINARY_DIR");
	struct sockaddr_in a;
	socklen_t al = sizeof(a);

	(void)state;
	if (bin == NULL)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	snprintf(TOOL, sizeof(TOOL), "%s/tools/rkl-terminal/rkl-terminal", bin);
	snprintf(DIR_, sizeof(DIR_), "/tmp/rkl-cli-XXXXXX");
	if (mkdtemp(DIR_) == NULL)
		return -1;
	snprintf(STATE, sizeof(STATE), "%s/state", DIR_);
	LFD = socket(AF_INET, SOCK_STREAM, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (LFD < 0 || bind(LFD, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(LFD, 4) != 0 || getsockname(LFD, (struct sockaddr *)&a, &al) != 0)
		return -1;
	snprintf(KMS, sizeof(KMS), "127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	if (LFD >= 0)
		close(LFD);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", DIR_);
	return system(cmd) == 0 ? 0 : -1;
}

/* Serve one connection: the scripted KMS answers until it is done. */
static void
serve(enum serve mode)
{
	uint8_t in[RKL_WIRE_FRAME_MAX], out[RKL_WIRE_FRAME_MAX];
	struct rkl_wire_msg m;
	struct rkl_wbuf w;
	struct pollfd p;
	size_t n = 0, on = 0;
	int fd, r;

	p.fd = LFD;
	p.events = POLLIN;
	assert_int_equal(poll(&p, 1, 20000), 1);
	fd = accept(LFD, NULL, NULL);
	assert_true(fd >= 0);
	kms_new_connection(&K);
	while (harness_read_frame(fd, in, sizeof(in), &n) == 0) {
		if (mode == SERVE_SILENT)
			continue;	/* read, never answer */
		r = kms_handle(&K, in, n, out, sizeof(out), &on);
		if (r == RKL_ERR_PEER)
			break;	/* the terminal sent ERROR */
		if (r != 0) {
			K.kms_err = r;
			rkl_wire_msg_init(&m, RKL_WIRE_ERROR, K.session);
			m.u.error.code = RKL_WIRE_E_FAILED;
			rkl_wbuf_init(&w, out, sizeof(out));
			assert_int_equal(rkl_wire_encode(&m, &w), 0);
			on = w.len;
		}
		if (on > 0 && write(fd, out, on) != (ssize_t)on)
			break;	/* the terminal went away (--abort-after) */
		if (r != 0 || out[6] == RKL_WIRE_CONFIRM_ACK || out[6] == RKL_WIRE_ERROR)
			break;
	}
	close(fd);
}

/* Run the tool with args (NULL-terminated); stdout into out; returns the exit code. */
static int
run(enum serve mode, char *out, size_t cap, ...)
{
	char *argv[24];
	va_list ap;
	int pfd[2], st = 0, i = 0, dn;
	size_t have = 0;
	ssize_t got;
	pid_t pid;

	argv[i++] = TOOL;
	va_start(ap, cap);
	while (i < 23 && (argv[i] = va_arg(ap, char *)) != NULL)
		i++;
	va_end(ap);
	argv[i] = NULL;
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dn = open("/dev/null", O_WRONLY);
		dup2(pfd[1], 1);
		dup2(dn, 2);
		close(pfd[0]);
		execv(TOOL, argv);
		_exit(127);
	}
	close(pfd[1]);
	if (mode == SERVE_KMS_TWICE) {
		serve(SERVE_KMS);
		serve(SERVE_KMS);
	} else if (mode != SERVE_NONE) {
		serve(mode);
	}
	while (have + 1 < cap && (got = read(pfd[0], out + have, cap - 1 - have)) > 0)
		have += (size_t)got;
	out[have] = '\0';
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void
kcv_hex(const struct kms *k, char *out)
{
	uint8_t kcv[3];

	assert_int_equal(rkl_kcv_legacy(&k->c, rkl_alg_cipher(k->tmk_alg), k->tmk,
	    rkl_alg_key_len(k->tmk_alg), kcv), 0);
	rkl_hex_encode(kcv, 3, out);
	out[6] = '\0';
}

static void
test_cli(void **state)
{
	static char out[8192];
	char kcv[7], want[64];

	(void)state;
	/* Usage errors. */
	assert_int_equal(run(SERVE_NONE, out, sizeof(out), "init", NULL), 1);
	assert_int_equal(run(SERVE_NONE, out, sizeof(out), "frobnicate", "--state", STATE, NULL), 1);
	assert_int_equal(run(SERVE_NONE, out, sizeof(out), "download", "--state", STATE,
	    "--kms", KMS, "--tek-bits", "1024", NULL), 1);
	/* Not initialised. */
	assert_int_equal(run(SERVE_NONE, out, sizeof(out), "show", "--state", STATE, NULL), 2);

	/* init; twice is a state error. */
	assert_int_equal(run(SERVE_NONE, out, sizeof(out), "--json", "init", "--sn", "SN-CLI",
	    "--pinpad-sn", "PP-CLI", "--state", STATE, NULL), 0);
	assert_non_null(strstr(out, "\"ok\":true"));
	assert_int_equal(run(SERVE_NONE, out, sizeof(out), "init", "--sn", "SN-CLI", "--state",
	    STATE, NULL), 2);

	/* Full download (S0). */
	kms_init(&K, RKL_ALG_AES256);
	assert_int_equal(run(SERVE_KMS, out, sizeof(out), "--json", "download", "--kms", KMS,
	    "--state", STATE, "--auk-alg", "tdes3", NULL), 0);
	assert_true(K.delivered);
	assert_int_equal(K.auk_alg, RKL_ALG_TDES3);
	kcv_hex(&K, kcv);
	assert_non_null(strstr(out, "\"start_step\":\"S0\""));
	snprintf(want, sizeof(want), "\"kcv\":\"%s\"", kcv);
	assert_non_null(strstr(out, want));

	/* show: KCVs and TR-31 attributes, never the key. */
	assert_int_equal(run(SERVE_NONE, out, sizeof(out), "--json", "show", "--state", STATE,
	    NULL), 0);
	assert_non_null(strstr(out, want));
	assert_non_null(strstr(out, "\"usage\":\"K0\""));
	assert_non_null(strstr(out, "\"version\":\"D\""));

	/* Re-download from S5 after a rotation. */
	kms_rotate(&K, RKL_ALG_TDES2, 2);
	assert_int_equal(run(SERVE_KMS, out, sizeof(out), "--json", "download", "--kms", KMS,
	    "--state", STATE, NULL), 0);
	assert_non_null(strstr(out, "\"start_step\":\"S5\""));
	assert_true(K.delivered);

	/* The KMS lost the binding (operator reset): NOT_BOUND at S5.  Profile 1
	 * does not take that unauthenticated answer as a reason for a first
	 * download (a MITM would then play the KMS at S1, attack A1): refused,
	 * exit 4, the accepted TK kept; with --rebind, S0 with a new TK. */
	K.bound = 0;
	kms_rotate(&K, RKL_ALG_TDES2, 2);
	K.delivered = 0;
	assert_int_equal(run(SERVE_KMS, out, sizeof(out), "--json", "download", "--kms",
	    KMS, "--state", STATE, NULL), 4);
	assert_non_null(strstr(out, "\"kms_error\":5"));
	assert_non_null(strstr(out, "\"start_step\":\"S5\""));
	assert_false(K.delivered);
	assert_int_equal(run(SERVE_NONE, out, sizeof(out), "--json", "show", "--state", STATE,
	    NULL), 0);
	assert_non_null(strstr(out, "\"accepted\":true"));
	assert_int_equal(run(SERVE_KMS_TWICE, out, sizeof(out), "--json", "download", "--kms",
	    KMS, "--state", STATE, "--rebind", NULL), 0);
	assert_non_null(strstr(out, "\"start_step\":\"S0\""));
	assert_true(K.delivered);

	/* --tamper crnd2: the KMS refuses (exit 4, its code shown). */
	kms_rotate(&K, RKL_ALG_TDES2, 3);
	assert_int_equal(run(SERVE_KMS, out, sizeof(out), "--json", "download", "--kms", KMS,
	    "--state", STATE, "--tamper", "crnd2", NULL), 4);
	assert_non_null(strstr(out, "\"kms_error\":1"));
	assert_false(K.delivered);

	/* A KMS with a wrong Crnd1: authentication failure (exit 5). */
	K.tamper = KMS_T_CRND1;
	assert_int_equal(run(SERVE_KMS, out, sizeof(out), "download", "--kms", KMS,
	    "--state", STATE, NULL), 5);
	K.tamper = 0;

	/* A KMS that never answers: timeout (exit 3). */
	assert_int_equal(run(SERVE_SILENT, out, sizeof(out), "--json", "download", "--kms", KMS,
	    "--state", STATE, "--timeout-ms", "300", NULL), 3);
	assert_non_null(strstr(out, "\"error_code\":-22"));

	/* Nothing listening: network error (exit 3). */
	assert_int_equal(run(SERVE_NONE, out, sizeof(out), "download", "--kms", "127.0.0.1:1",
	    "--state", STATE, NULL), 3);

	/* erase: the TMK goes, the version floor stays; --all removes the TK. */
	assert_int_equal(run(SERVE_NONE, out, sizeof(out), "erase", "--state", STATE, NULL), 0);
	assert_int_equal(run(SERVE_NONE, out, sizeof(out), "--json", "show", "--state", STATE,
	    NULL), 0);
	assert_non_null(strstr(out, "\"present\":false,\"key_version\":2"));
	assert_int_equal(run(SERVE_NONE, out, sizeof(out), "erase", "--all", "--state", STATE,
	    NULL), 0);
	assert_int_equal(run(SERVE_NONE, out, sizeof(out), "--json", "show", "--state", STATE,
	    NULL), 0);
	assert_non_null(strstr(out, "\"tk\":{\"status\":\"absent\""));

	/* --tamper tk-hash: the KMS refuses the TK upload (exit 4), binds nothing. */
	K.bound = 0;
	assert_int_equal(run(SERVE_KMS, out, sizeof(out), "download", "--kms", KMS,
	    "--state", STATE, "--tamper", "tk-hash", NULL), 4);
	assert_false(K.bound);
	/* --abort-after tk-upload: the terminal vanishes (exit 3) after S3. */
	assert_int_equal(run(SERVE_KMS, out, sizeof(out), "--json", "download", "--kms", KMS,
	    "--state", STATE, "--abort-after", "tk-upload", NULL), 3);
	assert_non_null(strstr(out, "\"aborted\":true"));
	assert_true(K.bound);

	/* A corrupted record: show reports it, exit 5. */
	{
		char p[160];
		int fd;
		uint8_t b = 0;

		snprintf(p, sizeof(p), "%s/kbpk.rec", STATE);
		fd = open(p, O_RDWR);
		assert_true(fd >= 0);
		assert_int_equal(pread(fd, &b, 1, 14), 1);
		b ^= 0x10;
		assert_int_equal(pwrite(fd, &b, 1, 14), 1);
		close(fd);
	}
	assert_int_equal(run(SERVE_NONE, out, sizeof(out), "--json", "show", "--state", STATE,
	    NULL), 5);
	assert_non_null(strstr(out, "\"kbpk\":{\"status\":\"corrupted\""));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cli),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
