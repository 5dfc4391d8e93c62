// A per-sample host for measuring Variational BPR against BPR the way a
// legacy engine trains: one (user, item) draw per update, Hogwild threads,
// double-precision factors, L2 applied to the rows each update touches, and
// its own SGD, Adagrad or Adam. It prints Recall@20 and NDCG@20 (all items
// ranked, training items excluded) and, with --diag, the gradient scale
// and attention sharpness of each epoch (doc/loss.md, "Optimizer settings").
//
//   per_sample --data DIR [--loss bpr|vbpr] [--preset NAME] [--set name=value]
//              [--priors preset|a1,a2,b1,b2] [--optimizer sgd|adagrad|adam]
//              [--lr LR] [--lr-decay F] [--reg L2] [--dim D] [--epochs E]
//              [--eval-every E] [--threads T] [--seed S] [--init-scale S]
//              [--diag]
//
// DIR holds train.tsv, test.tsv and ratings.tsv (the item universe), as
// the ml-100k folder of the shared data. The library runs on the calling
// threads: set VBPR_NUM_THREADS=1.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <vbpr/vbpr.h>

namespace {

[[noreturn]] void die(const std::string &msg) {
  std::fprintf(stderr, "per_sample: %s\n", msg.c_str());
  std::exit(2);
}

void check(vbpr_status st, const char *what) {
  if (st != VBPR_OK) die(std::string(what) + ": " + vbpr_last_error());
}

struct Options {
  std::string data, loss = "bpr", preset, optimizer = "sgd", priors;
  std::vector<std::pair<std::string, std::string>> sets;
  double lr = 0.05, lr_decay = 1.0, reg = 0.01, init_scale = 0.1;
  int dim = 64, epochs = 30, eval_every = 5, threads = 1, M = 2, N = 4;
  unsigned seed = 1;
  bool diag = false;
  // experiments: "share" applies L2 to a sampled item times its attention
  // weight; "sum" multiplies the positives' gradients by M, the negatives'
  // by N (each sampled item then gets a BPR-sized step)
  std::string item_reg = "touch", item_scale = "mean";
};

struct Data {
  int users = 0, items = 0;
  std::vector<std::vector<int>> train, test;  // per user, sorted
  std::vector<std::pair<int, int>> pairs;     // training interactions
  std::vector<double> count, rating_sum;      // per item, training set
};

template <typename F> void read_tsv(const std::string &path, F row) {
  std::ifstream in(path);
  if (!in) die("cannot read " + path);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    int u, i;
    double r = 1;
    std::istringstream ss(line);
    if (!(ss >> u >> i)) die("bad line in " + path + ": " + line);
    ss >> r;
    row(u, i, r);
  }
}

Data load(const std::string &dir) {
  Data d;
  auto grow = [&d](int u, int i, double) {
    d.users = std::max(d.users, u + 1);
    d.items = std::max(d.items, i + 1);
  };
  read_tsv(dir + "/ratings.tsv", grow);
  read_tsv(dir + "/train.tsv", grow);
  read_tsv(dir + "/test.tsv", grow);
  d.train.resize(d.users);
  d.test.resize(d.users);
  d.count.assign(d.items, 0);
  d.rating_sum.assign(d.items, 0);
  read_tsv(dir + "/train.tsv", [&d](int u, int i, double r) {
    d.train[u].push_back(i);
    d.pairs.emplace_back(u, i);
    d.count[i] += 1;
    d.rating_sum[i] += r;
  });
  read_tsv(dir + "/test.tsv", [&d](int u, int i, double) { d.test[u].push_back(i); });
  for (auto *lists : {&d.train, &d.test})
    for (auto &v : *lists) std::sort(v.begin(), v.end());
  return d;
}

bool contains(const std::vector<int> &sorted, int x) {
  return std::binary_search(sorted.begin(), sorted.end(), x);
}

// Factors and the optimizer's per-coordinate state.
struct Model {
  int dim;
  std::vector<double> P, Q;    // users x dim, items x dim
  std::vector<double> s1, s2;  // Adagrad sums / Adam moments, users then items
  std::vector<std::atomic<int>> steps;  // Adam: updates per row
  Model(const Data &d, int dim_, double scale, unsigned seed)
      : dim(dim_), P((size_t)d.users * dim_), Q((size_t)d.items * dim_),
        s1(P.size() + Q.size()), s2(P.size() + Q.size()), steps(d.users + d.items) {
    std::mt19937 rng(seed);
    std::normal_distribution<double> init(0.0, scale);
    for (double &x : P) x = init(rng);
    for (double &x : Q) x = init(rng);
  }
};

