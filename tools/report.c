#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

const vbpr_metric cli_metrics[CLI_NMETRICS] = {
  VBPR_METRIC_RECALL, VBPR_METRIC_NDCG, VBPR_METRIC_PRECISION,
  VBPR_METRIC_F1, VBPR_METRIC_HIT_RATE, VBPR_METRIC_APLT,
};
const char *const cli_metric_names[CLI_NMETRICS] = {
  "recall", "ndcg", "precision", "f1", "hit_rate", "aplt",
};

void report_eval_line(FILE *f, const cli_config *cfg, const cli_eval *e, double loss)
{
  fprintf(f, "epoch %4ld  loss %.5f", e->epoch, loss);
  for (size_t k = 0; k < cfg->nks; k++)
    fprintf(f, "  recall@%d %.4f  ndcg@%d %.4f", (int)cfg->ks[k], e->value[0][k],
            (int)cfg->ks[k], e->value[1][k]);
  fputc('\n', f);
}

void report_table(FILE *f, const cli_config *cfg, const cli_run *run)
{
  if (!run->has_eval) return;
  fprintf(f, "\n%s: best over %d evaluations (epoch of the best), and last (epoch %ld)\n",
          run->label, run->evals, run->last.epoch);
  fprintf(f, "  %-10s %5s %16s %10s\n", "metric", "K", "best (epoch)", "last");
  for (int m = 0; m < CLI_NMETRICS; m++)
    for (size_t k = 0; k < cfg->nks; k++)
      fprintf(f, "  %-10s %5d %9.4f (%4ld) %10.4f\n", cli_metric_names[m], (int)cfg->ks[k],
              run->best.value[m][k], run->best_epoch[m][k], run->last.value[m][k]);
}

void report_compare(FILE *f, const cli_config *cfg, const cli_run *runs, size_t n)
{
  fprintf(f, "\n%-28s", "best over evaluations");
  for (size_t k = 0; k < cfg->nks; k++)
    fprintf(f, "  recall@%-4d ndcg@%-4d", (int)cfg->ks[k], (int)cfg->ks[k]);
  fprintf(f, "  s/epoch\n");
  for (size_t r = 0; r < n; r++) {
    fprintf(f, "%-28s", runs[r].label);
    for (size_t k = 0; k < cfg->nks; k++)
      fprintf(f, "  %-11.4f %-9.4f", runs[r].best.value[0][k], runs[r].best.value[1][k]);
    fprintf(f, "  %.3f\n", runs[r].epochs ? runs[r].train_seconds / runs[r].epochs : 0.0);
  }
  if (n == 2 && runs[0].has_eval && runs[1].has_eval) {
    double r0 = runs[0].best.value[0][0], r1 = runs[1].best.value[0][0];
    fprintf(f, "%s vs %s: recall@%d %+.1f%%, ndcg@%d %+.1f%%\n", runs[1].label, runs[0].label,
            (int)cfg->ks[0], r0 > 0 ? 100.0 * (r1 - r0) / r0 : 0.0, (int)cfg->ks[0],
            runs[0].best.value[1][0] > 0
                ? 100.0 * (runs[1].best.value[1][0] - runs[0].best.value[1][0]) /
                      runs[0].best.value[1][0]
                : 0.0);
  }
}

static void json_eval(FILE *f, const cli_config *cfg, const cli_eval *e)
{
  fprintf(f, "{\"epoch\": %ld", e->epoch);
  if (e->train_seconds >= 0)
    fprintf(f, ", \"train_seconds\": %.3f, \"train_cpu_seconds\": %.3f", e->train_seconds,
            e->train_cpu_seconds);
  for (int m = 0; m < CLI_NMETRICS; m++) {
    fprintf(f, ", \"%s\": {", cli_metric_names[m]);
    for (size_t k = 0; k < cfg->nks; k++)
      fprintf(f, "%s\"%d\": %.6f", k ? ", " : "", (int)cfg->ks[k], e->value[m][k]);
    fputc('}', f);
  }
  fputc('}', f);
}

static void json_string(FILE *f, const char *s)
{
  fputc('"', f);
  for (; s && *s; s++) {
    if (*s == '"' || *s == '\\') fputc('\\', f);
    if ((unsigned char)*s < 0x20) fprintf(f, "\\u%04x", *s);
    else fputc(*s, f);
  }
  fputc('"', f);
}

static void json_run(FILE *f, const cli_config *cfg, const cli_run *r)
{
  fprintf(f, "    {\"label\": ");
  json_string(f, r->label);
  fprintf(f, ", \"epochs\": %d, \"seconds\": %.3f, \"train_seconds\": %.3f, "
          "\"train_cpu_seconds\": %.3f, \"last_loss\": %.6f, \"interrupted\": %s,\n",
          r->epochs, r->seconds, r->train_seconds, r->train_cpu_seconds, r->last_loss,
          r->interrupted ? "true" : "false");
  fprintf(f, "     \"history\": [");
  for (size_t i = 0; i < r->nhistory; i++) {
    fprintf(f, "%s\n       ", i ? "," : "");
    json_eval(f, cfg, &r->history[i]);
  }
  fprintf(f, "],\n     \"best\": {");
  for (int m = 0; m < CLI_NMETRICS && r->has_eval; m++) {
    fprintf(f, "%s\"%s\": {", m ? ", " : "", cli_metric_names[m]);
    for (size_t k = 0; k < cfg->nks; k++)
      fprintf(f, "%s\"%d\": {\"value\": %.6f, \"epoch\": %ld}", k ? ", " : "",
              (int)cfg->ks[k], r->best.value[m][k], r->best_epoch[m][k]);
    fputc('}', f);
  }
  fprintf(f, "}");
  if (r->has_eval) {
    fprintf(f, ",\n     \"last\": ");
    json_eval(f, cfg, &r->last);
  }
  fprintf(f, "}");
}

bool report_json(const char *path, const cli_config *cfg, const cli_run *runs, size_t n)
{
  /* written next to the target, then renamed: never a half-written file */
  size_t len = strlen(path) + 16;
  char *tmp = malloc(len);
  if (tmp == NULL) return false;
  snprintf(tmp, len, "%s.tmp%ld", path, (long)getpid());
  FILE *f = fopen(tmp, "w");
  if (f == NULL) {
    perror(path);
    free(tmp);
    return false;
  }
  fprintf(f, "{\n  \"library_version\": \"%s\",\n  \"train\": ", vbpr_version_string());
  json_string(f, cfg->train_path ? cfg->train_path : "synthetic");
  fprintf(f, ",\n  \"test\": ");
  json_string(f, cfg->test_path ? cfg->test_path : "synthetic");
  fprintf(f, ",\n  \"runs\": [\n");
  for (size_t r = 0; r < n; r++) {
    json_run(f, cfg, &runs[r]);
    fprintf(f, "%s\n", r + 1 < n ? "," : "");
  }
  fprintf(f, "  ]\n}\n");
  bool ok = !ferror(f);
  ok = (fclose(f) == 0) && ok;
  if (ok && rename(tmp, path) != 0) ok = false;
  if (!ok) {
    perror(path);
    remove(tmp);
  }
  free(tmp);
  return ok;
}
