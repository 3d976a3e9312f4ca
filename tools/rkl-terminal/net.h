/*
 * Blocking TCP with poll() timeouts for the terminal simulator: connect,
 * send a frame, receive exactly one frame (rkl_wire_frame_need).  Errors:
 * RKL_ERR_TIMEOUT, RKL_ERR_IO (connect refused, reset), RKL_ERR_PEER (the
 * KMS closed the connection), RKL_ERR_CONFIG (bad HOST:PORT), or the frame
 * errors of rkl_wire_frame_need().
 */
#ifndef RKL_TERM_NET_H
#define RKL_TERM_NET_H

#include <stddef.h>
#include <stdint.h>

/* Connect to "host:port" ("[v6]:port" too) within timeout_ms; *fd on success. */
int term_net_connect(const char *hostport, int timeout_ms, int *fd);

/* Send len bytes within timeout_ms. */
int term_net_send(int fd, const uint8_t *p, size_t len, int timeout_ms);

/* Receive one complete frame into buf (cap bytes) within timeout_ms. */
int term_net_recv_frame(int fd, uint8_t *buf, size_t cap, size_t *len, int timeout_ms);

#endif
