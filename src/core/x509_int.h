/*
 * Private to the core's certificate code (x509.c, crl.c): the pieces of the
 * certificate parser the CRL parser shares.  Not installed.
 */
#ifndef RKL_CORE_X509_INT_H
#define RKL_CORE_X509_INT_H

#include <stddef.h>
#include <stdint.h>

#include "der.h"
#include "rkl/x509.h"

/* Read one UTCTime / GeneralizedTime ending in Z with seconds into *t. */
int rkl_x509_i_time(struct der *d, int64_t *t);

/*
 * Check a Name's content (SEQUENCE OF SET OF AttributeTypeAndValue); when cn
 * is not NULL, copy the CN and serialNumber out (RKL_X509_STR_MAX + 1 each).
 */
int rkl_x509_i_name(const struct der *name, char *cn, char *sn);

/*
 * Read the AlgorithmIdentifier inside a TBS into *alg (ECDSA with SHA-256 or
 * SHA-384; anything else: RKL_ERR_ALGORITHM).
 */
int rkl_x509_i_sig_alg(struct der *tbs, enum rkl_x509_sig *alg);

/*
 * Read the rest of a signed SEQUENCE after its TBS: signatureAlgorithm equal
 * to alg, then the BIT STRING (no unused bits) as a view *sig, nothing after.
 */
int rkl_x509_i_signature(struct der *outer, enum rkl_x509_sig alg, const uint8_t **sig,
    size_t *sig_len);

/*
 * Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue }:
 * read one from exts into the OID view, *crit and the extnValue content.
 */
int rkl_x509_i_ext(struct der *exts, struct der *oid, int *crit, struct der *val);

#endif
