/* Reading interaction files: a buffered line reader, field splitting and
 * number parsing that report file, line and column, and never trust input.
 * Numbers are parsed by hand so that the host's locale cannot change what
 * "3.5" means. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dataset/parse.h"

enum { CHUNK = 1 << 16, MAX_FIELDS_SHOWN = 40 };

typedef struct src {
  const char *path, *func;
  FILE *f;
  char *buf;
  size_t cap, beg, end;
  int eof;
  int64_t line;  /* number of the current line, 1-based */
  int col_base;  /* bytes skipped at the start of the line (a BOM) */
} src;

/* ---- errors ------------------------------------------------------------ */

/* The path as shown in messages: its tail when very long. */
static const char *short_path(const char *path)
{
  size_t n = strlen(path);
  return n > 160 ? path + n - 160 : path;
}

/* Copies a field into out for a message, escaping what is not printable. */
static const char *quote(const char *s, size_t n, char *out, size_t size)
{
  size_t k = 0;
  for (size_t i = 0; i < n && k + 8 < size; i++) {
    unsigned char c = (unsigned char)s[i];
    if (i == MAX_FIELDS_SHOWN) { memcpy(out + k, "...", 3); k += 3; break; }
    if (c >= 0x20 && c < 0x7f) out[k++] = (char)c;
    else k += (size_t)snprintf(out + k, size - k, "\\x%02x", c);
  }
  out[k] = '\0';
  return out;
}

static vbpr_status fail_at(const src *s, vbpr_status st, size_t col, const char *fmt, ...)
    VBPR_PRINTF(4, 5);

static vbpr_status fail_at(const src *s, vbpr_status st, size_t col, const char *fmt, ...)
{
  char msg[320];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return vbpr__error(st, s->func, "%s:%lld:%zu: %s", short_path(s->path), (long long)s->line,
                     col + (size_t)s->col_base + 1, msg);
}

static vbpr_status fail_io(const src *s, const char *what, int err)
{
  char msg[128] = "unknown error";
  if (err != 0 && strerror_r(err, msg, sizeof msg) != 0) msg[0] = '\0';
  return vbpr__error(VBPR_ERR_IO, s->func, "%s: cannot %s: %s", short_path(s->path), what,
                     err ? msg : "read error");
}

/* ---- lines ------------------------------------------------------------- */

/* Reads more input after moving the unread part to the front. */
static vbpr_status refill(src *s)
{
  if (s->beg > 0) {
    memmove(s->buf, s->buf + s->beg, s->end - s->beg);
    s->end -= s->beg;
    s->beg = 0;
  }
  if (s->end + CHUNK > s->cap) { /* a line longer than the buffer: grow */
    size_t cap = s->cap * 2;
    char *b = vbpr__realloc_array(s->buf, cap, 1);
    if (b == NULL)
      return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, s->func,
                         "%s:%lld: cannot buffer a line of %zu bytes", short_path(s->path),
                         (long long)s->line, s->end);
    s->buf = b;
    s->cap = cap;
  }
  errno = 0;
  size_t got = fread(s->buf + s->end, 1, s->cap - s->end, s->f);
  s->end += got;
  if (got == 0) {
    if (ferror(s->f)) return fail_io(s, "read", errno);
    s->eof = 1;
  }
  return VBPR_OK;
}

/* Next line without its line end; *more = 0 at the end of the file. */
static vbpr_status next_line(src *s, char **line, size_t *len, int *more)
{
  for (;;) {
    char *nl = memchr(s->buf + s->beg, '\n', s->end - s->beg);
    if (nl != NULL || (s->eof && s->beg < s->end)) {
      char *start = s->buf + s->beg;
      size_t n = nl ? (size_t)(nl - start) : s->end - s->beg;
      s->beg += nl ? n + 1 : n; /* the last line may lack its newline */
      s->line++;
      s->col_base = 0;
      if (n > 0 && start[n - 1] == '\r') n--; /* CRLF */
      *line = start;
      *len = n;
      *more = 1;
      return VBPR_OK;
    }
    if (s->eof) {
      *more = 0;
      return VBPR_OK;
    }
    vbpr_status st = refill(s);
    if (st != VBPR_OK) return st;
  }
}

