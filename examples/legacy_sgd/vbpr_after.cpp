// A per-sample BPR recommender of the common open-source shape: matrix
// factorisation with double-precision factors, one SGD update per sampled
// (user, positive, negative) triplet, Hogwild threads (lock-free updates
// from several threads), its own uniform negative sampler, L2 on the rows
// each update touches, and a learning rate that decays every epoch.
// vbpr_after.cpp is the same engine with libvbpr's Variational BPR; swap.diff
// is the whole difference (README.md).
//
//   bpr_before --train FILE --test FILE [--epochs 40] [--dim 64] [--lr 0.05]
//              [--lr-decay 0.97] [--reg 0.02] [--threads 2] [--seed 1]
//              [--eval-every 10]
//
// Files: tab-separated "user item rating" lines after a header line, ids
// 0-based (the ml-100k files of the shared data). It prints Recall@20 and
// NDCG@20 on the test file (all items ranked, training items excluded).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <vbpr/vbpr.h>

namespace {

// Variational BPR as doc/loss.md recommends for per-sample SGD: the "best"
// preset with its item priors, M positives and N negatives per update.
const char *const kPreset = "best";
const int kPos = 2, kNeg = 4;
// The loss takes float rows; the factors stay double.
typedef float Real;

struct Config {
  std::string train, test;
  int epochs = 40, dim = 64, threads = 2, eval_every = 10;
  double lr = 0.05, lr_decay = 0.97, reg = 0.02;
  unsigned seed = 1;
};

struct Dataset {
  int users = 0, items = 0;
  std::vector<std::vector<int>> train, test;  // per user, sorted item ids
  std::vector<std::pair<int, int>> pairs;     // training (user, item)
  std::vector<double> rating;                 // of each training pair
  std::vector<double> count, rating_sum;      // per item, for the priors
};

void read_file(const std::string &path, Dataset &d, bool is_train) {
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    std::exit(EXIT_FAILURE);
  }
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    int u, i;
    double rating = 1;
    if (!(fields >> u >> i)) continue;
    fields >> rating;
    if (u >= d.users) d.users = u + 1, d.train.resize(d.users), d.test.resize(d.users);
    if (i >= d.items) d.items = i + 1;
    (is_train ? d.train : d.test)[u].push_back(i);
    if (is_train) d.pairs.emplace_back(u, i), d.rating.push_back(rating);
  }
}

Dataset load(const Config &c) {
  Dataset d;
  read_file(c.train, d, true);
  read_file(c.test, d, false);
  for (auto &items : d.train) std::sort(items.begin(), items.end());
  for (auto &items : d.test) std::sort(items.begin(), items.end());
  d.count.assign(d.items, 0);
  d.rating_sum.assign(d.items, 0);
  for (size_t p = 0; p < d.pairs.size(); p++)
    d.count[d.pairs[p].second] += 1, d.rating_sum[d.pairs[p].second] += d.rating[p];
  return d;
}

bool contains(const std::vector<int> &sorted, int x) {
  return std::binary_search(sorted.begin(), sorted.end(), x);
}

struct Model {
  int dim;
  std::vector<double> user, item;  // [users x dim], [items x dim]
  Model(const Dataset &d, int dim_, unsigned seed)
      : dim(dim_), user((size_t)d.users * dim_), item((size_t)d.items * dim_) {
    std::mt19937 rng(seed);
    std::normal_distribution<double> init(0.0, 0.1);
    for (double &x : user) x = init(rng);
    for (double &x : item) x = init(rng);
  }
  double *u(int id) { return &user[(size_t)id * dim]; }
  double *i(int id) { return &item[(size_t)id * dim]; }
};

void check(vbpr_status status) {
  if (status != VBPR_OK) {
    std::fprintf(stderr, "libvbpr: %s\n", vbpr_last_error());
    std::exit(EXIT_FAILURE);
  }
}

