/*
 * File-backed "secure storage" for the terminal simulator: one file per
 * record in a state directory, replaced atomically (write a temporary file,
 * fsync it, rename it over the record, fsync the directory), plus the
 * simulated device storage key.  Lives in the tool, not in the library: a
 * real PIN pad has its own secure storage behind struct rkl_pinpad_storage.
 *
 * State directory layout:
 *   device.key     the device storage key, 32 random bytes, mode 0600
 *                  (a PIN pad derives it in hardware; here it is a file)
 *   <name>.rec     one record as the library sealed it (ident, kbpk, ...)
 *   .<name>.tmp    a record being written; removed on open (a crash left it)
 *   .lock          flock()ed while a process uses the directory
 */
#ifndef RKL_FILESTORE_H
#define RKL_FILESTORE_H

#include <stddef.h>
#include <stdint.h>

#include "rkl/crypto.h"
#include "rkl/pinpad.h"

/* Test-only fault injection: where put() stops, as if the power failed. */
enum rkl_fs_fault {
	RKL_FS_FAULT_NONE = 0,
	RKL_FS_FAULT_BEFORE_RENAME,	/* temp file written and synced, not renamed */
	RKL_FS_FAULT_SHORT_WRITE	/* only half of the temp file written */
};

struct rkl_filestore {
	int dirfd;			/* the state directory, O_DIRECTORY */
	int lockfd;			/* .lock, flock()ed */
	enum rkl_fs_fault fault;	/* test hook, RKL_FS_FAULT_NONE normally */
	unsigned fault_after;		/* fault on the (fault_after + 1)th put */
};

/*
 * Open (create = 1: create the directory if missing, mode 0700) and lock
 * the state directory; remove temporaries a crash left behind.  Returns 0,
 * RKL_ERR_NOT_FOUND (no such directory), RKL_ERR_BUSY (another process holds
 * it), RKL_ERR_IO.
 */
int rkl_filestore_open(struct rkl_filestore *fs, const char *dir, int create);
void rkl_filestore_close(struct rkl_filestore *fs);

/* Create device.key from c's random generator; RKL_ERR_EXISTS if present. */
int rkl_filestore_create_device_key(struct rkl_filestore *fs, const struct rkl_crypto *c);

/* 1 if device.key exists. */
int rkl_filestore_has_device_key(struct rkl_filestore *fs);

/* The storage functions (ctx = struct rkl_filestore *), see rkl/pinpad.h. */
int rkl_filestore_get(void *ctx, const char *name, uint8_t *buf, size_t cap, size_t *len);
int rkl_filestore_put(void *ctx, const char *name, const uint8_t *data, size_t len);
int rkl_filestore_del(void *ctx, const char *name);
int rkl_filestore_device_key(void *ctx, uint8_t key[RKL_PINPAD_STORAGE_KEY_LEN]);

/* Fill *p: this store, its device key, and the crypto table c. */
void rkl_filestore_platform(struct rkl_filestore *fs, const struct rkl_crypto *c,
    struct rkl_pinpad_platform *p);

#endif
