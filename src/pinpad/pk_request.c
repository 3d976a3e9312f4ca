/*
 * Public-key request module (patent claims 5-8; steps S0 and S1): ask the
 * KMS for its public key Pu_hsm, then check and store the key it sends.
 */
#include <string.h>

#include "rkl/err.h"
#include "rkl/spki.h"
#include "pinpad_int.h"

#define ALG_BIT(a) (1u << (unsigned)(a))

/* S0: PUBKEY_REQ {SN, PINPAD_SN, algorithms offered, OAEP hashes offered}. */
int
rkl_pp_pk_request_build(struct rkl_pinpad *pp, struct rkl_wire_msg *m)
{
	static const enum rkl_alg order[] = {
		RKL_ALG_RSA2048, RKL_ALG_RSA3072, RKL_ALG_AES128, RKL_ALG_AES192,
		RKL_ALG_AES256, RKL_ALG_TDES2, RKL_ALG_TDES3
	};
	static const enum rkl_oaep_hash hashes[] = { RKL_OAEP_SHA256, RKL_OAEP_SHA1 };
	struct rkl_wire_pubkey_req *q = &m->u.pubkey_req;
	size_t i;

	memcpy(q->sn, pp->sn, sizeof(q->sn));
	memcpy(q->pinpad_sn, pp->pinpad_sn, sizeof(q->pinpad_sn));
	q->n_algs = 0;
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (pp->cfg.algs_offered & ALG_BIT(order[i]))
			q->algs[q->n_algs++] = (uint8_t)order[i];
	q->n_oaep_hashes = 0;
	for (i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++)
		if (pp->cfg.oaep_offered & ALG_BIT(hashes[i]))
			q->oaep_hashes[q->n_oaep_hashes++] = (uint8_t)hashes[i];
	return 0;
}

/*
 * S1: PUBKEY_RESP.  Pu_hsm must be a well-formed RSA key of a size offered,
 * the OAEP hash one offered; then it is stored (patent S1: "stores it in
 * the PIN pad").
 */
int
rkl_pp_pk_request_receive(struct rkl_pinpad *pp, const struct rkl_wire_msg *m)
{
	const struct rkl_wire_pubkey_resp *q = &m->u.pubkey_resp;
	enum rkl_alg alg;
	unsigned bits = 0;
	int r;

	if ((pp->cfg.oaep_offered & ALG_BIT(q->oaep_hash)) == 0)
		return RKL_ERR_ALGORITHM;
	if ((r = rkl_spki_modulus_bits(q->pu_hsm, q->pu_hsm_len, &bits)) != 0)
		return r;
	if (bits == 2048)
		alg = RKL_ALG_RSA2048;
	else if (bits == 3072)
		alg = RKL_ALG_RSA3072;
	else
		return RKL_ERR_ALGORITHM;
	if ((pp->cfg.algs_offered & ALG_BIT(alg)) == 0)
		return RKL_ERR_ALGORITHM;
	if ((r = rkl_pp_puhsm_store(pp->plat, pp->work2, sizeof(pp->work2), q->key_id,
	    q->oaep_hash, q->pu_hsm, q->pu_hsm_len)) != 0)
		return r;
	pp->key_id = q->key_id;
	return 0;
}
