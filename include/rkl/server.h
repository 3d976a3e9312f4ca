/*
 * rkl/server.h - the KMS server core (src/kms/server.c, static lib rkl_kms)
 * and its libevent binding (src/kms/server_ev.c).
 *
 * The core owns everything rkl-kmsd does with a connection between accept
 * and close: reading frames (bounded by max_frame), running the KMS state
 * machine (rkl/kms.h) on them, parking replies until every store group
 * their step touched is durable (group commit, rkl/kmsd.h), replacing a
 * reply whose group was lost by an ERROR and a close, every timeout and
 * deadline, and the log lines of all of it.  It does no I/O and reads no
 * clock of its own: three seams give it what it needs.
 *
 *   - struct rkl_srv_env: the monotonic clock every timeout and deadline is
 *     measured on, and the random source (session ids).
 *   - struct rkl_srv_backend: the key service and the group-commit calls
 *     (rkl_srv_backend_ks binds them to rkl/kmsd.h's service).
 *   - struct rkl_srv_transport: accept/read/send/close of one connection
 *     (an opaque handle), and "wake me at time T" for its deadlines.
 *
 * Threads: the server (struct rkl_srv) is shared; each event loop drives one
 * struct rkl_srv_worker and the connections it accepted, and calls into the
 * core for them from its own thread only.  Everything shared between
 * workers (open-connection count, connection ids, the backend) is atomic or
 * thread-safe.
 *
 * Driving a worker (what an event loop does, in this order per pass):
 *   rkl_srv_accept     for a new connection (the core may refuse it: then
 *                      it has already called transport close);
 *   rkl_srv_readable / rkl_srv_writable / rkl_srv_wake
 *                      for a connection's events (any of them may end it:
 *                      transport close is then called before they return);
 *   rkl_srv_pass_end   after every pass over the ready events: commits the
 *                      group and sends the parked replies; returns when to
 *                      call it again at the latest if the group waits.
 * The handle passed to rkl_srv_accept is the transport's; the core gives it
 * back in every transport call and never uses it after transport close.
 */
#ifndef RKL_SERVER_H
#define RKL_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "rkl/kms.h"
#include "rkl/kmsd.h"

