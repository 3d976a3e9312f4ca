/*
 * The simulator's file-backed secure storage (tools/rkl-terminal/filestore.c)
 * under the PIN pad library: atomic replace, a crash between write and
 * rename leaves the old state, torn records are detected, one process at a
 * time.  Each test works in its own temporary directory, removed afterwards.
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
#include <unistd.h>
#include <cmocka.h>

#include "filestore.h"
#include "harness.h"
#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/kcv.h"
#include "rkl/tr31.h"

static char DIR_[64];

static int
setup(void **state)
{
	(void)state;
	snprintf(DIR_, sizeof(DIR_), "/tmp/rkl-fs-XXXXXX");
	return mkdtemp(DIR_) != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", DIR_);
	return system(cmd) == 0 ? 0 : -1;
}

static int
file_exists(const char *name)
{
	char p[128];

	snprintf(p, sizeof(p), "%s/%s", DIR_, name);
	return access(p, F_OK) == 0;
}

static void
test_put_get_del(void **state)
{
	struct rkl_filestore fs, fs2;
	uint8_t buf[64];
	size_t n = 0;

	(void)state;
	assert_int_equal(rkl_filestore_open(&fs, DIR_, 0), 0);
	assert_int_equal(rkl_filestore_get(&fs, "tk", buf, sizeof(buf), &n), RKL_ERR_NOT_FOUND);
	assert_int_equal(rkl_filestore_put(&fs, "tk", (const uint8_t *)"one", 3), 0);
	assert_int_equal(rkl_filestore_put(&fs, "tk", (const uint8_t *)"two!", 4), 0);
	assert_int_equal(rkl_filestore_get(&fs, "tk", buf, sizeof(buf), &n), 0);
	assert_int_equal(n, 4);
	assert_memory_equal(buf, "two!", 4);
	assert_int_equal(rkl_filestore_get(&fs, "tk", buf, 3, &n), RKL_ERR_BUFFER_SPACE);
	assert_int_equal(rkl_filestore_put(&fs, "../x", buf, 1), RKL_ERR_INVALID_ARG);
	assert_int_equal(rkl_filestore_put(&fs, "A", buf, 1), RKL_ERR_INVALID_ARG);
	/* One process at a time. */
	assert_int_equal(rkl_filestore_open(&fs2, DIR_, 0), RKL_ERR_BUSY);
	assert_int_equal(rkl_filestore_del(&fs, "tk"), 0);
	assert_int_equal(rkl_filestore_del(&fs, "tk"), 0);
	assert_int_equal(rkl_filestore_get(&fs, "tk", buf, sizeof(buf), &n), RKL_ERR_NOT_FOUND);
	rkl_filestore_close(&fs);
	assert_int_equal(rkl_filestore_open(&fs2, "/nonexistent/rkl", 0), RKL_ERR_NOT_FOUND);
}

/* A crash after the temporary file is written, before rename: old state. */
static void
test_crash_before_rename(void **state)
{
	static const enum rkl_fs_fault faults[] = {
		RKL_FS_FAULT_BEFORE_RENAME, RKL_FS_FAULT_SHORT_WRITE
	};
	struct rkl_filestore fs;
	uint8_t buf[64];
	size_t n = 0, i;

	(void)state;
	for (i = 0; i < 2; i++) {
		assert_int_equal(rkl_filestore_open(&fs, DIR_, 0), 0);
		assert_int_equal(rkl_filestore_put(&fs, "tmk", (const uint8_t *)"old", 3), 0);
		fs.fault = faults[i];
		assert_int_equal(rkl_filestore_put(&fs, "tmk", (const uint8_t *)"new-state", 9),
		    RKL_ERR_IO);
		assert_true(file_exists(".tmk.tmp"));	/* the crash left it */
		rkl_filestore_close(&fs);
		/* Reopen ("reboot"): the temporary is gone, the old record stays. */
		assert_int_equal(rkl_filestore_open(&fs, DIR_, 0), 0);
		assert_false(file_exists(".tmk.tmp"));
		assert_int_equal(rkl_filestore_get(&fs, "tmk", buf, sizeof(buf), &n), 0);
		assert_int_equal(n, 3);
		assert_memory_equal(buf, "old", 3);
		rkl_filestore_close(&fs);
	}
}

/* The library on the file store: a platform over fs. */
static void
platform(struct test_plat *t, struct rkl_filestore *fs)
{
	tp_init(t, 0);
	rkl_filestore_platform(fs, &t->crypto, &t->plat);
}

/*
 * A TMK rotation that crashes while the new TMK record is being written:
 * after the "reboot" the old TMK is intact and usable, no confirmation was
 * sent, and the next download delivers the new one.
 */
