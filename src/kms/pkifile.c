/*
 * Reading the PKI files of rkl.conf (kdh_cert, kdh_crl, ca_root,
 * device_crl) for profile 2: PEM or DER in, DER out (src/kms/pkifile.h).
 * OpenSSL parses the PEM armour and re-encodes each object; rkl's own
 * parsers check the DER afterwards (keysvc.c).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "pkifile.h"
#include "rkl/err.h"

#define PKI_FILE_MAX (64 * 1024)

static int
slurp(const char *path, uint8_t **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b;
	size_t n;

	if (f == NULL)
		return RKL_ERR_IO;
	if ((b = malloc(PKI_FILE_MAX)) == NULL) {
		fclose(f);
		return RKL_ERR_NOMEM;
	}
	n = fread(b, 1, PKI_FILE_MAX, f);
	if (ferror(f) || n == PKI_FILE_MAX) {
		fclose(f);
		free(b);
		return n == PKI_FILE_MAX ? RKL_ERR_TOO_LARGE : RKL_ERR_IO;
	}
	fclose(f);
	*buf = b;
	*len = n;
	return 0;
}

/* Append one object's DER (i2d) to out. */
static int
append(uint8_t *out, size_t cap, size_t *len, const void *obj, int crl)
{
	unsigned char *p;
	int n = crl ? i2d_X509_CRL((X509_CRL *)(uintptr_t)obj, NULL) :
	    i2d_X509((X509 *)(uintptr_t)obj, NULL);

	if (n <= 0 || (size_t)n > cap - *len)
		return RKL_ERR_FORMAT;
	p = out + *len;
	if ((crl ? i2d_X509_CRL((X509_CRL *)(uintptr_t)obj, &p) :
	    i2d_X509((X509 *)(uintptr_t)obj, &p)) != n)
		return RKL_ERR_FORMAT;
	*len += (size_t)n;
	return 0;
}

int
rkl_kms__pki_read(const char *path, int crl, uint8_t **out, size_t *len)
{
	uint8_t *in = NULL, *der = NULL;
	size_t in_len = 0, n = 0;
	BIO *bio = NULL;
	int r, count = 0;

	if ((r = slurp(path, &in, &in_len)) != 0)
		return r;
	if (in_len > 0 && in[0] == 0x30) {
		/* DER already: handed on as it is, checked by rkl's parsers. */
		*out = in;
		*len = in_len;
		return 0;
	}
	r = RKL_ERR_NOMEM;
	if ((der = malloc(PKI_FILE_MAX)) == NULL ||
	    (bio = BIO_new_mem_buf(in, (int)in_len)) == NULL)
		goto out;
	r = 0;
	for (;;) {
		void *obj = crl ? (void *)PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL) :
		    (void *)PEM_read_bio_X509(bio, NULL, NULL, NULL);

		if (obj == NULL)
			break;
		r = append(der, PKI_FILE_MAX, &n, obj, crl);
		if (crl)
			X509_CRL_free(obj);
		else
			X509_free(obj);
		if (r != 0)
			goto out;
		count++;
		if (crl)
			break;
	}
	ERR_clear_error();
	if (count == 0) {
		r = RKL_ERR_FORMAT;
		goto out;
	}
	*out = der;
	*len = n;
	der = NULL;
out:
	BIO_free(bio);
	free(in);
	free(der);
	return r;
}