const double kAdagradInit = 0.1;

// One row update: w -= step(g + reg * w) for the optimizer in use. `row` is
// the row's index in the state arrays (users first, then items).
struct Optimizer {
  enum Kind { SGD, ADAGRAD, ADAM } kind;
  double lr;
  void apply(Model &m, double *w, size_t row, const double *g, double reg) const {
    double *a = &m.s1[row * m.dim], *b = &m.s2[row * m.dim];
    int t = kind == ADAM ? ++m.steps[row] : 0;
    double c1 = kind == ADAM ? 1 - std::pow(0.9, t) : 1;  // bias corrections
    double c2 = kind == ADAM ? 1 - std::pow(0.999, t) : 1;
    for (int k = 0; k < m.dim; k++) {
      double gk = g[k] + reg * w[k];
      if (kind == SGD) {
        w[k] -= lr * gk;
      } else if (kind == ADAGRAD) {
        a[k] += gk * gk;  // starts at 0.1, as TensorFlow's Adagrad
        w[k] -= lr * gk / std::sqrt(a[k]);
      } else {
        a[k] = 0.9 * a[k] + 0.1 * gk;
        b[k] = 0.999 * b[k] + 0.001 * gk * gk;
        w[k] -= lr * (a[k] / c1) / (std::sqrt(b[k] / c2) + 1e-8);
      }
    }
  }
};

// Per-epoch means of the diagnostics (thread 0 only, every 16th update).
struct Diag {
  double n = 0, score_mass = 0, bpr_mass = 0, user_norm = 0, bpr_user_norm = 0,
         item_norm = 0, bpr_item_norm = 0, h_alpha = 0, h_beta = 0, max_beta = 0;
};

double norm(const float *x, int n) {
  double s = 0;
  for (int k = 0; k < n; k++) s += (double)x[k] * x[k];
  return std::sqrt(s);
}

double entropy_ratio(const float *p, int n) {
  if (n < 2) return 1;
  double h = 0;
  for (int k = 0; k < n; k++)
    if (p[k] > 0) h -= p[k] * std::log(p[k]);
  return h / std::log((double)n);
}

// One thread's buffers and its library loss (one per thread).
struct Worker {
  vbpr_loss *loss = nullptr;
  int M = 1, N = 1, dim;
  std::vector<int> pos, neg;
  std::vector<float> u, p, n, gu, gp, gn, lpp, lpn, gps, gns, alpha, beta;
  std::vector<double> g;
  Worker(const Options &o, int dim_) : dim(dim_), g(dim_) {
    if (o.loss == "vbpr") {
      check(vbpr_loss_create(VBPR_LOSS_VARIATIONAL, &loss), "vbpr_loss_create");
      if (!o.preset.empty()) check(vbpr_loss_set_preset(loss, o.preset.c_str()), "preset");
      check(vbpr_loss_set(loss, VBPR_LOSS_NUM_POS, o.M), "num_pos");
      check(vbpr_loss_set(loss, VBPR_LOSS_NUM_NEG, o.N), "num_neg");
      for (auto &kv : o.sets) {
        vbpr_loss_param prm;
        double v;
        check(vbpr_loss_param_from_name(kv.first.c_str(), &prm), "--set");
        check(vbpr_loss_param_parse(prm, kv.second.c_str(), &v), "--set");
        check(vbpr_loss_set(loss, prm, v), "--set");
      }
      M = o.M;
      N = o.N;
    } else if (o.loss != "bpr") {
      die("--loss must be bpr or vbpr");
    }
    pos.resize(M);
    neg.resize(N);
    u.resize(dim);
    gu.resize(dim);
    p.resize((size_t)M * dim);
    gp.resize(p.size());
    n.resize((size_t)N * dim);
    gn.resize(n.size());
    lpp.resize(M);
    lpn.resize(N);
    gps.resize(M);
    gns.resize(N);
    alpha.resize(M);
    beta.resize(N);
  }
  ~Worker() { vbpr_loss_destroy(loss); }
};

struct Trainer {
  const Options &o;
  const Data &d;
  Model &m;
  Optimizer opt;
  std::vector<float> item_lpp, item_lpn;  // empty: no priors

