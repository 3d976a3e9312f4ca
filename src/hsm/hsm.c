/*
 * HSM access: module loading, token selection, PIN, session pool, fork
 * re-initialisation, mechanism detection and provisioning of the long-lived
 * token objects.  Key operations are in ops.c, the key-pair pool in pool.c.
 */
#define _GNU_SOURCE 1	/* RTLD_NODELETE */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hsm_int.h"

#include "rkl/ct.h"
#include "rkl/err.h"

int hsm_pool_start(struct rkl_hsm *h);
void hsm_pool_stop(struct rkl_hsm *h);
void hsm_pool_forget(struct rkl_hsm *h);

/* ---- fork handlers: every open handle, so locks are consistent in the child ---- */

static pthread_mutex_t handles_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rkl_hsm *handles;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void
fork_prepare(void)
{
	struct rkl_hsm *h;

	pthread_mutex_lock(&handles_lock);
	for (h = handles; h != NULL; h = h->next) {
		pthread_mutex_lock(&h->pool_busy);
		pthread_mutex_lock(&h->lock);
		pthread_mutex_lock(&h->pool_lock);
	}
}

static void
fork_parent(void)
{
	struct rkl_hsm *h;

	for (h = handles; h != NULL; h = h->next) {
		pthread_mutex_unlock(&h->pool_lock);
		pthread_mutex_unlock(&h->lock);
		pthread_mutex_unlock(&h->pool_busy);
	}
	pthread_mutex_unlock(&handles_lock);
}

static void
fork_child(void)
{
	struct rkl_hsm *h;

	for (h = handles; h != NULL; h = h->next) {
		/* The refill thread does not exist here; its pairs died with
		 * the parent's sessions (re-initialisation forgets them). */
		h->pool_running = 0;
		h->forked = 1;	/* re-initialise at the next session_get (no getpid() per call) */
		pthread_cond_init(&h->free_cond, NULL);
		pthread_cond_init(&h->pool_cond, NULL);
		pthread_mutex_unlock(&h->pool_lock);
		pthread_mutex_unlock(&h->lock);
		pthread_mutex_unlock(&h->pool_busy);
	}
	pthread_mutex_unlock(&handles_lock);
}

static void
atfork_register(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

static void
handles_add(struct rkl_hsm *h)
{
	pthread_mutex_lock(&handles_lock);
	h->next = handles;
	handles = h;
	pthread_mutex_unlock(&handles_lock);
}

static void
handles_remove(struct rkl_hsm *h)
{
	struct rkl_hsm **pp;

	pthread_mutex_lock(&handles_lock);
	for (pp = &handles; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == h) {
			*pp = h->next;
			break;
		}
	}
	pthread_mutex_unlock(&handles_lock);
}

/* ---- small helpers ---- */

void
hsm_pstr(char *dst, size_t cap, const CK_UTF8CHAR *src, size_t n)
{
	size_t len = n < cap - 1 ? n : cap - 1;

	memcpy(dst, src, len);
	while (len > 0 && dst[len - 1] == ' ')
		len--;
	dst[len] = '\0';
}

static int
copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap)
		return RKL_ERR_CONFIG;
	memcpy(dst, src, n + 1);
	return 0;
}

int
hsm_module_path(const char *cfg, const struct rkl_p11_uri *u, char *out, size_t cap)
{
	const char *p = cfg;

	if (p == NULL && u != NULL && u->module_path[0] != '\0')
		p = u->module_path;
	if (p == NULL)
		p = getenv("RKL_PKCS11_MODULE");
	if (p == NULL || p[0] == '\0')
		p = RKL_HSM_DEFAULT_MODULE;
	return copy_str(out, cap, p);
}

int
hsm_load(const char *path, void **lib, CK_FUNCTION_LIST_PTR *f)
{
	CK_C_GetFunctionList gfl;
	CK_FUNCTION_LIST_PTR fl = NULL;
	void *l;

	/* RTLD_NODELETE: the module stays mapped after close, so its
	 * process-lifetime allocations stay attributable (tests/lsan.supp)
	 * and a second open in the same process finds the same instance. */
	l = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	if (l == NULL)
		return RKL_ERR_HSM_MODULE;
	*(void **)(&gfl) = dlsym(l, "C_GetFunctionList");
	if (gfl == NULL || gfl(&fl) != CKR_OK || fl == NULL) {
		dlclose(l);
		return RKL_ERR_HSM_MODULE;
	}
	*lib = l;
	*f = hsm_acct_wrap(fl);	/* CPU time of each key operation (acct.c) */
	return 0;
}

int
hsm_initialize(CK_FUNCTION_LIST_PTR f)
{
	CK_C_INITIALIZE_ARGS args;

	memset(&args, 0, sizeof(args));
	/* Without CKF_OS_LOCKING_OK SoftHSM2 turns its locks off and two
	 * threads crash it. */
	args.flags = CKF_OS_LOCKING_OK;
	return hsm_rv(f->C_Initialize(&args));
}

