/* File-backed secure storage for the terminal simulator (see filestore.h). */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "filestore.h"
#include "rkl/ct.h"
#include "rkl/err.h"

#define KEY_FILE "device.key"
#define LOCK_FILE ".lock"

/* "<name>.rec" or ".<name>.tmp" for a valid record name. */
static int
rec_path(const char *name, int tmp, char *out, size_t cap)
{
	size_t i, n = strlen(name);
	int w;

	if (n == 0 || n > RKL_PINPAD_NAME_MAX)
		return RKL_ERR_INVALID_ARG;
	for (i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= '0' && name[i] <= '9') || name[i] == '_'))
			return RKL_ERR_INVALID_ARG;
	w = tmp ? snprintf(out, cap, ".%s.tmp", name) : snprintf(out, cap, "%s.rec", name);
	return w > 0 && (size_t)w < cap ? 0 : RKL_ERR_INVALID_ARG;
}

static int
write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return RKL_ERR_IO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Remove the .<name>.tmp files a crash may have left. */
static void
remove_temporaries(int dirfd)
{
	DIR *d;
	struct dirent *e;
	int fd = dup(dirfd);

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);

		if (n > 5 && e->d_name[0] == '.' && strcmp(e->d_name + n - 4, ".tmp") == 0)
			(void)unlinkat(dirfd, e->d_name, 0);
	}
	closedir(d);
	(void)fsync(dirfd);
}