  void bpr_update(int u, int i, int j, double reg) {
    double *pu = &m.P[(size_t)u * m.dim], *qi = &m.Q[(size_t)i * m.dim],
           *qj = &m.Q[(size_t)j * m.dim];
    double x = 0;
    for (int k = 0; k < m.dim; k++) x += pu[k] * (qi[k] - qj[k]);
    double z = 1.0 / (1.0 + std::exp(x));  // d loss / d x = -z
    thread_local std::vector<double> gu, gi, gj;
    gu.resize(m.dim);
    gi.resize(m.dim);
    gj.resize(m.dim);
    for (int k = 0; k < m.dim; k++) {
      gu[k] = -z * (qi[k] - qj[k]);
      gi[k] = -z * pu[k];
      gj[k] = z * pu[k];
    }
    opt.apply(m, pu, u, gu.data(), reg);
    opt.apply(m, qi, d.users + i, gi.data(), reg);
    opt.apply(m, qj, d.users + j, gj.data(), reg);
  }

  void vbpr_update(Worker &w, int u, Diag *diag) {
    int dim = m.dim;
    const double *pu = &m.P[(size_t)u * dim];
    for (int k = 0; k < dim; k++) w.u[k] = (float)pu[k];
    for (int a = 0; a < w.M; a++)
      for (int k = 0; k < dim; k++)
        w.p[(size_t)a * dim + k] = (float)m.Q[(size_t)w.pos[a] * dim + k];
    for (int b = 0; b < w.N; b++)
      for (int k = 0; k < dim; k++)
        w.n[(size_t)b * dim + k] = (float)m.Q[(size_t)w.neg[b] * dim + k];
    const float *lpp = nullptr, *lpn = nullptr;
    if (!item_lpp.empty()) {
      for (int a = 0; a < w.M; a++) w.lpp[a] = item_lpp[w.pos[a]];
      for (int b = 0; b < w.N; b++) w.lpn[b] = item_lpn[w.neg[b]];
      lpp = w.lpp.data();
      lpn = w.lpn.data();
    }
    float l;
    check(vbpr_loss_forward_backward(w.loss, 1, dim, w.u.data(), w.p.data(), w.n.data(),
                                     lpp, lpn, 1.0f, &l, w.gu.data(), w.gp.data(),
                                     w.gn.data()),
          "vbpr_loss_forward_backward");
    if (diag) record(w, diag);
    bool share = o.item_reg == "share";
    if (share) check(vbpr_loss_attention(w.loss, w.alpha.data(), w.beta.data()), "attention");
    double sp = o.item_scale == "sum" ? w.M : 1, sn = o.item_scale == "sum" ? w.N : 1;
    for (int k = 0; k < dim; k++) w.g[k] = w.gu[k];
    opt.apply(m, &m.P[(size_t)u * dim], u, w.g.data(), o.reg);
    for (int a = 0; a < w.M; a++) {
      for (int k = 0; k < dim; k++) w.g[k] = sp * w.gp[(size_t)a * dim + k];
      opt.apply(m, &m.Q[(size_t)w.pos[a] * dim], d.users + w.pos[a], w.g.data(),
                share ? o.reg * w.alpha[a] : o.reg);
    }
    for (int b = 0; b < w.N; b++) {
      for (int k = 0; k < dim; k++) w.g[k] = sn * w.gn[(size_t)b * dim + k];
      opt.apply(m, &m.Q[(size_t)w.neg[b] * dim], d.users + w.neg[b], w.g.data(),
                share ? o.reg * w.beta[b] : o.reg);
    }
  }

  // What this row's gradients are, next to what BPR would give on its first
  // positive and first negative.
  void record(Worker &w, Diag *s) {
    int dim = m.dim;
    check(vbpr_loss_backward_scores(w.loss, 1.0f, w.gps.data(), w.gns.data()), "scores");
    check(vbpr_loss_attention(w.loss, w.alpha.data(), w.beta.data()), "attention");
    double mass = 0, x = 0, dij = 0;
    for (int a = 0; a < w.M; a++) mass += std::fabs(w.gps[a]);
    for (int b = 0; b < w.N; b++) mass += std::fabs(w.gns[b]);
    for (int k = 0; k < dim; k++) {
      double diff = (double)w.p[k] - w.n[k];
      x += w.u[k] * diff;
      dij += diff * diff;
    }
    double z = 1.0 / (1.0 + std::exp(x)), items = 0;
    for (int a = 0; a < w.M; a++) items += norm(&w.gp[(size_t)a * dim], dim);
    for (int b = 0; b < w.N; b++) items += norm(&w.gn[(size_t)b * dim], dim);
    s->n += 1;
    s->score_mass += mass;
    s->bpr_mass += 2 * z;
    s->user_norm += norm(w.gu.data(), dim);
    s->bpr_user_norm += z * std::sqrt(dij);
    s->item_norm += items / (w.M + w.N);
    s->bpr_item_norm += z * norm(w.u.data(), dim);
    s->h_alpha += entropy_ratio(w.alpha.data(), w.M);
    s->h_beta += entropy_ratio(w.beta.data(), w.N);
    s->max_beta += *std::max_element(w.beta.begin(), w.beta.end());
  }