/* Rejects NUL bytes and UTF-16; skips a UTF-8 byte order mark. */
static vbpr_status check_line(src *s, char **line, size_t *len)
{
  const unsigned char *u = (const unsigned char *)*line;
  if (s->line == 1 && *len >= 2 && ((u[0] == 0xff && u[1] == 0xfe) || (u[0] == 0xfe && u[1] == 0xff)))
    return fail_at(s, VBPR_ERR_PARSE, 0,
                   "UTF-16 byte order mark: the file must be ASCII or UTF-8 text");
  if (s->line == 1 && *len >= 3 && u[0] == 0xef && u[1] == 0xbb && u[2] == 0xbf) {
    *line += 3;
    *len -= 3;
    s->col_base = 3;
  }
  const char *z = memchr(*line, '\0', *len);
  if (z != NULL)
    return fail_at(s, VBPR_ERR_PARSE, (size_t)(z - *line),
                   "NUL byte: this does not look like a text file");
  return VBPR_OK;
}

static int is_blank(const char *l, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (l[i] != ' ' && l[i] != '\t') return 0;
  return 1;
}

/* ---- numbers ----------------------------------------------------------- */

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int all_digits(const char *t, size_t n)
{
  if (n == 0) return 0;
  for (size_t i = 0; i < n; i++)
    if (!is_digit(t[i])) return 0;
  return 1;
}

/* A field that reads as an integer (possibly negative): header detection. */
static int looks_integer(const char *t, size_t n)
{
  return all_digits(t, n) || (n > 1 && t[0] == '-' && all_digits(t + 1, n - 1));
}

/* An id in [0, limit). */
static vbpr_status parse_id(src *s, const char *line, const char *t, size_t n, int64_t limit,
                            const char *what, int64_t *out)
{
  char q[64];
  size_t col = (size_t)(t - line);
  if (n == 0) return fail_at(s, VBPR_ERR_PARSE, col, "empty %s field", what);
  if (n > 1 && t[0] == '-' && all_digits(t + 1, n - 1))
    return fail_at(s, VBPR_ERR_OUT_OF_RANGE, col, "%s id must be >= 0, got '%s'", what,
                   quote(t, n, q, sizeof q));
  if (!all_digits(t, n))
    return fail_at(s, VBPR_ERR_PARSE, col, "%s id must be a non-negative integer, got '%s'",
                   what, quote(t, n, q, sizeof q));
  int64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    int d = t[i] - '0';
    if (v > (limit - 1) / 10 || v * 10 > limit - 1 - d) /* v * 10 + d >= limit */
      return fail_at(s, VBPR_ERR_OUT_OF_RANGE, col, "%s id must be < %lld, got '%s'", what,
                     (long long)limit, quote(t, n, q, sizeof q));
    v = v * 10 + d;
  }
  *out = v;
  return VBPR_OK;
}

static int ieq(const char *t, size_t n, const char *word)
{
  size_t m = strlen(word);
  if (n != m) return 0;
  for (size_t i = 0; i < n; i++)
    if ((t[i] | 0x20) != word[i]) return 0;
  return 1;
}

/* Decimal digits into a mantissa of up to 19 digits and a power of ten. */
static size_t scan_digits(const char *t, size_t n, size_t i, uint64_t *m, int *e10,
                          int after_point, int *ndig)
{
  for (; i < n && is_digit(t[i]); i++, (*ndig)++) {
    if (*m < UINT64_C(1000000000000000000)) {
      *m = *m * 10 + (uint64_t)(t[i] - '0');
      if (after_point) (*e10)--;
    } else if (!after_point) {
      (*e10)++;
    }
  }
  return i;
}

