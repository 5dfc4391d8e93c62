/*
 * libvbpr: status strings and the per-thread last-error message.
 */
#ifndef VBPR_ERROR_H
#define VBPR_ERROR_H

#include "vbpr/common.h"

VBPR_BEGIN_DECLS

/**
 * A short, static, English description of @p status (e.g. "invalid
 * argument"). Never NULL; unknown values give "unknown status".
 * The string has static storage duration and must not be freed.
 */
VBPR_API const char *vbpr_status_string(vbpr_status status);

/**
 * The message of the last failure on the calling thread, naming the function,
 * the offending parameter and its value, e.g.
 * "vbpr_loss_set: c_pos must be in [1e-06, 1000000], got -1" (tests/test_api.c
 * checks that this example is the real message).
 *
 * Never NULL: it is "" when no call on this thread has failed since the
 * thread started or since vbpr_error_clear(). Successful calls do not clear
 * it, so read it right after a call returned an error. The pointer refers to
 * thread-local storage owned by the library; it stays valid on this thread
 * until the next libvbpr call that fails or clears the message.
 */
VBPR_API const char *vbpr_last_error(void);

/** The status of the last failure on the calling thread (VBPR_OK if none). */
VBPR_API vbpr_status vbpr_last_status(void);

/** Clears the calling thread's last error (message "" and VBPR_OK). */
VBPR_API void vbpr_error_clear(void);

VBPR_END_DECLS

#endif /* VBPR_ERROR_H */
