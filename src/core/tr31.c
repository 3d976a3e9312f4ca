/* TR-31 / ANSI X9.143 / ISO 20038 key blocks (see rkl/tr31.h). */
#include "rkl/tr31.h"
#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/kcv.h"

#include <string.h>

/* Largest key data (binary) a 9999-character block can carry. */
#define PAYLOAD_MAX ((RKL_TR31_BLOCK_MAX - RKL_TR31_HDR_LEN) / 2)
#define MAC_MAX 16

/* ---- character classes (header text is public: branches are fine) ---- */

static int
is_digit(int ch)
{
	return ch >= '0' && ch <= '9';
}

static int
is_upper_alnum(int ch)
{
	return is_digit(ch) || (ch >= 'A' && ch <= 'Z');
}

static int
is_alnum(int ch)
{
	return is_upper_alnum(ch) || (ch >= 'a' && ch <= 'z');
}

static int
is_print(int ch)
{
	return ch >= 0x20 && ch <= 0x7E;
}

/* Hex digit value, or -1; lower case only when lenient. */
static int
hex_val(int ch, unsigned flags)
{
	if (is_digit(ch))
		return ch - '0';
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	if ((flags & RKL_TR31_LENIENT) && ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* 1 if the n characters at s are all hex digits (per flags). */
static int
all_hex(const char *s, size_t n, unsigned flags)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (hex_val((unsigned char)s[i], flags) < 0)
			return 0;
	return 1;
}

/* Parse n (<= 4) hex characters into *v. */
static int
get_hex_num(const char *s, size_t n, unsigned flags, size_t *v)
{
	size_t i, acc = 0;
	int d;

	for (i = 0; i < n; i++) {
		if ((d = hex_val((unsigned char)s[i], flags)) < 0)
			return RKL_ERR_FORMAT;
		acc = acc << 4 | (size_t)d;
	}
	*v = acc;
	return 0;
}

/* Parse n decimal characters into *v. */
static int
get_dec_num(const char *s, size_t n, size_t *v)
{
	size_t i, acc = 0;

	for (i = 0; i < n; i++) {
		if (!is_digit((unsigned char)s[i]))
			return RKL_ERR_FORMAT;
		acc = acc * 10 + (size_t)(s[i] - '0');
	}
	*v = acc;
	return 0;
}

/* ---- versions ---- */

/* Cipher block size of a version, 0 if the version is unknown. */
static size_t
ver_bs(char v)
{
	switch (v) {
	case 'A': case 'B': case 'C': return 8;
	case 'D': case 'E': return 16;
	default: return 0;
	}
}

/* MAC length in bytes (X9.143 6.5; ISO 20038 B.2). */
static size_t
ver_mac_len(char v)
{
	switch (v) {
	case 'A': case 'C': return 4;
	case 'B': return 8;
	default: return 16;
	}
}

static enum rkl_cipher
ver_cipher(char v)
{
	return ver_bs(v) == 16 ? RKL_CIPHER_AES : RKL_CIPHER_TDES;
}

/* 1 if a KBPK of len bytes suits version v. */
static int
kbpk_ok(char v, size_t len)
{
	if (ver_bs(v) == 8)
		return len == 16 || len == 24;
	if (ver_bs(v) == 16)
		return len == 16 || len == 24 || len == 32;
	return 0;
}

/* ---- header fields (X9.143:2021 6.3) ---- */

/* Key usages of X9.143:2021 6.3.1 table 2. */
static const char USAGES[][3] = {
	"B0", "B1", "B2", "B3", "C0", "D0", "D1", "D2", "D3",
	"E0", "E1", "E2", "E3", "E4", "E5", "E6", "E7", "I0",
	"K0", "K1", "K2", "K3", "K4",
	"M0", "M1", "M2", "M3", "M4", "M5", "M6", "M7", "M8",
	"P0", "P1", "S0", "S1", "S2",
	"V0", "V1", "V2", "V3", "V4", "V5",
};

static int
usage_ok(const char u[2], unsigned flags)
{
	size_t i;

	if (flags & RKL_TR31_LENIENT)
		return is_upper_alnum((unsigned char)u[0]) && is_upper_alnum((unsigned char)u[1]);
	if (is_digit((unsigned char)u[0]) && is_digit((unsigned char)u[1]))
		return 1;	/* numeric: reserved for proprietary use */
	for (i = 0; i < sizeof(USAGES) / sizeof(USAGES[0]); i++)
		if (u[0] == USAGES[i][0] && u[1] == USAGES[i][1])
			return 1;
	return 0;
}

/* ch is in set, or a digit (proprietary), or anything upper-alnum when lenient. */
static int
code_ok(char ch, const char *set, int digits, unsigned flags)
{
	if (ch == '\0')
		return 0;
	if (flags & RKL_TR31_LENIENT)
		return is_upper_alnum((unsigned char)ch);
	return strchr(set, ch) != NULL || (digits && is_digit((unsigned char)ch));
}

static int
fields_ok(const struct rkl_tr31_key *k, unsigned flags)
{
	int lenient = (flags & RKL_TR31_LENIENT) != 0;

	if (ver_bs(k->version) == 0)
		return RKL_ERR_VERSION;
	if (!usage_ok(k->usage, flags) ||
	    !code_ok(k->algorithm, "ADEHRST", 1, flags) ||	/* table 3 */
	    !code_ok(k->mode, "BCDEGNSTVXY", 1, flags) ||	/* table 4 */
	    !is_alnum((unsigned char)k->key_version[0]) ||	/* table 5 */
	    !is_alnum((unsigned char)k->key_version[1]) ||
	    !code_ok(k->exportability, "ENS", 0, flags))	/* table 6 */
		return RKL_ERR_FORMAT;
	if (lenient) {
		if (!is_alnum((unsigned char)k->key_context) || !is_alnum((unsigned char)k->reserved))
			return RKL_ERR_FORMAT;
	} else if ((k->key_context != '0' && k->key_context != '1' && k->key_context != '2') ||
	    k->reserved != '0') {
		return RKL_ERR_FORMAT;	/* table 1: key context, reserved */
	}
	return 0;
}

/* Allowed key lengths per algorithm in strict mode; 0 if not checked. */
static int
alg_len_ok(char alg, size_t len)
{
	switch (alg) {
	case 'T': return len == 16 || len == 24;
	case 'A': return len == 16 || len == 24 || len == 32;
	case 'D': return len == 8;
	default: return 1;
	}
}

/* Longest key of the algorithm, for RKL_TR31_MASK_AUTO. */
static size_t
alg_mask_len(char alg, size_t key_len)
{
	switch (alg) {
	case 'T': return 24;
	case 'A': return 32;
	case 'D': return 8;
	default: return key_len;
	}
}

/* Cipher of a key algorithm for KCVs, 0 if none. */
static enum rkl_cipher
alg_cipher(char alg)
{
	switch (alg) {
	case 'T': case 'D': return RKL_CIPHER_TDES;
	case 'A': return RKL_CIPHER_AES;
	default: return (enum rkl_cipher)0;
	}
}

/* ---- optional blocks (X9.143:2021 6.3.6) ---- */

/* KC / KP data: "00" + 2-3 bytes or "01" + 2-5 bytes of hex (table 15). */
static int
kcv_data_ok(const char *d, size_t n, unsigned flags)
{
	size_t max;

	if (n < 2 || d[0] != '0' || (d[1] != '0' && d[1] != '1'))
		return 0;
	max = d[1] == '0' ? 2 * RKL_KCV_LEGACY_LEN : 2 * RKL_KCV_CMAC_LEN;
	return (n - 2) % 2 == 0 && n - 2 >= 4 && n - 2 <= max && all_hex(d + 2, n - 2, flags);
}

/* Format rules of the optional blocks rkl interprets. */
static int
opt_data_ok(const char id[2], const char *d, size_t n, unsigned flags)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!is_print((unsigned char)d[i]))
			return 0;
	if (id[0] == 'K' && id[1] == 'S')
		return n > 0 && all_hex(d, n, flags);
	if (id[0] == 'K' && (id[1] == 'C' || id[1] == 'P'))
		return kcv_data_ok(d, n, flags);
	return 1;
}