/* A finite rating: [sign] digits [. digits] [e [sign] digits]. */
static vbpr_status parse_rating(src *s, const char *line, const char *t, size_t n, float *out)
{
  char q[64];
  size_t col = (size_t)(t - line), i = 0;
  if (n == 0) return fail_at(s, VBPR_ERR_PARSE, col, "empty rating field");
  int neg = t[0] == '-';
  i += t[0] == '-' || t[0] == '+';
  if (ieq(t + i, n - i, "nan") || ieq(t + i, n - i, "inf") || ieq(t + i, n - i, "infinity"))
    return fail_at(s, VBPR_ERR_NUMERIC, col, "rating must be finite, got '%s'",
                   quote(t, n, q, sizeof q));
  uint64_t m = 0;
  int e10 = 0, ndig = 0;
  i = scan_digits(t, n, i, &m, &e10, 0, &ndig);
  if (i < n && t[i] == '.') i = scan_digits(t, n, i + 1, &m, &e10, 1, &ndig);
  if (ndig > 0 && i < n && (t[i] == 'e' || t[i] == 'E')) {
    size_t j = i + 1;
    int eneg = j < n && t[j] == '-';
    j += j < n && (t[j] == '-' || t[j] == '+');
    long e = 0;
    size_t k = j;
    for (; k < n && is_digit(t[k]); k++)
      if (e < 100000) e = e * 10 + (t[k] - '0');
    if (k > j) {
      e10 += (int)(eneg ? -e : e);
      i = k;
    }
  }
  if (ndig == 0 || i != n)
    return fail_at(s, VBPR_ERR_PARSE, col, "rating must be a decimal number, got '%s'",
                   quote(t, n, q, sizeof q));
  double v = (double)m;
  if (m != 0) v = e10 >= 0 ? v * pow(10.0, e10) : v / pow(10.0, -e10);
  if (!(v <= 3.4028234663852886e38))
    return fail_at(s, VBPR_ERR_NUMERIC, col, "rating overflows a float, got '%s'",
                   quote(t, n, q, sizeof q));
  *out = (float)(neg ? -v : v);
  return VBPR_OK;
}

/* ---- storage ----------------------------------------------------------- */

void vbpr__parsed_free(vbpr__parsed *p)
{
  vbpr__free(p->run_user);
  vbpr__free(p->run_begin);
  vbpr__free(p->items);
  vbpr__free(p->ratings);
  memset(p, 0, sizeof *p);
}

static vbpr_status grow(src *s, vbpr__parsed *p)
{
  int64_t cap = p->cap < 4096 ? 4096 : p->cap + p->cap / 2;
  size_t esize = p->remap ? sizeof(int64_t) : sizeof(int32_t);
  void *items = vbpr__realloc_array(p->items, (size_t)cap, esize);
  if (items) p->items = items;
  if (items && p->ratings) {
    float *r = vbpr__realloc_array(p->ratings, (size_t)cap, sizeof *r);
    if (r == NULL) items = NULL;
    else p->ratings = r;
  }
  if (items == NULL)
    return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, s->func, "%s: cannot hold %lld interactions",
                       short_path(s->path), (long long)cap);
  p->cap = cap;
  return VBPR_OK;
}

static vbpr_status push_item(src *s, vbpr__parsed *p, int64_t item, float rating)
{
  if (p->n == p->cap) {
    vbpr_status st = grow(s, p);
    if (st != VBPR_OK) return st;
  }
  if (p->remap) ((int64_t *)p->items)[p->n] = item;
  else ((int32_t *)p->items)[p->n] = (int32_t)item;
  if (p->ratings) p->ratings[p->n] = rating;
  p->n++;
  if (item > p->max_item) p->max_item = item;
  return VBPR_OK;
}