#ifdef __cplusplus
extern "C" {
#endif

struct rkl_srv;
struct rkl_srv_worker;
struct rkl_srv_conn;

/* The clock and random seam. */
struct rkl_srv_env {
	void *ctx;
	uint64_t (*now_us)(void *ctx);			/* monotonic, microseconds */
	int (*random)(void *ctx, void *buf, size_t n);	/* 0, or an RKL_ERR_* code */
};
/* CLOCK_MONOTONIC and getrandom(2). */
void rkl_srv_env_system(struct rkl_srv_env *e);

struct rkl_srv_peer;

/* The key service and group commit, per rkl/kmsd.h's rkl_kmsd_ks_* calls. */
struct rkl_srv_backend {
	void *ctx;
	struct rkl_keysvc keysvc;			/* for rkl_kms_session_init */
	/* A session's record for a connection from peer (address alone, and with port); NULL: no memory. */
	void *(*sess_new)(void *ctx, const struct rkl_srv_peer *peer);
	void (*sess_free)(void *ctx, void *sess);
	/* After each step of sess (may be NULL): rkl_kmsd_ks_step_end. */
	void (*step_end)(void *ctx, void *sess);
	uint64_t (*group_first)(void *ctx);
	uint64_t (*group)(void *ctx);
	int (*commit)(void *ctx);
	int (*groups_state)(void *ctx, uint64_t lo, uint64_t hi);
};
/* The backend of rkl-kmsd: the key service on the HSM and the store. */
void rkl_srv_backend_ks(struct rkl_kmsd_ks *ks, struct rkl_srv_backend *out);

/* A connection's peer, as the transport knows it. */
struct rkl_srv_peer {
	char addr[48];		/* the source address alone (limits per source), "" if none */
	char text[64];		/* address and port, for log lines and audit rows */
};

/*
 * The transport seam.  recv: 0 with *got > 0 bytes read, RKL_ERR_INCOMPLETE
 * if nothing is there now (wait for readable), RKL_ERR_PEER at end of
 * stream or on an error.  send: 0 with *sent bytes taken (fewer than len:
 * wait for writable), RKL_ERR_PEER on an error.  arm: what the connection
 * waits for now (readable, writable) and the time (env clock) at which to
 * call rkl_srv_wake (0: none); each call replaces the previous one.  close:
 * close and free the handle (the core never uses it again).
 */
struct rkl_srv_transport {
	void *ctx;
	int (*recv)(void *ctx, void *h, uint8_t *buf, size_t cap, size_t *got);
	int (*send)(void *ctx, void *h, const uint8_t *buf, size_t len, size_t *sent);
	void (*arm)(void *ctx, void *h, int want_read, int want_write, uint64_t wake_at);
	void (*close)(void *ctx, void *h);
};

/*
 * Create the server for cfg (max_frame, idle_timeout, max_connections,
 * group_commit, group_commit_delay, shutdown_timeout, and the bounds on
 * clients that never authenticate: frame_timeout, login_grace_time,
 * max_startups, max_startups_per_source, log_rate_burst/interval).  cfg, backend and env are copied by pointer and must
 * outlive it.  Returns 0 or RKL_ERR_NOMEM.
 */
int rkl_srv_new(const struct rkl_kmsd_config *cfg, const struct rkl_srv_backend *backend,
    const struct rkl_srv_env *env, struct rkl_srv **out);
void rkl_srv_free(struct rkl_srv *srv);
/*
 * Change log_rate_burst and log_rate_interval (rkl-kmsd's SIGHUP); any
 * thread, while the workers run.  An interval under way keeps its start.
 */
void rkl_srv_set_log_rate(struct rkl_srv *srv, unsigned burst, unsigned interval);
/* Lower the connection limit below cfg->max_connections (open-file limit). */
void rkl_srv_set_max_conns(struct rkl_srv *srv, unsigned max_conns);
unsigned rkl_srv_max_conns(const struct rkl_srv *srv);
/* Open connections now, process-wide. */
unsigned rkl_srv_open_conns(const struct rkl_srv *srv);
/* Of them, sessions not past S5 (what max_startups counts). */
unsigned rkl_srv_unauth_conns(struct rkl_srv *srv);
/* The env clock, for transports turning wake times into timers. */
uint64_t rkl_srv_now(const struct rkl_srv *srv);

/* A worker for one event loop, with transport t (copied by pointer). */
int rkl_srv_worker_new(struct rkl_srv *srv, const struct rkl_srv_transport *t,
    struct rkl_srv_worker **out);
/* Ends every connection left (as a shutdown does), commits, frees. */
void rkl_srv_worker_free(struct rkl_srv_worker *w);

/*
 * A new connection with transport handle h.  Returns the connection, or
 * NULL if it was refused (max_connections, a stopping worker, no memory):
 * the handle is closed then.
 */
struct rkl_srv_conn *rkl_srv_accept(struct rkl_srv_worker *w, void *h, const struct rkl_srv_peer *peer);
/* The connection's events.  Each may end it (transport close, then c is gone). */
void rkl_srv_readable(struct rkl_srv_conn *c);
void rkl_srv_writable(struct rkl_srv_conn *c);
void rkl_srv_wake(struct rkl_srv_conn *c);
/*
 * End of a pass of the worker's loop: commit the group and send the parked
 * replies, unless the group may wait for more steps (group_commit_delay):
 * then returns the time (env clock) to call it again at the latest, else 0.
 */
uint64_t rkl_srv_pass_end(struct rkl_srv_worker *w);

/*
 * Shutdown: stop accepting, end the idle connections, let replies on their
 * way go out and then end those connections too.  Returns the time (env
 * clock) of the shutdown_timeout deadline; at it, call rkl_srv_worker_free.
 */
uint64_t rkl_srv_worker_stop(struct rkl_srv_worker *w);
/* Connections the worker still has. */
unsigned rkl_srv_worker_conns(const struct rkl_srv_worker *w);

/* ------------------------------------------------------------------------
 * The libevent binding (src/kms/server_ev.c): a listening TCP socket and
 * cfg->workers threads, each with its own event loop, its own listener on
 * that socket and its own worker of the core; the clock is env's.
 * ------------------------------------------------------------------------ */

struct rkl_srv_net;

/*
 * Bind cfg->listen_host:listen_port, start the worker threads.  *port gets
 * the bound port.  Returns 0 or RKL_ERR_IO (logged, with what failed).  The
 * caller should block the signals it handles before (the threads inherit
 * the mask).
 */
int rkl_srv_net_start(struct rkl_srv *srv, const struct rkl_kmsd_config *cfg,
    struct rkl_srv_net **out, uint16_t *port);
/* Ask every worker to stop (rkl_srv_worker_stop); any thread, not a signal handler. */
void rkl_srv_net_stop(struct rkl_srv_net *n);
/* Join the workers (after rkl_srv_net_stop), free everything. */
void rkl_srv_net_free(struct rkl_srv_net *n);

#ifdef __cplusplus
}
#endif
#endif /* RKL_SERVER_H */
