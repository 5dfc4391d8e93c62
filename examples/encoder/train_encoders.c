/* Trains MF and LightGCN with the Variational BPR loss and Adam, entirely
 * through the public API, on the library's synthetic data; checks that the
 * loss falls and Recall@20 on the held-out test set rises, then saves,
 * reloads and exports the model.
 *
 *   train_encoders [output-directory]
 *
 * Exit status: 0 on success, 1 on failure, 77 (skipped) when the library
 * was built without both encoder modules. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vbpr/vbpr.h>
#include <vbpr/synthetic.h>

enum { DIM = 32, BATCH = 2048, M = 2, N = 4, EPOCHS = 8 };

#define CHECK(call)                                                              \
  do {                                                                           \
    vbpr_status st_ = (call);                                                    \
    if (st_ != VBPR_OK) {                                                        \
      fprintf(stderr, "%s failed: %s (%s)\n", #call, vbpr_last_error(),          \
              vbpr_status_string(st_));                                          \
      exit(1);                                                                   \
    }                                                                            \
  } while (0)

/* One epoch of sampler -> encoder -> loss -> encoder backward -> Adam.
 * Returns the mean batch loss. */
static double epoch(vbpr_sampler *smp, vbpr_encoder *enc, vbpr_loss *loss, vbpr_optim *opt)
{
  static int32_t users[BATCH], pos[BATCH * M], neg[BATCH * N];
  static float ue[BATCH * DIM], pe[BATCH * M * DIM], ne[BATCH * N * DIM];
  static float gu[BATCH * DIM], gp[BATCH * M * DIM], gn[BATCH * N * DIM];
  double total = 0;
  int batches = 0;
  size_t rows;
  for (;;) {
    CHECK(vbpr_sampler_next(smp, users, pos, neg, &rows));
    if (rows == 0) break;
    float value;
    CHECK(vbpr_encoder_zero_grad(enc));
    CHECK(vbpr_encoder_forward(enc, rows, M, N, users, pos, neg, ue, pe, ne));
    CHECK(vbpr_loss_forward_backward(loss, rows, DIM, ue, pe, ne, NULL, NULL, 1.0f, &value,
                                     gu, gp, gn));
    CHECK(vbpr_encoder_backward(enc, gu, gp, gn));
    CHECK(vbpr_optim_step_encoder(opt, enc));
    total += value;
    batches++;
  }
  return total / batches;
}

/* Saves, reloads into a fresh encoder and compares the final embeddings
 * bit for bit; also exports the item embeddings as .npy. */
static int save_and_reload(vbpr_encoder *enc, vbpr_dataset *train, const char *dir,
                           const char *name)
{
  char path[1024], npy[1024];
  snprintf(path, sizeof path, "%s/%s.vbpr", dir, name);
  snprintf(npy, sizeof npy, "%s/%s-items.npy", dir, name);
  CHECK(vbpr_encoder_save(enc, path));
  CHECK(vbpr_encoder_export_npy(enc, VBPR_TABLE_ITEMS, npy));
  int32_t nu = vbpr_encoder_num_users(enc), ni = vbpr_encoder_num_items(enc);
  vbpr_encoder *copy;
  if (vbpr_encoder_get_kind(enc) == VBPR_ENCODER_MF)
    CHECK(vbpr_encoder_create_mf(nu, ni, DIM, 999, &copy));
  else
    CHECK(vbpr_encoder_create_lightgcn(train, DIM, vbpr_encoder_num_layers(enc), 999, &copy));
  CHECK(vbpr_encoder_load(copy, path));
  size_t n = ((size_t)nu + (size_t)ni) * DIM;
  float *keep = malloc(n * sizeof(float));
  const float *a, *b;
  if (keep == NULL) exit(1);
  CHECK(vbpr_encoder_embeddings(enc, &a, NULL)); /* users then items, one block */
  memcpy(keep, a, n * sizeof(float));
  CHECK(vbpr_encoder_embeddings(copy, &b, NULL));
  int same = memcmp(keep, b, n * sizeof(float)) == 0;
  free(keep);
  vbpr_encoder_destroy(copy);
  remove(path);
  remove(npy);
  printf("  saved, reloaded (%s) and exported %s\n", same ? "bit-exact" : "DIFFERENT", npy);
  return same;
}