static vbpr_status push_run(src *s, vbpr__parsed *p, int64_t user)
{
  if (p->nruns == p->cap_runs) {
    int64_t cap = p->cap_runs < 1024 ? 1024 : p->cap_runs * 2;
    int64_t *u = vbpr__realloc_array(p->run_user, (size_t)cap, sizeof *u);
    if (u) p->run_user = u;
    int64_t *b = u ? vbpr__realloc_array(p->run_begin, (size_t)cap, sizeof *b) : NULL;
    if (b == NULL)
      return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, s->func, "%s: cannot hold %lld users",
                         short_path(s->path), (long long)cap);
    p->run_begin = b;
    p->cap_runs = cap;
  }
  p->run_user[p->nruns] = user;
  p->run_begin[p->nruns++] = p->n;
  if (user > p->max_user) p->max_user = user;
  return VBPR_OK;
}

/* ---- formats ----------------------------------------------------------- */

typedef struct fmt_state {
  int format;      /* TABLE or USER_LISTS, once known */
  char sep;        /* TABLE: '\t' or ',' */
  int ncols;       /* TABLE: fields per row */
  int seen_first;  /* the first non-blank line has been handled */
  vbpr__id_limits lim;
} fmt_state;

/* Splits a TABLE row at sep into at most max fields (trimming spaces);
 * returns the number of fields found (which may exceed max). */
static int split_table(const char *l, size_t n, char sep, const char **f, size_t *fl, int max)
{
  int k = 0;
  size_t i = 0;
  for (;;) {
    size_t j = i;
    while (j < n && l[j] != sep) j++;
    size_t a = i, b = j;
    while (a < b && (l[a] == ' ' || (sep != '\t' && l[a] == '\t'))) a++;
    while (b > a && (l[b - 1] == ' ' || (sep != '\t' && l[b - 1] == '\t'))) b--;
    if (k < max) { f[k] = l + a; fl[k] = b - a; }
    k++;
    if (j >= n) return k;
    i = j + 1;
  }
}

static vbpr_status table_row(src *s, fmt_state *fs, vbpr__parsed *p, const char *l, size_t n)
{
  const char *f[3];
  size_t fl[3];
  int k = split_table(l, n, fs->sep, f, fl, 3);
  if (k < fs->ncols)
    return fail_at(s, VBPR_ERR_PARSE, n, "missing column: expected %d fields, got %d",
                   fs->ncols, k);
  if (k > fs->ncols)
    return fail_at(s, VBPR_ERR_PARSE, n, "extra column: expected %d fields, got %d",
                   fs->ncols, k);
  int64_t u, i;
  float r = 0.0f;
  vbpr_status st = parse_id(s, l, f[0], fl[0], fs->lim.users, "user", &u);
  if (st == VBPR_OK) st = parse_id(s, l, f[1], fl[1], fs->lim.items, "item", &i);
  if (st == VBPR_OK && p->ratings) st = parse_rating(s, l, f[2], fl[2], &r);
  if (st == VBPR_OK && (p->nruns == 0 || p->run_user[p->nruns - 1] != u))
    st = push_run(s, p, u);
  return st == VBPR_OK ? push_item(s, p, i, r) : st;
}

/* First non-blank line of a TABLE file: separator, columns, header. */
static vbpr_status table_first(src *s, fmt_state *fs, vbpr__parsed *p, const char *l, size_t n,
                               int header)
{
  const char *t = memchr(l, '\t', n);
  fs->sep = t ? '\t' : ',';
  const char *f[1];
  size_t fl[1];
  fs->ncols = split_table(l, n, fs->sep, f, fl, 1);
  if (fs->ncols < 2)
    return fail_at(s, VBPR_ERR_PARSE, n,
                   "missing column: a table needs user and item columns separated by a "
                   "tab or a comma, got 1 field");
  if (fs->ncols >= 3) {
    p->ratings = vbpr__malloc_array((size_t)(p->cap > 0 ? p->cap : 1), sizeof *p->ratings);
    if (p->ratings == NULL)
      return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, s->func, "cannot allocate ratings");
  }
  if (header < 0) header = !looks_integer(f[0], fl[0]);
  return header ? VBPR_OK : table_row(s, fs, p, l, n);
}