static int
opt_id_ok(const char id[2])
{
	return is_upper_alnum((unsigned char)id[0]) && is_upper_alnum((unsigned char)id[1]);
}

static int
opt_store(struct rkl_tr31_key *k, const char id[2], const char *d, size_t n)
{
	size_t i;

	for (i = 0; i < k->n_opt; i++)
		if (k->opt[i].id[0] == id[0] && k->opt[i].id[1] == id[1])
			return RKL_ERR_DUPLICATE;
	if (k->n_opt >= RKL_TR31_OPT_MAX || n > RKL_TR31_OPT_DATA_MAX - k->opt_data_len)
		return RKL_ERR_TOO_LARGE;
	k->opt[k->n_opt].id[0] = id[0];
	k->opt[k->n_opt].id[1] = id[1];
	k->opt[k->n_opt].off = (uint16_t)k->opt_data_len;
	k->opt[k->n_opt].len = (uint16_t)n;
	if (n > 0)
		memcpy(k->opt_data + k->opt_data_len, d, n);
	k->opt_data_len += n;
	k->n_opt++;
	return 0;
}

/*
 * Parse the header at s (len characters available) into *k: the fixed part
 * and the optional blocks it announces.  *hdr_len gets the header's length,
 * *declared the value of the length field.
 */