/* Recall@20 of the encoder's final embeddings on the test set. */
static double recall20(vbpr_encoder *enc, vbpr_evaluator *ev)
{
  const float *ue, *ie;
  double r;
  CHECK(vbpr_encoder_embeddings(enc, &ue, &ie));
  CHECK(vbpr_evaluator_run(ev, vbpr_encoder_num_users(enc), vbpr_encoder_num_items(enc), DIM, ue,
                      ie));
  CHECK(vbpr_evaluator_metric(ev, VBPR_METRIC_RECALL, 20, &r));
  return r;
}

static int train(vbpr_encoder *enc, vbpr_dataset *train_set, vbpr_evaluator *ev,
                 const char *name, const char *dir)
{
  vbpr_sampler *smp;
  vbpr_loss *loss;
  vbpr_optim *opt;
  CHECK(vbpr_sampler_create(train_set, &smp));
  CHECK(vbpr_sampler_set(smp, VBPR_SAMPLER_BATCH_SIZE, BATCH));
  CHECK(vbpr_sampler_set(smp, VBPR_SAMPLER_NUM_POS, M));
  CHECK(vbpr_sampler_set(smp, VBPR_SAMPLER_NUM_NEG, N));
  CHECK(vbpr_sampler_set(smp, VBPR_SAMPLER_SEED, 7));
  CHECK(vbpr_loss_create(VBPR_LOSS_VARIATIONAL, &loss));
  CHECK(vbpr_loss_set(loss, VBPR_LOSS_NUM_POS, M));
  CHECK(vbpr_loss_set(loss, VBPR_LOSS_NUM_NEG, N));
  CHECK(vbpr_optim_create(VBPR_OPTIM_ADAM, &opt));
  CHECK(vbpr_optim_set(opt, VBPR_OPTIM_LR, 1e-2));
  CHECK(vbpr_optim_set(opt, VBPR_OPTIM_WEIGHT_DECAY, 1e-6));

  printf("%s: %d users, %d items, dim %d\n", name, (int)vbpr_encoder_num_users(enc),
         (int)vbpr_encoder_num_items(enc), DIM);
  double r0 = recall20(enc, ev);
  double first = 0, last = 0;
  for (int e = 1; e <= EPOCHS; e++) {
    last = epoch(smp, enc, loss, opt);
    if (e == 1) first = last;
    if (e == 1 || e % 2 == 0) printf("  epoch %2d  loss %.4f\n", e, last);
  }
  double r1 = recall20(enc, ev);
  int ok = last < 0.8 * first && r1 > 2 * r0;
  printf("  loss %.4f -> %.4f, Recall@20 %.4f -> %.4f: %s\n", first, last, r0, r1,
         ok ? "learns" : "DOES NOT LEARN");
  ok = save_and_reload(enc, train_set, dir, name) && ok;
  vbpr_sampler_destroy(smp);
  vbpr_loss_destroy(loss);
  vbpr_optim_destroy(opt);
  return ok;
}

int main(int argc, char **argv)
{
  const char *dir = argc > 1 ? argv[1] : ".";
  vbpr_synthetic *cfg;
  vbpr_dataset *train_set, *test_set;
  vbpr_evaluator *ev;
  CHECK(vbpr_synthetic_create(&cfg)); /* defaults: 1000 users, 1500 items */
  CHECK(vbpr_synthetic_set(cfg, VBPR_SYNTHETIC_SEED, 2024));
  CHECK(vbpr_synthetic_generate(cfg, &train_set, &test_set));
  vbpr_synthetic_destroy(cfg);
  CHECK(vbpr_evaluator_create(train_set, test_set, &ev));
  int32_t nu = vbpr_dataset_num_users(train_set), ni = vbpr_dataset_num_items(train_set);

  int ran = 0, ok = 1;
  vbpr_encoder *enc;
  if (vbpr_encoder_create_mf(nu, ni, DIM, 1, &enc) == VBPR_OK) {
    ok = train(enc, train_set, ev, "mf", dir) && ok;
    vbpr_encoder_destroy(enc);
    ran++;
  } else {
    printf("mf: %s\n", vbpr_last_error());
  }
  if (vbpr_encoder_create_lightgcn(train_set, DIM, 2, 1, &enc) == VBPR_OK) {
    ok = train(enc, train_set, ev, "lightgcn", dir) && ok;
    vbpr_encoder_destroy(enc);
    ran++;
  } else {
    printf("lightgcn: %s\n", vbpr_last_error());
  }
  vbpr_evaluator_destroy(ev);
  vbpr_dataset_destroy(train_set);
  vbpr_dataset_destroy(test_set);
  if (ran == 0) return 77;
  return ok ? 0 : 1;
}
