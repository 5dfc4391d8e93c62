/* vbpr_encoder_param: the kinds' parameter tables and the public functions
 * that answer from them. Each kind's registry entry points to its table
 * (NULL: no parameters); names and parsing are answered by the first kind
 * that has the parameter, so a new kind with parameters needs no line
 * here beyond its table. Compiled in every build: a stub points to the
 * same table as its kind. */
#include <string.h>

#include "core/core.h"
#include "core/params.h"
#include "encoder/encoder_impl.h"

/* XSimGCL, defaults of its reference code (SELFRec, conf/XSimGCL):
 * n_layer 2, l* 1, lambda 0.2, eps 0.2, tau 0.15. */
static const vbpr__param_spec xsimgcl_specs[] = {
  [VBPR_ENCODER_NOISE_EPS] = {"noise_eps", 0, 100, 0.2, 0, NULL},
  [VBPR_ENCODER_CL_TAU] = {"cl_tau", 1e-4, 1e4, 0.15, 0, NULL},
  [VBPR_ENCODER_CL_WEIGHT] = {"cl_weight", 0, 1e6, 0.2, 0, NULL},
  [VBPR_ENCODER_CL_LAYER] = {"cl_layer", 1, VBPR_LIGHTGCN_MAX_LAYERS, 1, VBPR_PARAM_INTEGRAL,
                             NULL},
};
_Static_assert(VBPR__ARRAY_LEN(xsimgcl_specs) == (size_t)VBPR_ENCODER_CL_LAYER + 1,
               "xsimgcl_specs: one entry per vbpr_encoder_param value");
_Static_assert(VBPR__ARRAY_LEN(xsimgcl_specs) == VBPR__ENCODER_NPARAMS,
               "encoder parameter storage");
const vbpr__param_table vbpr__xsimgcl_params = {xsimgcl_specs,
                                                VBPR__ARRAY_LEN(xsimgcl_specs),
                                                "vbpr_encoder_param"};

/* The first registered kind whose table has p (or, with p = 0, the first
 * with a table at all); NULL if none. */
static const vbpr__param_table *table_with(int p)
{
  for (size_t i = 0; i < vbpr__encoder_kind_count(); i++) {
    const vbpr__param_table *t = vbpr__encoder_kind_at(i)->params;
    if (t != NULL && (p == 0 || vbpr__param_spec_of(t, p) != NULL)) return t;
  }
  return NULL;
}

/* The spec of p on a kind, or an error saying why there is none. */
static vbpr_status spec_for(const vbpr__encoder_kind_info *k, int p,
                            const vbpr__param_spec **spec, const char *func)
{
  const vbpr__param_table *any = table_with(p);
  if (any == NULL)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func, "%d is not a vbpr_encoder_param value",
                       p);
  *spec = k->params ? vbpr__param_spec_of(k->params, p) : NULL;
  if (*spec == NULL)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func, "%s does not apply to a %s encoder",
                       vbpr__param_name(any, p), k->name);
  return VBPR_OK;
}

vbpr_status vbpr_encoder_param_bounds(vbpr_encoder_kind kind, vbpr_encoder_param p,
                                      vbpr_param_bounds *bounds)
{
  VBPR_CHECK_NULL(bounds);
  const vbpr__encoder_kind_info *k = vbpr__encoder_kind_find((int)kind);
  if (k == NULL)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "unknown encoder kind %d", (int)kind);
  const vbpr__param_spec *s;
  vbpr_status st = spec_for(k, (int)p, &s, __func__);
  if (st != VBPR_OK) return st;
  return vbpr__param_bounds(k->params, (int)p, bounds, __func__);
}

const char *vbpr_encoder_param_name(vbpr_encoder_param p)
{
  const vbpr__param_table *t = table_with((int)p);
  return t ? vbpr__param_name(t, (int)p) : NULL;
}

vbpr_status vbpr_encoder_param_from_name(const char *name, vbpr_encoder_param *p)
{
  VBPR_CHECK_NULL(name);
  VBPR_CHECK_NULL(p);
  for (size_t i = 0; i < vbpr__encoder_kind_count(); i++) {
    const vbpr__param_table *t = vbpr__encoder_kind_at(i)->params;
    int v = 0;
    for (size_t j = 1; t != NULL && j < t->n; j++)
      if (t->spec[j].name != NULL && vbpr__name_matches(name, t->spec[j].name)) v = (int)j;
    if (v != 0) {
      *p = (vbpr_encoder_param)v;
      return VBPR_OK;
    }
  }
  int unused;
  const vbpr__param_table *t = table_with(0);
  if (t != NULL) return vbpr__param_from_name(t, name, &unused, __func__); /* the message */
  return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "unknown vbpr_encoder_param name '%.64s'", name);
}

vbpr_status vbpr_encoder_param_parse(vbpr_encoder_param p, const char *text, double *value)
{
  const vbpr__param_table *t = table_with((int)p);
  if (t == NULL)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "%d is not a vbpr_encoder_param value", (int)p);
  return vbpr__param_parse(t, (int)p, text, value, __func__);
}

/* The table's bounds, then what depends on this encoder. */
static vbpr_status check_value(const vbpr_encoder *enc, vbpr_encoder_param p, double v,
                               const char *func)
{
  const vbpr__param_spec *s;
  vbpr_status st = spec_for(enc->ops->info, (int)p, &s, func);
  if (st == VBPR_OK) st = vbpr__param_check(s, v, func);
  if (st != VBPR_OK) return st;
  /* A layer index must name one of the encoder's layers. */
  if (p == VBPR_ENCODER_CL_LAYER && v > enc->num_layers)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                       "cl_layer must be at most the encoder's layers (%d), got %.0f",
                       (int)enc->num_layers, v);
  return VBPR_OK;
}

vbpr_status vbpr_encoder_set(vbpr_encoder *enc, vbpr_encoder_param p, double value)
{
  VBPR_CHECK_NULL(enc);
  vbpr_status st = check_value(enc, p, value, __func__);
  if (st != VBPR_OK) return st;
  enc->params[p] = value;
  return VBPR_OK;
}

vbpr_status vbpr_encoder_get(const vbpr_encoder *enc, vbpr_encoder_param p, double *value)
{
  VBPR_CHECK_NULL(enc);
  VBPR_CHECK_NULL(value);
  const vbpr__param_spec *s;
  vbpr_status st = spec_for(enc->ops->info, (int)p, &s, __func__);
  if (st != VBPR_OK) return st;
  *value = enc->params[p];
  return VBPR_OK;
}