int
rkl_filestore_open(struct rkl_filestore *fs, const char *dir, int create)
{
	int dfd = -1, lfd = -1, r;

	memset(fs, 0, sizeof(*fs));
	fs->dirfd = fs->lockfd = -1;
	if (create && mkdir(dir, 0700) != 0 && errno != EEXIST)
		return RKL_ERR_IO;
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? RKL_ERR_NOT_FOUND : RKL_ERR_IO;
	if ((lfd = openat(dfd, LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		r = RKL_ERR_IO;
		goto fail;
	}
	if (flock(lfd, LOCK_EX | LOCK_NB) != 0) {
		r = errno == EWOULDBLOCK ? RKL_ERR_BUSY : RKL_ERR_IO;
		goto fail;
	}
	remove_temporaries(dfd);
	fs->dirfd = dfd;
	fs->lockfd = lfd;
	return 0;
fail:
	if (lfd >= 0)
		close(lfd);
	close(dfd);
	return r;
}

void
rkl_filestore_close(struct rkl_filestore *fs)
{
	if (fs->lockfd >= 0)
		close(fs->lockfd);	/* releases the flock */
	if (fs->dirfd >= 0)
		close(fs->dirfd);
	fs->lockfd = fs->dirfd = -1;
}

/* Read a whole file (at most cap bytes; RKL_ERR_BUFFER_SPACE if longer). */
static int
read_file(int dirfd, const char *path, uint8_t *buf, size_t cap, size_t *len)
{
	size_t n = 0;
	uint8_t extra;
	ssize_t got;
	int fd, r = 0;

	if ((fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? RKL_ERR_NOT_FOUND : RKL_ERR_IO;
	while (n < cap) {
		got = read(fd, buf + n, cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r = RKL_ERR_IO;
			goto out;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	if (n == cap && read(fd, &extra, 1) > 0) {
		r = RKL_ERR_BUFFER_SPACE;
		goto out;
	}
	*len = n;
out:
	close(fd);
	return r;
}

int
rkl_filestore_get(void *ctx, const char *name, uint8_t *buf, size_t cap, size_t *len)
{
	struct rkl_filestore *fs = ctx;
	char path[64];
	int r;

	if ((r = rec_path(name, 0, path, sizeof(path))) != 0)
		return r;
	return read_file(fs->dirfd, path, buf, cap, len);
}

/* Write data as path atomically; fault hooks stop where a crash would. */
static int
put_file(struct rkl_filestore *fs, const char *tmp, const char *path,
    const uint8_t *data, size_t len, int excl)
{
	enum rkl_fs_fault fault = RKL_FS_FAULT_NONE;
	int fd, r;

	if (fs->fault != RKL_FS_FAULT_NONE) {
		if (fs->fault_after == 0)
			fault = fs->fault;
		else
			fs->fault_after--;
	}
	(void)unlinkat(fs->dirfd, tmp, 0);
	if ((fd = openat(fs->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		return RKL_ERR_IO;
	r = write_all(fd, data, fault == RKL_FS_FAULT_SHORT_WRITE ? len / 2 : len);
	if (r == 0 && fsync(fd) != 0)
		r = RKL_ERR_IO;
	if (close(fd) != 0 && r == 0)
		r = RKL_ERR_IO;
	if (r != 0 || fault != RKL_FS_FAULT_NONE)
		return r != 0 ? r : RKL_ERR_IO;	/* "crash": temp left, not renamed */
	if (excl && faccessat(fs->dirfd, path, F_OK, 0) == 0) {
		(void)unlinkat(fs->dirfd, tmp, 0);
		return RKL_ERR_EXISTS;
	}
	if (renameat(fs->dirfd, tmp, fs->dirfd, path) != 0) {
		(void)unlinkat(fs->dirfd, tmp, 0);
		return RKL_ERR_IO;
	}
	return fsync(fs->dirfd) == 0 ? 0 : RKL_ERR_IO;
}

int
rkl_filestore_put(void *ctx, const char *name, const uint8_t *data, size_t len)
{
	struct rkl_filestore *fs = ctx;
	char path[64], tmp[64];
	int r;

	if ((r = rec_path(name, 0, path, sizeof(path))) != 0 ||
	    (r = rec_path(name, 1, tmp, sizeof(tmp))) != 0)
		return r;
	return put_file(fs, tmp, path, data, len, 0);
}

int
rkl_filestore_del(void *ctx, const char *name)
{
	struct rkl_filestore *fs = ctx;
	char path[64];
	int r;

	if ((r = rec_path(name, 0, path, sizeof(path))) != 0)
		return r;
	if (unlinkat(fs->dirfd, path, 0) != 0)
		return errno == ENOENT ? 0 : RKL_ERR_IO;
	return fsync(fs->dirfd) == 0 ? 0 : RKL_ERR_IO;
}

int
rkl_filestore_device_key(void *ctx, uint8_t key[RKL_PINPAD_STORAGE_KEY_LEN])
{
	struct rkl_filestore *fs = ctx;
	uint8_t buf[RKL_PINPAD_STORAGE_KEY_LEN];
	size_t n = 0;
	int r;

	r = read_file(fs->dirfd, KEY_FILE, buf, sizeof(buf), &n);
	if (r == 0 && n != sizeof(buf))
		r = RKL_ERR_INTEGRITY;
	if (r == RKL_ERR_BUFFER_SPACE)
		r = RKL_ERR_INTEGRITY;
	if (r == 0)
		memcpy(key, buf, sizeof(buf));
	rkl_cleanse(buf, sizeof(buf));
	return r;
}

int
rkl_filestore_has_device_key(struct rkl_filestore *fs)
{
	return faccessat(fs->dirfd, KEY_FILE, F_OK, 0) == 0;
}

int
rkl_filestore_create_device_key(struct rkl_filestore *fs, const struct rkl_crypto *c)
{
	uint8_t key[RKL_PINPAD_STORAGE_KEY_LEN];
	int r;

	if (rkl_filestore_has_device_key(fs))
		return RKL_ERR_EXISTS;
	if ((r = c->random(c->ctx, key, sizeof(key))) == 0)
		r = put_file(fs, ".device.key.tmp", KEY_FILE, key, sizeof(key), 1);
	rkl_cleanse(key, sizeof(key));
	return r;
}

void
rkl_filestore_platform(struct rkl_filestore *fs, const struct rkl_crypto *c,
    struct rkl_pinpad_platform *p)
{
	memset(p, 0, sizeof(*p));
	p->crypto = c;
	p->storage.ctx = fs;
	p->storage.get = rkl_filestore_get;
	p->storage.put = rkl_filestore_put;
	p->storage.del = rkl_filestore_del;
	p->storage_key = rkl_filestore_device_key;
	p->storage_key_ctx = fs;
}