static int
parse_header(const char *s, size_t len, unsigned flags, struct rkl_tr31_key *k,
    size_t *hdr_len, size_t *declared)
{
	size_t n_opt, i, off, blen, dstart, ll;
	int r;

	memset(k, 0, sizeof(*k));
	if (len < RKL_TR31_HDR_LEN)
		return RKL_ERR_INCOMPLETE;
	k->version = s[0];
	k->usage[0] = s[5];
	k->usage[1] = s[6];
	k->algorithm = s[7];
	k->mode = s[8];
	k->key_version[0] = s[9];
	k->key_version[1] = s[10];
	k->exportability = s[11];
	k->key_context = s[14];
	k->reserved = s[15];
	if ((r = fields_ok(k, flags)) != 0 ||
	    (r = get_dec_num(s + 1, 4, declared)) != 0 ||
	    (r = get_dec_num(s + 12, 2, &n_opt)) != 0)
		return r;
	off = RKL_TR31_HDR_LEN;
	for (i = 0; i < n_opt; i++) {
		const char *id = s + off;

		if (len - off < 4)
			return RKL_ERR_INCOMPLETE;
		if (!opt_id_ok(id))
			return RKL_ERR_FORMAT;
		if ((r = get_hex_num(s + off + 2, 2, flags, &blen)) != 0)
			return r;
		dstart = off + 4;
		if (blen == 0) {
			/* extended length: "00", 2 hex digits giving the number of
			 * length digits, then the length in hex */
			if (len - off < 6)
				return RKL_ERR_INCOMPLETE;
			if ((r = get_hex_num(s + off + 4, 2, flags, &ll)) != 0)
				return r;
			if (ll == 0 || ll > 4)
				return RKL_ERR_LENGTH;
			if (len - off - 6 < ll)
				return RKL_ERR_INCOMPLETE;
			if ((r = get_hex_num(s + off + 6, ll, flags, &blen)) != 0)
				return r;
			dstart = off + 6 + ll;
		}
		if (blen < dstart - off)
			return RKL_ERR_LENGTH;
		if (blen > len - off)
			return RKL_ERR_INCOMPLETE;
		if (!opt_data_ok(id, s + dstart, off + blen - dstart, flags))
			return RKL_ERR_FORMAT;
		if (id[0] == 'P' && id[1] == 'B') {
			if (i + 1 != n_opt)
				return RKL_ERR_FORMAT;	/* PB must be last */
		} else if ((r = opt_store(k, id, s + dstart, off + blen - dstart)) != 0) {
			return r;
		}
		off += blen;
	}
	*hdr_len = off;
	return 0;
}

/*
 * Validate a whole block's structure (everything checkable without a key).
 * Sets *hdr_len and *enc_len (bytes of encrypted key data).
 */
static int
parse_block(const char *block, size_t len, unsigned flags, struct rkl_tr31_key *k,
    size_t *hdr_len, size_t *enc_len)
{
	size_t declared, hl, bs, mac_hex, rest;
	int r;

	if (len > RKL_TR31_BLOCK_MAX)
		return RKL_ERR_TOO_LARGE;
	if ((r = parse_header(block, len, flags, k, &hl, &declared)) != 0)
		return r;
	if (declared != len)
		return RKL_ERR_LENGTH;
	bs = ver_bs(k->version);
	mac_hex = 2 * ver_mac_len(k->version);
	/*
	 * Header and optional blocks: a whole number of cipher blocks in every
	 * version, E too (ISO 20038:2017 A.2.1 makes no exception for it; PB
	 * pads).  Only E's key data, encrypted in CTR mode, is not padded.
	 */
	if (hl % bs != 0)
		return RKL_ERR_LENGTH;
	if (len - hl < mac_hex)
		return RKL_ERR_INCOMPLETE;
	rest = len - hl - mac_hex;
	if (rest % 2 != 0 || rest / 2 < 3 ||
	    (k->version != 'E' && (rest / 2) % bs != 0))
		return RKL_ERR_LENGTH;
	if (!all_hex(block + hl, rest + mac_hex, flags))
		return RKL_ERR_FORMAT;
	*hdr_len = hl;
	*enc_len = rest / 2;
	return 0;
}

/* ---- crypto helpers ---- */