// One thread's loss (a loss object is used by one thread at a time) and the
// rows it reads and writes.
struct Worker {
  vbpr_loss *loss = nullptr;
  int pos[kPos], neg[kNeg];
  std::vector<Real> u, p, n, gu, gp, gn, lp_pos, lp_neg;
  float alpha[kPos], beta[kNeg];
  explicit Worker(int dim)
      : u(dim), p(kPos * dim), n(kNeg * dim), gu(dim), gp(kPos * dim), gn(kNeg * dim),
        lp_pos(kPos), lp_neg(kNeg) {
    check(vbpr_loss_create(VBPR_LOSS_VARIATIONAL, &loss));
    check(vbpr_loss_set_preset(loss, kPreset));
    check(vbpr_loss_set(loss, VBPR_LOSS_NUM_POS, kPos));
    check(vbpr_loss_set(loss, VBPR_LOSS_NUM_NEG, kNeg));
  }
  ~Worker() { vbpr_loss_destroy(loss); }
};

class Trainer {
 public:
  Trainer(const Config &c, const Dataset &d, Model &m)
      : c_(c), d_(d), m_(m), lr_(c.lr), lp_pos_(d.items), lp_neg_(d.items) {
    double a1, a2, b1, b2;  // the item priors that go with the preset
    check(vbpr_loss_preset_prior_weights(kPreset, &a1, &a2, &b1, &b2));
    check(vbpr_loss_item_log_priors(d.items, d.count.data(), d.rating_sum.data(), a1, a2,
                                    b1, b2, lp_pos_.data(), lp_neg_.data()));
  }

  // One epoch: as many triplets as training pairs, split over the threads,
  // which update the shared factors without locks (Hogwild).
  void epoch(int e) {
    std::vector<std::thread> pool;
    for (int t = 1; t < c_.threads; t++) pool.emplace_back(&Trainer::run, this, t, e);
    run(0, e);
    for (auto &t : pool) t.join();
    lr_ *= c_.lr_decay;
  }

 private:
  void run(int tid, int e) {
    Worker w(m_.dim);
    std::mt19937 rng(c_.seed * 1000003u + e * 1009u + tid);
    std::uniform_int_distribution<size_t> any_pair(0, d_.pairs.size() - 1);
    std::uniform_int_distribution<int> any_item(0, d_.items - 1);
    for (size_t s = tid; s < d_.pairs.size(); s += c_.threads) {
      const std::pair<int, int> &p = d_.pairs[any_pair(rng)];
      const std::vector<int> &liked = d_.train[p.first];
      w.pos[0] = p.second;  // and kPos - 1 more of the user's items
      for (int a = 1; a < kPos; a++) w.pos[a] = liked[rng() % liked.size()];
      for (int b = 0; b < kNeg; b++) {
        int j;
        do j = any_item(rng); while (contains(liked, j));
        w.neg[b] = j;
      }
      update(w, p.first);
    }
  }

  // One SGD step on the Variational BPR loss of the row, with L2 on each
  // sampled item times its attention weight (doc/loss.md: with M = N = 1
  // the weights are 1 and this is BPR's step).
  void update(Worker &w, int user) {
    const int dim = m_.dim;
    double *u = m_.u(user);
    std::copy(u, u + dim, w.u.begin());
    for (int a = 0; a < kPos; a++) {
      std::copy(m_.i(w.pos[a]), m_.i(w.pos[a]) + dim, &w.p[a * dim]);
      w.lp_pos[a] = lp_pos_[w.pos[a]];
    }
    for (int b = 0; b < kNeg; b++) {
      std::copy(m_.i(w.neg[b]), m_.i(w.neg[b]) + dim, &w.n[b * dim]);
      w.lp_neg[b] = lp_neg_[w.neg[b]];
    }
    float loss;
    check(vbpr_loss_forward_backward(w.loss, 1, dim, w.u.data(), w.p.data(), w.n.data(),
                                     w.lp_pos.data(), w.lp_neg.data(), 1.0f, &loss,
                                     w.gu.data(), w.gp.data(), w.gn.data()));
    check(vbpr_loss_attention(w.loss, w.alpha, w.beta));
    for (int k = 0; k < dim; k++) u[k] -= lr_ * (w.gu[k] + c_.reg * u[k]);
    for (int a = 0; a < kPos; a++) step(m_.i(w.pos[a]), &w.gp[a * dim], c_.reg * w.alpha[a]);
    for (int b = 0; b < kNeg; b++) step(m_.i(w.neg[b]), &w.gn[b * dim], c_.reg * w.beta[b]);
  }

