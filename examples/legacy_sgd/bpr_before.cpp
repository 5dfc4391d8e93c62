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

namespace {

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
    if (is_train) d.pairs.emplace_back(u, i);
  }
}

Dataset load(const Config &c) {
  Dataset d;
  read_file(c.train, d, true);
  read_file(c.test, d, false);
  for (auto &items : d.train) std::sort(items.begin(), items.end());
  for (auto &items : d.test) std::sort(items.begin(), items.end());
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

class Trainer {
 public:
  Trainer(const Config &c, const Dataset &d, Model &m) : c_(c), d_(d), m_(m), lr_(c.lr) {}

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
    std::mt19937 rng(c_.seed * 1000003u + e * 1009u + tid);
    std::uniform_int_distribution<size_t> any_pair(0, d_.pairs.size() - 1);
    std::uniform_int_distribution<int> any_item(0, d_.items - 1);
    for (size_t s = tid; s < d_.pairs.size(); s += c_.threads) {
      const std::pair<int, int> &p = d_.pairs[any_pair(rng)];
      int j;
      do j = any_item(rng); while (contains(d_.train[p.first], j));
      update(p.first, p.second, j);
    }
  }

  // One SGD step on -ln sigmoid(<u, i> - <u, j>) + reg/2 (|u|^2 + |i|^2 + |j|^2).
  void update(int user, int pos, int neg) {
    double *u = m_.u(user), *i = m_.i(pos), *j = m_.i(neg);
    double x = 0;
    for (int k = 0; k < m_.dim; k++) x += u[k] * (i[k] - j[k]);
    double z = 1.0 / (1.0 + std::exp(x));  // -d loss / d x
    for (int k = 0; k < m_.dim; k++) {
      double uk = u[k], ik = i[k], jk = j[k];
      u[k] += lr_ * (z * (ik - jk) - c_.reg * uk);
      i[k] += lr_ * (z * uk - c_.reg * ik);
      j[k] += lr_ * (-z * uk - c_.reg * jk);
    }
  }

  const Config &c_;
  const Dataset &d_;
  Model &m_;
  double lr_;
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
  std::printf("BPR, %d users, %d items, %zu training pairs, %d threads\n", d.users, d.items,
              d.pairs.size(), c.threads);
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
