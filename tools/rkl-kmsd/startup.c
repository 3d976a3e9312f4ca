/* rkl-kmsd start-up: see startup.h. */
#define _GNU_SOURCE 1

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rkl/err.h"
#include "rkl/state.h"

#include "startup.h"

static int ready_fd = -1;	/* detached: the pipe the waiting parent reads */

int
kmsd_detach(void)
{
	int p[2], st, fd;
	pid_t pid;
	char c;

	if (pipe(p) != 0)
		return -1;
	if ((pid = fork()) < 0)
		return -1;
	if (pid > 0) {
		/* The parent: exit 0 once the child is serving, else with its status. */
		ssize_t n;

		close(p[1]);
		while ((n = read(p[0], &c, 1)) < 0 && errno == EINTR)
			;
		if (n == 1 && c == 'R')
			_exit(0);
		/* the child ended before it was ready: its status (1 if it was killed) */
		if (waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) != 0)
			_exit(WEXITSTATUS(st));
		_exit(1);
	}
	close(p[0]);
	ready_fd = p[1];
	(void)setsid();
	if (chdir("/") != 0)
		return -1;
	if ((fd = open("/dev/null", O_RDWR)) >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		if (fd > 2)
			close(fd);
	}
	return 0;
}

void
kmsd_ready(void)
{
	int fd;

	if (ready_fd < 0)
		return;
	if (write(ready_fd, "R", 1) < 0) {
		/* the parent is gone: nothing to tell */
	}
	close(ready_fd);
	ready_fd = -1;
	if ((fd = open("/dev/null", O_RDWR)) >= 0) {
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
}

static int
log_is_stderr(const struct rkl_kmsd_config *cfg)
{
	return cfg->log_file[0] == '\0' || strcmp(cfg->log_file, "-") == 0;
}

void
kmsd_fatal(const struct rkl_kmsd_config *cfg, const char *fmt, ...)
{
	char msg[1536];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rkl_kmsd_log("error", "start-up failed: %s", msg);
	if (!log_is_stderr(cfg))
		fprintf(stderr, "rkl-kmsd: %s\n", msg);
}

/* Said at start on the log and on stderr (a start-up warning the operator should see). */
static void
start_warn(const struct rkl_kmsd_config *cfg, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void
start_warn(const struct rkl_kmsd_config *cfg, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rkl_kmsd_log("warn", "%s", msg);
	if (!log_is_stderr(cfg))
		fprintf(stderr, "rkl-kmsd: warning: %s\n", msg);
}

static const char *
hash_name(enum rkl_oaep_hash h)
{
	return h == RKL_OAEP_SHA256 ? "sha256" : "sha1";
}

static void
hash_list(const struct rkl_kmsd_config *cfg, char *out, size_t cap)
{
	size_t i, n = 0;

	out[0] = '\0';
	for (i = 0; i < cfg->n_oaep_hashes && n < cap; i++)
		n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? "," : "",
		    hash_name(cfg->oaep_hashes[i]));
}

/*
 * The OAEP hash: the first one of oaep_hashes the token performs.  The HSM
 * detects SHA-256 (SoftHSM2 advertises OAEP but refuses it): ask for
 * SHA-1 outright if that comes first, else let it choose and check.
 */
static int
check_oaep(const struct rkl_kmsd_config *cfg, struct rkl_hsm *h)
{
	struct rkl_hsm_info in;
	enum rkl_oaep_hash used = rkl_hsm_oaep(h);
	char list[32];
	size_t i;

	rkl_hsm_get_info(h, &in);
	hash_list(cfg, list, sizeof(list));
	for (i = 0; i < cfg->n_oaep_hashes; i++)
		if (cfg->oaep_hashes[i] == used)
			break;
	if (i == cfg->n_oaep_hashes) {
		kmsd_fatal(cfg, "oaep_hashes = %s, but token %s (%s %s) does not perform RSA-OAEP with "
		    "%s; it offers %s only: add %s to oaep_hashes, or use a token that performs %s",
		    list, in.token_label, in.manufacturer, in.model, hash_name(cfg->oaep_hashes[0]),
		    hash_name(used), hash_name(used), hash_name(cfg->oaep_hashes[0]));
		return -1;
	}
	if (i > 0)
		start_warn(cfg, "oaep_hashes = %s, but token %s does not perform RSA-OAEP with %s: "
		    "using %s", list, in.token_label, hash_name(cfg->oaep_hashes[0]), hash_name(used));
	return 0;
}

static void
core_dumps(const struct rkl_kmsd_config *cfg)
{
	struct rlimit rl = { 0, 0 };

	if (cfg->core_dumps) {
		rkl_kmsd_log("warn", "core dumps allowed (core_dumps = yes): a dump may hold "
		    "the PIN and HSM session state");
		return;
	}
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 || setrlimit(RLIMIT_CORE, &rl) != 0)
		start_warn(cfg, "cannot disable core dumps: %s", strerror(errno));
	else
		rkl_kmsd_log("info", "core dumps disabled (PR_SET_DUMPABLE 0, RLIMIT_CORE 0)");
}

