/* rkl-kmsd configuration parser (src/kms/config.c, docs/operations.md). */
#define _POSIX_C_SOURCE 200809L	/* open_memstream */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rkl/err.h"
#include "rkl/kmsd.h"

static int
parse(struct rkl_kmsd_config *c, const char *text, unsigned *line)
{
	char err[128];

	rkl_kmsd_config_defaults(c);
	return rkl_kmsd_config_parse(c, text, strlen(text), line, err, sizeof(err));
}

static void
test_defaults(void **state)
{
	struct rkl_kmsd_config c;
	unsigned line = 99;

	(void)state;
	assert_int_equal(parse(&c, "", &line), 0);
	assert_string_equal(c.listen_host, "127.0.0.1");
	assert_int_equal(c.listen_port, 7031);
	assert_string_equal(c.database, "/var/lib/rkl/rkl.db");
	assert_string_equal(c.pin_file, "/var/lib/rkl/pin");
	assert_string_equal(c.softhsm2_conf, "");
	assert_int_equal(c.tk_policy, RKL_KMSD_TK_PER_REQUEST);
	assert_int_equal(c.max_frame, 8192);
	assert_int_equal(c.workers, 2);
	assert_int_equal(c.group_commit, 64);
	assert_int_equal(c.group_commit_delay, 2000);
	assert_int_equal(c.lockout_duration, 60);
	assert_int_equal(c.profiles, RKL_KMSD_PROFILE(2));	/* new installations: profile 2 */
	assert_string_equal(c.kdh_key, "rkl-kms-sign");
	assert_string_equal(c.kdh_cert, "");
}

/* Profile 2's keys: the profile list, the PKI files resolved against state_dir. */
static void
test_profile2_keys(void **state)
{
	static const char *const bad[] = {
		"profiles = 3\n", "profiles = 1,1\n", "profiles = 1,\n", "profiles = ,2\n",
		"profiles = 12\n", "profiles = p2\n",
	};
	struct rkl_kmsd_config c;
	unsigned line = 0;
	size_t i;

	(void)state;
	assert_int_equal(parse(&c, "state_dir = /s\nprofiles = 1, 2\nkdh_key = my-kdh\n"
	    "kdh_cert = pki/kms.pem\nkdh_crl = /etc/rkl/kdh.crl\nca_root = pki/root.der\n"
	    "device_crl = pki/dev.crl\n", &line), 0);
	assert_int_equal(c.profiles, RKL_KMSD_PROFILE(1) | RKL_KMSD_PROFILE(2));
	assert_string_equal(c.kdh_key, "my-kdh");
	assert_string_equal(c.kdh_cert, "/s/pki/kms.pem");
	assert_string_equal(c.kdh_crl, "/etc/rkl/kdh.crl");
	assert_string_equal(c.ca_root, "/s/pki/root.der");
	assert_string_equal(c.device_crl, "/s/pki/dev.crl");
	assert_int_equal(parse(&c, "profiles = 2,1\n", &line), 0);
	assert_int_equal(c.profiles, RKL_KMSD_PROFILE(1) | RKL_KMSD_PROFILE(2));
	assert_int_equal(parse(&c, "profiles = 1\n", &line), 0);
	assert_int_equal(c.profiles, RKL_KMSD_PROFILE(1));
	/* one shared transport pair must not serve both profiles (decision 149) */
	assert_int_equal(parse(&c, "profiles = 1,2\ntransport_key_policy = shared\n", &line),
	    RKL_ERR_CONFIG);
	assert_int_equal(parse(&c, "profiles = 2\ntransport_key_policy = shared\n", &line), 0);
	assert_int_equal(parse(&c, "profiles = 1\ntransport_key_policy = shared\n", &line), 0);
	assert_int_equal(parse(&c, "profiles = 1,2\ntransport_key_policy = per-request\n", &line), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(&c, bad[i], &line), RKL_ERR_CONFIG);
		assert_int_equal(line, 1);
	}
}

