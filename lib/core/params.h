/* One parameter-spec type and one validator for every object configured
 * through vbpr_<object>_set(obj, param, double): loss, sampler, optimizer,
 * trainer, encoder, dataset options and synthetic data. The same table answers the
 * setter's validation, the public bounds query and the lookup by name, so
 * the CLI and the bindings never copy a range. Internal; not installed. */
#ifndef VBPR_LIB_CORE_PARAMS_H
#define VBPR_LIB_CORE_PARAMS_H

#include <stdbool.h>
#include <stddef.h>

#include "vbpr/common.h"

/* A name a parameter's value may be given by ("elbo", "easy"); a value may
 * have several (aliases such as the reference code's "exact"). */
typedef struct vbpr__named_value {
  const char *name;
  double value;
} vbpr__named_value;

/* One parameter. Ranges are inclusive unless a VBPR_PARAM_*_EXCLUSIVE flag
 * says otherwise; flags are those of vbpr_param_bounds. */
typedef struct vbpr__param_spec {
  const char *name; /* lower case; NULL: no parameter has this enum value */
  double min, max, def;
  unsigned flags;
  const vbpr__named_value *values; /* {NULL, 0}-terminated, or NULL */
} vbpr__param_spec;

/* A table indexed by the enum value; `what` names the enum in messages. */
typedef struct vbpr__param_table {
  const vbpr__param_spec *spec;
  size_t n;
  const char *what;
} vbpr__param_table;

#define VBPR__ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Defines `var`, a table over the spec array `arr`, and ties the array to
 * its enum: built with designated initialisers, it must end exactly at the
 * enum's last value `last`. */
#define VBPR__DEFINE_PARAM_TABLE(var, arr, last, what)                         \
  _Static_assert(VBPR__ARRAY_LEN(arr) == (size_t)(last) + 1,                  \
                 #arr ": one entry per value of its enum, up to " #last);     \
  static const vbpr__param_table var = {(arr), VBPR__ARRAY_LEN(arr), (what)}

/* The spec of parameter p, or NULL when p is not one of the table's. */
const vbpr__param_spec *vbpr__param_spec_of(const vbpr__param_table *t, int p);

/* The spec of p, or an INVALID_ARGUMENT error naming the enum. */
vbpr_status vbpr__param_find(const vbpr__param_table *t, int p,
                             const vbpr__param_spec **spec, const char *func);

/* Validates v against spec: finite, in range, integral, one of the named
 * values. The message reads "<name> must be ..., got <v>". */
vbpr_status vbpr__param_check(const vbpr__param_spec *spec, double v, const char *func);

/* vbpr_<object>_param_bounds(). */
vbpr_status vbpr__param_bounds(const vbpr__param_table *t, int p, vbpr_param_bounds *out,
                               const char *func);

/* vbpr_<object>_param_from_name(): case-insensitive, '-' matches '_'. */
vbpr_status vbpr__param_from_name(const vbpr__param_table *t, const char *name, int *p,
                                  const char *func);

/* vbpr_<object>_param_name(): NULL for an unknown p. */
const char *vbpr__param_name(const vbpr__param_table *t, int p);

/* vbpr_<object>_param_parse(): a number, or one of the value names of p;
 * the result is validated as by the setter. */
vbpr_status vbpr__param_parse(const vbpr__param_table *t, int p, const char *text,
                              double *value, const char *func);

/* The public functions of an object's parameters, defined over its table
 * `tbl` in one line per object: vbpr_<object>_param_name(),
 * _param_from_name() and _param_parse(); with VBPR__PARAM_BOUNDS_API also
 * _param_bounds() for objects whose bounds do not depend on a kind. */
#define VBPR__PARAM_NAME_API(object, enum_t, tbl)                                   \
  const char *vbpr_##object##_param_name(enum_t p)                                  \
  {                                                                                 \
    return vbpr__param_name(&(tbl), (int)p);                                        \
  }                                                                                 \
  vbpr_status vbpr_##object##_param_from_name(const char *name, enum_t *p)          \
  {                                                                                 \
    int v = 0;                                                                      \
    vbpr_status st = vbpr__param_from_name(&(tbl), name, &v, __func__);             \
    if (st == VBPR_OK) *p = (enum_t)v;                                              \
    return st;                                                                      \
  }                                                                                 \
  vbpr_status vbpr_##object##_param_parse(enum_t p, const char *text, double *value) \
  {                                                                                 \
    return vbpr__param_parse(&(tbl), (int)p, text, value, __func__);                \
  }

#define VBPR__PARAM_BOUNDS_API(object, enum_t, tbl)                                 \
  vbpr_status vbpr_##object##_param_bounds(enum_t p, vbpr_param_bounds *bounds)     \
  {                                                                                 \
    return vbpr__param_bounds(&(tbl), (int)p, bounds, __func__);                    \
  }

/* Compares a name with a key as the lookups do. */
bool vbpr__name_matches(const char *key, const char *name);

#endif