int
kmsd_startup(const struct rkl_kmsd_config *cfg, struct rkl_hsm **hsm, struct rkl_store *store)
{
	struct rkl_state_paths paths;
	struct rkl_hsm_config hc;
	struct rkl_hsm_info info;
	struct rkl_hsm *h = NULL;
	char err[1024];
	unsigned bits = 0, want;
	int r;

	*hsm = NULL;
	core_dumps(cfg);
	memset(&paths, 0, sizeof(paths));
	paths.state_dir = cfg->state_dir;
	paths.pin_file = cfg->pin_file;
	paths.softhsm2_conf = cfg->softhsm2_conf;
	paths.database = cfg->database;
	paths.module = cfg->pkcs11_module;
	paths.token_uri = cfg->token_uri;
	if (rkl_state_check_perms(&paths, err, sizeof(err)) != 0) {
		kmsd_fatal(cfg, "%s", err);
		return -1;
	}

	/* The HSM: one session per worker, one for start-up and shutdown. */
	memset(&hc, 0, sizeof(hc));
	hc.module = cfg->pkcs11_module;
	hc.token_uri = cfg->token_uri;
	if (rkl_state_pin_source(cfg->pin_file, "RKL_PIN", &hc, err, sizeof(err)) != 0) {
		kmsd_fatal(cfg, "%s", err);
		return -1;
	}
	hc.sessions = cfg->workers + 1;
	hc.transport_alg = cfg->hsm_algs[0];
	hc.pool_size = (cfg->tk_policy == RKL_KMSD_TK_PER_REQUEST) ? cfg->pool_size : 0;
	hc.oaep = cfg->oaep_hashes[0] == RKL_OAEP_SHA1 ? RKL_OAEP_SHA1 : 0;
	if ((r = rkl_hsm_open(&hc, &h)) != 0) {
		rkl_state_hsm_diagnose(&paths, r, err, sizeof(err));
		kmsd_fatal(cfg, "HSM: %s", err);
		return -1;
	}
	rkl_hsm_get_info(h, &info);
	if (!info.pin_locked)
		start_warn(cfg, "the PIN's memory could not be locked (mlock; RLIMIT_MEMLOCK): it may "
		    "be swapped out");
	if (!info.have_kek) {
		kmsd_fatal(cfg, "token %s (serial %s) lacks the storage keys rkl-kek-auk/rkl-kek-tmk: "
		    "run rkl-admin init", info.token_label, info.token_serial);
		goto fail;
	}
	if (check_oaep(cfg, h) != 0)
		goto fail;
	if (cfg->tk_policy == RKL_KMSD_TK_SHARED) {
		want = rkl_alg_rsa_bits(cfg->hsm_algs[0]);
		if (!info.have_transport) {
			kmsd_fatal(cfg, "transport_key_policy = shared, but token %s has no shared transport "
			    "pair rkl-transport: run rkl-admin init", info.token_label);
			goto fail;
		}
		if ((r = rkl_state_transport_bits(h, &bits)) != 0) {
			kmsd_fatal(cfg, "shared transport pair on token %s: %s", info.token_label,
			    rkl_err_str(r));
			goto fail;
		}
		if (bits != want) {
			kmsd_fatal(cfg, "the shared transport pair rkl-transport on token %s is RSA-%u, but "
			    "transport_key_algs asks for RSA-%u first: replace the pair with "
			    "`rkl-admin transport rotate` (kmsd stopped), or list RSA-%u first",
			    info.token_label, bits, want, bits);
			goto fail;
		}
	}
	if (rkl_state_open_store(store, cfg->database, h, 1, err, sizeof(err)) != 0) {
		kmsd_fatal(cfg, "%s", err);
		goto fail;
	}
	*hsm = h;
	return 0;
fail:
	rkl_hsm_close(h);
	return -1;
}
