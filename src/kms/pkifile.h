/* Private to rkl_kms: the profile-2 PKI files of the configuration (keysvc.c). */
#ifndef RKL_KMS_PKIFILE_H
#define RKL_KMS_PKIFILE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Read a file of certificates, PEM ("CERTIFICATE" blocks) or DER (back to
 * back), into one malloc'd buffer of DER certificates back to back (the
 * wire's CERTS form).  crl = 1: exactly one CRL ("X509 CRL" block or DER).
 * RKL_ERR_IO (unreadable), RKL_ERR_FORMAT (not that), RKL_ERR_NOMEM.
 */
int rkl_kms__pki_read(const char *path, int crl, uint8_t **out, size_t *len);

#endif
