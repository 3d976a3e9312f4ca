/*
 * rkl-kmsd and the service manager (notify.c): systemd's readiness protocol
 * (sd_notify(3)) without libsystemd - one datagram of "KEY=VALUE\n" lines to
 * the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or "@name" for the
 * abstract namespace), nothing when it is unset (architecture.md, decision
 * 130: no libsystemd).
 */
#ifndef RKL_KMSD_NOTIFY_H
#define RKL_KMSD_NOTIFY_H

/*
 * Send state ("READY=1\nSTATUS=...", "RELOADING=1", "STOPPING=1") to
 * $NOTIFY_SOCKET.  0 if sent or if NOTIFY_SOCKET is unset or empty; -1 (errno
 * set) if it names no usable socket (EINVAL: neither '/' nor '@' first, or
 * too long) or sending failed.
 */
int kmsd_notify(const char *state);

#endif