static vbpr_status lists_row(src *s, fmt_state *fs, vbpr__parsed *p, const char *l, size_t n)
{
  size_t i = 0;
  int first = 1;
  while (i < n) {
    while (i < n && (l[i] == ' ' || l[i] == '\t')) i++;
    if (i >= n) break;
    size_t j = i;
    while (j < n && l[j] != ' ' && l[j] != '\t') j++;
    int64_t v;
    vbpr_status st = parse_id(s, l, l + i, j - i, first ? fs->lim.users : fs->lim.items,
                              first ? "user" : "item", &v);
    if (st == VBPR_OK) st = first ? push_run(s, p, v) : push_item(s, p, v, 0.0f);
    if (st != VBPR_OK) return st;
    first = 0;
    i = j;
  }
  return VBPR_OK;
}

static vbpr_status handle_line(src *s, fmt_state *fs, vbpr__parsed *p, const char *l, size_t n,
                               const vbpr_dataset_options *o)
{
  if (is_blank(l, n)) return VBPR_OK;
  if (!fs->seen_first) {
    fs->seen_first = 1;
    if (fs->format == VBPR_DATASET_FORMAT_AUTO)
      fs->format = memchr(l, '\t', n) || memchr(l, ',', n) ? VBPR_DATASET_FORMAT_TABLE
                                                           : VBPR_DATASET_FORMAT_USER_LISTS;
    if (fs->format == VBPR_DATASET_FORMAT_TABLE) return table_first(s, fs, p, l, n, o->header);
  }
  return fs->format == VBPR_DATASET_FORMAT_TABLE ? table_row(s, fs, p, l, n)
                                                 : lists_row(s, fs, p, l, n);
}

static vbpr_status parse_stream(src *s, const vbpr_dataset_options *o, vbpr__id_limits lim,
                                vbpr__parsed *p)
{
  fmt_state fs = {o->format, '\t', 0, 0, lim};
  for (;;) {
    char *l;
    size_t n;
    int more;
    vbpr_status st = next_line(s, &l, &n, &more);
    if (st != VBPR_OK) return st;
    if (!more) break;
    st = check_line(s, &l, &n);
    if (st == VBPR_OK) st = handle_line(s, &fs, p, l, n, o);
    if (st != VBPR_OK) return st;
  }
  if (!fs.seen_first)
    return vbpr__error(VBPR_ERR_PARSE, s->func, "%s: empty file (no header and no data)",
                       short_path(s->path));
  return VBPR_OK;
}

vbpr_status vbpr__parse_file(const char *path, const vbpr_dataset_options *o,
                             vbpr__id_limits lim, const char *func, vbpr__parsed *out)
{
  src s = {path, func, NULL, NULL, CHUNK * 2, 0, 0, 0, 0, 0};
  vbpr__parsed p = {0};
  p.remap = o->remap;
  p.max_user = p.max_item = -1;
  if (p.remap) lim.users = lim.items = INT64_MAX;
  s.f = fopen(path, "rb");
  if (s.f == NULL) return fail_io(&s, "open", errno);
  s.buf = vbpr__malloc(s.cap);
  vbpr_status st = s.buf ? VBPR_OK
                         : vbpr__error(VBPR_ERR_OUT_OF_MEMORY, func, "cannot allocate a buffer");
  if (st == VBPR_OK) st = parse_stream(&s, o, lim, &p);
  vbpr__free(s.buf);
  fclose(s.f);
  if (st != VBPR_OK) {
    vbpr__parsed_free(&p);
    return st;
  }
  *out = p;
  return VBPR_OK;
}
