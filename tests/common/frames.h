/*
 * Valid frames of every message type, for the out-of-order tests of both
 * state machines (tests/kms: the KMS, tests/pinpad: the PIN pad).  Each
 * field holds a well-formed dummy (an SPKI-shaped DER SEQUENCE shell, an
 * all-zero ciphertext, SN "SN0001"): enough for the codec to accept the frame
 * so that the state machine's own checks are what the test reaches.
 * Test-only: the frames carry no real keys and prove nothing.
 */
#ifndef RKL_TEST_FRAMES_H
#define RKL_TEST_FRAMES_H

#include <stddef.h>
#include <stdint.h>

/*
 * Encode a frame of the given type with session id session (NULL: zeros)
 * and, in PUBKEY_REQ, the PIN pad serial pinpad_sn, into out (cap bytes).
 * Returns its length; fails the running test if the type has no dummy
 * (ERROR, unknown types) or the frame does not fit.
 */
size_t frame_of_type(uint8_t type, const uint8_t *session, const char *pinpad_sn,
    uint8_t *out, size_t cap);

#endif