static int
token_matches(const struct rkl_p11_uri *u, const CK_TOKEN_INFO *ti, CK_SLOT_ID slot)
{
	char s[33];

	hsm_pstr(s, sizeof(s), ti->label, sizeof(ti->label));
	if (u->token[0] != '\0' && strcmp(s, u->token) != 0)
		return 0;
	hsm_pstr(s, sizeof(s), ti->manufacturerID, sizeof(ti->manufacturerID));
	if (u->manufacturer[0] != '\0' && strcmp(s, u->manufacturer) != 0)
		return 0;
	hsm_pstr(s, 17, ti->model, sizeof(ti->model));
	if (u->model[0] != '\0' && strcmp(s, u->model) != 0)
		return 0;
	hsm_pstr(s, 17, ti->serialNumber, sizeof(ti->serialNumber));
	if (u->serial[0] != '\0' && strcmp(s, u->serial) != 0)
		return 0;
	if (u->has_slot_id && u->slot_id != slot)
		return 0;
	return 1;
}

int
hsm_find_slot(CK_FUNCTION_LIST_PTR f, const struct rkl_p11_uri *u, CK_SLOT_ID *slot,
    CK_TOKEN_INFO *info)
{
	CK_SLOT_ID slots[64];
	CK_ULONG n = 64, i;
	CK_TOKEN_INFO ti;
	CK_RV rv;

	rv = f->C_GetSlotList(CK_TRUE, slots, &n);
	if (rv == CKR_BUFFER_TOO_SMALL)
		n = 64;		/* more than 64 tokens: search the first 64 */
	else if (rv != CKR_OK)
		return hsm_rv(rv);
	for (i = 0; i < n && i < 64; i++) {
		if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		if (!(ti.flags & CKF_TOKEN_INITIALIZED))
			continue;
		if (token_matches(u, &ti, slots[i])) {
			*slot = slots[i];
			if (info != NULL)
				*info = ti;
			return 0;
		}
	}
	return RKL_ERR_HSM_TOKEN;
}

/*
 * The PIN's one page of memory: locked (never swapped) where the limits
 * allow, left out of core dumps.  Holds the PIN only while logging in, or
 * for good when it came from an environment variable (pin_kept).
 */
