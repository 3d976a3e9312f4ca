/*
 * Creating the embedded default HSM: a SoftHSM2 token in the KMS's state
 * directory, initialised through PKCS#11 itself (C_InitToken, C_InitPIN),
 * so no PIN ever appears on a command line.
 */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hsm_int.h"

#include "rkl/err.h"

static int
mkdir_700(const char *p)
{
	struct stat st;

	if (mkdir(p, 0700) == 0)
		return 0;
	if (errno == EEXIST && stat(p, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	return RKL_ERR_IO;
}

/* Write the conf file atomically unless it exists. */
static int
write_conf(const char *conf, const char *tokdir)
{
	char tmp[512], text[700];
	int fd, n, r = RKL_ERR_IO;
	size_t off = 0;
	ssize_t w;

	if (access(conf, F_OK) == 0)
		return 0;
	n = snprintf(text, sizeof(text),
	    "# written by rkl: SoftHSM2 token store of this rkl state directory\n"
	    "directories.tokendir = %s\n"
	    "objectstore.backend = file\n"
	    "log.level = ERROR\n"
	    "slots.removable = false\n", tokdir);
	if (n < 0 || (size_t)n >= sizeof(text))
		return RKL_ERR_CONFIG;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", conf) >= sizeof(tmp))
		return RKL_ERR_CONFIG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return RKL_ERR_IO;
	while (off < (size_t)n) {
		w = write(fd, text + off, (size_t)n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto out;
		off += (size_t)w;
	}
	if (fsync(fd) != 0)
		goto out;
	if (close(fd) != 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (rename(tmp, conf) != 0)
		goto out;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	if (r != 0)
		unlink(tmp);
	return r;
}

/* Blank-padded 32-byte token label. */
static void
pad_label(CK_UTF8CHAR out[32], const char *label)
{
	size_t n = strlen(label);

	memset(out, ' ', 32);
	memcpy(out, label, n);
}

static int
init_token(CK_FUNCTION_LIST_PTR f, const char *label, const char *user_pin, const char *so_pin,
    int *created)
{
	struct rkl_p11_uri u;
	CK_SLOT_ID slots[64], slot = 0;
	CK_ULONG n = 64, i;
	CK_TOKEN_INFO ti;
	CK_UTF8CHAR lab[32];
	CK_SESSION_HANDLE sh = 0;
	int found = 0, r;

	memset(&u, 0, sizeof(u));
	memcpy(u.token, label, strlen(label) + 1);
	*created = 0;
	if (hsm_find_slot(f, &u, &slot, NULL) == 0)
		return 0;	/* already there */
	if ((r = hsm_rv(f->C_GetSlotList(CK_TRUE, slots, &n))) != 0)
		return r;
	for (i = 0; i < n; i++) {
		if (f->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
		    !(ti.flags & CKF_TOKEN_INITIALIZED)) {
			slot = slots[i];
			found = 1;
			break;
		}
	}
	if (!found)
		return RKL_ERR_HSM_TOKEN;
	pad_label(lab, label);
	if ((r = hsm_rv(f->C_InitToken(slot, hsm_unconst(so_pin), strlen(so_pin), lab))) != 0)
		return r;
	*created = 1;
	/* SoftHSM2 moves the new token to a fresh slot: find it by label. */
	if ((r = hsm_find_slot(f, &u, &slot, NULL)) != 0)
		return r;
	if ((r = hsm_rv(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
	    &sh))) != 0)
		return r;
	r = hsm_rv(f->C_Login(sh, CKU_SO, hsm_unconst(so_pin), strlen(so_pin)));
	if (r == 0) {
		r = hsm_rv(f->C_InitPIN(sh, hsm_unconst(user_pin), strlen(user_pin)));
		f->C_Logout(sh);
	}
	f->C_CloseSession(sh);
	return r;
}

int
rkl_hsm_softhsm_setup(const char *module, const char *state_dir, const char *label,
    const char *user_pin, const char *so_pin)
{
	return rkl_hsm_softhsm_setup_ex(module, state_dir, label, user_pin, so_pin, NULL);
}

int
rkl_hsm_softhsm_setup_ex(const char *module, const char *state_dir, const char *label,
    const char *user_pin, const char *so_pin, int *created)
{
	char tokdir[400], conf[400], path[256];
	CK_FUNCTION_LIST_PTR f = NULL;
	void *lib = NULL;
	int r, made = 0;

	if (created != NULL)
		*created = 0;
	if (state_dir == NULL || label == NULL || user_pin == NULL || so_pin == NULL)
		return RKL_ERR_INVALID_ARG;
	if (label[0] == '\0' || strlen(label) > 32 || user_pin[0] == '\0' ||
	    so_pin[0] == '\0' || strlen(user_pin) > RKL_HSM_PIN_MAX ||
	    strlen(so_pin) > RKL_HSM_PIN_MAX)
		return RKL_ERR_CONFIG;
	if ((size_t)snprintf(tokdir, sizeof(tokdir), "%s/tokens", state_dir) >= sizeof(tokdir) ||
	    (size_t)snprintf(conf, sizeof(conf), "%s/softhsm2.conf", state_dir) >= sizeof(conf))
		return RKL_ERR_CONFIG;
	if ((r = mkdir_700(state_dir)) != 0 || (r = mkdir_700(tokdir)) != 0 ||
	    (r = write_conf(conf, tokdir)) != 0)
		return r;
	if (setenv("SOFTHSM2_CONF", conf, 1) != 0)
		return RKL_ERR_NOMEM;
	if ((r = hsm_module_path(module, NULL, path, sizeof(path))) != 0 ||
	    (r = hsm_load(path, &lib, &f)) != 0)
		return r;
	if ((r = hsm_initialize(f)) != 0)
		goto out;
	r = init_token(f, label, user_pin, so_pin, &made);
	f->C_Finalize(NULL);
	if (created != NULL)
		*created = made;
out:
	dlclose(lib);
	return r;
}
