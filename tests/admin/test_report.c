/*
 * rkl-admin report, run as the program on a small fleet made through the
 * store API: every count, group, window total and list is checked in the
 * JSON output, and the CSV and text forms are checked to carry the same.
 * The state directory is made by rkl-admin init (the program opens the token
 * and checks the database was made with it); the fleet's times lie after
 * init's row, from a base 1000 s in the future, so the audit log stays in
 * time order and the locks last past the program's "now" whatever the speed.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#include "rkl/err.h"
#include "rkl/store.h"
#include "fixture.h"
#include "store_test_util.h"

static const char *admin;
static const struct rkl_store_who adm = { "admin:test", "cli" };
static const struct rkl_store_who kmsd = { "kmsd", "127.0.0.1:5555" };

struct ctx {
	struct tdir t;
	char conf[160];
	int64_t base;		/* registration time: 1000 s from now */
};

static void
step(struct rkl_store *st, const char *sn, const char *event, int result)
{
	struct rkl_store_audit_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.actor = "kmsd";
	ev.sn = sn;
	ev.event = event;
	ev.result = result;
	assert_int_equal(st->audit_append(st->ctx, &ev, NULL), 0);
}

/*
 * T1, T2 bound, TMK delivered; T3 bound, TMK pending, one failed attempt;
 * T4 locked (never bound); T5 revoked; T6 registered, never downloaded.
 * Window [base + 50, base + 1000): binds, T1/T2 confirmations, T4's failure
 * and lock; a confirmation at base + 2000 lies outside.
 */
static void
fill(struct ctx *c, struct rkl_store *st)
{
	static const char *const sns[] = { "T1", "T2", "T3", "T4", "T5", "T6" };
	struct rkl_store_terminal_new tn;
	struct rkl_store_binding b;
	struct rkl_store_tmk_new kn;
	struct rkl_store_tmk k;
	struct rkl_store_lockout lock_at_once = { 1, 86400 };
	struct rkl_store_lockout lenient = { 100, 60 };
	int created, i;

	fake_now = c->base;
	for (i = 0; i < 6; i++) {
		tnew(&tn, sns[i], NULL, NULL);
		tn.profile = i < 2 ? 1 : 2;	/* T1, T2 on profile 1; the rest on 2 */
		assert_int_equal(st->terminal_add(st->ctx, &adm, &tn), 0);
	}
	fake_now = c->base + 100;
	for (i = 0; i < 3; i++) {
		mk_binding(&b, (uint8_t)(0x11 + i));
		assert_int_equal(st->binding_put(st->ctx, &kmsd, sns[i], &b), 0);
		mk_tmk(&kn, (uint8_t)(0x21 + i));
		assert_int_equal(st->tmk_get_or_create(st->ctx, &kmsd, sns[i], &kn, &k, &created), 0);
		if (i < 2) {
			assert_int_equal(st->tmk_mark_delivered(st->ctx, &kmsd, sns[i], k.version), 0);
			assert_int_equal(st->download_result(st->ctx, sns[i], 0, &lenient, NULL), 0);
			step(st, sns[i], "S7.tmk_confirm", 0);
		}
	}
	assert_int_equal(st->download_result(st->ctx, "T3", RKL_ERR_KCV, &lenient, NULL), 0);
	step(st, "T4", "S5.auth_response", RKL_ERR_AUTH);
	assert_int_equal(st->download_result(st->ctx, "T4", RKL_ERR_AUTH, &lock_at_once, NULL), 0);
	assert_int_equal(st->terminal_revoke(st->ctx, &adm, "T5"), 0);
	fake_now = c->base + 2000;
	step(st, "T1", "S7.tmk_confirm", 0);
}

static int
setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	struct rkl_store st;
	char cmd[512];
	FILE *f;

	if (c == NULL || tdir_make(&c->t) != 0)
		return -1;
	c->base = (int64_t)time(NULL) + 1000;
	snprintf(c->conf, sizeof(c->conf), "%s/rkl.conf", c->t.dir);
	if ((f = fopen(c->conf, "w")) == NULL)
		return -1;
	fprintf(f, "state_dir = %s\nsofthsm2_conf = softhsm2.conf\ndatabase = kms.db\n", c->t.dir);
	fclose(f);
	setenv("RKL_SO_PIN", "so-pin-of-the-test", 1);
	snprintf(cmd, sizeof(cmd), "'%s' -c '%s' init >/dev/null", admin, c->conf);
	if (system(cmd) != 0)
		return -1;
	memset(&st, 0, sizeof(st));
	if (open_db(&st, c->t.db) != 0)
		return -1;
	fill(c, &st);
	rkl_store_close(&st);
	*state = c;
	return 0;
}

static int
teardown(void **state)
{
	struct ctx *c = *state;

	tdir_remove(&c->t);
	free(c);
	return 0;
}

/* Run rkl-admin -c CONF ARGS > out; its exit code; the output in buf. */
static int
run(struct ctx *c, char *buf, size_t cap, const char *fmt, ...)
{
	char args[512], cmd[1024], out[200];
	va_list ap;
	FILE *f;
	size_t n;
	int st;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(out, sizeof(out), "%s/out", c->t.dir);
	snprintf(cmd, sizeof(cmd), "'%s' -c '%s' %s > '%s'", admin, c->conf, args, out);
	st = system(cmd);
	assert_true(st != -1 && WIFEXITED(st));
	assert_non_null(f = fopen(out, "r"));
	n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
	return WEXITSTATUS(st);
}