static int
pin_page_new(struct rkl_hsm *h)
{
	long ps = sysconf(_SC_PAGESIZE);
	void *p;

	h->pin_page_len = ps > 0 && (size_t)ps >= RKL_HSM_PIN_MAX + 2 ? (size_t)ps : 4096;
	p = mmap(NULL, h->pin_page_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return RKL_ERR_NOMEM;
	h->pin_page = p;
	h->info.pin_locked = mlock(p, h->pin_page_len) == 0;
#ifdef MADV_DONTDUMP
	(void)madvise(p, h->pin_page_len, MADV_DONTDUMP);
#endif
	return 0;
}

static void
pin_page_free(struct rkl_hsm *h)
{
	if (h->pin_page == NULL)
		return;
	rkl_cleanse(h->pin_page, h->pin_page_len);
	(void)munlock(h->pin_page, h->pin_page_len);
	munmap(h->pin_page, h->pin_page_len);
	h->pin_page = NULL;
	h->pin_kept = 0;
}

/*
 * A PIN from an environment variable is read once, at open: copied into the
 * locked page (kept there for re-login after fork), wiped in place in the
 * environment and the variable removed, so that it is neither in the
 * process's environment block (/proc/PID/environ) nor passed to children.
 */
static int
pin_from_env(struct rkl_hsm *h)
{
	char *src = getenv(h->pin_env), *entry;
	size_t n, k = strlen(h->pin_env);
	int r = 0;

	if (src == NULL)
		return RKL_ERR_CONFIG;
	n = strlen(src);
	if (n == 0 || n > RKL_HSM_PIN_MAX) {
		r = RKL_ERR_CONFIG;
	} else {
		memcpy(h->pin_page, src, n);
		h->pin_page[n] = '\0';
		h->pin_len = n;
		h->pin_kept = 1;
	}
	/* getenv points just behind "NAME=": wipe the whole entry once it is unlinked. */
	entry = src - k - 1;
	unsetenv(h->pin_env);
	if (strncmp(entry, h->pin_env, k) == 0 && entry[k] == '=')
		rkl_cleanse(entry, k + 1 + n);
	else
		rkl_cleanse(src, n);
	return r;
}

/* Read the PIN into the locked page: file's first line, or the copy kept from the environment. */
static int
read_pin(struct rkl_hsm *h, size_t *len)
{
	char *buf = h->pin_page;
	ssize_t got;
	size_t n = 0, i;
	int fd, r = RKL_ERR_CONFIG;

	if (h->pin_kept) {
		*len = h->pin_len;
		return 0;
	}
	if (h->pin_file[0] != '\0') {
		fd = open(h->pin_file, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return RKL_ERR_IO;
		while (n < RKL_HSM_PIN_MAX + 2) {
			got = read(fd, buf + n, RKL_HSM_PIN_MAX + 2 - n);
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0)
				break;
			n += (size_t)got;
		}
		close(fd);
		for (i = 0; i < n && buf[i] != '\n' && buf[i] != '\r'; i++)
			;
		if (i == n && n == RKL_HSM_PIN_MAX + 2)
			goto out;	/* line longer than the maximum */
		n = i;
	} else {
		goto out;
	}
	if (n == 0 || n > RKL_HSM_PIN_MAX)
		goto out;
	*len = n;
	return 0;
out:
	rkl_cleanse(buf, RKL_HSM_PIN_MAX + 2);
	return r;
}

static int
login(struct rkl_hsm *h)
{
	size_t n = 0;
	CK_RV rv;
	int r;

	if ((r = read_pin(h, &n)) != 0)
		return r;
	rv = h->f->C_Login(h->sess[0].sh, CKU_USER, (CK_UTF8CHAR_PTR)h->pin_page, n);
	if (rv == CKR_USER_ALREADY_LOGGED_IN)
		rv = CKR_OK;
	r = hsm_rv(rv);
	if (!h->pin_kept)
		rkl_cleanse(h->pin_page, RKL_HSM_PIN_MAX + 2);	/* a file's PIN: read again after fork */
	return r;
}

int
hsm_login(struct rkl_hsm *h)
{
	return login(h);
}

/* ---- object lookup by URI ---- */

static CK_OBJECT_CLASS
uri_class(int type)
{
	switch (type) {
	case 1: return CKO_PUBLIC_KEY;
	case 2: return CKO_PRIVATE_KEY;
	case 3: return CKO_SECRET_KEY;
	case 4: return CKO_CERTIFICATE;
	default: return CKO_DATA;
	}
}

/* Find the one object of class cls matching u; 0 in *obj if none. */
static int
find_object(struct rkl_hsm *h, CK_SESSION_HANDLE sh, const struct rkl_p11_uri *u,
    CK_OBJECT_CLASS cls, CK_OBJECT_HANDLE *obj)
{
	CK_BBOOL tru = CK_TRUE;
	CK_ATTRIBUTE t[4];
	CK_ULONG nt = 0, found = 0;
	CK_OBJECT_HANDLE o[2];
	CK_RV rv;

	if (u->type != 0 && uri_class(u->type) != cls) {
		*obj = 0;
		return 0;
	}
	t[nt].type = CKA_CLASS; t[nt].pValue = &cls; t[nt].ulValueLen = sizeof(cls); nt++;
	t[nt].type = CKA_TOKEN; t[nt].pValue = &tru; t[nt].ulValueLen = sizeof(tru); nt++;
	if (u->object[0] != '\0') {
		t[nt].type = CKA_LABEL; t[nt].pValue = hsm_unconst(u->object);
		t[nt].ulValueLen = strlen(u->object); nt++;
	}
	if (u->has_id) {
		t[nt].type = CKA_ID; t[nt].pValue = hsm_unconst(u->id); t[nt].ulValueLen = u->id_len; nt++;
	}
	if (u->object[0] == '\0' && !u->has_id)
		return RKL_ERR_CONFIG;	/* an object URI must name the object */
	rv = h->f->C_FindObjectsInit(sh, t, nt);
	if (rv != CKR_OK)
		return hsm_rv(rv);
	rv = h->f->C_FindObjects(sh, o, 2, &found);
	h->f->C_FindObjectsFinal(sh);
	if (rv != CKR_OK)
		return hsm_rv(rv);
	if (found > 1)
		return RKL_ERR_CONFIG;	/* ambiguous */
	*obj = found == 1 ? o[0] : 0;
	return 0;
}

static int
find_token_objects(struct rkl_hsm *h, CK_SESSION_HANDLE sh)
{
	int r;

	if ((r = find_object(h, sh, &h->kek_auk_uri, CKO_SECRET_KEY, &h->kek_auk)) != 0 ||
	    (r = find_object(h, sh, &h->kek_tmk_uri, CKO_SECRET_KEY, &h->kek_tmk)) != 0 ||
	    (r = find_object(h, sh, &h->kek_auk2_uri, CKO_SECRET_KEY, &h->kek_auk2)) != 0 ||
	    (r = find_object(h, sh, &h->transport_uri, CKO_PRIVATE_KEY, &h->xport_priv)) != 0 ||
	    (r = find_object(h, sh, &h->transport_uri, CKO_PUBLIC_KEY, &h->xport_pub)) != 0)
		return r;
	h->info.have_kek = h->kek_auk != 0 && h->kek_tmk != 0;
	h->info.have_kek_auk2 = h->kek_auk2 != 0;
	h->info.have_transport = h->xport_priv != 0 && h->xport_pub != 0;
	return 0;
}

int
hsm_find_token_objects(struct rkl_hsm *h, CK_SESSION_HANDLE sh)
{
	return find_token_objects(h, sh);
}

/* ---- mechanisms ---- */

static int
have_mech(struct rkl_hsm *h, CK_MECHANISM_TYPE m, CK_FLAGS need, CK_MECHANISM_INFO *mi)
{
	CK_MECHANISM_INFO tmp;

	if (mi == NULL)
		mi = &tmp;
	if (h->f->C_GetMechanismInfo(h->slot, m, mi) != CKR_OK)
		return 0;
	return (mi->flags & need) == need;
}

/*
 * Does the token perform OAEP with SHA-256?  SoftHSM2 advertises
 * CKM_RSA_PKCS_OAEP but refuses SHA-256 parameters, so try a real wrap and
 * unwrap with a throwaway 1024-bit pair and AES key (session objects,
 * destroyed here).
 */
static int
probe_oaep_sha256(struct rkl_hsm *h)
{
	CK_SESSION_HANDLE sh = h->sess[0].sh;
	CK_OBJECT_HANDLE pub = 0, priv = 0, aes = 0, back = 0;
	CK_MECHANISM gen = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
	CK_MECHANISM aesgen = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_RSA_PKCS_OAEP_PARAMS op = { CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0 };
	CK_MECHANISM oaep = { CKM_RSA_PKCS_OAEP, &op, sizeof(op) };
	CK_ULONG bits = h->info.rsa_min_bits > 1024 ? h->info.rsa_min_bits : 1024;
	CK_BYTE e[] = { 1, 0, 1 };
	CK_BBOOL t = CK_TRUE, f = CK_FALSE;
	CK_OBJECT_CLASS sk = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_ULONG klen = 16;
	CK_ATTRIBUTE pubt[] = {
		{ CKA_TOKEN, &f, sizeof(f) }, { CKA_MODULUS_BITS, &bits, sizeof(bits) },
		{ CKA_PUBLIC_EXPONENT, e, sizeof(e) }, { CKA_WRAP, &t, sizeof(t) },
	};
	CK_ATTRIBUTE privt[] = {
		{ CKA_TOKEN, &f, sizeof(f) }, { CKA_PRIVATE, &t, sizeof(t) },
		{ CKA_SENSITIVE, &t, sizeof(t) }, { CKA_UNWRAP, &t, sizeof(t) },
	};
	CK_ATTRIBUTE aest[] = {
		{ CKA_TOKEN, &f, sizeof(f) }, { CKA_VALUE_LEN, &klen, sizeof(klen) },
		{ CKA_SENSITIVE, &t, sizeof(t) }, { CKA_EXTRACTABLE, &t, sizeof(t) },
	};
	CK_ATTRIBUTE backt[] = {
		{ CKA_CLASS, &sk, sizeof(sk) }, { CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_TOKEN, &f, sizeof(f) }, { CKA_SENSITIVE, &t, sizeof(t) },
	};
	CK_BYTE wrapped[512];
	CK_ULONG wlen = sizeof(wrapped);
	int ok = 0;

	if (h->f->C_GenerateKeyPair(sh, &gen, pubt, 4, privt, 4, &pub, &priv) != CKR_OK)
		goto out;
	if (h->f->C_GenerateKey(sh, &aesgen, aest, 4, &aes) != CKR_OK)
		goto out;
	if (h->f->C_WrapKey(sh, &oaep, pub, aes, wrapped, &wlen) != CKR_OK)
		goto out;
	if (h->f->C_UnwrapKey(sh, &oaep, priv, wrapped, wlen, backt, 4, &back) != CKR_OK)
		goto out;
	ok = 1;
out:
	if (back != 0)
		h->f->C_DestroyObject(sh, back);
	if (aes != 0)
		h->f->C_DestroyObject(sh, aes);
	if (priv != 0)
		h->f->C_DestroyObject(sh, priv);
	if (pub != 0)
		h->f->C_DestroyObject(sh, pub);
	return ok;
}

static int
detect(struct rkl_hsm *h, enum rkl_oaep_hash want)
{
	CK_MECHANISM_INFO mi;

	if (!have_mech(h, CKM_RSA_PKCS_OAEP, CKF_WRAP | CKF_UNWRAP, NULL) ||
	    !have_mech(h, CKM_RSA_PKCS_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR, &mi) ||
	    !have_mech(h, CKM_AES_KEY_GEN, CKF_GENERATE, NULL))
		return RKL_ERR_HSM_MECH;
	h->info.rsa_min_bits = (unsigned)mi.ulMinKeySize;
	h->info.rsa_max_bits = (unsigned)mi.ulMaxKeySize;
	h->info.aes_kw_pad = have_mech(h, CKM_AES_KEY_WRAP_PAD, CKF_WRAP | CKF_UNWRAP, NULL);
	h->info.aes_ecb = have_mech(h, CKM_AES_ECB, CKF_ENCRYPT | CKF_DECRYPT, NULL);
	h->info.des3_ecb = have_mech(h, CKM_DES3_ECB, CKF_ENCRYPT | CKF_DECRYPT, NULL);
	h->info.aes_cmac = have_mech(h, CKM_AES_CMAC, CKF_SIGN, NULL);
	h->info.des3_cmac = have_mech(h, CKM_DES3_CMAC, CKF_SIGN, NULL);
	h->info.aes_ecb_derive = have_mech(h, CKM_AES_ECB_ENCRYPT_DATA, CKF_DERIVE, NULL);
	h->info.ecdsa = have_mech(h, CKM_ECDSA, CKF_SIGN, NULL);
	if (!h->info.aes_kw_pad || !h->info.aes_ecb)
		return RKL_ERR_HSM_MECH;
	if (h->transport_alg == RKL_ALG_RSA2048 || h->transport_alg == RKL_ALG_RSA3072) {
		unsigned b = rkl_alg_rsa_bits(h->transport_alg);

		if (b < h->info.rsa_min_bits || b > h->info.rsa_max_bits)
			return RKL_ERR_HSM_MECH;
	}
	h->info.oaep_sha256 = want == RKL_OAEP_SHA1 ? 0 : probe_oaep_sha256(h);
	if (want == RKL_OAEP_SHA256 && !h->info.oaep_sha256)
		return RKL_ERR_HSM_MECH;
	h->info.oaep = h->info.oaep_sha256 ? RKL_OAEP_SHA256 : RKL_OAEP_SHA1;
	h->oaep_hash = h->info.oaep == RKL_OAEP_SHA256 ? CKM_SHA256 : CKM_SHA_1;
	h->oaep_mgf = h->info.oaep == RKL_OAEP_SHA256 ? CKG_MGF1_SHA256 : CKG_MGF1_SHA1;
	return 0;
}

/* ---- (re-)initialisation ---- */

/* Initialise the module and everything that lives in it.  On failure
 * everything opened here is closed again. */
static int
start(struct rkl_hsm *h, int first, enum rkl_oaep_hash want)
{
	CK_TOKEN_INFO ti;
	unsigned i;
	int r;

	if ((r = hsm_initialize(h->f)) != 0)
		return r;
	if ((r = hsm_find_slot(h->f, &h->token_uri, &h->slot, &ti)) != 0)
		goto fail;
	hsm_pstr(h->info.token_label, sizeof(h->info.token_label), ti.label, sizeof(ti.label));
	hsm_pstr(h->info.token_serial, sizeof(h->info.token_serial), ti.serialNumber,
	    sizeof(ti.serialNumber));
	hsm_pstr(h->info.manufacturer, sizeof(h->info.manufacturer), ti.manufacturerID,
	    sizeof(ti.manufacturerID));
	hsm_pstr(h->info.model, sizeof(h->info.model), ti.model, sizeof(ti.model));
	h->info.slot_id = h->slot;
	for (i = 0; i < h->nsess; i++) {
		h->sess[i].h = h;
		h->sess[i].busy = 0;
		r = hsm_rv(h->f->C_OpenSession(h->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
		    NULL, NULL, &h->sess[i].sh));
		if (r != 0)
			goto fail;
	}
	if ((r = login(h)) != 0)
		goto fail;
	if (first && (r = detect(h, want)) != 0)
		goto fail;
	if ((r = find_token_objects(h, h->sess[0].sh)) != 0)
		goto fail;
	h->pid = getpid();
	h->gen++;
	if (h->pool_target > 0 && (r = hsm_pool_start(h)) != 0)
		goto fail;
	return 0;
fail:
	h->f->C_Finalize(NULL);
	return r;
}

static int
reinit_after_fork(struct rkl_hsm *h)
{
	/* The parent's sessions and session objects are invalid here. */
	hsm_pool_forget(h);
	/* Memory locks are not inherited across fork(). */
	h->info.pin_locked = mlock(h->pin_page, h->pin_page_len) == 0;
	h->f->C_Finalize(NULL);
	h->kek_auk = h->kek_tmk = h->kek_auk2 = h->xport_priv = h->xport_pub = 0;
	return start(h, 0, h->info.oaep);
}

int
rkl_hsm_open(const struct rkl_hsm_config *c, struct rkl_hsm **out)
{
	struct rkl_hsm *h = NULL;
	const char *uri;
	int r = RKL_ERR_NOMEM;

	if (c == NULL || out == NULL)
		return RKL_ERR_INVALID_ARG;
	if (c->sessions > HSM_MAX_SESSIONS || c->pool_size > HSM_MAX_POOL ||
	    (c->oaep != 0 && c->oaep != RKL_OAEP_SHA1 && c->oaep != RKL_OAEP_SHA256) ||
	    (c->transport_alg != 0 && c->transport_alg != RKL_ALG_RSA2048 &&
	    c->transport_alg != RKL_ALG_RSA3072))
		return RKL_ERR_CONFIG;
	pthread_once(&atfork_once, atfork_register);
	if ((h = calloc(1, sizeof(*h))) == NULL)
		goto out;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->free_cond, NULL);
	pthread_mutex_init(&h->pool_lock, NULL);
	pthread_mutex_init(&h->pool_busy, NULL);
	pthread_cond_init(&h->pool_cond, NULL);
	h->nsess = c->sessions != 0 ? c->sessions : 4;
	h->pool_target = c->pool_size;
	h->transport_alg = c->transport_alg != 0 ? c->transport_alg : RKL_ALG_RSA2048;
	if ((h->sess = calloc(h->nsess, sizeof(*h->sess))) == NULL)
		goto out;
	if (h->pool_target > 0 && (h->pool = calloc(h->pool_target, sizeof(*h->pool))) == NULL)
		goto out;
	r = RKL_ERR_CONFIG;
	uri = c->token_uri != NULL ? c->token_uri : RKL_HSM_DEFAULT_TOKEN_URI;
	if (rkl_p11_uri_parse(uri, strlen(uri), &h->token_uri) != 0 || h->token_uri.has_pin_value)
		goto out;
	uri = c->kek_auk_uri != NULL ? c->kek_auk_uri : RKL_HSM_DEFAULT_KEK_AUK_URI;
	if (rkl_p11_uri_parse(uri, strlen(uri), &h->kek_auk_uri) != 0)
		goto out;
	uri = c->kek_tmk_uri != NULL ? c->kek_tmk_uri : RKL_HSM_DEFAULT_KEK_TMK_URI;
	if (rkl_p11_uri_parse(uri, strlen(uri), &h->kek_tmk_uri) != 0)
		goto out;
	uri = c->kek_auk2_uri != NULL ? c->kek_auk2_uri : RKL_HSM_DEFAULT_KEK_AUK2_URI;
	if (rkl_p11_uri_parse(uri, strlen(uri), &h->kek_auk2_uri) != 0)
		goto out;
	uri = c->transport_uri != NULL ? c->transport_uri : RKL_HSM_DEFAULT_TRANSPORT_URI;
	if (rkl_p11_uri_parse(uri, strlen(uri), &h->transport_uri) != 0)
		goto out;
	if (h->kek_auk_uri.has_pin_value || h->kek_tmk_uri.has_pin_value ||
	    h->kek_auk2_uri.has_pin_value || h->transport_uri.has_pin_value)
		goto out;
	if (c->pin_file != NULL) {
		if ((r = copy_str(h->pin_file, sizeof(h->pin_file), c->pin_file)) != 0)
			goto out;
	} else if (c->pin_env != NULL) {
		if ((r = copy_str(h->pin_env, sizeof(h->pin_env), c->pin_env)) != 0)
			goto out;
	} else if (h->token_uri.pin_source[0] != '\0') {
		const char *p = h->token_uri.pin_source;

		if (strncmp(p, "file:", 5) == 0)
			p += 5;
		if ((r = copy_str(h->pin_file, sizeof(h->pin_file), p)) != 0)
			goto out;
	} else {
		goto out;
	}
	if ((r = pin_page_new(h)) != 0 ||
	    (h->pin_env[0] != '\0' && (r = pin_from_env(h)) != 0))
		goto out;
	if ((r = hsm_module_path(c->module, &h->token_uri, h->module, sizeof(h->module))) != 0 ||
	    (r = hsm_load(h->module, &h->lib, &h->f)) != 0)
		goto out;
	h->f = hsm_observe_wrap(h->f);	/* timed calls, if an observer is set (metrics) */
	hsm_observe_quiet(1);		/* login and capability probes: not the service's calls */
	r = start(h, 1, c->oaep);
	hsm_observe_quiet(0);
	if (r != 0)
		goto out;
	handles_add(h);
	*out = h;
	h = NULL;
out:
	if (h != NULL) {
		if (h->lib != NULL)
			dlclose(h->lib);
		pthread_mutex_destroy(&h->lock);
		pthread_cond_destroy(&h->free_cond);
		pthread_mutex_destroy(&h->pool_lock);
		pthread_mutex_destroy(&h->pool_busy);
		pthread_cond_destroy(&h->pool_cond);
		pin_page_free(h);
		free(h->pool);
		free(h->sess);
		free(h);
	}
	return r;
}

