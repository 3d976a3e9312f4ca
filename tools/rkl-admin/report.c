/* rkl-admin report: see report.h. */
#define _POSIX_C_SOURCE 200809L
#include "report.h"

#include <stdlib.h>
#include <string.h>

#include "rkl/crypto.h"
#include "rkl/err.h"

#include "json.h"

#define MAX_GROUPS 1024
#define MAX_EVENTS 1024

struct list {
	const char *name;			/* JSON/CSV name */
	const char *title;			/* text heading */
	enum rkl_store_fleet_which which;
	struct rkl_store_terminal *rows;
	size_t n;
	uint64_t total;
};

struct data {
	struct rkl_store_fleet_group *g;
	size_t ng;
	struct rkl_store_event_count *ev;
	size_t nev;
	struct list lists[3];
	/* totals */
	uint64_t total, by_status[4], never, locked, pending, delivered;
	uint64_t downloads, first_downloads, failed_steps, lockouts, abandoned;
};

static const char *
alg_or(enum rkl_alg a)
{
	return a == RKL_ALG_NONE ? "" : rkl_alg_name(a);
}

static const char *
oaep_or(enum rkl_oaep_hash h)
{
	return h == RKL_OAEP_SHA1 ? "sha1" : h == RKL_OAEP_SHA256 ? "sha256" : "";
}

static const char *
tmk_state_or(enum rkl_tmk_state s)
{
	return s == 0 ? "" : rkl_tmk_state_name(s);
}

/* A protocol step of rkl-kmsd (S0.pubkey_req ... S7.tmk_confirm, frame), not an admin action. */
static int
is_step(const char *event)
{
	return (event[0] == 'S' && event[1] >= '0' && event[1] <= '9' && event[2] == '.') ||
	    strcmp(event, "frame") == 0;
}

static void
totals(struct data *d)
{
	size_t i;

	for (i = 0; i < d->ng; i++) {
		const struct rkl_store_fleet_group *g = &d->g[i];

		if (g->kind == RKL_FLEET_BY_STATUS) {
			d->total += g->terminals;
			if (g->status >= 1 && g->status <= 3)
				d->by_status[g->status] += g->terminals;
			d->never += g->never_downloaded;
			d->locked += g->locked;
		} else if (g->kind == RKL_FLEET_BY_TMK) {
			if (g->tmk_state == RKL_TMK_PENDING)
				d->pending += g->terminals;
			else if (g->tmk_state == RKL_TMK_DELIVERED)
				d->delivered += g->terminals;
		}
	}
	for (i = 0; i < d->nev; i++) {
		const struct rkl_store_event_count *e = &d->ev[i];

		if (strcmp(e->event, "S7.tmk_confirm") == 0 && e->result == 0)
			d->downloads += e->rows;
		else if (strcmp(e->event, "tk.bind") == 0 && e->result == 0)
			d->first_downloads += e->rows;
		else if (strcmp(e->event, "terminal.locked") == 0)
			d->lockouts += e->rows;
		else if (strcmp(e->event, "session.abandoned") == 0)
			d->abandoned += e->rows;
		if (is_step(e->event) && e->result != 0)
			d->failed_steps += e->rows;
	}
}

/* ---- CSV ---- */

