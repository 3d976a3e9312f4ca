/*
 * Private to the core's certificate code (x509.c, crl.c): the pieces of the
 * certificate parser the CRL parser shares.  Not installed.
 */
#ifndef RKL_CORE_X509_INT_H
#define RKL_CORE_X509_INT_H

#include <stdint.h>

#include "der.h"

/* Read one UTCTime / GeneralizedTime ending in Z with seconds into *t. */
int rkl_x509_i_time(struct der *d, int64_t *t);

/*
 * Check a Name's content (SEQUENCE OF SET OF AttributeTypeAndValue); when cn
 * is not NULL, copy the CN and serialNumber out (RKL_X509_STR_MAX + 1 each).
 */
int rkl_x509_i_name(const struct der *name, char *cn, char *sn);

#endif