/*
 * ISO 9797-1 MAC algorithm 1 with TDES (versions A, C): CBC-MAC over the
 * header text followed by the binary ciphertext; both are whole blocks.
 */
static int
cbc_mac(const struct rkl_crypto *c, const uint8_t *key, size_t key_len,
    const char *hdr, size_t hdr_len, const uint8_t *ct, size_t ct_len, uint8_t mac[8])
{
	uint8_t x[8] = { 0 };
	size_t i, j;
	int r = 0;

	for (i = 0; i + 8 <= hdr_len + ct_len; i += 8) {
		for (j = 0; j < 8; j++)
			x[j] ^= i + j < hdr_len ? (uint8_t)hdr[i + j] : ct[i + j - hdr_len];
		if ((r = c->cipher(c->ctx, RKL_CIPHER_TDES, RKL_MODE_ECB, 1, key, key_len,
		    NULL, x, 8, x)) != 0)
			goto out;
	}
	memcpy(mac, x, 8);
out:
	rkl_cleanse(x, sizeof(x));
	return r;
}

/* AES-CTR (version E): out = in xor E(key, icb + i); in and out may alias. */
static int
ctr_crypt(const struct rkl_crypto *c, const uint8_t *key, size_t key_len,
    const uint8_t icb[16], uint8_t *buf, size_t len)
{
	uint8_t ctr[16], ks[16];
	size_t i, j;
	int r = 0, k;

	memcpy(ctr, icb, 16);
	for (i = 0; i < len; i += 16) {
		if ((r = c->cipher(c->ctx, RKL_CIPHER_AES, RKL_MODE_ECB, 1, key, key_len,
		    NULL, ctr, 16, ks)) != 0)
			goto out;
		for (j = 0; j < 16 && i + j < len; j++)
			buf[i + j] ^= ks[j];
		for (k = 15; k >= 0; k--)	/* 128-bit big-endian increment */
			if (++ctr[k] != 0)
				break;
	}
out:
	rkl_cleanse(ks, sizeof(ks));
	rkl_cleanse(ctr, sizeof(ctr));
	return r;
}

/* CMAC over the header text followed by the clear key data (B, D, E). */
static int
bound_cmac(const struct rkl_crypto *c, char v, const uint8_t *kbak, size_t klen,
    const char *hdr, size_t hdr_len, const uint8_t *kd, size_t kd_len, uint8_t *mac)
{
	struct rkl_cmac m;
	int r;

	if ((r = rkl_cmac_init(&m, c, ver_cipher(v), kbak, klen)) != 0 ||
	    (r = rkl_cmac_update(&m, hdr, hdr_len)) != 0 ||
	    (r = rkl_cmac_update(&m, kd, kd_len)) != 0 ||
	    (r = rkl_cmac_out(&m, mac, ver_mac_len(v))) != 0)
		goto out;
out:
	rkl_cmac_release(&m);
	return r;
}

int
rkl_tr31_derive(const struct rkl_crypto *c, char version,
    const uint8_t *kbpk, size_t kbpk_len, uint8_t *kbek, uint8_t *kbak)
{
	/* KDF input (TR-31:2018 A.3.1 / X9.143 7.3): counter, usage (2),
	 * separator 00, algorithm (2), length in bits (2). */
	uint8_t in[8], blk[16];
	size_t i, bs, done, take;
	uint16_t alg;
	int r = 0, pass;

	if (c == NULL || kbpk == NULL || kbek == NULL || kbak == NULL)
		return RKL_ERR_INVALID_ARG;
	if ((bs = ver_bs(version)) == 0)
		return RKL_ERR_VERSION;
	if (!kbpk_ok(version, kbpk_len))
		return RKL_ERR_KEY_LENGTH;
	if (version == 'A' || version == 'C') {
		for (i = 0; i < kbpk_len; i++) {
			kbek[i] = (uint8_t)(kbpk[i] ^ 0x45);
			kbak[i] = (uint8_t)(kbpk[i] ^ 0x4D);
		}
		return 0;
	}
	if (bs == 8)
		alg = kbpk_len == 16 ? 0x0000 : 0x0001;	/* 2TDEA, 3TDEA */
	else
		alg = (uint16_t)(kbpk_len == 16 ? 0x0002 : kbpk_len == 24 ? 0x0003 : 0x0004);
	for (pass = 0; pass < 2 && r == 0; pass++) {
		uint8_t *dst = pass == 0 ? kbek : kbak;
		/* encryption: 0000 (CBC, B and D) or 0002 (CTR, E); MAC: 0001 */
		uint16_t usage = (uint16_t)(pass == 1 ? 0x0001 : version == 'E' ? 0x0002 : 0x0000);

		for (done = 0, in[0] = 1; done < kbpk_len; done += take, in[0]++) {
			rkl_enc16be(in + 1, usage);
			in[3] = 0x00;
			rkl_enc16be(in + 4, alg);
			rkl_enc16be(in + 6, (uint16_t)(kbpk_len * 8));
			if ((r = rkl_cmac(c, ver_cipher(version), kbpk, kbpk_len, in, sizeof(in),
			    blk, bs)) != 0)
				break;
			take = kbpk_len - done < bs ? kbpk_len - done : bs;
			memcpy(dst + done, blk, take);
		}
	}
	rkl_cleanse(blk, sizeof(blk));
	if (r != 0) {
		rkl_cleanse(kbek, kbpk_len);
		rkl_cleanse(kbak, kbpk_len);
	}
	return r;
}