static void
test_full(void **state)
{
	struct rkl_kmsd_config c;
	unsigned line = 0;
	const char *text =
	    "# comment\n"
	    "\n"
	    "  listen = [::1]:0  \r\n"
	    "state_dir=/tmp/rkl-x\n"
	    "database = db/x.db\n"
	    "pin_file = /etc/pin\n"
	    "log_file = -\n"
	    "softhsm2_conf = softhsm2.conf\n"
	    "transport_key_policy = SHARED\n"
	    "transport_key_algs = rsa-3072\n"
	    "oaep_hashes = sha1\n"
	    "auk_algs = AES-256, TDES-2KEY\n"
	    "tmk_alg = TDES-3KEY\n"
	    "pool_size = 0\n"
	    "max_frame = 4096\n"
	    "idle_timeout = 5\n"
	    "max_connections = 10000\n"
	    "workers = 4\n"
	    "group_commit = 4096\n"
	    "lockout_threshold = 3\n"
	    "lockout_duration = 0\n"
	    "shutdown_timeout = 2\n"
	    "frame_timeout = 7\n"
	    "login_grace_time = 45\n"
	    "max_startups = 10:40:100\n"
	    "max_startups_per_source = 0\n"
	    "log_rate_burst = 0\n"
	    "log_rate_interval = 30";

	(void)state;
	assert_int_equal(parse(&c, text, &line), 0);
	assert_string_equal(c.listen_host, "::1");
	assert_int_equal(c.listen_port, 0);
	assert_string_equal(c.database, "/tmp/rkl-x/db/x.db");
	assert_string_equal(c.pin_file, "/etc/pin");
	assert_string_equal(c.log_file, "-");
	assert_string_equal(c.softhsm2_conf, "/tmp/rkl-x/softhsm2.conf");
	assert_string_equal(c.pid_file, "/tmp/rkl-x/rkl-kmsd.pid");
	assert_int_equal(c.tk_policy, RKL_KMSD_TK_SHARED);
	assert_int_equal(c.n_hsm_algs, 1);
	assert_int_equal(c.hsm_algs[0], RKL_ALG_RSA3072);
	assert_int_equal(c.n_oaep_hashes, 1);
	assert_int_equal(c.oaep_hashes[0], RKL_OAEP_SHA1);
	assert_int_equal(c.n_auk_algs, 2);
	assert_int_equal(c.auk_algs[1], RKL_ALG_TDES2);
	assert_int_equal(c.tmk_alg, RKL_ALG_TDES3);
	assert_int_equal(c.pool_size, 0);
	assert_int_equal(c.max_frame, 4096);
	assert_int_equal(c.max_connections, 10000);
	assert_int_equal(c.workers, 4);
	assert_int_equal(c.group_commit, 4096);
	assert_int_equal(c.lockout_threshold, 3);
	assert_int_equal(c.shutdown_timeout, 2);
	assert_int_equal(c.frame_timeout, 7);
	assert_int_equal(c.login_grace_time, 45);
	assert_int_equal(c.startups_start, 10);
	assert_int_equal(c.startups_rate, 40);
	assert_int_equal(c.startups_full, 100);
	assert_int_equal(c.startups_per_source, 0);
	assert_int_equal(c.log_rate_burst, 0);
	assert_int_equal(c.log_rate_interval, 30);
	/* max_startups = N: N:100:N */
	assert_int_equal(parse(&c, "max_startups = 50\n", &line), 0);
	assert_int_equal(c.startups_start, 50);
	assert_int_equal(c.startups_rate, 100);
	assert_int_equal(c.startups_full, 50);
}

static void
test_errors(void **state)
{
	static const struct { const char *text; unsigned line; } bad[] = {
		{ "nonsense\n", 1 },
		{ "# ok\nunknown_key = 1\n", 2 },
		{ "workers = 2\nworkers = 3\n", 2 },
		{ "workers = 0\n", 1 },
		{ "workers = 257\n", 1 },
		{ "workers = -1\n", 1 },
		{ "workers = 99999999999\n", 1 },
		{ "workers =\n", 1 },
		{ "max_frame = 8193\n", 1 },
		{ "group_commit = 4097\n", 1 },
		{ "group_commit = -1\n", 1 },
		{ "group_commit = 64 x\n", 1 },
		{ "group_commit =\n", 1 },
		{ "group_commit_delay = 100001\n", 1 },
		{ "workers = 2\ngroup_commit = 1\ngroup_commit = 2\n", 3 },
		{ "listen = 1.2.3.4\n", 1 },
		{ "listen = ::1:80\n", 1 },
		{ "listen = [::1]80\n", 1 },
		{ "listen = :80\n", 1 },
		{ "listen = h:65536\n", 1 },
		{ "transport_key_policy = sometimes\n", 1 },
		{ "transport_key_algs = AES-128\n", 1 },
		{ "auk_algs = RSA-2048\n", 1 },
		{ "auk_algs = AES-128,AES-128\n", 1 },
		{ "auk_algs = AES-128,\n", 1 },
		{ "oaep_hashes = md5\n", 1 },
		{ "tmk_alg = RSA-2048\n", 1 },
		{ "state_dir = relative\n", 0 },
		{ "pool_size = 0\n", 0 },	/* per-request needs a pool */
		{ "max_startups = 10:101:100\n", 1 },
		{ "max_startups = 100:30:10\n", 1 },
		{ "max_startups = 0:30:10\n", 1 },
		{ "max_startups = 10:30\n", 1 },
		{ "max_startups = 10:30:100:5\n", 1 },
		{ "max_startups = 10::100\n", 1 },
		{ "max_startups = 0\n", 1 },
		{ "frame_timeout = 0\n", 1 },
		{ "login_grace_time = 3601\n", 1 },
		{ "log_rate_interval = 0\n", 1 },
	};
	struct rkl_kmsd_config c;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned line = 1234;
		struct rkl_kmsd_config before;

		rkl_kmsd_config_defaults(&c);
		memcpy(&before, &c, sizeof(c));
		{
			char err[128] = "";

			assert_int_equal(rkl_kmsd_config_parse(&c, bad[i].text, strlen(bad[i].text), &line,
			    err, sizeof(err)), RKL_ERR_CONFIG);
			assert_true(err[0] != '\0');
		}
		assert_int_equal(line, bad[i].line);
		assert_memory_equal(&c, &before, sizeof(c));	/* unchanged on error */
	}
	/* A NUL byte inside a line. */
	{
		char err[64];
		unsigned line = 0;

		rkl_kmsd_config_defaults(&c);
		assert_int_equal(rkl_kmsd_config_parse(&c, "workers = 2\0\n", 13, &line, err, sizeof(err)),
		    RKL_ERR_CONFIG);
	}
}