  void step(double *row, const Real *grad, double reg) {
    for (int k = 0; k < m_.dim; k++) row[k] -= lr_ * (grad[k] + reg * row[k]);
  }

  const Config &c_;
  const Dataset &d_;
  Model &m_;
  double lr_;
  std::vector<float> lp_pos_, lp_neg_;  // per-item log-priors
};

// Recall@20 and NDCG@20 over the users with test items.
void evaluate(Model &m, const Dataset &d, double *recall, double *ndcg) {
  const size_t K = 20;
  double r = 0, n = 0;
  int users = 0;
  std::vector<std::pair<double, int>> ranked;
  for (int u = 0; u < d.users; u++) {
    if (d.test[u].empty()) continue;
    ranked.clear();
    for (int i = 0; i < d.items; i++) {
      if (contains(d.train[u], i)) continue;
      double s = 0;
      for (int k = 0; k < m.dim; k++) s += m.u(u)[k] * m.i(i)[k];
      ranked.emplace_back(-s, i);
    }
    size_t top = std::min(K, ranked.size());
    std::partial_sort(ranked.begin(), ranked.begin() + top, ranked.end());
    double hits = 0, dcg = 0, idcg = 0;
    for (size_t t = 0; t < top; t++) {
      if (contains(d.test[u], ranked[t].second)) hits++, dcg += 1 / std::log2(t + 2.0);
      if (t < d.test[u].size()) idcg += 1 / std::log2(t + 2.0);
    }
    r += hits / d.test[u].size();
    n += dcg / idcg;
    users++;
  }
  *recall = r / users;
  *ndcg = n / users;
}

Config parse(int argc, char **argv) {
  Config c;
  for (int a = 1; a + 1 < argc; a += 2) {
    std::string k = argv[a], v = argv[a + 1];
    if (k == "--train") c.train = v;
    else if (k == "--test") c.test = v;
    else if (k == "--epochs") c.epochs = std::atoi(v.c_str());
    else if (k == "--dim") c.dim = std::atoi(v.c_str());
    else if (k == "--threads") c.threads = std::atoi(v.c_str());
    else if (k == "--eval-every") c.eval_every = std::atoi(v.c_str());
    else if (k == "--lr") c.lr = std::atof(v.c_str());
    else if (k == "--lr-decay") c.lr_decay = std::atof(v.c_str());
    else if (k == "--reg") c.reg = std::atof(v.c_str());
    else if (k == "--seed") c.seed = (unsigned)std::atoi(v.c_str());
    else c.train.clear();  // unknown option: show the usage
  }
  if (c.train.empty() || c.test.empty() || c.epochs < 1 || c.dim < 1 || c.threads < 1 ||
      c.eval_every < 1) {
    std::fprintf(stderr, "usage: %s --train FILE --test FILE [--epochs E] [--dim D] "
                 "[--lr LR] [--lr-decay F] [--reg L2] [--threads T] [--seed S] "
                 "[--eval-every E]\n", argv[0]);
    std::exit(EXIT_FAILURE);
  }
  return c;
}

}  // namespace

int main(int argc, char **argv) {
  Config c = parse(argc, argv);
  Dataset d = load(c);
  Model m(d, c.dim, c.seed);
  Trainer trainer(c, d, m);
  std::printf("Variational BPR (%s, M %d, N %d), %d users, %d items, %zu training pairs, "
              "%d threads\n", kPreset, kPos, kNeg, d.users, d.items, d.pairs.size(), c.threads);
  double recall = 0, ndcg = 0;
  for (int e = 1; e <= c.epochs; e++) {
    trainer.epoch(e);
    if (e % c.eval_every == 0 || e == c.epochs) {
      evaluate(m, d, &recall, &ndcg);
      std::printf("epoch %3d  recall@20 %.4f  ndcg@20 %.4f\n", e, recall, ndcg);
      std::fflush(stdout);
    }
  }
  std::printf("final recall@20 %.4f ndcg@20 %.4f\n", recall, ndcg);
  return EXIT_SUCCESS;
}