void
rkl_hsm_close(struct rkl_hsm *h)
{
	if (h == NULL)
		return;
	handles_remove(h);
	if (getpid() == h->pid) {
		hsm_pool_stop(h);
		h->f->C_Logout(h->sess[0].sh);
		h->f->C_CloseAllSessions(h->slot);
	}
	h->f->C_Finalize(NULL);
	dlclose(h->lib);
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->free_cond);
	pthread_mutex_destroy(&h->pool_lock);
	pthread_mutex_destroy(&h->pool_busy);
	pthread_cond_destroy(&h->pool_cond);
	pin_page_free(h);
	free(h->pool);
	free(h->sess);
	free(h);
}

void
rkl_hsm_get_info(const struct rkl_hsm *h, struct rkl_hsm_info *info)
{
	*info = h->info;
}

enum rkl_oaep_hash
rkl_hsm_oaep(const struct rkl_hsm *h)
{
	return h->info.oaep;
}

/* ---- sessions ---- */

int
rkl_hsm_session_get(struct rkl_hsm *h, struct rkl_hsm_session **s)
{
	unsigned i;
	int r = 0;

	if (h == NULL || s == NULL)
		return RKL_ERR_INVALID_ARG;
	pthread_mutex_lock(&h->lock);
	if (h->forked) {
		if ((r = reinit_after_fork(h)) != 0)
			goto out;
		h->forked = 0;
	}
	for (;;) {
		for (i = 0; i < h->nsess; i++) {
			if (!h->sess[i].busy) {
				h->sess[i].busy = 1;
				*s = &h->sess[i];
				goto out;
			}
		}
		pthread_cond_wait(&h->free_cond, &h->lock);
	}
out:
	pthread_mutex_unlock(&h->lock);
	return r;
}

