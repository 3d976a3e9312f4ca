/*
 * The per-request key-pair pool (claim 2 without the ~0.2 s wait): a
 * background thread keeps pool_target RSA pairs ready as session objects in
 * its own session; rkl_hsm_pool_take() hands one to a download in O(1).
 */
#define _POSIX_C_SOURCE 200809L
#include <string.h>
#include <time.h>

#include "hsm_int.h"

#include "rkl/err.h"

int hsm_pool_start(struct rkl_hsm *h);
void hsm_pool_stop(struct rkl_hsm *h);
void hsm_pool_forget(struct rkl_hsm *h);

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *
refill(void *arg)
{
	struct rkl_hsm *h = arg;
	struct hsm_pair p;
	double t0;
	int r;

	pthread_mutex_lock(&h->pool_lock);
	for (;;) {
		while (!h->pool_stop && h->pool_n >= h->pool_target)
			pthread_cond_wait(&h->pool_cond, &h->pool_lock);
		if (h->pool_stop)
			break;
		pthread_mutex_unlock(&h->pool_lock);
		pthread_mutex_lock(&h->pool_busy);
		t0 = now();
		r = hsm_gen_pair(h, h->pool_sh, rkl_alg_rsa_bits(h->transport_alg), NULL,
		    &p.priv, p.spki, sizeof(p.spki), &p.spki_len);
		pthread_mutex_unlock(&h->pool_busy);
		pthread_mutex_lock(&h->pool_lock);
		h->pool_gen_seconds += now() - t0;
		if (r != 0) {
			/* HSM trouble: back off for a second, unless stopping. */
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			if (!h->pool_stop)
				pthread_cond_timedwait(&h->pool_cond, &h->pool_lock, &ts);
			continue;
		}
		h->pool[h->pool_n++] = p;
		h->pool_generated++;
	}
	pthread_mutex_unlock(&h->pool_lock);
	return NULL;
}

int
hsm_pool_start(struct rkl_hsm *h)
{
	CK_RV rv;

	rv = h->f->C_OpenSession(h->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
	    &h->pool_sh);
	if (rv != CKR_OK)
		return hsm_rv(rv);
	h->pool_stop = 0;
	h->pool_n = 0;
	if (pthread_create(&h->pool_thr, NULL, refill, h) != 0) {
		h->f->C_CloseSession(h->pool_sh);
		return RKL_ERR_INTERNAL;
	}
	h->pool_running = 1;
	return 0;
}

void
hsm_pool_stop(struct rkl_hsm *h)
{
	unsigned i;

	if (!h->pool_running)
		return;
	pthread_mutex_lock(&h->pool_lock);
	h->pool_stop = 1;
	pthread_cond_broadcast(&h->pool_cond);
	pthread_mutex_unlock(&h->pool_lock);
	pthread_join(h->pool_thr, NULL);
	h->pool_running = 0;
	for (i = 0; i < h->pool_n; i++)
		h->f->C_DestroyObject(h->pool_sh, h->pool[i].priv);
	h->pool_n = 0;
	h->f->C_CloseSession(h->pool_sh);
}

/* After fork: the thread is gone and the pairs died with the parent's
 * sessions.  Only forget them. */
void
hsm_pool_forget(struct rkl_hsm *h)
{
	h->pool_running = 0;
	h->pool_n = 0;
}

int
rkl_hsm_pool_take(struct rkl_hsm_session *s, struct rkl_hsm_dl *dl, int wait,
    struct rkl_hsm_key *priv, uint8_t *spki, size_t spki_cap, size_t *spki_len)
{
	struct rkl_hsm *h = s->h;
	struct hsm_pair *p;

	if (dl == NULL || priv == NULL || spki == NULL || spki_len == NULL)
		return RKL_ERR_INVALID_ARG;
	if (dl->gen != h->gen)
		return RKL_ERR_HSM_STALE;
	if (dl->n >= RKL_HSM_DL_MAX)
		return RKL_ERR_LIMIT;
	pthread_mutex_lock(&h->pool_lock);
	if (h->pool_n > 0) {
		p = &h->pool[h->pool_n - 1];
		if (p->spki_len > spki_cap) {
			pthread_mutex_unlock(&h->pool_lock);
			return RKL_ERR_BUFFER_SPACE;
		}
		memcpy(spki, p->spki, p->spki_len);
		*spki_len = p->spki_len;
		priv->obj = p->priv;
		priv->alg = h->transport_alg;
		priv->gen = h->gen;
		h->pool_n--;
		h->pool_hits++;
		pthread_cond_signal(&h->pool_cond);
		pthread_mutex_unlock(&h->pool_lock);
		(void)hsm_dl_add(dl, priv->obj);
		return 0;
	}
	h->pool_misses++;
	pthread_mutex_unlock(&h->pool_lock);
	if (!wait)
		return RKL_ERR_LIMIT;
	return rkl_hsm_transport_generate(s, dl, h->transport_alg, priv, spki, spki_cap, spki_len);
}

void
rkl_hsm_pool_stats(struct rkl_hsm *h, struct rkl_hsm_pool_stats *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&h->pool_lock);
	st->size = h->pool_n;
	st->target = h->pool_target;
	st->hits = h->pool_hits;
	st->misses = h->pool_misses;
	st->generated = h->pool_generated;
	st->refill_per_s = h->pool_gen_seconds > 0 ?
	    (double)h->pool_generated / h->pool_gen_seconds : 0.0;
	pthread_mutex_unlock(&h->pool_lock);
}
