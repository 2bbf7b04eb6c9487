#include "wrn/dist/gradient_reducer.h"

#include <algorithm>

#include "wrn/core/error.h"

namespace wrn::dist {

GradientReducer::GradientReducer(Communicator& comm, torch::Tensor flat_grads, int64_t bucket_bytes)
    : comm_(comm), grads_(std::move(flat_grads)) {
  WRN_CHECK(grads_.defined() && grads_.dim() == 1 && grads_.is_contiguous(),
            "GradientReducer: expected the flat, contiguous gradient buffer");
  WRN_CHECK(bucket_bytes > 0, "distributed.bucket_mb must be positive");
  per_bucket_ = std::max<int64_t>(1, bucket_bytes / static_cast<int64_t>(grads_.element_size()));
  for (int64_t start = 0; start < grads_.numel(); start += per_bucket_)
    buckets_.push_back(grads_.narrow(0, start, std::min(per_bucket_, grads_.numel() - start)));
  pending_.resize(buckets_.size());
}

GradientReducer::~GradientReducer() {
  // A step that failed (an exception out of the backward pass or the run) may leave allreduces
  // in flight on grads_; let them end before the buffer can go.
  try {
    wait_all();
  } catch (...) {
  }
}

int64_t GradientReducer::bytes_per_step() const { return grads_.numel() * static_cast<int64_t>(grads_.element_size()); }

void GradientReducer::reduce() {
  if (comm_.size() == 1) return;
  begin_step();
  finish();
}

void GradientReducer::begin_step() {
  wait_all();
  for (size_t b = 0; b < buckets_.size(); ++b) pending_[b] = buckets_[b].numel();
  next_ = 0;
  in_step_ = true;
}

void GradientReducer::mark_ready(int64_t offset, int64_t n) {
  if (!in_step_) return;
  WRN_CHECK(offset >= 0 && n >= 0 && offset + n <= grads_.numel(), "GradientReducer: [{}, {}) is outside the {} gradients",
            offset, offset + n, grads_.numel());
  for (int64_t b = offset / per_bucket_; n > 0 && b < buckets(); ++b) {
    const int64_t begin = b * per_bucket_, end = begin + buckets_[static_cast<size_t>(b)].numel();
    const int64_t covered = std::min(end, offset + n) - std::max(begin, offset);
    if (covered <= 0) break;
    auto& left = pending_[static_cast<size_t>(b)];
    WRN_CHECK(covered <= left, "GradientReducer: gradients of bucket {} marked ready twice in one step", b);
    left -= covered;
  }
  start_ready_buckets();
}

// In the fixed order: the last bucket first; stops at the first one still pending.
void GradientReducer::start_ready_buckets() {
  while (next_ < buckets()) {
    const auto b = static_cast<size_t>(buckets() - 1 - next_);
    if (pending_[b] > 0) return;
    in_flight_.push_back(comm_.allreduce_sum_async(buckets_[b]));
    ++next_;
  }
}

void GradientReducer::finish() {
  WRN_CHECK(in_step_, "GradientReducer::finish() without begin_step()");
  started_before_finish_ = next_;
  std::fill(pending_.begin(), pending_.end(), 0);
  start_ready_buckets();
  in_step_ = false;
  wait_all();
  torch::NoGradGuard no_grad;
  grads_.div_(comm_.size());
}

void GradientReducer::wait_all() {
  // Every one is waited even when one throws (a lost peer): the first error is rethrown.
  std::exception_ptr first;
  for (auto& p : in_flight_) {
    try {
      p.wait();
    } catch (...) {
      if (!first) first = std::current_exception();
    }
  }
  in_flight_.clear();
  if (first) std::rethrow_exception(first);
}

}  // namespace wrn::dist