/* ---- public API ---- */

void
rkl_tr31_key_release(struct rkl_tr31_key *k)
{
	if (k != NULL)
		rkl_cleanse(k, sizeof(*k));
}

int
rkl_tr31_set_key(struct rkl_tr31_key *k, const uint8_t *key, size_t len)
{
	if (k == NULL || key == NULL)
		return RKL_ERR_INVALID_ARG;
	if (len == 0 || len > RKL_TR31_KEY_MAX)
		return RKL_ERR_KEY_LENGTH;
	rkl_cleanse(k->key, sizeof(k->key));
	memcpy(k->key, key, len);
	k->key_len = len;
	return 0;
}

int
rkl_tr31_opt_find(const struct rkl_tr31_key *k, const char id[2],
    const char **data, size_t *len)
{
	size_t i;

	if (k == NULL || id == NULL || data == NULL || len == NULL)
		return RKL_ERR_INVALID_ARG;
	for (i = 0; i < k->n_opt && i < RKL_TR31_OPT_MAX; i++) {
		const struct rkl_tr31_opt *o = &k->opt[i];

		if (o->id[0] == id[0] && o->id[1] == id[1] &&
		    (size_t)o->off + o->len <= RKL_TR31_OPT_DATA_MAX) {
			*data = k->opt_data + o->off;
			*len = o->len;
			return 0;
		}
	}
	return RKL_ERR_NOT_FOUND;
}

int
rkl_tr31_opt_add(struct rkl_tr31_key *k, const char id[2], const char *data, size_t len)
{
	if (k == NULL || id == NULL || (data == NULL && len > 0) || !opt_id_ok(id) ||
	    (id[0] == 'P' && id[1] == 'B') || !opt_data_ok(id, data, len, RKL_TR31_STRICT) ||
	    k->n_opt > RKL_TR31_OPT_MAX || k->opt_data_len > RKL_TR31_OPT_DATA_MAX)
		return RKL_ERR_INVALID_ARG;
	return opt_store(k, id, data, len);
}

int
rkl_tr31_check(const char *block, size_t block_len, unsigned flags, struct rkl_tr31_key *hdr)
{
	struct rkl_tr31_key k;
	size_t hl, el;
	int r;

	if (block == NULL)
		return RKL_ERR_INVALID_ARG;
	if ((r = parse_block(block, block_len, flags, &k, &hl, &el)) == 0 && hdr != NULL)
		*hdr = k;
	return r;
}

int
rkl_tr31_header_parse(const char *hdr, size_t hdr_len, unsigned flags, struct rkl_tr31_key *out)
{
	struct rkl_tr31_key k;
	size_t hl, declared;
	int r;

	if (hdr == NULL || out == NULL)
		return RKL_ERR_INVALID_ARG;
	if (hdr_len > RKL_TR31_BLOCK_MAX)
		return RKL_ERR_TOO_LARGE;
	if ((r = parse_header(hdr, hdr_len, flags, &k, &hl, &declared)) != 0)
		goto out;
	if (hl != hdr_len) {
		r = RKL_ERR_TRAILING;
		goto out;
	}
	*out = k;
out:
	rkl_cleanse(&k, sizeof(k));
	return r;
}

/* Verify a KC or KP block (already format-checked) against key. */
static int
kcv_block_verify(const struct rkl_crypto *c, enum rkl_cipher cipher,
    const char *d, size_t n, const uint8_t *key, size_t key_len)
{
	uint8_t want[RKL_KCV_CMAC_LEN];
	size_t wl = (n - 2) / 2;
	int r;

	if ((r = rkl_hex_decode(d + 2, wl, want, RKL_HEX_ANY)) != 0)
		return RKL_ERR_KCV;
	r = rkl_kcv_verify(c, cipher, d[1] == '0' ? RKL_KCV_LEGACY : RKL_KCV_CMAC,
	    key, key_len, want, wl);
	if (r == RKL_ERR_KEY_LENGTH || r == RKL_ERR_LENGTH)
		r = RKL_ERR_KCV;	/* cannot be the KCV of this key */
	return r;
}

