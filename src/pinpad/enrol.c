/*
 * Enrolment (profile 2): the device's EC key pair made inside the library,
 * its PKCS#10 request, and the installation of the CA-issued certificate
 * and the CA root at the factory (rkl/pinpad.h, docs/operations.md).
 */
#include <string.h>

#include "rkl/buf.h"
#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/x509.h"
#include "pinpad_int.h"

/* 0 if the record is absent, RKL_ERR_EXISTS if present, else the storage's error. */
static int
absent(const struct rkl_pinpad_platform *p, const char *name)
{
	uint8_t tmp[4];
	size_t n;
	int r = p->storage.get(p->storage.ctx, name, tmp, sizeof(tmp), &n);

	if (r == RKL_ERR_NOT_FOUND)
		return 0;
	return r == 0 || r == RKL_ERR_BUFFER_SPACE ? RKL_ERR_EXISTS : r;
}

/* Generate and store a P-256 key pair (area: RKL_PP_DEVKEY_AREA bytes). */
static int
devkey_make(const struct rkl_pinpad_platform *p, uint8_t *area, size_t cap)
{
	const struct rkl_crypto *c = p->crypto;
	uint8_t *pl = rkl_pp_rec_payload(area);
	size_t room = cap - RKL_PP_REC_OFF - RKL_PP_REC_OVERHEAD, pn = 0, sn = 0;
	int r;

	if (c->ec_keygen == NULL)
		return RKL_ERR_UNSUPPORTED;
	if (room < 4 + RKL_EC_PRIV_MAX + RKL_EC_SPKI_MAX)
		return RKL_ERR_INTERNAL;
	pl[0] = 1;
	pl[1] = (uint8_t)RKL_CURVE_P256;
	/* straight into the record layout: priv at 3, spki after its length */
	if ((r = c->ec_keygen(c->ctx, RKL_CURVE_P256, pl + 3, RKL_EC_PRIV_MAX, &pn, pl + 4 + 32,
	    RKL_EC_SPKI_MAX, &sn)) != 0)
		goto out;
	if (pn != 32 || sn == 0 || sn > RKL_EC_SPKI_MAX) {
		r = RKL_ERR_CRYPTO;
		goto out;
	}
	pl[2] = 32;
	pl[3 + 32] = (uint8_t)sn;
	r = rkl_pp_rec_put(p, RKL_PINPAD_REC_DEVKEY, area, cap, 4 + 32 + sn, 1);
out:
	rkl_cleanse(area, cap);
	return r;
}

int
rkl_pinpad_enrol_request(struct rkl_pinpad *pp, uint8_t *csr, size_t cap, size_t *csr_len)
{
	const struct rkl_pinpad_platform *p = pp->plat;
	uint8_t area[RKL_PP_DEVKEY_AREA];
	struct rkl_pp_ident id;
	struct rkl_pp_devkey k;
	int r;

	if (p == NULL || pp->state != RKL_PINPAD_IDLE)
		return RKL_ERR_STATE;
	if (csr == NULL || csr_len == NULL)
		return RKL_ERR_INVALID_ARG;
	if ((r = rkl_pp_ident_load(p, pp->work, sizeof(pp->work), &id)) != 0)
		goto out;
	if ((r = absent(p, RKL_PINPAD_REC_DEVCERT)) != 0)
		goto out;
	r = rkl_pp_devkey_load(p, area, sizeof(area), &k);
	if (r == RKL_ERR_NOT_FOUND) {
		if ((r = devkey_make(p, area, sizeof(area))) != 0)
			goto out;
		/* use what is stored: read back and verified */
		r = rkl_pp_devkey_load(p, area, sizeof(area), &k);
	}
	if (r != 0)
		goto out;
	r = rkl_x509_csr_build(p->crypto, k.curve, k.priv, k.priv_len, k.spki, k.spki_len,
	    id.sn, id.pinpad_sn, csr, cap, csr_len);
out:
	rkl_cleanse(area, sizeof(area));
	rkl_pp_wipe_work(pp);
	return r;
}