  // One thread's share of an epoch: draws / threads uniform interactions.
  void run(int tid, int epoch, Diag *diag) {
    Worker w(o, m.dim);
    std::mt19937 rng(o.seed * 7919u + epoch * 104729u + tid);
    std::uniform_int_distribution<size_t> any_pair(0, d.pairs.size() - 1);
    std::uniform_int_distribution<int> any_item(0, d.items - 1);
    size_t draws = d.pairs.size() / o.threads;
    for (size_t s = 0; s < draws; s++) {
      const std::pair<int, int> &pr = d.pairs[any_pair(rng)];
      int u = pr.first;
      const std::vector<int> &items = d.train[u];
      std::uniform_int_distribution<size_t> any_pos(0, items.size() - 1);
      auto negative = [&]() {
        int j;
        do j = any_item(rng); while (contains(items, j));
        return j;
      };
      if (!w.loss) {
        bpr_update(u, pr.second, negative(), o.reg);
        continue;
      }
      w.pos[0] = pr.second;
      for (int a = 1; a < w.M; a++) w.pos[a] = items[any_pos(rng)];
      for (int b = 0; b < w.N; b++) w.neg[b] = negative();
      vbpr_update(w, u, diag && s % 16 == 0 ? diag : nullptr);
    }
  }
};

struct Metrics {
  double recall = 0, ndcg = 0;
};

Metrics evaluate(const Model &m, const Data &d) {
  Metrics r;
  int users = 0;
  std::vector<std::pair<double, int>> ranked;
  for (int u = 0; u < d.users; u++) {
    if (d.test[u].empty()) continue;
    ranked.clear();
    const double *pu = &m.P[(size_t)u * m.dim];
    for (int i = 0; i < d.items; i++) {
      if (contains(d.train[u], i)) continue;
      const double *qi = &m.Q[(size_t)i * m.dim];
      double s = 0;
      for (int k = 0; k < m.dim; k++) s += pu[k] * qi[k];
      ranked.emplace_back(-s, i);
    }
    size_t K = std::min<size_t>(20, ranked.size());
    std::partial_sort(ranked.begin(), ranked.begin() + K, ranked.end());
    double hits = 0, dcg = 0, idcg = 0;
    for (size_t t = 0; t < K; t++)
      if (contains(d.test[u], ranked[t].second)) {
        hits++;
        dcg += 1 / std::log2(t + 2.0);
      }
    for (size_t t = 0; t < std::min<size_t>(K, d.test[u].size()); t++)
      idcg += 1 / std::log2(t + 2.0);
    r.recall += hits / d.test[u].size();
    r.ndcg += dcg / idcg;
    users++;
  }
  r.recall /= users;
  r.ndcg /= users;
  return r;
}

Options parse(int argc, char **argv) {
  Options o;
  for (int a = 1; a < argc; a++) {
    std::string k = argv[a];
    auto val = [&]() -> std::string {
      if (a + 1 >= argc) die(k + " needs a value");
      return argv[++a];
    };
    if (k == "--data") o.data = val();
    else if (k == "--loss") o.loss = val();
    else if (k == "--preset") o.preset = val();
    else if (k == "--priors") o.priors = val();
    else if (k == "--optimizer") o.optimizer = val();
    else if (k == "--lr") o.lr = std::atof(val().c_str());
    else if (k == "--lr-decay") o.lr_decay = std::atof(val().c_str());
    else if (k == "--reg") o.reg = std::atof(val().c_str());
    else if (k == "--init-scale") o.init_scale = std::atof(val().c_str());
    else if (k == "--dim") o.dim = std::atoi(val().c_str());
    else if (k == "--epochs") o.epochs = std::atoi(val().c_str());
    else if (k == "--eval-every") o.eval_every = std::atoi(val().c_str());
    else if (k == "--threads") o.threads = std::atoi(val().c_str());
    else if (k == "--seed") o.seed = (unsigned)std::atoi(val().c_str());
    else if (k == "-M") o.M = std::atoi(val().c_str());
    else if (k == "-N") o.N = std::atoi(val().c_str());
    else if (k == "--diag") o.diag = true;
    else if (k == "--item-reg") o.item_reg = val();
    else if (k == "--item-scale") o.item_scale = val();
    else if (k == "--set") {
      std::string kv = val();
      size_t eq = kv.find('=');
      if (eq == std::string::npos) die("--set wants name=value");
      o.sets.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    } else die("unknown option " + k);
  }
  if (o.data.empty()) die("--data DIR is required");
  if (o.threads < 1 || o.dim < 1 || o.epochs < 1 || o.eval_every < 1) die("bad sizes");
  return o;
}