int
rkl_tr31_import(const struct rkl_crypto *c, const uint8_t *kbpk, size_t kbpk_len,
    const char *block, size_t block_len, unsigned flags, struct rkl_tr31_key *out)
{
	struct rkl_tr31_key k;
	uint8_t kbek[RKL_TR31_KBPK_MAX], kbak[RKL_TR31_KBPK_MAX];
	uint8_t kd[PAYLOAD_MAX], mac[MAC_MAX], want[MAC_MAX], iv[16];
	size_t hl = 0, el = 0, ml, bits, klen;
	const char *d;
	size_t dn;
	char v;
	int r;

	if (c == NULL || c->cipher == NULL || kbpk == NULL || block == NULL || out == NULL ||
	    (kbpk_len != 16 && kbpk_len != 24 && kbpk_len != 32))
		return RKL_ERR_INVALID_ARG;
	memset(kbek, 0, sizeof(kbek));
	memset(kbak, 0, sizeof(kbak));
	memset(want, 0, sizeof(want));
	memset(iv, 0, sizeof(iv));

	/* Phase 1, unauthenticated: every failure is RKL_ERR_AUTH. */
	if (parse_block(block, block_len, flags, &k, &hl, &el) != 0 ||
	    !kbpk_ok(k.version, kbpk_len)) {
		r = RKL_ERR_AUTH;
		goto out;
	}
	v = k.version;
	ml = ver_mac_len(v);
	if ((r = rkl_tr31_derive(c, v, kbpk, kbpk_len, kbek, kbak)) != 0)
		goto out;
	if (rkl_hex_decode(block + hl, el, kd, RKL_HEX_ANY) != 0 ||
	    rkl_hex_decode(block + hl + 2 * el, ml, mac, RKL_HEX_ANY) != 0) {
		r = RKL_ERR_AUTH;	/* cannot happen after parse_block */
		goto out;
	}
	if (v == 'A' || v == 'C') {
		/* MAC over the header and the ciphertext, then decrypt */
		if ((r = cbc_mac(c, kbak, kbpk_len, block, hl, kd, el, want)) != 0)
			goto out;
		if (!rkl_ct_eq(want, mac, ml)) {
			r = RKL_ERR_AUTH;
			goto out;
		}
		memcpy(iv, block, 8);	/* IV = first 8 header characters */
		if ((r = c->cipher(c->ctx, RKL_CIPHER_TDES, RKL_MODE_CBC, 0, kbek, kbpk_len,
		    iv, kd, el, kd)) != 0)
			goto out;
	} else {
		/* decrypt into scratch, MAC over header and clear key data */
		if (v == 'E')
			r = ctr_crypt(c, kbek, kbpk_len, mac, kd, el);
		else
			r = c->cipher(c->ctx, ver_cipher(v), RKL_MODE_CBC, 0, kbek, kbpk_len,
			    mac, kd, el, kd);
		if (r != 0 ||
		    (r = bound_cmac(c, v, kbak, kbpk_len, block, hl, kd, el, want)) != 0)
			goto out;
		if (!rkl_ct_eq(want, mac, ml)) {
			r = RKL_ERR_AUTH;
			goto out;
		}
	}

	/* Phase 2, authenticated: the key length field and the KCV blocks. */
	bits = rkl_dec16be(kd);
	klen = bits / 8;
	if (bits % 8 != 0 || klen == 0 || klen > el - 2 ||
	    (!(flags & RKL_TR31_LENIENT) && !alg_len_ok(k.algorithm, klen))) {
		r = RKL_ERR_KEY_LENGTH;
		goto out;
	}
	if (klen > RKL_TR31_KEY_MAX) {
		r = RKL_ERR_TOO_LARGE;
		goto out;
	}
	memcpy(k.key, kd + 2, klen);
	k.key_len = klen;
	if (rkl_tr31_opt_find(&k, "KC", &d, &dn) == 0 && alg_cipher(k.algorithm) != 0 &&
	    (r = kcv_block_verify(c, alg_cipher(k.algorithm), d, dn, k.key, klen)) != 0)
		goto out;
	if (rkl_tr31_opt_find(&k, "KP", &d, &dn) == 0 &&
	    (r = kcv_block_verify(c, ver_cipher(v), d, dn, kbpk, kbpk_len)) != 0)
		goto out;
	*out = k;
	r = 0;
out:
	rkl_cleanse(&k, sizeof(k));
	rkl_cleanse(kbek, sizeof(kbek));
	rkl_cleanse(kbak, sizeof(kbak));
	rkl_cleanse(kd, sizeof(kd));
	rkl_cleanse(mac, sizeof(mac));
	rkl_cleanse(want, sizeof(want));
	return r;
}