static void
csv_field(FILE *f, const char *s)
{
	if (strpbrk(s, ",\"\r\n") == NULL) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s != '\0'; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

/* One CSV record: the columns of CSV_HEADER, "" where they do not apply. */
#define CSV_HEADER "section,sn,status,auk_alg,tek_alg,oaep,tmk_alg,tmk_state,event,result," \
	"time,terminals,rows,never_downloaded,locked,failures,profile\n"
struct csv_rec {
	const char *section, *sn, *status, *auk, *tek, *oaep, *tmk, *tmk_state, *event;
	const char *result, *time;
	long long terminals, rows, never, locked, failures, profile;	/* -1: empty */
};

static void
csv_num(FILE *f, long long v)
{
	fputc(',', f);
	if (v >= 0)
		fprintf(f, "%lld", v);
}

static void
csv_put(FILE *f, const struct csv_rec *r)
{
	const char *s[] = { r->section, r->sn, r->status, r->auk, r->tek, r->oaep, r->tmk,
		r->tmk_state, r->event, r->result, r->time };
	size_t i;

	for (i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		if (i > 0)
			fputc(',', f);
		csv_field(f, s[i] != NULL ? s[i] : "");
	}
	csv_num(f, r->terminals);
	csv_num(f, r->rows);
	csv_num(f, r->never);
	csv_num(f, r->locked);
	csv_num(f, r->failures);
	csv_num(f, r->profile);
	fputc('\n', f);
}

static struct csv_rec
csv_blank(const char *section)
{
	struct csv_rec r;

	memset(&r, 0, sizeof(r));
	r.section = section;
	r.terminals = r.rows = r.never = r.locked = r.failures = r.profile = -1;
	return r;
}

static void
put_csv(FILE *f, const struct rkl_admin_report_opts *o, const struct data *d)
{
	char t1[32], t2[32], res[16];
	struct csv_rec r;
	size_t i, k;

	fputs(CSV_HEADER, f);
	r = csv_blank("window");
	r.event = "from";
	r.time = rkl_admin_fmt_time(o->from, t1, sizeof(t1));
	csv_put(f, &r);
	r.event = "to";
	r.time = rkl_admin_fmt_time(o->to, t1, sizeof(t1));
	csv_put(f, &r);
	r = csv_blank("terminals");
	r.status = "all";
	r.terminals = (long long)d->total;
	r.never = (long long)d->never;
	r.locked = (long long)d->locked;
	csv_put(f, &r);
	for (i = 0; i < d->ng; i++) {
		const struct rkl_store_fleet_group *g = &d->g[i];

		if (g->kind == RKL_FLEET_BY_STATUS) {
			r = csv_blank("status");
			r.status = rkl_term_status_name(g->status);
			r.never = (long long)g->never_downloaded;
			r.locked = (long long)g->locked;
		} else if (g->kind == RKL_FLEET_BY_BINDING) {
			r = csv_blank("binding");
			r.auk = alg_or(g->auk_alg);
			r.tek = alg_or(g->tek_alg);
			r.oaep = oaep_or(g->oaep);
		} else if (g->kind == RKL_FLEET_BY_PROFILE) {
			r = csv_blank("profile");
			r.profile = (long long)g->profile;
		} else {
			r = csv_blank("tmk");
			r.tmk = alg_or(g->tmk_alg);
			r.tmk_state = tmk_state_or(g->tmk_state);
		}
		r.terminals = (long long)g->terminals;
		csv_put(f, &r);
	}
	for (i = 0; i < d->nev; i++) {
		r = csv_blank("activity");
		r.event = d->ev[i].event;
		snprintf(res, sizeof(res), "%d", d->ev[i].result);
		r.result = res;
		r.rows = (long long)d->ev[i].rows;
		r.terminals = (long long)d->ev[i].terminals;
		csv_put(f, &r);
	}
	for (k = 0; k < 3; k++) {
		const struct list *l = &d->lists[k];

		for (i = 0; i < l->n; i++) {
			const struct rkl_store_terminal *t = &l->rows[i];

			r = csv_blank(l->name);
			r.sn = t->sn;
			r.status = rkl_term_status_name(t->status);
			r.time = rkl_admin_fmt_time(l->which == RKL_FLEET_LOCKED ? t->locked_until :
			    l->which == RKL_FLEET_PENDING ? t->bound_at : t->created, t2, sizeof(t2));
			r.failures = (long long)t->fail_count;
			csv_put(f, &r);
		}
	}
}

/* ---- JSON ---- */

static void
put_json(FILE *f, const struct rkl_admin_report_opts *o, const struct data *d)
{
	size_t i, k;
	int kind;

	fputs("{\"ok\":true,\"generated_at\":", f);
	rkl_admin_json_time(f, o->now);
	fputs(",\"window\":{\"from\":", f);
	rkl_admin_json_time(f, o->from);
	fputs(",\"to\":", f);
	rkl_admin_json_time(f, o->to);
	fprintf(f, "},\"terminals\":{\"total\":%llu,\"registered\":%llu,\"bound\":%llu,"
	    "\"revoked\":%llu,\"never_downloaded\":%llu,\"locked\":%llu,\"tmk_pending\":%llu,"
	    "\"tmk_delivered\":%llu}",
	    (unsigned long long)d->total, (unsigned long long)d->by_status[1],
	    (unsigned long long)d->by_status[2], (unsigned long long)d->by_status[3],
	    (unsigned long long)d->never, (unsigned long long)d->locked,
	    (unsigned long long)d->pending, (unsigned long long)d->delivered);
	for (kind = RKL_FLEET_BY_STATUS; kind <= RKL_FLEET_BY_PROFILE; kind++) {
		int first = 1;

		fprintf(f, ",\"%s\":[", kind == RKL_FLEET_BY_STATUS ? "by_status" :
		    kind == RKL_FLEET_BY_BINDING ? "bindings" : kind == RKL_FLEET_BY_TMK ? "tmks" : "by_profile");
		for (i = 0; i < d->ng; i++) {
			const struct rkl_store_fleet_group *g = &d->g[i];

			if ((int)g->kind != kind)
				continue;
			fputs(first ? "{" : ",{", f);
			first = 0;
			if (kind == RKL_FLEET_BY_STATUS) {
				fprintf(f, "\"status\":\"%s\",\"terminals\":%llu,\"never_downloaded\":%llu,"
				    "\"locked\":%llu}", rkl_term_status_name(g->status),
				    (unsigned long long)g->terminals,
				    (unsigned long long)g->never_downloaded, (unsigned long long)g->locked);
			} else if (kind == RKL_FLEET_BY_BINDING) {
				fprintf(f, "\"auk_alg\":\"%s\",\"tek_alg\":\"%s\",\"oaep\":\"%s\","
				    "\"terminals\":%llu}", alg_or(g->auk_alg), alg_or(g->tek_alg),
				    oaep_or(g->oaep), (unsigned long long)g->terminals);
			} else if (kind == RKL_FLEET_BY_PROFILE) {
				fprintf(f, "\"profile\":%u,\"terminals\":%llu}", g->profile,
				    (unsigned long long)g->terminals);
			} else {
				fprintf(f, "\"tmk_alg\":\"%s\",\"tmk_state\":\"%s\",\"terminals\":%llu}",
				    alg_or(g->tmk_alg), tmk_state_or(g->tmk_state),
				    (unsigned long long)g->terminals);
			}
		}
		fputs("]", f);
	}
	fprintf(f, ",\"activity\":{\"downloads\":%llu,\"first_downloads\":%llu,"
	    "\"failed_steps\":%llu,\"lockouts\":%llu,\"abandoned_sessions\":%llu,\"events\":[",
	    (unsigned long long)d->downloads, (unsigned long long)d->first_downloads,
	    (unsigned long long)d->failed_steps, (unsigned long long)d->lockouts,
	    (unsigned long long)d->abandoned);
	for (i = 0; i < d->nev; i++) {
		const struct rkl_store_event_count *e = &d->ev[i];

		fputs(i ? ",{\"event\":" : "{\"event\":", f);
		rkl_admin_json_str(f, e->event);
		fprintf(f, ",\"result\":%d,\"result_text\":", e->result);
		rkl_admin_json_str(f, e->result == 0 ? "ok" : rkl_err_str(e->result));
		fprintf(f, ",\"rows\":%llu,\"terminals\":%llu}", (unsigned long long)e->rows,
		    (unsigned long long)e->terminals);
	}
	fputs("]}", f);
	for (k = 0; k < 3; k++) {
		const struct list *l = &d->lists[k];

		fprintf(f, ",\"%s\":{\"total\":%llu,\"terminals\":[", l->name,
		    (unsigned long long)l->total);
		for (i = 0; i < l->n; i++) {
			const struct rkl_store_terminal *t = &l->rows[i];

			fputs(i ? ",{\"sn\":" : "{\"sn\":", f);
			rkl_admin_json_str(f, t->sn);
			fprintf(f, ",\"status\":\"%s\",\"registered\":", rkl_term_status_name(t->status));
			rkl_admin_json_time(f, t->created);
			fputs(",\"bound_at\":", f);
			rkl_admin_json_time(f, t->bound_at);
			fputs(",\"last_download\":", f);
			rkl_admin_json_time(f, t->last_download);
			fprintf(f, ",\"last_result\":%d,\"fail_count\":%u,\"locked_until\":", t->last_result,
			    t->fail_count);
			rkl_admin_json_time(f, t->locked_until);
			fputs("}", f);
		}
		fputs("]}", f);
	}
	fputs("}\n", f);
}

/* ---- text ---- */

static void
put_text(FILE *f, const struct rkl_admin_report_opts *o, const struct data *d)
{
	char t1[32], t2[32], t3[32];
	size_t i, k;

	fprintf(f, "fleet report at %s\n\n", rkl_admin_fmt_time(o->now, t1, sizeof(t1)));
	fprintf(f, "terminals            %10llu\n", (unsigned long long)d->total);
	fprintf(f, "  registered         %10llu   (not bound yet)\n", (unsigned long long)d->by_status[1]);
	fprintf(f, "  bound              %10llu\n", (unsigned long long)d->by_status[2]);
	fprintf(f, "  revoked            %10llu\n", (unsigned long long)d->by_status[3]);
	fprintf(f, "  never downloaded   %10llu\n", (unsigned long long)d->never);
	fprintf(f, "  locked             %10llu\n", (unsigned long long)d->locked);
	fprintf(f, "  TMK pending        %10llu   (generated, not confirmed by the PIN pad)\n",
	    (unsigned long long)d->pending);
	fprintf(f, "  TMK delivered      %10llu\n\n", (unsigned long long)d->delivered);

	fprintf(f, "by status          %10s %10s %8s\n", "TERMINALS", "NEVER DL", "LOCKED");
	for (i = 0; i < d->ng; i++)
		if (d->g[i].kind == RKL_FLEET_BY_STATUS)
			fprintf(f, "  %-16s %10llu %10llu %8llu\n", rkl_term_status_name(d->g[i].status),
			    (unsigned long long)d->g[i].terminals,
			    (unsigned long long)d->g[i].never_downloaded,
			    (unsigned long long)d->g[i].locked);
	fprintf(f, "\nby profile         %10s\n", "TERMINALS");
	for (i = 0; i < d->ng; i++)
		if (d->g[i].kind == RKL_FLEET_BY_PROFILE)
			fprintf(f, "  %-16u %10llu\n", d->g[i].profile, (unsigned long long)d->g[i].terminals);
	fprintf(f, "\nTK bindings        %-10s %-9s %-6s %10s\n", "AUK", "TEK", "OAEP", "TERMINALS");
	for (i = 0; i < d->ng; i++)
		if (d->g[i].kind == RKL_FLEET_BY_BINDING)
			fprintf(f, "                   %-10s %-9s %-6s %10llu\n", alg_or(d->g[i].auk_alg),
			    alg_or(d->g[i].tek_alg), oaep_or(d->g[i].oaep),
			    (unsigned long long)d->g[i].terminals);
	fprintf(f, "\ncurrent TMKs       %-10s %-9s %10s\n", "ALG", "STATE", "TERMINALS");
	for (i = 0; i < d->ng; i++)
		if (d->g[i].kind == RKL_FLEET_BY_TMK)
			fprintf(f, "                   %-10s %-9s %10llu\n", alg_or(d->g[i].tmk_alg),
			    tmk_state_or(d->g[i].tmk_state), (unsigned long long)d->g[i].terminals);
	fprintf(f, "\nactivity from %s to %s\n", rkl_admin_fmt_time(o->from, t1, sizeof(t1)),
	    rkl_admin_fmt_time(o->to, t2, sizeof(t2)));
	fprintf(f, "  downloads completed  %10llu\n", (unsigned long long)d->downloads);
	fprintf(f, "  first downloads      %10llu   (TK bound)\n", (unsigned long long)d->first_downloads);
	fprintf(f, "  failed steps         %10llu\n", (unsigned long long)d->failed_steps);
	fprintf(f, "  lockouts             %10llu\n", (unsigned long long)d->lockouts);
	fprintf(f, "  abandoned sessions   %10llu\n", (unsigned long long)d->abandoned);
	if (d->nev > 0)
		fprintf(f, "  %-20s %-40s %10s %10s\n", "EVENT", "RESULT", "ROWS", "TERMINALS");
	for (i = 0; i < d->nev; i++)
		fprintf(f, "  %-20s %-40s %10llu %10llu\n", d->ev[i].event,
		    d->ev[i].result == 0 ? "ok" : rkl_err_str(d->ev[i].result),
		    (unsigned long long)d->ev[i].rows, (unsigned long long)d->ev[i].terminals);

	for (k = 0; k < 3; k++) {
		const struct list *l = &d->lists[k];

		fprintf(f, "\n%s: %llu", l->title, (unsigned long long)l->total);
		if (l->total > l->n)
			fprintf(f, " (first %zu)", l->n);
		fputc('\n', f);
		if (l->n > 0)
			fprintf(f, "  %-32s %-10s %-20s %-20s %s\n", "SN", "STATUS", "REGISTERED",
			    l->which == RKL_FLEET_LOCKED ? "LOCKED UNTIL" : "LAST DOWNLOAD", "FAILS");
		for (i = 0; i < l->n; i++) {
			const struct rkl_store_terminal *t = &l->rows[i];

			fprintf(f, "  %-32s %-10s %-20s %-20s %u\n", t->sn, rkl_term_status_name(t->status),
			    rkl_admin_fmt_time(t->created, t1, sizeof(t1)),
			    rkl_admin_fmt_time(l->which == RKL_FLEET_LOCKED ? t->locked_until :
			    t->last_download, t3, sizeof(t3)), t->fail_count);
		}
	}
}

int
rkl_admin_report(struct rkl_store *st, const struct rkl_admin_report_opts *o, FILE *out)
{
	struct data d;
	size_t k;
	int r;

	memset(&d, 0, sizeof(d));
	d.lists[0] = (struct list){ "never_downloaded", "never downloaded (oldest registration first)",
		RKL_FLEET_NEVER_DOWNLOADED, NULL, 0, 0 };
	d.lists[1] = (struct list){ "locked", "locked (longest lock first)", RKL_FLEET_LOCKED, NULL, 0, 0 };
	d.lists[2] = (struct list){ "tmk_pending", "TMK pending (oldest TMK first)", RKL_FLEET_PENDING,
		NULL, 0, 0 };
	if (st->fleet_groups == NULL || st->fleet_list == NULL || st->audit_window == NULL)
		return RKL_ERR_UNSUPPORTED;
	if ((d.g = calloc(MAX_GROUPS, sizeof(*d.g))) == NULL ||
	    (d.ev = calloc(MAX_EVENTS, sizeof(*d.ev))) == NULL) {
		r = RKL_ERR_NOMEM;
		goto out;
	}
	if ((r = st->fleet_groups(st->ctx, o->now, d.g, MAX_GROUPS, &d.ng)) != 0 ||
	    (r = st->audit_window(st->ctx, o->from, o->to, d.ev, MAX_EVENTS, &d.nev)) != 0)
		goto out;
	for (k = 0; k < 3; k++) {
		if (o->limit > 0 && (d.lists[k].rows = calloc(o->limit, sizeof(*d.lists[k].rows))) == NULL) {
			r = RKL_ERR_NOMEM;
			goto out;
		}
		/* the totals come from the groups: no second pass to count */
		if ((r = st->fleet_list(st->ctx, d.lists[k].which, o->now, d.lists[k].rows, o->limit,
		    &d.lists[k].n, NULL)) != 0)
			goto out;
	}
	totals(&d);
	d.lists[0].total = d.never;
	d.lists[1].total = d.locked;
	d.lists[2].total = d.pending;
	if (o->fmt == RKL_ADMIN_REPORT_JSON)
		put_json(out, o, &d);
	else if (o->fmt == RKL_ADMIN_REPORT_CSV)
		put_csv(out, o, &d);
	else
		put_text(out, o, &d);
out:
	for (k = 0; k < 3; k++)
		free(d.lists[k].rows);
	free(d.ev);
	free(d.g);
	return r;
}