std::vector<double> prior_weights(const Options &o) {
  std::vector<double> w(4, 0.0);
  if (o.priors == "preset") {
    if (o.preset.empty()) die("--priors preset needs --preset");
    check(vbpr_loss_preset_prior_weights(o.preset.c_str(), &w[0], &w[1], &w[2], &w[3]),
          "prior weights");
  } else if (std::sscanf(o.priors.c_str(), "%lf,%lf,%lf,%lf", &w[0], &w[1], &w[2],
                         &w[3]) != 4) {
    die("--priors wants preset or a1,a2,b1,b2");
  }
  return w;
}

}  // namespace

int main(int argc, char **argv) {
  Options o = parse(argc, argv);
  Data d = load(o.data);
  Model m(d, o.dim, o.init_scale, o.seed);
  Optimizer::Kind kind = o.optimizer == "sgd"       ? Optimizer::SGD
                         : o.optimizer == "adagrad" ? Optimizer::ADAGRAD
                         : o.optimizer == "adam"    ? Optimizer::ADAM
                                                    : (die("bad --optimizer"), Optimizer::SGD);
  Trainer tr{o, d, m, {kind, o.lr}, {}, {}};
  if (kind == Optimizer::ADAGRAD) std::fill(m.s1.begin(), m.s1.end(), kAdagradInit);
  if (!o.priors.empty() && o.loss == "vbpr") {
    std::vector<double> w = prior_weights(o);
    tr.item_lpp.resize(d.items);
    tr.item_lpn.resize(d.items);
    check(vbpr_loss_item_log_priors(d.items, d.count.data(), d.rating_sum.data(), w[0],
                                    w[1], w[2], w[3], tr.item_lpp.data(),
                                    tr.item_lpn.data()),
          "vbpr_loss_item_log_priors");
  }
  std::printf("# users %d items %d train %zu; loss %s preset '%s' M %d N %d priors '%s' "
              "optimizer %s lr %g decay %g reg %g dim %d threads %d seed %u\n",
              d.users, d.items, d.pairs.size(), o.loss.c_str(), o.preset.c_str(), o.M, o.N,
              o.priors.c_str(), o.optimizer.c_str(), o.lr, o.lr_decay, o.reg, o.dim,
              o.threads, o.seed);
  Metrics best;
  int best_epoch = 0;
  for (int epoch = 1; epoch <= o.epochs; epoch++) {
    Diag diag;
    std::vector<std::thread> pool;
    for (int t = 1; t < o.threads; t++) pool.emplace_back([&, t] { tr.run(t, epoch, nullptr); });
    tr.run(0, epoch, o.diag && o.loss == "vbpr" ? &diag : nullptr);
    for (auto &th : pool) th.join();
    tr.opt.lr *= o.lr_decay;
    if (o.diag && diag.n > 0)
      std::printf("diag epoch %d: score-gradient mass %.4f (BPR %.4f), |grad user| %.4f "
                  "(BPR %.4f), |grad item| %.4f (BPR %.4f), entropy alpha %.3f beta %.3f, "
                  "max beta %.3f\n",
                  epoch, diag.score_mass / diag.n, diag.bpr_mass / diag.n,
                  diag.user_norm / diag.n, diag.bpr_user_norm / diag.n,
                  diag.item_norm / diag.n, diag.bpr_item_norm / diag.n,
                  diag.h_alpha / diag.n, diag.h_beta / diag.n, diag.max_beta / diag.n);
    if (epoch % o.eval_every == 0 || epoch == o.epochs) {
      Metrics r = evaluate(m, d);
      std::printf("epoch %d recall@20 %.4f ndcg@20 %.4f\n", epoch, r.recall, r.ndcg);
      if (r.recall > best.recall) {
        best = r;
        best_epoch = epoch;
      }
      std::fflush(stdout);
    }
  }
  std::printf("best recall@20 %.4f ndcg@20 %.4f epoch %d\n", best.recall, best.ndcg,
              best_epoch);
  return 0;
}
