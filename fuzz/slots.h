/*
 * The PIN pad fuzzers' record storage (fuzz/pinpad.c, fuzz/pinpad_p2.c): SLOTS
 * named records in memory, ST, and the platform's get/put/delete over them.
 * Define SLOTS before including.  Fuzz-only.
 */
#ifndef RKL_FUZZ_SLOTS_H
#define RKL_FUZZ_SLOTS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rkl/err.h"
#include "rkl/pinpad.h"

struct slot {
	int used;
	char name[RKL_PINPAD_NAME_MAX + 1];
	size_t len;
	uint8_t data[RKL_PINPAD_RECORD_MAX];
};

struct store {
	struct slot s[SLOTS];
};

static struct store ST;

static struct slot *
find(const char *name)
{
	size_t i;

	for (i = 0; i < SLOTS; i++)
		if (ST.s[i].used && strcmp(ST.s[i].name, name) == 0)
			return &ST.s[i];
	return NULL;
}

static int
st_get(void *ctx, const char *name, uint8_t *buf, size_t cap, size_t *len)
{
	struct slot *s = find(name);

	(void)ctx;
	if (s == NULL)
		return RKL_ERR_NOT_FOUND;
	if (s->len > cap)
		return RKL_ERR_BUFFER_SPACE;
	memcpy(buf, s->data, s->len);
	*len = s->len;
	return 0;
}

static int
st_put(void *ctx, const char *name, const uint8_t *data, size_t len)
{
	struct slot *s = find(name);
	size_t i;

	(void)ctx;
	for (i = 0; s == NULL && i < SLOTS; i++)
		if (!ST.s[i].used)
			s = &ST.s[i];
	if (s == NULL || len > sizeof(s->data) || strlen(name) > RKL_PINPAD_NAME_MAX)
		return RKL_ERR_IO;
	s->used = 1;
	memset(s->name, 0, sizeof(s->name));
	memcpy(s->name, name, strlen(name));
	memcpy(s->data, data, len);
	s->len = len;
	return 0;
}

static int
st_del(void *ctx, const char *name)
{
	struct slot *s = find(name);

	(void)ctx;
	if (s != NULL)
		memset(s, 0, sizeof(*s));
	return 0;
}

#endif
