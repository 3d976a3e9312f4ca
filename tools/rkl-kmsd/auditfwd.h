/*
 * rkl-kmsd's live audit forwarder (auditfwd.c; docs/operations.md "Audit
 * forwarding"): with audit_syslog set, a thread sends every audit row
 * committed after kmsd started, as rkl-admin audit export writes it in its
 * RFC 5424 form (audit_export.c: header, rows with their chain hash, end
 * record), one message per datagram, to a UDP syslog receiver
 * ("udp:HOST:PORT") or a local datagram socket ("unix:/PATH").  It reads
 * through a store connection of its own, so it sees committed rows only.
 */
#ifndef RKL_KMSD_AUDITFWD_H
#define RKL_KMSD_AUDITFWD_H

#include "rkl/kmsd.h"

struct kmsd_auditfwd;

/*
 * Start forwarding the rows after the current last one (cfg->audit_syslog,
 * cfg->database).  0, or -1 after logging what failed (the target cannot be
 * resolved or the store opened).
 */
int kmsd_auditfwd_start(const struct rkl_kmsd_config *cfg, struct kmsd_auditfwd **out);
/* Forward what is committed by now, stop, free (NULL: nothing). */
void kmsd_auditfwd_stop(struct kmsd_auditfwd *f);

#endif
