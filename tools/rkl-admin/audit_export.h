/*
 * audit_export.h - rkl-admin audit export / audit verify --file.
 *
 * An export is a header record, one record per audit row and an end record,
 * one per line, as JSON lines or as RFC 5424 syslog messages (formats in
 * docs/operations.md, "Audit export").  Each row record carries the row's
 * chain hash (rkl/store.h: SHA-256(previous hash || rkl_store_audit_encode))
 * and the header the hash of the row before the first one exported, so an
 * export that starts in the middle of the chain verifies on its own, and the
 * end record the count and last hash, so a cut-off tail is seen.  Several
 * exports concatenated (incremental exports appended by a receiver) verify
 * as one when each continues the previous one.
 */
#ifndef RKL_ADMIN_AUDIT_EXPORT_H
#define RKL_ADMIN_AUDIT_EXPORT_H

#include <stdint.h>
#include <stdio.h>

#include "rkl/crypto.h"
#include "rkl/store.h"

enum rkl_admin_export_fmt {
	RKL_ADMIN_EXPORT_JSONL = 1,	/* one JSON object per line */
	RKL_ADMIN_EXPORT_SYSLOG = 2	/* RFC 5424, facility 13 (log audit), one message per line */
};

struct rkl_admin_export_opts {
	enum rkl_admin_export_fmt fmt;
	uint64_t after;		/* export the rows with seq > after ... */
	int have_since;		/* ... or from the first row with at >= since onwards */
	int64_t since;
	const char *hostname;	/* syslog HOSTNAME; NULL or "" -> "-" */
	int64_t now;		/* time of the export (header) */
};

struct rkl_admin_export_sum {
	uint64_t rows;		/* rows exported */
	uint64_t first_seq;	/* seq of the first row (or that it would have) */
	uint64_t last_seq;	/* first_seq - 1 when no row */
};

/*
 * Write an export of st's audit log to out.  RKL_ERR_NOT_FOUND if after is
 * beyond the last row; store errors as returned; RKL_ERR_IO if writing fails.
 */
int rkl_admin_audit_export(struct rkl_store *st, const struct rkl_admin_export_opts *o,
    FILE *out, struct rkl_admin_export_sum *sum);

struct rkl_admin_verify_res {
	uint64_t first_seq, last_seq, rows, exports;
	uint8_t prev_hash[RKL_SHA256_LEN];	/* hash before first_seq */
	uint8_t last_hash[RKL_SHA256_LEN];	/* hash of last_seq */
	int anchor_seen;			/* the anchor's seq was in the export and matched */
	unsigned long line;			/* line of the first problem, 0 if none */
	char why[200];				/* what is wrong there */
};

/*
 * Check an export read from in on its own.  With anchor_seq != 0 the export
 * must also hold that row (or have it as its predecessor) with anchor_hash.
 * 0 if it verifies; RKL_ERR_INTEGRITY with res->line/why otherwise;
 * RKL_ERR_IO/NOMEM on a read or memory failure.
 */
int rkl_admin_audit_verify_file(FILE *in, uint64_t anchor_seq,
    const uint8_t anchor_hash[RKL_SHA256_LEN], struct rkl_admin_verify_res *res);

/* "YYYY-MM-DDTHH:MM:SSZ" (UTC) or decimal seconds since the epoch into *t. */
int rkl_admin_parse_time(const char *s, int64_t *t);

#endif /* RKL_ADMIN_AUDIT_EXPORT_H */