void
rkl_hsm_session_put(struct rkl_hsm *h, struct rkl_hsm_session *s)
{
	if (h == NULL || s == NULL)
		return;
	pthread_mutex_lock(&h->lock);
	s->busy = 0;
	pthread_cond_signal(&h->free_cond);
	pthread_mutex_unlock(&h->lock);
}

/* ---- provisioning ---- */

int
hsm_kek_template(struct hsm_kek_tpl *k, const struct rkl_p11_uri *u, enum rkl_hsm_role role,
    int unwrap)
{
	CK_ATTRIBUTE *wt = k->wrap_tpl, *t = k->t;
	CK_ULONG n = 0, nu, nw = 0;

	memset(k, 0, sizeof(*k));
	k->cls = CKO_SECRET_KEY;
	k->kt = CKK_AES;
	k->len = 32;
	k->yes = CK_TRUE;
	k->no = CK_FALSE;
	k->use = role != RKL_HSM_TMK ? CK_TRUE : CK_FALSE;
	if ((nu = hsm_role_template(role, k->unwrap_tpl)) == 0)
		return RKL_ERR_INVALID_ARG;
#define KA(arr, cnt, typ, ptr, sz) \
	do { (arr)[cnt].type = (typ); (arr)[cnt].pValue = hsm_unconst(ptr); \
	     (arr)[cnt].ulValueLen = (sz); (cnt)++; } while (0)
#define KB(arr, cnt, typ, v) KA(arr, cnt, typ, (v) ? &k->yes : &k->no, sizeof(CK_BBOOL))
	KA(wt, nw, CKA_CLASS, &k->cls, sizeof(k->cls));
	KB(wt, nw, CKA_TOKEN, 0);
	KB(wt, nw, CKA_SENSITIVE, 1);
	KA(wt, nw, CKA_ENCRYPT, &k->use, sizeof(CK_BBOOL));
	KA(wt, nw, CKA_DECRYPT, &k->use, sizeof(CK_BBOOL));
	KB(wt, nw, CKA_WRAP, 0);
	KB(wt, nw, CKA_UNWRAP, 0);
	KB(wt, nw, CKA_SIGN, 0);
	KB(wt, nw, CKA_VERIFY, 0);
	KB(wt, nw, CKA_DERIVE, 0);
	if (role == RKL_HSM_TMK) {	/* generated in the token */
		KB(wt, nw, CKA_LOCAL, 1);
		KB(wt, nw, CKA_ALWAYS_SENSITIVE, 1);
	}

	KA(t, n, CKA_CLASS, &k->cls, sizeof(k->cls));
	KA(t, n, CKA_KEY_TYPE, &k->kt, sizeof(k->kt));
	if (!unwrap)
		KA(t, n, CKA_VALUE_LEN, &k->len, sizeof(k->len));
	KB(t, n, CKA_TOKEN, 1);
	KB(t, n, CKA_PRIVATE, 1);
	KB(t, n, CKA_SENSITIVE, 1);
	/* Extractable only to be wrapped under a key the security officer
	 * marked trusted: the key ceremony's request key (decision 136). */
	KB(t, n, CKA_EXTRACTABLE, 1);
	KB(t, n, CKA_WRAP_WITH_TRUSTED, 1);
	KB(t, n, CKA_ENCRYPT, 0);
	KB(t, n, CKA_DECRYPT, 0);
	KB(t, n, CKA_SIGN, 0);
	KB(t, n, CKA_VERIFY, 0);
	KB(t, n, CKA_DERIVE, 0);
	KB(t, n, CKA_WRAP, 1);
	KB(t, n, CKA_UNWRAP, 1);
	KB(t, n, CKA_COPYABLE, 0);
	KA(t, n, CKA_UNWRAP_TEMPLATE, k->unwrap_tpl, nu * sizeof(CK_ATTRIBUTE));
	KA(t, n, CKA_WRAP_TEMPLATE, wt, nw * sizeof(CK_ATTRIBUTE));
	if (u->object[0] != '\0')
		KA(t, n, CKA_LABEL, u->object, strlen(u->object));
	if (u->has_id)
		KA(t, n, CKA_ID, u->id, u->id_len);
	/* Without this, anyone with the PIN could add CKA_DECRYPT later and
	 * decrypt what the KEK wrapped (SoftHSM2 allows it on modifiable keys).
	 * Last: SoftHSM2 refuses an unwrap template with attributes after it. */
	KB(t, n, CKA_MODIFIABLE, 0);
#undef KA
#undef KB
	k->n = n;
	return 0;
}