static void
has(const char *buf, const char *want)
{
	if (strstr(buf, want) == NULL)
		fail_msg("missing: %s\nin: %s", want, buf);
}

static char buf[65536];

static void
test_json(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(run(c, buf, sizeof(buf), "report --format json --from %lld --to %lld",
	    (long long)(c->base + 50), (long long)(c->base + 1000)), 0);
	has(buf, "\"terminals\":{\"total\":6,\"registered\":2,\"bound\":3,\"revoked\":1,"
	    "\"never_downloaded\":1,\"locked\":1,\"tmk_pending\":1,\"tmk_delivered\":2}");
	has(buf, "\"by_status\":[{\"status\":\"bound\",\"terminals\":3,\"never_downloaded\":0,"
	    "\"locked\":0},{\"status\":\"registered\",\"terminals\":2,\"never_downloaded\":1,"
	    "\"locked\":1},{\"status\":\"revoked\",\"terminals\":1,\"never_downloaded\":0,"
	    "\"locked\":0}]");
	has(buf, "\"bindings\":[{\"auk_alg\":\"AES-128\",\"tek_alg\":\"RSA-2048\",\"oaep\":\"sha1\","
	    "\"terminals\":3}]");
	has(buf, "\"tmks\":[{\"tmk_alg\":\"AES-256\",\"tmk_state\":\"delivered\",\"terminals\":2},"
	    "{\"tmk_alg\":\"AES-256\",\"tmk_state\":\"pending\",\"terminals\":1}]");
	/* the window: 2 confirmations (not the one at base + 2000), 3 binds, 1 failure, 1 lock */
	has(buf, "\"by_profile\":[{\"profile\":1,\"terminals\":2},{\"profile\":2,\"terminals\":4}]");
	has(buf, "\"activity\":{\"downloads\":2,\"first_downloads\":3,\"failed_steps\":1,"
	    "\"lockouts\":1,\"abandoned_sessions\":0,");
	has(buf, "{\"event\":\"S7.tmk_confirm\",\"result\":0,\"result_text\":\"ok\",\"rows\":2,"
	    "\"terminals\":2}");
	/* the lists */
	has(buf, "\"never_downloaded\":{\"total\":1,\"terminals\":[{\"sn\":\"T6\",");
	has(buf, "\"locked\":{\"total\":1,\"terminals\":[{\"sn\":\"T4\",");
	has(buf, "\"tmk_pending\":{\"total\":1,\"terminals\":[{\"sn\":\"T3\",");

	/* a later window holds the last confirmation only; --json is the same as --format json */
	assert_int_equal(run(c, buf, sizeof(buf), "--json report --from %lld --to %lld --limit 0",
	    (long long)(c->base + 1000), (long long)(c->base + 3000)), 0);
	has(buf, "\"activity\":{\"downloads\":1,\"first_downloads\":0,\"failed_steps\":0,"
	    "\"lockouts\":0,");
	has(buf, "\"never_downloaded\":{\"total\":1,\"terminals\":[]}");
}

static void
test_csv_and_text(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(run(c, buf, sizeof(buf), "report --format csv --from %lld --to %lld",
	    (long long)(c->base + 50), (long long)(c->base + 1000)), 0);
	assert_true(strncmp(buf, "section,sn,status,auk_alg,tek_alg,oaep,tmk_alg,tmk_state,event,"
	    "result,time,terminals,rows,never_downloaded,locked,failures,profile\n", 107) == 0);
	has(buf, "\nterminals,,all,,,,,,,,,6,,1,1,,\n");
	has(buf, "\nstatus,,bound,,,,,,,,,3,,0,0,,\n");
	has(buf, "\nstatus,,registered,,,,,,,,,2,,1,1,,\n");
	has(buf, "\nbinding,,,AES-128,RSA-2048,sha1,,,,,,3,,,,,\n");
	has(buf, "\ntmk,,,,,,AES-256,pending,,,,1,,,,,\n");
	has(buf, "\ntmk,,,,,,AES-256,delivered,,,,2,,,,,\n");
	has(buf, "\nactivity,,,,,,,,S7.tmk_confirm,0,,2,2,,,,\n");
	has(buf, "\nprofile,,,,,,,,,,,2,,,,,1\n");
	has(buf, "\nprofile,,,,,,,,,,,4,,,,,2\n");
	has(buf, "\nlocked,T4,registered,");

	assert_int_equal(run(c, buf, sizeof(buf), "report --from %lld --to %lld",
	    (long long)(c->base + 50), (long long)(c->base + 1000)), 0);
	has(buf, "terminals                     6\n");
	has(buf, "  locked                      1\n");
	has(buf, "  downloads completed           2\n");
	has(buf, "never downloaded (oldest registration first): 1\n");
	has(buf, "by profile          TERMINALS\n  1                         2\n  2                         4\n");
	has(buf, "  T6 ");

	/* bad arguments */
	assert_int_equal(run(c, buf, sizeof(buf), "report --format xml 2>/dev/null"), 1);
	assert_int_equal(run(c, buf, sizeof(buf), "report --from 2000 --to 1000 2>/dev/null"), 1);
	assert_int_equal(run(c, buf, sizeof(buf), "report --limit many 2>/dev/null"), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_csv_and_text),
	};

	admin = getenv("RKL_ADMIN");
	if (admin == NULL || admin[0] == '\0') {
		fprintf(stderr, "RKL_ADMIN (the rkl-admin program) is not set\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
