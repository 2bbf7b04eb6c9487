#include "wrn/eval/evaluate.h"

#include <torch/nn/functional/loss.h>

#include <algorithm>

#include "wrn/core/error.h"
#include "wrn/core/memory.h"
#include "wrn/models/test_time_flip.h"

namespace wrn::train {

BatchStats batch_stats(const torch::Tensor& logits, const torch::Tensor& labels) {
  namespace F = torch::nn::functional;
  BatchStats s;
  const auto scores = logits.detach().to(torch::kFloat);  // bf16 logits: the loss and ranking in fp32
  s.loss_sum = F::cross_entropy(scores, labels, F::CrossEntropyFuncOptions().reduction(torch::kSum))
                   .to(torch::kDouble);
  const int64_t k = std::min<int64_t>(5, scores.size(1));
  auto top = std::get<1>(scores.topk(k, 1));
  auto hits = top.eq(labels.view({-1, 1}));
  s.correct1 = hits.select(1, 0).sum();
  s.correct5 = hits.any(1).sum();
  return s;
}

EvalResult evaluate(models::ClassifierImpl& model, const data::Dataset& d, const data::Normalizer& normalizer,
                    const EvalOptions& options) {
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  auto r = evaluate([&](const torch::Tensor& x) { return model.forward(x); }, model.num_classes(), d, normalizer,
                    options);
  if (was_training) model.train();
  return r;
}

namespace {

// Fills `images` (uint8), `labels` and `indices` (the rows' sample indices, int64 CPU) with
// the next batch; false at the end.
using NextBatch = std::function<bool(torch::Tensor& images, torch::Tensor& labels, torch::Tensor& indices)>;

// `n`: the split's size (predictions of samples never returned, e.g. skipped files, are -1).
EvalResult evaluate_batches(const ForwardFn& forward, int64_t classes, int64_t n, const torch::Device& device,
                            const NextBatch& next, const data::Normalizer& normalizer, const EvalOptions& options) {
  torch::NoGradGuard no_grad;
  auto opts = torch::TensorOptions().device(device);
  auto loss = torch::zeros({}, opts.dtype(torch::kDouble));
  auto c1 = torch::zeros({}, opts.dtype(torch::kLong)), c5 = torch::zeros({}, opts.dtype(torch::kLong));
  torch::Tensor confusion, predictions;
  if (options.with_confusion) confusion = torch::zeros({classes * classes}, opts.dtype(torch::kLong));
  auto predicted = torch::full({n}, -1, torch::kLong);
  int64_t seen = 0;
  torch::Tensor images, y, indices;
  while (next(images, y, indices)) {
    auto x = batch_in_layout(normalizer(images.to(device)), options.channels_last).to(options.input_dtype);
    y = y.to(device);
    auto logits = forward(x).to(torch::kFloat);
    if (options.tta_flip) {  // log of the mean probability (batch_stats' log_softmax leaves it as it is)
      logits = models::flip_averaged_log_probabilities(logits, forward(x.flip(3)).to(torch::kFloat));
    }
    auto s = batch_stats(logits, y);
    loss += s.loss_sum;
    c1 += s.correct1;
    c5 += s.correct5;
    seen += y.size(0);
    if (options.with_confusion || options.with_predictions) {
      auto top1 = logits.argmax(1);
      if (options.with_confusion) confusion.index_add_(0, y * classes + top1, torch::ones_like(y));
      if (options.with_predictions) predicted.index_copy_(0, indices, top1.cpu());
    }
  }
  EvalResult r;
  r.images = seen;
  r.loss_sum = loss.item<double>();
  r.correct1 = c1.item<int64_t>();
  r.correct5 = c5.item<int64_t>();
  const double dn = std::max<int64_t>(seen, 1);
  r.loss = r.loss_sum / dn;
  r.top1_err = 100.0 * (1.0 - static_cast<double>(r.correct1) / dn);
  r.top5_err = 100.0 * (1.0 - static_cast<double>(r.correct5) / dn);
  if (options.with_confusion) {
    auto cm = confusion.cpu().view({classes, classes});
    auto acc = cm.accessor<int64_t, 2>();
    for (int64_t t = 0; t < classes; ++t) {
      std::vector<int64_t> row(static_cast<size_t>(classes));
      int64_t total = 0;
      for (int64_t p = 0; p < classes; ++p) total += row[p] = acc[t][p];
      r.confusion.push_back(row);
      r.per_class_accuracy.push_back(total ? 100.0 * acc[t][t] / total : std::nan(""));
    }
  }
  if (options.with_predictions) r.predictions.assign(predicted.data_ptr<int64_t>(), predicted.data_ptr<int64_t>() + n);
  return r;
}

}  // namespace

EvalResult evaluate(const ForwardFn& forward, int64_t classes, const data::Dataset& d,
                    const data::Normalizer& normalizer, const EvalOptions& options) {
  const int64_t n = d.size(), batch_size = options.batch_size;
  WRN_CHECK(batch_size > 0, "evaluation batch size must be positive, got {}", batch_size);
  int64_t start = 0;
  auto next = [&](torch::Tensor& images, torch::Tensor& labels, torch::Tensor& indices) {
    if (start >= n) return false;
    const int64_t len = std::min(batch_size, n - start);
    images = d.images.narrow(0, start, len);
    labels = d.labels.narrow(0, start, len);
    indices = torch::arange(start, start + len, torch::kLong);
    start += len;
    return true;
  };
  return evaluate_batches(forward, classes, n, d.images.device(), next, normalizer, options);
}

EvalResult evaluate(const ForwardFn& forward, int64_t classes, const data::SplitData& split,
                    const data::Preprocessing& spec, const data::Normalizer& normalizer, const EvalOptions& options) {
  if (!split.streamed()) {
    auto r = evaluate(forward, classes, split.memory, normalizer, options);
    r.skipped = split.skipped;  // left out when the split was decoded (data::decode_all)
    return r;
  }
  WRN_CHECK(options.batch_size > 0, "evaluation batch size must be positive, got {}", options.batch_size);
  // Streamed: decoded by the evaluation transform on the loader's threads, in file order.
  auto loader = split.eval_loader(spec, options.loader, options.batch_size);
  std::vector<std::pair<std::string, std::string>> skipped = split.skipped;
  auto next = [&](torch::Tensor& images, torch::Tensor& labels, torch::Tensor& indices) {
    if (!loader->has_next()) return false;
    auto b = loader->next();
    images = b.images;
    indices = b.indices;
    labels = split.labels.index_select(0, b.indices);
    for (const auto& [i, message] : b.skipped) skipped.emplace_back(split.files.paths[static_cast<size_t>(i)], message);
    return true;
  };
  auto r = evaluate_batches(forward, classes, split.size(), normalizer.device(), next, normalizer, options);
  r.skipped = std::move(skipped);
  return r;
}

EvalResult evaluate(models::ClassifierImpl& model, const data::SplitData& split, const data::Preprocessing& spec,
                    const data::Normalizer& normalizer, const EvalOptions& options) {
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  auto r = evaluate([&](const torch::Tensor& x) { return model.forward(x); }, model.num_classes(), split, spec,
                    normalizer, options);
  if (was_training) model.train();
  return r;
}

}  // namespace wrn::train
