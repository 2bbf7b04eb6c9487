#include "wrn/train/data_parallel.h"

#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <chrono>
#include <cstring>
#include <functional>

#include "wrn/core/error.h"

namespace wrn::train {

namespace {

// Runs `fn` after autograd has accumulated a parameter's gradient into its .grad (public
// LibTorch: AccumulateGrad calls the tensor's post-accumulate hook, what Python's
// Tensor.register_post_accumulate_grad_hook installs; one per tensor).
class AfterAccumulate : public torch::autograd::PostAccumulateGradHook {
 public:
  explicit AfterAccumulate(std::function<void(const torch::Tensor&)> fn) : fn_(std::move(fn)) {}
  void operator()(const torch::autograd::Variable& param) override { fn_(param); }

 private:
  std::function<void(const torch::Tensor&)> fn_;  // never holds the parameter: it owns this hook
};

}  // namespace

DataParallel::DataParallel(std::shared_ptr<dist::Communicator> comm, torch::Tensor flat_grads, double bucket_mb)
    : comm_(std::move(comm)), bn_sum_(*comm_) {
  reducer_ = std::make_unique<dist::GradientReducer>(*comm_, std::move(flat_grads),
                                                     static_cast<int64_t>(bucket_mb * (1 << 20)));
}

DataParallel::~DataParallel() {
  for (const auto& p : hooked_) torch::autograd::impl::set_post_acc_grad_hooks(p, nullptr);
}

void DataParallel::overlap_with_backward(const FlatParameters& flat, MixedPrecisionWeights& mixed) {
  if (size() == 1 || overlapped()) return;
  WRN_CHECK(flat.aliased(), "data parallel: the parameters no longer alias the flat buffers");
  const auto* base = static_cast<const char*>(flat.grads().data_ptr());
  const auto elem = static_cast<int64_t>(flat.grads().element_size());
  for (const auto& p : flat.parameters()) {
    WRN_CHECK(!torch::autograd::impl::post_acc_grad_hooks(p),
              "data parallel: a parameter already carries a post-accumulate-grad hook");
    const int64_t offset = (static_cast<const char*>(p.grad().data_ptr()) - base) / elem, n = p.numel();
    const size_t i = hooked_.size();
    torch::autograd::impl::set_post_acc_grad_hooks(
        p, std::make_unique<AfterAccumulate>([this, &mixed, i, offset, n](const torch::Tensor& param) {
          if (!reducer_->in_step()) return;  // a backward outside a training step
          WRN_CHECK(!seen_[i],
                    "data parallel: a parameter's gradient was accumulated twice in one step after its "
                    "allreduce could start; set distributed.overlap=false");
          seen_[i] = 1;
          mixed.gradient_to_master(param);
          reducer_->mark_ready(offset, n);
        }));
    hooked_.push_back(p);
  }
  seen_.assign(hooked_.size(), 0);
}

void DataParallel::begin_step() {
  if (!overlapped()) return;
  std::fill(seen_.begin(), seen_.end(), 0);
  reducer_->begin_step();
}

void DataParallel::reduce_gradients() {
  const auto t0 = std::chrono::steady_clock::now();
  if (reducer_->in_step())  // begin_step() armed the hooks: finish what they started
    reducer_->finish();
  else
    reducer_->reduce();
  reduce_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ++reduce_steps_;
}

double DataParallel::take_reduce_seconds() {
  const double s = reduce_seconds_;
  reduce_seconds_ = 0;
  reduce_steps_ = 0;
  return s;
}

torch::Tensor DataParallel::shard(const torch::Tensor& rows) const {
  return rows.slice(0, rank(), rows.size(0), size());
}

int64_t DataParallel::shard_size(int64_t n) const { return n > rank() ? (n - rank() + size() - 1) / size() : 0; }

std::vector<int64_t> DataParallel::shard_indices(int64_t n) const {
  std::vector<int64_t> out;
  for (int64_t i = rank(); i < n; i += size()) out.push_back(i);
  return out;
}

StepDecision DataParallel::agree(const StepDecision& mine) {
  auto t = torch::tensor({mine.stop ? 1.0f : 0.0f, mine.diverged ? 1.0f : 0.0f,
                          rank() == 0 && mine.checkpoint ? 1.0f : 0.0f});
  comm_->allreduce_sum(t);
  auto a = t.accessor<float, 1>();
  StepDecision d;
  d.stop = a[0] > 0;
  d.diverged = a[1] > 0;
  d.checkpoint = a[2] > 0;
  return d;
}

void DataParallel::broadcast(const std::vector<torch::Tensor>& tensors) {
  torch::NoGradGuard no_grad;
  for (const auto& t : tensors) {
    if (!t.defined() || t.numel() == 0) continue;
    auto c = t.is_contiguous() ? t : t.contiguous();
    comm_->broadcast(c);
    if (!c.is_same(t)) t.copy_(c);
  }
}

std::vector<double> DataParallel::sum(const std::vector<double>& values) {
  auto t = torch::tensor(values, torch::kDouble);
  comm_->allreduce_sum(t);
  return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
}

void DataParallel::BnSum::sum(torch::Tensor& t) {
  if (t.is_contiguous()) {
    comm_.allreduce_sum(t);
  } else {
    auto c = t.contiguous();
    comm_.allreduce_sum(c);
    t.copy_(c);
  }
}

}  // namespace wrn::train
