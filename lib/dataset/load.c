/* Loading datasets from files: one file or a train/test pair sharing one id
 * space, with optional renumbering of sparse raw ids. */
#include <string.h>

#include "dataset/parse.h"

enum { MAX_FILES = 2 };

typedef struct idmap {
  int64_t *raw;    /* [size] dense -> raw, -1 for none */
  int32_t *by_raw; /* [nraw] dense ids sorted by raw id */
  int32_t size, nraw;
} idmap;

static void idmap_free(idmap *m)
{
  vbpr__free(m->raw);
  vbpr__free(m->by_raw);
  memset(m, 0, sizeof *m);
}

typedef struct loader {
  const char *func;
  vbpr_dataset_options o;
  vbpr__parsed files[MAX_FILES];
  int nfiles;
  idmap users, items;
  int64_t num_users, num_items;
} loader;

/* ---- universe ---------------------------------------------------------- */

static vbpr_status check_options(const loader *L)
{
  const vbpr_dataset_options *o = &L->o;
  const vbpr_dataset *ref = o->ref;
  if (o->num_users >= 0 && (o->min_users > o->num_users || (ref && ref->num_users > o->num_users)))
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, L->func,
                       "NUM_USERS (%lld) is below MIN_USERS (%lld) or the reference's %d users",
                       (long long)o->num_users, (long long)o->min_users,
                       ref ? (int)ref->num_users : 0);
  if (o->num_items >= 0 && (o->min_items > o->num_items || (ref && ref->num_items > o->num_items)))
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, L->func,
                       "NUM_ITEMS (%lld) is below MIN_ITEMS (%lld) or the reference's %d items",
                       (long long)o->num_items, (long long)o->min_items,
                       ref ? (int)ref->num_items : 0);
  if (o->remap && ref && ref->raw_users == NULL)
    return vbpr__error(VBPR_ERR_INVALID_ARGUMENT, L->func,
                       "REMAP_IDS needs a reference dataset loaded with REMAP_IDS too");
  return VBPR_OK;
}

/* Universe size: exact, or the largest of what the data needs, the minimum
 * and the reference. */
static vbpr_status universe(const loader *L, int64_t needed, int64_t exact, int64_t min,
                            int32_t ref_size, const char *what, int64_t *out)
{
  if (exact >= 0) {
    if (needed > exact)
      return vbpr__error(VBPR_ERR_OUT_OF_RANGE, L->func,
                         "the files hold %lld distinct %s ids, more than the %lld allowed",
                         (long long)needed, what, (long long)exact);
    *out = exact;
    return VBPR_OK;
  }
  int64_t n = needed > min ? needed : min;
  *out = n > ref_size ? n : ref_size;
  return VBPR_OK;
}

/* ---- remapping --------------------------------------------------------- */

static void sort_i64(int64_t *a, int64_t *t, int64_t n)
{
  int64_t *src = a, *dst = t;
  for (int64_t w = 1; w < n; w *= 2) {
    for (int64_t s = 0; s < n; s += 2 * w) {
      int64_t m = s + w < n ? s + w : n, e = s + 2 * w < n ? s + 2 * w : n;
      int64_t i = s, j = m, k = s;
      while (i < m && j < e) dst[k++] = src[j] < src[i] ? src[j++] : src[i++];
      while (i < m) dst[k++] = src[i++];
      while (j < e) dst[k++] = src[j++];
    }
    int64_t *x = src; src = dst; dst = x;
  }
  if (src != a) memcpy(a, src, (size_t)n * sizeof *a);
}

static int32_t map_lookup(const idmap *m, int64_t key)
{
  int32_t lo = 0, hi = m->nraw;
  while (lo < hi) {
    int32_t mid = lo + (hi - lo) / 2;
    if (m->raw[m->by_raw[mid]] < key) lo = mid + 1;
    else hi = mid;
  }
  return lo < m->nraw && m->raw[m->by_raw[lo]] == key ? m->by_raw[lo] : -1;
}

/* The reference's mapping extended by the sorted new raw ids u[0..k). */
static vbpr_status extend_map(const loader *L, const int64_t *raw, const int32_t *by,
                              int32_t size, int32_t nraw, const int64_t *u, int64_t k, idmap *m)
{
  idmap base = {(int64_t *)(uintptr_t)raw, (int32_t *)(uintptr_t)by, size, nraw};
  int64_t fresh = 0;
  for (int64_t j = 0; j < k; j++) fresh += map_lookup(&base, u[j]) < 0;
  if ((int64_t)size + fresh >= INT32_MAX)
    return vbpr__error(VBPR_ERR_OUT_OF_RANGE, L->func, "more than %d distinct ids",
                       (int)(INT32_MAX - 1));
  m->size = size + (int32_t)fresh;
  m->nraw = nraw + (int32_t)fresh;
  m->raw = vbpr__malloc_array((size_t)m->size, sizeof *m->raw);
  m->by_raw = vbpr__malloc_array((size_t)m->nraw, sizeof *m->by_raw);
  if (m->raw == NULL || m->by_raw == NULL)
    return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, L->func, "cannot allocate an id mapping");
  if (size > 0) memcpy(m->raw, raw, (size_t)size * sizeof *raw);
  int32_t next = size, i = 0, w = 0;
  for (int64_t j = 0; j < k; j++) {
    if (map_lookup(&base, u[j]) >= 0) continue;
    while (i < nraw && raw[by[i]] < u[j]) m->by_raw[w++] = by[i++];
    m->raw[next] = u[j];
    m->by_raw[w++] = next++;
  }
  while (i < nraw) m->by_raw[w++] = by[i++];
  return VBPR_OK;
}

