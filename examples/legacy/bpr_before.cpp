// A small matrix-factorisation recommender in plain C++. bpr_before.cpp
// trains it with a hand-written BPR loss, vbpr_after.cpp with libvbpr's
// Variational BPR; swap.diff is the whole difference.
//
// Synthetic implicit feedback: users and items fall into groups and each
// user interacts with items of its own group. The program trains for a few
// epochs with SGD, prints the loss, then the held-out hit rate at 10, and
// fails (exit 1) if the model learned nothing.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

namespace {

const int kUsers = 300, kItems = 400, kGroups = 10, kDim = 16;
const int kBatch = 128, kEpochs = 20;
const float kLr = 0.05f;
const int kPos = 1;  // positives per training row
const int kNeg = 1;  // negatives per training row

struct Data {
  std::vector<std::vector<int>> train, test;  // per user, sorted item ids
};

// Each user likes 16 items of its group (12 for training, 4 held out).
Data make_data(std::mt19937 &rng) {
  Data d;
  d.train.resize(kUsers);
  d.test.resize(kUsers);
  std::vector<int> group;
  for (int u = 0; u < kUsers; u++) {
    group.clear();
    for (int i = u % kGroups; i < kItems; i += kGroups) group.push_back(i);
    std::shuffle(group.begin(), group.end(), rng);
    d.train[u].assign(group.begin(), group.begin() + 12);
    d.test[u].assign(group.begin() + 12, group.begin() + 16);
    std::sort(d.train[u].begin(), d.train[u].end());
    std::sort(d.test[u].begin(), d.test[u].end());
  }
  return d;
}

bool contains(const std::vector<int> &sorted, int x) {
  return std::binary_search(sorted.begin(), sorted.end(), x);
}

struct Model {
  std::vector<float> users, items;  // [kUsers x kDim], [kItems x kDim]
  explicit Model(std::mt19937 &rng) : users(kUsers * kDim), items(kItems * kDim) {
    std::normal_distribution<float> init(0.0f, 0.1f);
    for (float &x : users) x = init(rng);
    for (float &x : items) x = init(rng);
  }
  float score(int u, int i) const {
    float s = 0.0f;
    for (int k = 0; k < kDim; k++) s += users[u * kDim + k] * items[i * kDim + k];
    return s;
  }
};

// One training batch: ids, their embeddings, and the loss gradients.
struct Batch {
  int rows = kBatch;
  std::vector<int> user, pos, neg;  // [B], [B * kPos], [B * kNeg]
  std::vector<float> u, p, n;       // [B * kDim], [B * kPos * kDim], [B * kNeg * kDim]
  std::vector<float> gu, gp, gn;    // same sizes as u, p, n
  Batch()
      : user(kBatch), pos(kBatch * kPos), neg(kBatch * kNeg), u(kBatch * kDim),
        p(kBatch * kPos * kDim), n(kBatch * kNeg * kDim), gu(u.size()), gp(p.size()),
        gn(n.size()) {}
};

void sample(const Data &d, std::mt19937 &rng, Batch &b) {
  std::uniform_int_distribution<int> any_user(0, kUsers - 1), any_item(0, kItems - 1);
  for (int r = 0; r < b.rows; r++) {
    int u = any_user(rng);
    const std::vector<int> &items = d.train[u];
    std::uniform_int_distribution<size_t> any_pos(0, items.size() - 1);
    b.user[r] = u;
    for (int m = 0; m < kPos; m++) b.pos[r * kPos + m] = items[any_pos(rng)];
    for (int k = 0; k < kNeg; k++) {
      int j;
      do j = any_item(rng); while (contains(items, j));
      b.neg[r * kNeg + k] = j;
    }
  }
}

void gather(const Model &m, Batch &b) {
  for (int r = 0; r < b.rows; r++) {
    std::copy_n(&m.users[b.user[r] * kDim], kDim, &b.u[r * kDim]);
    for (int x = 0; x < kPos; x++)
      std::copy_n(&m.items[b.pos[r * kPos + x] * kDim], kDim, &b.p[(r * kPos + x) * kDim]);
    for (int x = 0; x < kNeg; x++)
      std::copy_n(&m.items[b.neg[r * kNeg + x] * kDim], kDim, &b.n[(r * kNeg + x) * kDim]);
  }
}

// The loss: the mean over the rows of softplus(-(<u,i> - <u,j>)), and its
// gradients with respect to the embeddings.
float batch_loss(Batch &b) {
  float total = 0.0f;
  for (int r = 0; r < b.rows; r++) {
    const float *u = &b.u[r * kDim], *i = &b.p[r * kDim], *j = &b.n[r * kDim];
    float x = 0.0f;
    for (int k = 0; k < kDim; k++) x += u[k] * (i[k] - j[k]);
    total += std::log1p(std::exp(-x));
    float g = -1.0f / (1.0f + std::exp(x)) / static_cast<float>(b.rows);
    for (int k = 0; k < kDim; k++) {
      b.gu[r * kDim + k] = g * (i[k] - j[k]);
      b.gp[r * kDim + k] = g * u[k];
      b.gn[r * kDim + k] = -g * u[k];
    }
  }
  return total / static_cast<float>(b.rows);
}

// SGD on the rows the batch used. The gradients are those of the batch
// mean: scaled by the rows, each row takes a step of kLr.
void sgd(Model &m, const Batch &b) {
  const float step = kLr * static_cast<float>(b.rows);
  for (int r = 0; r < b.rows; r++) {
    for (int k = 0; k < kDim; k++) m.users[b.user[r] * kDim + k] -= step * b.gu[r * kDim + k];
    for (int x = 0; x < kPos; x++)
      for (int k = 0; k < kDim; k++)
        m.items[b.pos[r * kPos + x] * kDim + k] -= step * b.gp[(r * kPos + x) * kDim + k];
    for (int x = 0; x < kNeg; x++)
      for (int k = 0; k < kDim; k++)
        m.items[b.neg[r * kNeg + x] * kDim + k] -= step * b.gn[(r * kNeg + x) * kDim + k];
  }
}

// Share of users with a held-out item among their 10 best unseen items.
double hit_rate_at_10(const Model &m, const Data &d) {
  int hits = 0;
  std::vector<std::pair<float, int>> ranked;
  for (int u = 0; u < kUsers; u++) {
    ranked.clear();
    for (int i = 0; i < kItems; i++)
      if (!contains(d.train[u], i)) ranked.emplace_back(-m.score(u, i), i);
    std::partial_sort(ranked.begin(), ranked.begin() + 10, ranked.end());
    for (int t = 0; t < 10; t++)
      if (contains(d.test[u], ranked[t].second)) {
        hits++;
        break;
      }
  }
  return static_cast<double>(hits) / kUsers;
}

}  // namespace

int main() {
  std::mt19937 rng(7);
  Data data = make_data(rng);
  Model model(rng);
  Batch batch;
  std::printf("MF, %d positive(s) and %d negative(s) per row\n", kPos, kNeg);
  double before = hit_rate_at_10(model, data);
  for (int epoch = 1; epoch <= kEpochs; epoch++) {
    float sum = 0.0f;
    const int steps = kUsers * 12 / kBatch;
    for (int s = 0; s < steps; s++) {
      sample(data, rng, batch);
      gather(model, batch);
      float loss = batch_loss(batch);
      sgd(model, batch);
      sum += loss;
    }
    if (epoch % 5 == 0) std::printf("epoch %2d  loss %.4f\n", epoch, sum / steps);
  }
  double after = hit_rate_at_10(model, data);
  std::printf("hit rate at 10: %.3f before training, %.3f after\n", before, after);
  return after > before + 0.2 ? EXIT_SUCCESS : EXIT_FAILURE;
}