/* config_print's text of c, NUL-terminated (heap). */
static char *
printed(const struct rkl_kmsd_config *c)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	rkl_kmsd_config_print(c, f);
	assert_int_equal(fclose(f), 0);
	assert_non_null(text);
	return text;
}

/* group_commit: 0 (off) is accepted, printed, and printed text parses back. */
static void
test_group_commit(void **state)
{
	struct rkl_kmsd_config c, back;
	unsigned line = 0;
	char err[128];
	char *text, *line_at;

	(void)state;
	assert_int_equal(parse(&c, "", &line), 0);
	text = printed(&c);
	assert_non_null(strstr(text, "\ngroup_commit = 64\n"));
	free(text);

	assert_int_equal(parse(&c, "group_commit = 0\n", &line), 0);
	assert_int_equal(c.group_commit, 0);
	text = printed(&c);
	line_at = strstr(text, "\ngroup_commit = 0\n");
	assert_non_null(line_at);
	/* The printed line is one the parser takes back (0 is not the default). */
	rkl_kmsd_config_defaults(&back);
	assert_int_equal(rkl_kmsd_config_parse(&back, line_at + 1, strcspn(line_at + 1, "\n") + 1,
	    &line, err, sizeof(err)), 0);
	assert_int_equal(back.group_commit, 0);
	free(text);

	assert_int_equal(parse(&c, "group_commit = 1\n", &line), 0);
	assert_int_equal(c.group_commit, 1);
	assert_int_equal(parse(&c, "group_commit=4096", &line), 0);
	assert_int_equal(c.group_commit, 4096);
}

/* --check-config prints a configuration the parser reads back unchanged. */
static void
test_print_round_trip(void **state)
{
	struct rkl_kmsd_config c, back;
	unsigned line = 0;
	char err[128];
	char *text;
	int i;

	(void)state;
	for (i = 0; i < 2; i++) {
		assert_int_equal(parse(&c, i == 0 ? "" :
		    "state_dir = /tmp/rkl-rt\nsofthsm2_conf = s.conf\ngroup_commit_delay = 0\n"
		    "workers = 3\ntransport_key_policy = shared\nauk_algs = AES-256,TDES-2KEY\n", &line), 0);
		text = printed(&c);
		rkl_kmsd_config_defaults(&back);
		assert_int_equal(rkl_kmsd_config_parse(&back, text, strlen(text), &line, err, sizeof(err)), 0);
		assert_string_equal(back.state_dir, c.state_dir);
		assert_string_equal(back.softhsm2_conf, c.softhsm2_conf);
		assert_string_equal(back.database, c.database);
		/* "" and "-" both mean stderr; the printer writes "-". */
		assert_string_equal(back.log_file, c.log_file[0] != '\0' ? c.log_file : "-");
		assert_int_equal(back.tk_policy, c.tk_policy);
		assert_int_equal(back.n_auk_algs, c.n_auk_algs);
		assert_memory_equal(back.auk_algs, c.auk_algs, c.n_auk_algs * sizeof(c.auk_algs[0]));
		assert_int_equal(back.workers, c.workers);
		assert_int_equal(back.group_commit, c.group_commit);
		assert_int_equal(back.group_commit_delay, c.group_commit_delay);
		free(text);
	}
}

