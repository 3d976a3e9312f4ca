/*
 * Record envelope: every record in secure storage is sealed with an
 * AES-256-CMAC under the device storage key over its name, format version,
 * write counter and payload, and verified before any byte of it is used.
 */
#include <string.h>

#include "rkl/buf.h"
#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/kcv.h"
#include "pinpad_int.h"

static int
name_ok(const char *name, size_t *len)
{
	size_t i;

	for (i = 0; i <= RKL_PINPAD_NAME_MAX; i++) {
		char ch = name[i];

		if (ch == '\0')
			break;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_'))
			return 0;
	}
	if (i == 0 || i > RKL_PINPAD_NAME_MAX)
		return 0;
	*len = i;
	return 1;
}

/*
 * MAC over name_len || name || record bytes.  The record sits at
 * work + RKL_PP_REC_OFF; the name prefix is written just before it so the
 * MAC input is contiguous.
 */
static int
rec_mac(const struct rkl_pinpad_platform *p, const char *name, size_t name_len,
    uint8_t *work, size_t rec_len, uint8_t mac[RKL_PP_REC_MAC])
{
	uint8_t key[RKL_PINPAD_STORAGE_KEY_LEN];
	uint8_t *start = work + RKL_PP_REC_OFF - 1 - name_len;
	int r;

	start[0] = (uint8_t)name_len;
	memcpy(start + 1, name, name_len);
	if ((r = p->storage_key(p->storage_key_ctx, key)) != 0)
		goto out;
	r = rkl_cmac(p->crypto, RKL_CIPHER_AES, key, sizeof(key), start,
	    1 + name_len + rec_len, mac, RKL_PP_REC_MAC);
out:
	rkl_cleanse(key, sizeof(key));
	return r;
}

int
rkl_pp_rec_get(const struct rkl_pinpad_platform *p, const char *name,
    uint8_t *work, size_t cap, const uint8_t **payload, size_t *payload_len,
    uint32_t *counter)
{
	uint8_t mac[RKL_PP_REC_MAC];
	uint8_t *rec = work + RKL_PP_REC_OFF;
	size_t name_len = 0, len = 0, n;
	int r;

	if (!name_ok(name, &name_len) || cap < RKL_PP_REC_OFF + RKL_PP_REC_OVERHEAD)
		return RKL_ERR_INVALID_ARG;
	r = p->storage.get(p->storage.ctx, name, rec, cap - RKL_PP_REC_OFF, &len);
	if (r == RKL_ERR_BUFFER_SPACE)
		r = RKL_ERR_INTEGRITY;	/* longer than any record we write */
	if (r != 0)
		goto out;
	/* Layout first (no secret yet involved), then the MAC, then use. */
	r = RKL_ERR_INTEGRITY;
	if (len < RKL_PP_REC_OVERHEAD || memcmp(rec, RKL_PP_REC_MAGIC, 4) != 0 ||
	    rec[4] != RKL_PP_REC_VERSION || rec[5] != 0)
		goto out;
	n = rkl_dec16be(rec + 10);
	if (n != len - RKL_PP_REC_OVERHEAD)
		goto out;
	if ((r = rec_mac(p, name, name_len, work, RKL_PP_REC_HDR + n, mac)) != 0)
		goto out;
	if (!rkl_ct_eq(mac, rec + RKL_PP_REC_HDR + n, RKL_PP_REC_MAC)) {
		r = RKL_ERR_INTEGRITY;
		goto out;
	}
	*payload = rec + RKL_PP_REC_HDR;
	*payload_len = n;
	if (counter != NULL)
		*counter = rkl_dec32be(rec + 6);
	r = 0;
out:
	if (r != 0)
		rkl_cleanse(work, cap);
	return r;
}

int
rkl_pp_rec_put(const struct rkl_pinpad_platform *p, const char *name,
    uint8_t *work, size_t cap, size_t payload_len, uint32_t counter)
{
	uint8_t *rec = work + RKL_PP_REC_OFF;
	size_t name_len = 0;
	int r;

	if (!name_ok(name, &name_len))
		return RKL_ERR_INVALID_ARG;
	if (cap < RKL_PP_REC_OFF + RKL_PP_REC_OVERHEAD ||
	    payload_len > cap - RKL_PP_REC_OFF - RKL_PP_REC_OVERHEAD ||
	    payload_len > RKL_PP_REC_PAYLOAD_MAX)
		return RKL_ERR_BUFFER_SPACE;
	memcpy(rec, RKL_PP_REC_MAGIC, 4);
	rec[4] = RKL_PP_REC_VERSION;
	rec[5] = 0;
	rkl_enc32be(rec + 6, counter);
	rkl_enc16be(rec + 10, (uint16_t)payload_len);
	if ((r = rec_mac(p, name, name_len, work, RKL_PP_REC_HDR + payload_len,
	    rec + RKL_PP_REC_HDR + payload_len)) != 0)
		return r;
	return p->storage.put(p->storage.ctx, name, rec, RKL_PP_REC_OVERHEAD + payload_len);
}

uint32_t
rkl_pp_rec_next_counter(const struct rkl_pinpad_platform *p, const char *name,
    uint8_t *work, size_t cap)
{
	const uint8_t *pl;
	size_t len;
	uint32_t ctr = 0;

	if (rkl_pp_rec_get(p, name, work, cap, &pl, &len, &ctr) != 0)
		ctr = 0;
	rkl_cleanse(work, cap);
	return ctr == UINT32_MAX ? ctr : ctr + 1;
}
