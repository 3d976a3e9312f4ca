/*
 * report.h - rkl-admin report: the fleet at a glance (docs/operations.md,
 * "Fleet report").  Terminals by status and key profile, activity in a time
 * window from the audit log, and the terminals that need attention (never
 * downloaded, locked, TMK pending), as text, JSON or CSV.
 */
#ifndef RKL_ADMIN_REPORT_H
#define RKL_ADMIN_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "rkl/store.h"

enum rkl_admin_report_fmt {
	RKL_ADMIN_REPORT_TEXT = 1,
	RKL_ADMIN_REPORT_JSON = 2,
	RKL_ADMIN_REPORT_CSV = 3
};

struct rkl_admin_report_opts {
	enum rkl_admin_report_fmt fmt;
	int64_t now;		/* "locked" means locked_until > now */
	int64_t from, to;	/* activity window [from, to) */
	size_t limit;		/* terminals listed per list */
};

/* Write the report to out: 0, or the store's error (nothing useful written then). */
int rkl_admin_report(struct rkl_store *st, const struct rkl_admin_report_opts *o, FILE *out);

#endif /* RKL_ADMIN_REPORT_H */