/*
 * A storage KEK.  Its CKA_UNWRAP_TEMPLATE fixes everything a key it unwraps
 * may do (SoftHSM2 refuses an unwrap whose template lacks or differs in any
 * of these attributes: CKR_TEMPLATE_INCONSISTENT), its CKA_WRAP_TEMPLATE
 * admits only keys shaped like its role (else CKR_KEY_NOT_WRAPPABLE):
 *   AUK KEK: unwraps session AUKs: sensitive, never extractable, encrypt and
 *            decrypt (challenges) and nothing else, not modifiable, not
 *            copyable; wraps only keys with exactly that usage.
 *   TMK KEK: unwraps session TMKs with no usage at all: sensitive, never
 *            extractable (re-downloads re-send the stored Ctmk_tk), not
 *            modifiable, not copyable; wraps only keys generated in the token
 *            (CKA_LOCAL, CKA_ALWAYS_SENSITIVE) with no usage.
 *   AUK2 KEK (profile 2): unwraps session AUKs that only derive: sensitive,
 *            never extractable, no encrypt/decrypt, CKA_DERIVE and
 *            CKA_ALLOWED_MECHANISMS {AES-ECB-ENCRYPT-DATA} (decision 148);
 *            wraps what the AUK KEK wraps (the freshly unwrapped AUK,
 *            rkl_hsm_auk_unwrap_role).
 * The unwrap templates are the roles' one template, hsm_role_template (ops.c).
 * Every KEK leaves the token only wrapped under a trusted key
 * (CKA_WRAP_WITH_TRUSTED): the key ceremony (src/hsm/ceremony.c).
 * See docs/architecture.md, "Templates", and docs/security.md for what these
 * do and do not stop against a holder of the user PIN.
 */