/* Collects every raw id of one kind over the files, sorted and unique. */
static vbpr_status distinct_ids(const loader *L, int items, int64_t **out, int64_t *k)
{
  int64_t total = 0;
  for (int f = 0; f < L->nfiles; f++) total += items ? L->files[f].n : L->files[f].nruns;
  int64_t *a = vbpr__malloc_array((size_t)total, sizeof *a);
  int64_t *t = vbpr__malloc_array((size_t)total, sizeof *t);
  if (a == NULL || t == NULL) {
    vbpr__free(a);
    vbpr__free(t);
    return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, L->func, "cannot sort %lld ids", (long long)total);
  }
  int64_t n = 0;
  for (int f = 0; f < L->nfiles; f++) {
    const vbpr__parsed *p = &L->files[f];
    int64_t len = items ? p->n : p->nruns;
    if (len > 0) memcpy(a + n, items ? p->items : p->run_user, (size_t)len * sizeof *a);
    n += len;
  }
  sort_i64(a, t, n);
  vbpr__free(t);
  int64_t w = 0;
  for (int64_t j = 0; j < n; j++)
    if (w == 0 || a[j] != a[w - 1]) a[w++] = a[j];
  *out = a;
  *k = w;
  return VBPR_OK;
}

static vbpr_status build_map(loader *L, int items, idmap *m)
{
  int64_t *u = NULL, k = 0;
  vbpr_status st = distinct_ids(L, items, &u, &k);
  if (st != VBPR_OK) return st;
  const vbpr_dataset *ref = L->o.ref;
  if (ref)
    st = items ? extend_map(L, ref->raw_items, ref->items_by_raw, ref->num_items,
                            ref->num_raw_items, u, k, m)
               : extend_map(L, ref->raw_users, ref->users_by_raw, ref->num_users,
                            ref->num_raw_users, u, k, m);
  else
    st = extend_map(L, NULL, NULL, 0, 0, u, k, m);
  vbpr__free(u);
  return st;
}

/* Pads a mapping with -1 up to the universe size. */
static vbpr_status pad_map(const loader *L, idmap *m, int64_t size)
{
  int64_t *raw = vbpr__realloc_array(m->raw, (size_t)size, sizeof *raw);
  if (raw == NULL) return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, L->func, "out of memory");
  for (int64_t j = m->size; j < size; j++) raw[j] = -1;
  m->raw = raw;
  m->size = (int32_t)size;
  return VBPR_OK;
}

/* ---- pairs ------------------------------------------------------------- */

/* Moves a parsed file into builder pairs with dense int32 ids. */
static vbpr_status to_pairs(loader *L, vbpr__parsed *p, vbpr__pairs *out)
{
  vbpr__pairs q = {0};
  q.run_user = vbpr__malloc_array((size_t)p->nruns, sizeof *q.run_user);
  int32_t *items = p->remap ? vbpr__malloc_array((size_t)p->n, sizeof *items) : NULL;
  if (q.run_user == NULL || (p->remap && items == NULL)) {
    vbpr__free(q.run_user);
    vbpr__free(items);
    return vbpr__error(VBPR_ERR_OUT_OF_MEMORY, L->func, "out of memory");
  }
  for (int64_t r = 0; r < p->nruns; r++)
    q.run_user[r] = p->remap ? map_lookup(&L->users, p->run_user[r]) : (int32_t)p->run_user[r];
  if (p->remap) {
    const int64_t *raw = p->items;
    for (int64_t j = 0; j < p->n; j++) items[j] = map_lookup(&L->items, raw[j]);
    vbpr__free(p->items);
    p->items = items;
  }
  q.run_begin = p->run_begin;
  q.nruns = q.cap_runs = p->nruns;
  q.items = p->items;
  q.ratings = p->ratings;
  q.n = q.cap = p->n;
  p->run_begin = NULL;
  p->items = NULL;
  p->ratings = NULL;
  *out = q;
  return VBPR_OK;
}

