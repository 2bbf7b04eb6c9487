// Peak fp32 multiply-add rate of this CPU, for bench/roofline.py: each of T OpenMP threads runs
// kChains independent chains of vector FMAs on registers (enough chains to cover the FMA
// latency of every x86-64 and Arm core in use), so nothing but the FMA units limits it.
// Compiled by roofline.py with -O2 -march=native: the widest vectors this CPU has.
// Usage: fma_peak THREADS SECONDS  -> prints GFLOP/s (2 FLOP per lane per FMA).
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#if defined(__AVX512F__)
#define kBytes 64
#elif defined(__AVX__)
#define kBytes 32
#else
#define kBytes 16
#endif
typedef float vec __attribute__((vector_size(kBytes)));
enum { kLanes = kBytes / 4, kChains = 12, kInner = 1 << 16 };

static double run(long rounds, float seed) {
  vec acc[kChains], a, b;
  for (int i = 0; i < kLanes; ++i) {
    a[i] = 0.999999f;
    b[i] = seed * 1e-7f;
  }
  for (int k = 0; k < kChains; ++k)
    for (int i = 0; i < kLanes; ++i) acc[k][i] = seed + (float)k;
  for (long r = 0; r < rounds; ++r)
    for (int j = 0; j < kInner; ++j)
#pragma GCC unroll 12
      for (int k = 0; k < kChains; ++k) acc[k] = acc[k] * a + b;
  double s = 0;
  for (int k = 0; k < kChains; ++k)
    for (int i = 0; i < kLanes; ++i) s += acc[k][i];
  return s;
}

// Wall seconds of one parallel run of `rounds` rounds on every thread.
static double timed(long rounds, double* sink) {
  const double t0 = omp_get_wtime();
  double s = 0;
#pragma omp parallel reduction(+ : s)
  s += run(rounds, (float)omp_get_thread_num() + 1.0f);
  *sink += s;
  return omp_get_wtime() - t0;
}

int main(int argc, char** argv) {
  const int threads = argc > 1 ? atoi(argv[1]) : 1;
  const double seconds = argc > 2 ? atof(argv[2]) : 1.0;
  if (threads < 1 || !(seconds > 0)) {
    fprintf(stderr, "usage: fma_peak THREADS SECONDS\n");
    return 2;
  }
  omp_set_num_threads(threads);
  double sink = 0;
  long rounds = 1;  // doubled until one run takes a third of SECONDS
  while (timed(rounds, &sink) < seconds / 3 && rounds < (1L << 40)) rounds *= 2;
  double best = 0;  // the fastest of 3 runs (other load on the machine only slows one down)
  for (int i = 0; i < 3; ++i) {
    const double rate =
        2.0 * kLanes * kChains * (double)kInner * (double)rounds * threads / timed(rounds, &sink);
    if (rate > best) best = rate;
  }
  printf("%.1f\n", best / 1e9);
  fprintf(stderr, "fma_peak: %d-byte vectors, %d chains, %d threads (checksum %g)\n", kBytes, kChains,
          threads, sink);
  return 0;
}
