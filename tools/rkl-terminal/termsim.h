/*
 * The terminal simulator's download driver, kept apart from main() so that
 * other drivers (the benchmark's non-blocking fleet) can reuse the pieces:
 * the file-backed platform (filestore.h), the test-only tamper switches
 * applied to outgoing frames, and the mapping of an outcome to the
 * documented exit codes.  The blocking driver term_download() is one loop
 * over rkl_pinpad_want(); a non-blocking driver runs the same loop from its
 * event callbacks.
 */
#ifndef RKL_TERMSIM_H
#define RKL_TERMSIM_H

#include <stddef.h>
#include <stdint.h>

#include "rkl/pinpad.h"

/* Exit codes of rkl-terminal (docs/operations.md, "Terminal simulator"). */
#define TERM_EXIT_OK 0
#define TERM_EXIT_USAGE 1	/* bad command line */
#define TERM_EXIT_STATE 2	/* configuration or state: not initialised, in use, storage I/O */
#define TERM_EXIT_NET 3		/* connect, timeout, connection lost */
#define TERM_EXIT_REFUSED 4	/* the KMS answered ERROR (code shown) */
#define TERM_EXIT_VERIFY 5	/* authentication or verification failure */
#define TERM_EXIT_INTERNAL 6	/* internal error */

/* Test-only tamper switches (flip one bit of a field before sending). */
#define TERM_TAMPER_CRND2 0x01u		/* AUTH_RESPONSE.CRND2 */
#define TERM_TAMPER_TK_HASH 0x02u	/* TK_UPLOAD.TK_HASH */
#define TERM_TAMPER_AUK_KCV 0x04u	/* TK_UPLOAD.AUK_KCV */
#define TERM_TAMPER_CONFIRM_KCV 0x08u	/* TMK_CONFIRM.KCV */

/* Parse "crnd2", "tk-hash", "auk-kcv", "confirm-kcv"; 0 if unknown. */
unsigned term_tamper_parse(const char *s);

/*
 * Apply the tamper switches to an outgoing frame in place (its length does
 * not change).  Returns 0 or a codec error.
 */
int term_tamper_frame(uint8_t *frame, size_t len, unsigned tamper);

struct term_opts {
	const char *kms;		/* HOST:PORT */
	int connect_timeout_ms;		/* connect */
	int timeout_ms;			/* each message sent or awaited */
	unsigned tamper;		/* TERM_TAMPER_*, test only */
	uint8_t abort_after;		/* test only: close after sending this type, 0 = never */
};

struct term_outcome {
	int err;			/* 0 or the first error */
	int net;			/* err came from the network */
	int aborted;			/* stopped by abort_after */
	uint16_t peer_code;		/* ERROR code received from the KMS, 0 if none */
	enum rkl_pinpad_state failed_in;	/* state when it failed */
	int start_step;			/* 0 or 5 */
	unsigned sent, received;	/* frames */
	struct rkl_pinpad_result res;	/* valid when err == 0 */
};

/*
 * Run one download with pp (initialised, not started; start_full = 1 forces
 * S0): connect, loop, close.  Always fills *out; returns out->err.
 */
int term_download(struct rkl_pinpad *pp, int start_full, const struct term_opts *o,
    struct term_outcome *out);

/* The exit code for an outcome (TERM_EXIT_*). */
int term_exit_code(const struct term_outcome *o);

/* The exit code for a library error outside a download (init, show, erase). */
int term_exit_for_error(int err);

#endif