static vbpr_status attach_map(const loader *L, vbpr_dataset *ds)
{
  if (!L->o.remap) return VBPR_OK;
  vbpr_dataset src = {0};
  src.num_users = L->users.size;
  src.num_items = L->items.size;
  src.raw_users = L->users.raw;
  src.raw_items = L->items.raw;
  src.users_by_raw = L->users.by_raw;
  src.items_by_raw = L->items.by_raw;
  src.num_raw_users = L->users.nraw;
  src.num_raw_items = L->items.nraw;
  return vbpr__dataset_copy_mapping(ds, &src, L->func);
}

/* ---- driver ------------------------------------------------------------ */

static vbpr_status sizes(loader *L)
{
  const vbpr_dataset_options *o = &L->o;
  const vbpr_dataset *ref = o->ref;
  int64_t need_u = 0, need_i = 0;
  vbpr_status st = VBPR_OK;
  if (o->remap) {
    st = build_map(L, 0, &L->users);
    if (st == VBPR_OK) st = build_map(L, 1, &L->items);
    need_u = L->users.size;
    need_i = L->items.size;
  } else {
    for (int f = 0; f < L->nfiles; f++) {
      if (L->files[f].max_user + 1 > need_u) need_u = L->files[f].max_user + 1;
      if (L->files[f].max_item + 1 > need_i) need_i = L->files[f].max_item + 1;
    }
  }
  if (st == VBPR_OK)
    st = universe(L, need_u, o->num_users, o->min_users, ref ? ref->num_users : 0, "user",
                  &L->num_users);
  if (st == VBPR_OK)
    st = universe(L, need_i, o->num_items, o->min_items, ref ? ref->num_items : 0, "item",
                  &L->num_items);
  if (st == VBPR_OK && o->remap) st = pad_map(L, &L->users, L->num_users);
  if (st == VBPR_OK && o->remap) st = pad_map(L, &L->items, L->num_items);
  return st;
}

static vbpr_status build_all(loader *L, vbpr_dataset **out)
{
  vbpr_status st = VBPR_OK;
  for (int f = 0; f < L->nfiles && st == VBPR_OK; f++) {
    vbpr__pairs q;
    st = to_pairs(L, &L->files[f], &q);
    if (st == VBPR_OK)
      st = vbpr__dataset_build(&q, (int32_t)L->num_users, (int32_t)L->num_items, L->o.dup,
                               L->func, &out[f]);
    if (st == VBPR_OK) st = attach_map(L, out[f]);
    if (st != VBPR_OK && out[f] != NULL) {
      vbpr__dataset_release(out[f]);
      out[f] = NULL;
    }
  }
  if (st != VBPR_OK)
    for (int f = 0; f < L->nfiles; f++) {
      vbpr__dataset_release(out[f]);
      out[f] = NULL;
    }
  return st;
}

static vbpr_status load_files(const char *const *paths, int nfiles,
                              const vbpr_dataset_options *opts, const char *func,
                              vbpr_dataset **out)
{
  loader L = {0};
  L.func = func;
  L.nfiles = nfiles;
  vbpr__options_resolve(opts, &L.o);
  vbpr_dataset *res[MAX_FILES] = {NULL, NULL};
  vbpr__id_limits lim = {L.o.num_users >= 0 ? L.o.num_users : INT32_MAX,
                         L.o.num_items >= 0 ? L.o.num_items : INT32_MAX};
  vbpr_status st = check_options(&L);
  for (int f = 0; f < nfiles && st == VBPR_OK; f++)
    st = vbpr__parse_file(paths[f], &L.o, lim, func, &L.files[f]);
  if (st == VBPR_OK) st = sizes(&L);
  if (st == VBPR_OK) st = build_all(&L, res);
  for (int f = 0; f < nfiles; f++) vbpr__parsed_free(&L.files[f]);
  idmap_free(&L.users);
  idmap_free(&L.items);
  if (st != VBPR_OK) return st;
  for (int f = 0; f < nfiles; f++) out[f] = res[f];
  return VBPR_OK;
}

vbpr_status vbpr_dataset_load(const char *path, const vbpr_dataset_options *opts,
                              vbpr_dataset **out)
{
  VBPR_CHECK_NULL(out);
  *out = NULL;
  VBPR_CHECK_NULL(path);
  return load_files(&path, 1, opts, __func__, out);
}

vbpr_status vbpr_dataset_load_pair(const char *train_path, const char *test_path,
                                   const vbpr_dataset_options *opts, vbpr_dataset **train,
                                   vbpr_dataset **test)
{
  VBPR_CHECK_NULL(train);
  VBPR_CHECK_NULL(test);
  *train = *test = NULL;
  VBPR_CHECK_NULL(train_path);
  VBPR_CHECK_NULL(test_path);
  if (train == test)
    return VBPR_FAIL(VBPR_ERR_INVALID_ARGUMENT, "train and test must be different pointers");
  const char *paths[2] = {train_path, test_path};
  vbpr_dataset *res[2];
  vbpr_status st = load_files(paths, 2, opts, __func__, res);
  if (st != VBPR_OK) return st;
  *train = res[0];
  *test = res[1];
  return VBPR_OK;
}
