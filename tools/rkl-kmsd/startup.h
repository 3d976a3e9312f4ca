/*
 * rkl-kmsd start-up (startup.c): detaching with start-up errors still on the
 * caller's stderr, core dumps, and every check before serving - state file
 * permissions, PIN source, HSM token, OAEP hash, shared transport pair size,
 * database identity.  Every fatal failure goes to the log and to stderr and
 * names what failed (docs/operations.md, "Start-up checks").
 */
#ifndef RKL_KMSD_STARTUP_H
#define RKL_KMSD_STARTUP_H

#include "rkl/hsm.h"
#include "rkl/kmsd.h"
#include "rkl/store.h"

/*
 * Without --foreground: fork; the parent waits until the child calls
 * kmsd_ready (exit 0) or exits (its status), so start-up errors reach the
 * caller's stderr and exit code.  The child starts a new session.  -1 if
 * fork failed.
 */
int kmsd_detach(void);

/* Start-up succeeded: release a waiting parent, stderr to /dev/null when detached. */
void kmsd_ready(void);

/*
 * A fatal start-up failure: one "error" log line and, unless the log is
 * stderr already, the same on stderr ("rkl-kmsd: ...").
 */
void kmsd_fatal(const struct rkl_kmsd_config *cfg, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/*
 * Everything between reading the configuration and listening: core dumps
 * off (unless core_dumps = yes), permissions, PIN, HSM (*hsm), OAEP hash,
 * shared pair, database (*store, opened and identity-checked).  0, or -1
 * after kmsd_fatal with nothing left open.
 */
int kmsd_startup(const struct rkl_kmsd_config *cfg, struct rkl_hsm **hsm, struct rkl_store *store);

#endif
