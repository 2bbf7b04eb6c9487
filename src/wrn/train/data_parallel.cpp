#include "wrn/train/data_parallel.h"

#include <chrono>
#include <cstring>

namespace wrn::train {

DataParallel::DataParallel(std::shared_ptr<dist::Communicator> comm, torch::Tensor flat_grads, double bucket_mb)
    : comm_(std::move(comm)), bn_sum_(*comm_) {
  reducer_ = std::make_unique<dist::GradientReducer>(*comm_, std::move(flat_grads),
                                                     static_cast<int64_t>(bucket_mb * (1 << 20)));
}

void DataParallel::reduce_gradients() {
  const auto t0 = std::chrono::steady_clock::now();
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
