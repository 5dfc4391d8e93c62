#include <stdarg.h>
#include <stdio.h>

#include "core/core.h"
#include "vbpr/error.h"

/* Plain _Thread_local with the default TLS model: initial-exec would break
 * dlopen(), which is how ctypes loads the library. */
static _Thread_local char tls_message[512];
static _Thread_local vbpr_status tls_status = VBPR_OK;

vbpr_status vbpr__error(vbpr_status status, const char *func, const char *fmt, ...)
{
  int n = snprintf(tls_message, sizeof tls_message, "%s: ", func ? func : "vbpr");
  if (n < 0 || (size_t)n >= sizeof tls_message) n = 0;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(tls_message + n, sizeof tls_message - (size_t)n, fmt, ap);
  va_end(ap);
  tls_status = status;
  return status;
}

const char *vbpr_last_error(void) { return tls_message; }

vbpr_status vbpr_last_status(void) { return tls_status; }

void vbpr_error_clear(void)
{
  tls_message[0] = '\0';
  tls_status = VBPR_OK;
}

const char *vbpr_status_string(vbpr_status status)
{
  switch (status) {
  case VBPR_OK: return "ok";
  case VBPR_ERR_INVALID_ARGUMENT: return "invalid argument";
  case VBPR_ERR_OUT_OF_MEMORY: return "out of memory";
  case VBPR_ERR_IO: return "input/output error";
  case VBPR_ERR_PARSE: return "parse error";
  case VBPR_ERR_OUT_OF_RANGE: return "value out of range";
  case VBPR_ERR_STATE: return "call out of order";
  case VBPR_ERR_UNSUPPORTED: return "not supported by this build";
  case VBPR_ERR_NUMERIC: return "non-finite number";
  case VBPR_ERR_INTERRUPTED: return "interrupted";
  }
  return "unknown status";
}