/* database: only the SQLite path forms are resolved against state_dir. */
static void
test_database_forms(void **state)
{
	static const struct {
		const char *in, *want;
	} t[] = {
		{ "kms.db", "/tmp/rkl-d/kms.db" },
		{ "/var/x.db", "/var/x.db" },
		{ "sqlite:kms.db", "sqlite:/tmp/rkl-d/kms.db" },
		{ "sqlite:/abs/kms.db", "sqlite:/abs/kms.db" },
		{ "postgresql://rkl@db1/rkl", "postgresql://rkl@db1/rkl" },
		{ "host=/run/pg dbname=rkl", "host=/run/pg dbname=rkl" },
	};
	struct rkl_kmsd_config c;
	unsigned line = 0;
	char text[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(text, sizeof(text), "state_dir = /tmp/rkl-d\ndatabase = %s\n", t[i].in);
		rkl_kmsd_config_defaults(&c);
		assert_int_equal(parse(&c, text, &line), 0);
		assert_string_equal(c.database, t[i].want);
	}
}

/* metrics_listen: off by default; a port alone is loopback; HOST:PORT, [V6]:PORT; off; bad ones refused. */
static void
test_metrics_listen(void **state)
{
	struct rkl_kmsd_config c;
	unsigned line = 0;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_int_equal(parse(&c, "", &line), 0);
	assert_int_equal(c.metrics_on, 0);
	assert_int_equal(parse(&c, "metrics_listen = 9731", &line), 0);
	assert_int_equal(c.metrics_on, 1);
	assert_string_equal(c.metrics_host, "127.0.0.1");
	assert_int_equal(c.metrics_port, 9731);
	assert_int_equal(parse(&c, "metrics_listen = 10.1.2.3:0", &line), 0);
	assert_string_equal(c.metrics_host, "10.1.2.3");
	assert_int_equal(c.metrics_port, 0);
	assert_int_equal(parse(&c, "metrics_listen = [::1]:9100", &line), 0);
	assert_string_equal(c.metrics_host, "::1");
	assert_int_equal(c.metrics_port, 9100);
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	rkl_kmsd_config_print(&c, f);
	fclose(f);
	assert_non_null(strstr(buf, "\nmetrics_listen = [::1]:9100\n"));
	free(buf);
	assert_int_equal(parse(&c, "metrics_listen = OFF", &line), 0);
	assert_int_equal(c.metrics_on, 0);
	assert_int_equal(parse(&c, "metrics_listen = 65536", &line), RKL_ERR_CONFIG);
	assert_int_equal(parse(&c, "metrics_listen = host:", &line), RKL_ERR_CONFIG);
	assert_int_equal(parse(&c, "metrics_listen = ::1:80", &line), RKL_ERR_CONFIG);
	assert_int_equal(parse(&c, "metrics_listen = on", &line), RKL_ERR_CONFIG);
	/* audit_syslog: udp:HOST:PORT (port not 0), udp:[V6]:PORT, unix:/ABSOLUTE, off */
	assert_int_equal(parse(&c, "", &line), 0);
	assert_string_equal(c.audit_syslog, "");
	assert_int_equal(parse(&c, "audit_syslog = udp:10.0.0.5:514", &line), 0);
	assert_string_equal(c.audit_syslog, "udp:10.0.0.5:514");
	assert_int_equal(parse(&c, "audit_syslog = udp:[::1]:514", &line), 0);
	assert_int_equal(parse(&c, "audit_syslog = unix:/dev/log", &line), 0);
	assert_string_equal(c.audit_syslog, "unix:/dev/log");
	assert_int_equal(parse(&c, "audit_syslog = off", &line), 0);
	assert_string_equal(c.audit_syslog, "");
	assert_int_equal(parse(&c, "audit_syslog = udp:10.0.0.5:0", &line), RKL_ERR_CONFIG);
	assert_int_equal(parse(&c, "audit_syslog = udp:10.0.0.5", &line), RKL_ERR_CONFIG);
	assert_int_equal(parse(&c, "audit_syslog = unix:dev/log", &line), RKL_ERR_CONFIG);
	assert_int_equal(parse(&c, "audit_syslog = tcp:10.0.0.5:514", &line), RKL_ERR_CONFIG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_group_commit),
		cmocka_unit_test(test_print_round_trip),
		cmocka_unit_test(test_database_forms),
		cmocka_unit_test(test_profile2_keys),
		cmocka_unit_test(test_metrics_listen),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
