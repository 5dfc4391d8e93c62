/* The parameter-spec validator shared by every configurable object. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/params.h"

const vbpr__param_spec *vbpr__param_spec_of(const vbpr__param_table *t, int p)
{
  if (p < 0 || (size_t)p >= t->n || t->spec[p].name == NULL) return NULL;
  return &t->spec[p];
}

vbpr_status vbpr__param_find(const vbpr__param_table *t, int p,
                             const vbpr__param_spec **spec, const char *func)
{
  *spec = vbpr__param_spec_of(t, p);
  if (*spec == NULL)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func, "%d is not a %s value", p,
                       t->what);
  return VBPR_OK;
}

/* Integral values exactly, others in the shortest usual form. */
static void fmt_num(char *buf, size_t len, double v)
{
  if (v == floor(v) && fabs(v) <= 9007199254740992.0)
    snprintf(buf, len, "%.0f", v);
  else
    snprintf(buf, len, "%g", v);
}

/* "one of a (1), b (2)" into buf. */
static void fmt_names(char *buf, size_t len, const vbpr__named_value *nv)
{
  size_t at = 0;
  buf[0] = '\0';
  for (; nv->name != NULL && at < len; nv++) {
    char num[32];
    fmt_num(num, sizeof num, nv->value);
    int w = snprintf(buf + at, len - at, "%s%s (%s)", at ? ", " : "", nv->name, num);
    if (w < 0) break;
    at += (size_t)w;
  }
}

static bool in_range(const vbpr__param_spec *s, double v)
{
  bool lo = s->flags & VBPR_PARAM_MIN_EXCLUSIVE ? v > s->min : v >= s->min;
  bool hi = s->flags & VBPR_PARAM_MAX_EXCLUSIVE ? v < s->max : v <= s->max;
  return isfinite(v) && lo && hi;
}

static bool is_named_value(const vbpr__param_spec *s, double v)
{
  for (const vbpr__named_value *nv = s->values; nv->name != NULL; nv++)
    if (nv->value == v) return true;
  return false;
}

vbpr_status vbpr__param_check(const vbpr__param_spec *s, double v, const char *func)
{
  char got[40];
  fmt_num(got, sizeof got, v);
  if (s->flags & VBPR_PARAM_NAMED) {
    if (s->values != NULL && is_named_value(s, v)) return VBPR_OK;
    char names[320];
    fmt_names(names, sizeof names, s->values);
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func, "%s must be one of %s, got %s",
                       s->name, names, got);
  }
  bool integral = (s->flags & VBPR_PARAM_INTEGRAL) != 0;
  if (in_range(s, v) && (!integral || v == floor(v))) return VBPR_OK;
  char lo[40], hi[40];
  fmt_num(lo, sizeof lo, s->min);
  fmt_num(hi, sizeof hi, s->max);
  return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func, "%s must be %sin %c%s, %s%c, got %s",
                     s->name, integral ? "an integer " : "",
                     s->flags & VBPR_PARAM_MIN_EXCLUSIVE ? '(' : '[', lo, hi,
                     s->flags & VBPR_PARAM_MAX_EXCLUSIVE ? ')' : ']', got);
}

vbpr_status vbpr__param_bounds(const vbpr__param_table *t, int p, vbpr_param_bounds *out,
                               const char *func)
{
  if (out == NULL)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func, "bounds must not be NULL");
  const vbpr__param_spec *s;
  vbpr_status st = vbpr__param_find(t, p, &s, func);
  if (st != VBPR_OK) return st;
  *out = (vbpr_param_bounds){s->min, s->max, s->def, s->flags};
  return VBPR_OK;
}

/* Lower case, with '-' as '_'. */
static char fold(char c) { return c == '-' ? '_' : (char)tolower((unsigned char)c); }

bool vbpr__name_matches(const char *key, const char *name)
{
  for (; *key && *name; key++, name++)
    if (fold(*key) != fold(*name)) return false;
  return *key == '\0' && *name == '\0';
}

/* "a, b, c" of the table's parameter names into buf. */
static void fmt_param_names(const vbpr__param_table *t, char *buf, size_t len)
{
  size_t at = 0;
  buf[0] = '\0';
  for (size_t p = 0; p < t->n && at < len; p++) {
    if (t->spec[p].name == NULL) continue;
    int w = snprintf(buf + at, len - at, "%s%s", at ? ", " : "", t->spec[p].name);
    if (w < 0) break;
    at += (size_t)w;
  }
}

vbpr_status vbpr__param_from_name(const vbpr__param_table *t, const char *name, int *p,
                                  const char *func)
{
  if (name == NULL || p == NULL)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func, "%s must not be NULL",
                       name == NULL ? "name" : "p");
  for (size_t i = 0; i < t->n; i++)
    if (t->spec[i].name != NULL && vbpr__name_matches(name, t->spec[i].name)) {
      *p = (int)i;
      return VBPR_OK;
    }
  char known[400];
  fmt_param_names(t, known, sizeof known);
  return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func, "unknown %s name '%.64s'; known: %s",
                     t->what, name, known);
}

const char *vbpr__param_name(const vbpr__param_table *t, int p)
{
  const vbpr__param_spec *s = vbpr__param_spec_of(t, p);
  return s ? s->name : NULL;
}

static bool parse_number(const char *text, double *v)
{
  char *end = NULL;
  *v = strtod(text, &end);
  return end != text && *end == '\0';
}

vbpr_status vbpr__param_parse(const vbpr__param_table *t, int p, const char *text,
                              double *value, const char *func)
{
  if (text == NULL || value == NULL)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func, "%s must not be NULL",
                       text == NULL ? "text" : "value");
  const vbpr__param_spec *s;
  vbpr_status st = vbpr__param_find(t, p, &s, func);
  if (st != VBPR_OK) return st;
  for (const vbpr__named_value *nv = s->values; nv != NULL && nv->name != NULL; nv++)
    if (vbpr__name_matches(text, nv->name)) {
      *value = nv->value;
      return VBPR_OK;
    }
  double v;
  if (!parse_number(text, &v)) {
    if (s->values == NULL)
      return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func, "%s expects a number, got '%.64s'",
                         s->name, text);
    char names[320];
    fmt_names(names, sizeof names, s->values);
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, func,
                       "%s expects one of %s, got '%.64s'", s->name, names, text);
  }
  st = vbpr__param_check(s, v, func);
  if (st == VBPR_OK) *value = v;
  return st;
}