int
rkl_pinpad_enrol_install(struct rkl_pinpad *pp, const uint8_t *root, size_t root_len,
    const uint8_t *certs, size_t certs_len, int64_t now)
{
	const struct rkl_pinpad_platform *p = pp->plat;
	uint8_t area[RKL_PP_DEVKEY_AREA];
	const uint8_t *chain[RKL_X509_CHAIN_MAX], *old;
	size_t lens[RKL_X509_CHAIN_MAX], n = 0, old_len = 0, room;
	struct rkl_cert_check chk;
	struct rkl_pp_ident id;
	struct rkl_pp_devkey k;
	struct rkl_x509 ee;
	uint32_t ctr;
	int r, same_root = 0;

	if (p == NULL || pp->state != RKL_PINPAD_IDLE)
		return RKL_ERR_STATE;
	if (root == NULL || certs == NULL)
		return RKL_ERR_INVALID_ARG;
	if (root_len > RKL_X509_CERT_MAX)
		return RKL_ERR_TOO_LARGE;
	room = sizeof(pp->work) - RKL_PP_REC_OFF - RKL_PP_REC_OVERHEAD;
	if (certs_len + 1 > room)
		return RKL_ERR_TOO_LARGE;
	if ((r = rkl_pp_ident_load(p, pp->work, sizeof(pp->work), &id)) != 0 ||
	    (r = rkl_pp_devkey_load(p, area, sizeof(area), &k)) != 0 ||
	    (r = rkl_x509_split(certs, certs_len, chain, lens, RKL_X509_CHAIN_MAX, &n)) != 0)
		goto out;
	memset(&chk, 0, sizeof(chk));
	chk.root = root;
	chk.root_len = root_len;
	chk.chain = chain;
	chk.chain_lens = lens;
	chk.n = n;
	chk.now = now;
	chk.role = RKL_CERT_KRD;
	chk.expect_cn = id.sn;
	chk.expect_serial_number = id.pinpad_sn;
	if ((r = rkl_cert_verify(p->crypto, &chk, &ee)) != 0)
		goto out;
	if (ee.spki_len != k.spki_len || memcmp(ee.spki, k.spki, k.spki_len) != 0) {
		r = RKL_ERR_CERT_SUBJECT;	/* certifies another key than the device's */
		goto out;
	}
	/* the trust anchor is set once */
	r = rkl_pp_caroot_load(p, pp->work, sizeof(pp->work), &old, &old_len);
	if (r == 0) {
		if (old_len != root_len || memcmp(old, root, root_len) != 0) {
			r = RKL_ERR_EXISTS;
			goto out;
		}
		same_root = 1;
	} else if (r != RKL_ERR_NOT_FOUND) {
		goto out;
	}
	rkl_cleanse(pp->work, sizeof(pp->work));
	if (!same_root) {
		uint8_t *pl = rkl_pp_rec_payload(pp->work);

		pl[0] = 1;
		memcpy(pl + 1, root, root_len);
		if ((r = rkl_pp_rec_put(p, RKL_PINPAD_REC_CAROOT, pp->work, sizeof(pp->work),
		    1 + root_len, 1)) != 0)
			goto out;
		rkl_cleanse(pp->work, sizeof(pp->work));
	}
	/* the certificate last: its presence makes the device enrolled */
	ctr = rkl_pp_rec_next_counter(p, RKL_PINPAD_REC_DEVCERT, pp->work, sizeof(pp->work));
	{
		uint8_t *pl = rkl_pp_rec_payload(pp->work);

		pl[0] = 1;
		memcpy(pl + 1, certs, certs_len);
		r = rkl_pp_rec_put(p, RKL_PINPAD_REC_DEVCERT, pp->work, sizeof(pp->work),
		    1 + certs_len, ctr);
	}
out:
	rkl_cleanse(area, sizeof(area));
	rkl_pp_wipe_work(pp);
	return r;
}