/* Write v as n decimal digits. */
static void
put_dec(char *p, size_t v, size_t n)
{
	while (n-- > 0) {
		p[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

/* Write v as n upper-case hex digits. */
static void
put_hex(char *p, size_t v, size_t n)
{
	while (n-- > 0) {
		p[n] = "0123456789ABCDEF"[v & 15];
		v >>= 4;
	}
}

/* Characters an optional block takes on the wire (short or extended form). */
static size_t
opt_wire_len(size_t data_len)
{
	return 4 + data_len <= 255 ? 4 + data_len : 10 + data_len;
}

/* Check the caller's key struct as export will emit it. */
static int
export_check(const struct rkl_tr31_key *key)
{
	size_t i, total = 0;
	int r;

	if ((r = fields_ok(key, RKL_TR31_STRICT)) != 0)
		return RKL_ERR_INVALID_ARG;
	if (key->n_opt > RKL_TR31_OPT_MAX || key->opt_data_len > RKL_TR31_OPT_DATA_MAX)
		return RKL_ERR_INVALID_ARG;
	for (i = 0; i < key->n_opt; i++) {
		const struct rkl_tr31_opt *o = &key->opt[i];
		size_t j;

		if ((size_t)o->off + o->len > key->opt_data_len || !opt_id_ok(o->id) ||
		    (o->id[0] == 'P' && o->id[1] == 'B') ||
		    !opt_data_ok(o->id, key->opt_data + o->off, o->len, RKL_TR31_STRICT))
			return RKL_ERR_INVALID_ARG;
		for (j = 0; j < i; j++)
			if (key->opt[j].id[0] == o->id[0] && key->opt[j].id[1] == o->id[1])
				return RKL_ERR_INVALID_ARG;
		total += opt_wire_len(o->len);
	}
	if (total > RKL_TR31_BLOCK_MAX)
		return RKL_ERR_TOO_LARGE;
	if (key->key_len == 0 || key->key_len > RKL_TR31_KEY_MAX ||
	    !alg_len_ok(key->algorithm, key->key_len))
		return RKL_ERR_KEY_LENGTH;
	return 0;
}

int
rkl_tr31_export(const struct rkl_crypto *c, const uint8_t *kbpk, size_t kbpk_len,
    const struct rkl_tr31_key *key, const struct rkl_tr31_export_opts *opts,
    char *out, size_t out_cap, size_t *out_len)
{
	static const struct rkl_tr31_export_opts dflt = { RKL_TR31_MASK_AUTO, 0, NULL, NULL };
	uint8_t kbek[RKL_TR31_KBPK_MAX], kbak[RKL_TR31_KBPK_MAX];
	uint8_t kd[PAYLOAD_MAX], mac[MAC_MAX], iv[8];
	size_t i, bs, ml, mask, kd_len, hl, pb, total, off;
	rkl_tr31_random_fn rnd;
	void *rnd_ctx;
	char v;
	int r;

	if (c == NULL || c->cipher == NULL || kbpk == NULL || key == NULL || out == NULL ||
	    out_len == NULL)
		return RKL_ERR_INVALID_ARG;
	memset(kbek, 0, sizeof(kbek));
	memset(kbak, 0, sizeof(kbak));
	memset(kd, 0, sizeof(kd));
	memset(mac, 0, sizeof(mac));
	if (opts == NULL)
		opts = &dflt;
	rnd = opts->random != NULL ? opts->random : c->random;
	rnd_ctx = opts->random != NULL ? opts->random_ctx : c->ctx;
	v = key->version;
	if ((bs = ver_bs(v)) == 0 || (v == 'A' && !(opts->flags & RKL_TR31_EXPORT_A))) {
		r = RKL_ERR_VERSION;
		goto out;
	}
	if (!kbpk_ok(v, kbpk_len) || rnd == NULL) {
		r = RKL_ERR_INVALID_ARG;
		goto out;
	}
	if ((r = export_check(key)) != 0)
		goto out;
	ml = ver_mac_len(v);

	/* Key data: length in bits, key, padding to the masked length and the block. */
	mask = opts->mask_len == RKL_TR31_MASK_AUTO ? alg_mask_len(key->algorithm, key->key_len) :
	    opts->mask_len;
	if (mask < key->key_len)
		mask = key->key_len;
	if (mask > PAYLOAD_MAX) {
		r = RKL_ERR_TOO_LARGE;
		goto out;
	}
	kd_len = 2 + mask;
	if (v != 'E')
		kd_len = (kd_len + bs - 1) / bs * bs;

	/* Header length, with a PB block to a whole number of cipher blocks
	 * (every version: ISO 20038 A.2.1 for E). */
	hl = RKL_TR31_HDR_LEN;
	for (i = 0; i < key->n_opt; i++)
		hl += opt_wire_len(key->opt[i].len);
	pb = 0;
	if (hl % bs != 0) {
		pb = bs - hl % bs;
		if (pb < 4)
			pb += bs;	/* PB needs room for its ID and length */
	}
	hl += pb;
	if (kd_len > PAYLOAD_MAX || hl > RKL_TR31_BLOCK_MAX ||
	    RKL_TR31_BLOCK_MAX - hl < 2 * kd_len + 2 * ml) {
		r = RKL_ERR_TOO_LARGE;
		goto out;
	}
	total = hl + 2 * kd_len + 2 * ml;
	if (total > out_cap) {
		r = RKL_ERR_BUFFER_SPACE;
		goto out;
	}

	/* Header text (X9.143 6.2 table 1). */
	out[0] = v;
	put_dec(out + 1, total, 4);
	out[5] = key->usage[0];
	out[6] = key->usage[1];
	out[7] = key->algorithm;
	out[8] = key->mode;
	out[9] = key->key_version[0];
	out[10] = key->key_version[1];
	out[11] = key->exportability;
	put_dec(out + 12, key->n_opt + (pb != 0), 2);
	out[14] = key->key_context;
	out[15] = key->reserved;
	off = RKL_TR31_HDR_LEN;
	for (i = 0; i < key->n_opt; i++) {
		const struct rkl_tr31_opt *o = &key->opt[i];
		size_t wl = opt_wire_len(o->len);

		out[off] = o->id[0];
		out[off + 1] = o->id[1];
		if (wl == 4 + (size_t)o->len) {
			put_hex(out + off + 2, wl, 2);
			off += 4;
		} else {
			memcpy(out + off + 2, "0004", 4);
			put_hex(out + off + 6, wl, 4);
			off += 10;
		}
		memcpy(out + off, key->opt_data + o->off, o->len);
		off += o->len;
	}
	if (pb != 0) {
		out[off] = 'P';
		out[off + 1] = 'B';
		put_hex(out + off + 2, pb, 2);
		memset(out + off + 4, '0', pb - 4);
		off += pb;
	}

	/* Clear key data in scratch. */
	rkl_enc16be(kd, (uint16_t)(key->key_len * 8));
	memcpy(kd + 2, key->key, key->key_len);
	if (kd_len - 2 - key->key_len > 0 &&
	    rnd(rnd_ctx, kd + 2 + key->key_len, kd_len - 2 - key->key_len) != 0) {
		r = RKL_ERR_RNG;
		goto out;
	}
	if ((r = rkl_tr31_derive(c, v, kbpk, kbpk_len, kbek, kbak)) != 0)
		goto out;
	if (v == 'A' || v == 'C') {
		memcpy(iv, out, 8);
		if ((r = c->cipher(c->ctx, RKL_CIPHER_TDES, RKL_MODE_CBC, 1, kbek, kbpk_len,
		    iv, kd, kd_len, kd)) != 0)
			goto out;
		rkl_hex_encode(kd, kd_len, out + hl);
		if ((r = cbc_mac(c, kbak, kbpk_len, out, hl, kd, kd_len, mac)) != 0)
			goto out;
	} else {
		if ((r = bound_cmac(c, v, kbak, kbpk_len, out, hl, kd, kd_len, mac)) != 0)
			goto out;
		if (v == 'E')
			r = ctr_crypt(c, kbek, kbpk_len, mac, kd, kd_len);
		else
			r = c->cipher(c->ctx, ver_cipher(v), RKL_MODE_CBC, 1, kbek, kbpk_len,
			    mac, kd, kd_len, kd);
		if (r != 0)
			goto out;
		rkl_hex_encode(kd, kd_len, out + hl);
	}
	rkl_hex_encode(mac, ml, out + hl + 2 * kd_len);
	*out_len = total;
	r = 0;
out:
	if (r != 0)
		rkl_cleanse(out, out_cap);
	rkl_cleanse(kbek, sizeof(kbek));
	rkl_cleanse(kbak, sizeof(kbak));
	rkl_cleanse(kd, sizeof(kd));
	rkl_cleanse(mac, sizeof(mac));
	return r;
}