static void
test_crash_during_tmk_store(void **state)
{
	static struct test_plat t;
	static struct rkl_pinpad pp;
	static struct kms k;
	struct rkl_pinpad_config cfg;
	struct rkl_pinpad_info info;
	struct rkl_filestore fs;
	uint8_t types[32], kcv_v1[3], kcv[3];
	size_t nt = 0, i;

	(void)state;
	assert_int_equal(rkl_filestore_open(&fs, DIR_, 0), 0);
	platform(&t, &fs);
	assert_int_equal(rkl_filestore_create_device_key(&fs, &t.crypto), 0);
	assert_int_equal(rkl_filestore_create_device_key(&fs, &t.crypto), RKL_ERR_EXISTS);
	rkl_pinpad_config_default(&cfg);
	assert_int_equal(rkl_pinpad_init(&pp, &t.plat, &cfg), 0);
	assert_int_equal(rkl_pinpad_manufacture(&pp, "SN-FILE", NULL, RKL_ALG_AES256), 0);
	kms_init(&k, RKL_ALG_AES128);
	assert_int_equal(rkl_pinpad_start(&pp), 0);
	assert_int_equal(drive(&pp, &k, NULL, NULL), 0);
	assert_int_equal(rkl_kcv_legacy(&k.c, RKL_CIPHER_AES, k.tmk, 16, kcv_v1), 0);

	/* Rotation to v2; the TMK record's put "crashes" before rename. */
	kms_rotate(&k, RKL_ALG_AES256, 2);
	kms_new_connection(&k);
	assert_int_equal(rkl_pinpad_init(&pp, &t.plat, &cfg), 0);
	fs.fault = RKL_FS_FAULT_BEFORE_RENAME;
	fs.fault_after = 0;	/* a re-download from S5 writes only the TMK */
	assert_int_equal(rkl_pinpad_start(&pp), 0);
	assert_int_equal(rkl_pinpad_start_step(&pp), 5);
	assert_int_equal(drive(&pp, &k, types, &nt), RKL_ERR_IO);
	for (i = 0; i < nt; i++)
		assert_int_not_equal(types[i], RKL_WIRE_TMK_CONFIRM);
	assert_false(k.delivered);
	rkl_filestore_close(&fs);

	/* Reboot: old state (v1) intact and verified. */
	assert_int_equal(rkl_filestore_open(&fs, DIR_, 0), 0);
	platform(&t, &fs);
	assert_int_equal(rkl_pinpad_init(&pp, &t.plat, &cfg), 0);
	assert_int_equal(rkl_pinpad_info(&pp, &info), 0);
	assert_int_equal(info.tmk.status, 0);
	assert_int_equal(info.tmk_version, 1);
	assert_memory_equal(info.tmk_kcv, kcv_v1, 3);

	/* The retry delivers v2. */
	kms_new_connection(&k);
	assert_int_equal(rkl_pinpad_start(&pp), 0);
	assert_int_equal(drive(&pp, &k, NULL, NULL), 0);
	assert_true(k.delivered);
	assert_int_equal(rkl_pinpad_init(&pp, &t.plat, &cfg), 0);
	assert_int_equal(rkl_pinpad_info(&pp, &info), 0);
	assert_int_equal(info.tmk_version, 2);
	assert_int_equal(rkl_kcv_legacy(&k.c, RKL_CIPHER_AES, k.tmk, 32, kcv), 0);
	assert_memory_equal(info.tmk_kcv, kcv, 3);
	rkl_filestore_close(&fs);
}

/* A torn or edited record file is detected by the library, never used. */
static void
test_torn_record_file(void **state)
{
	static struct test_plat t;
	static struct rkl_pinpad pp;
	struct rkl_pinpad_config cfg;
	struct rkl_pinpad_info info;
	struct rkl_filestore fs;
	char path[128];
	uint8_t buf[256];
	size_t n = 0;
	int fd;

	(void)state;
	assert_int_equal(rkl_filestore_open(&fs, DIR_, 0), 0);
	platform(&t, &fs);
	assert_int_equal(rkl_filestore_create_device_key(&fs, &t.crypto), 0);
	rkl_pinpad_config_default(&cfg);
	assert_int_equal(rkl_pinpad_init(&pp, &t.plat, &cfg), 0);
	assert_int_equal(rkl_pinpad_manufacture(&pp, "SN-TORN", NULL, RKL_ALG_TDES3), 0);
	/* Truncate ident.rec to half, as a non-atomic write would. */
	assert_int_equal(rkl_filestore_get(&fs, "ident", buf, sizeof(buf), &n), 0);
	snprintf(path, sizeof(path), "%s/ident.rec", DIR_);
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, n / 2), (ssize_t)(n / 2));
	close(fd);
	assert_int_equal(rkl_pinpad_info(&pp, &info), 0);
	assert_int_equal(info.ident.status, RKL_ERR_INTEGRITY);
	assert_int_equal(rkl_pinpad_start(&pp), RKL_ERR_INTEGRITY);
	rkl_filestore_close(&fs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_get_del, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_before_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_during_tmk_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_record_file, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