static int
make_kek(struct rkl_hsm *h, CK_SESSION_HANDLE sh, const struct rkl_p11_uri *u,
    enum rkl_hsm_role role, CK_OBJECT_HANDLE *out)
{
	CK_MECHANISM mech = { CKM_AES_KEY_GEN, NULL, 0 };
	struct hsm_kek_tpl k;
	int r;

	if ((r = hsm_kek_template(&k, u, role, 0)) != 0)
		return r;
	return hsm_rv(h->f->C_GenerateKey(sh, &mech, k.t, k.n, out));
}

int
rkl_hsm_provision(struct rkl_hsm *h, int shared_pair)
{
	struct rkl_hsm_session *s = NULL;
	uint8_t spki[RKL_SPKI_MAX];
	size_t spki_len;
	CK_OBJECT_HANDLE priv;
	int r;

	if ((r = rkl_hsm_session_get(h, &s)) != 0)
		return r;
	if (h->kek_auk == 0 && (r = make_kek(h, s->sh, &h->kek_auk_uri, RKL_HSM_AUK, &h->kek_auk)) != 0)
		goto out;
	if (h->kek_tmk == 0 && (r = make_kek(h, s->sh, &h->kek_tmk_uri, RKL_HSM_TMK, &h->kek_tmk)) != 0)
		goto out;
	if (h->kek_auk2 == 0 &&
	    (r = make_kek(h, s->sh, &h->kek_auk2_uri, RKL_HSM_AUK2, &h->kek_auk2)) != 0)
		goto out;
	h->info.have_kek_auk2 = 1;
	if (shared_pair && (h->xport_priv == 0 || h->xport_pub == 0)) {
		if (h->transport_uri.object[0] == '\0') {
			r = RKL_ERR_CONFIG;
			goto out;
		}
		if ((r = hsm_gen_pair(h, s->sh, rkl_alg_rsa_bits(h->transport_alg),
		    &h->transport_uri, &priv, spki, sizeof(spki), &spki_len)) != 0)
			goto out;
		if ((r = find_token_objects(h, s->sh)) != 0)
			goto out;
	}
	h->info.have_kek = 1;
out:
	rkl_hsm_session_put(h, s);
	return r;
}

int
rkl_hsm_transport_rotate(struct rkl_hsm *h)
{
	struct rkl_hsm_session *s = NULL;
	int r;

	if (h == NULL)
		return RKL_ERR_INVALID_ARG;
	if ((r = rkl_hsm_session_get(h, &s)) != 0)
		return r;
	if (h->xport_priv != 0 && (r = hsm_rv(h->f->C_DestroyObject(s->sh, h->xport_priv))) != 0)
		goto out;
	h->xport_priv = 0;
	h->info.have_transport = 0;
	if (h->xport_pub != 0 && (r = hsm_rv(h->f->C_DestroyObject(s->sh, h->xport_pub))) != 0)
		goto out;
	h->xport_pub = 0;
out:
	rkl_hsm_session_put(h, s);
	return r != 0 ? r : rkl_hsm_provision(h, 1);
}
