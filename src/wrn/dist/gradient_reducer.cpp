#include "wrn/dist/gradient_reducer.h"

#include "wrn/core/error.h"

namespace wrn::dist {

GradientReducer::GradientReducer(Communicator& comm, torch::Tensor flat_grads, int64_t bucket_bytes)
    : comm_(comm), grads_(std::move(flat_grads)) {
  WRN_CHECK(grads_.defined() && grads_.dim() == 1 && grads_.is_contiguous(),
            "GradientReducer: expected the flat, contiguous gradient buffer");
  WRN_CHECK(bucket_bytes > 0, "distributed.bucket_mb must be positive");
  const int64_t per = std::max<int64_t>(1, bucket_bytes / static_cast<int64_t>(grads_.element_size()));
  for (int64_t start = 0; start < grads_.numel(); start += per)
    buckets_.push_back(grads_.narrow(0, start, std::min(per, grads_.numel() - start)));
}

int64_t GradientReducer::bytes_per_step() const { return grads_.numel() * static_cast<int64_t>(grads_.element_size()); }

void GradientReducer::reduce() {
  if (comm_.size() == 1) return;
  std::vector<PendingAllreduce> pending;
  pending.reserve(buckets_.size());
  for (auto& b : buckets_) pending.push_back(comm_.allreduce_sum_async(b));
  for (auto& p : pending) p.wait();
  torch::NoGradGuard no_grad;
  grads_.div_(comm_.size());
}

}  // namespace wrn::dist
