// Training checkpoints: everything a run needs to continue bit for bit (train::Engine writes
// and reads them; read_weights_file takes their weights).
//
// File layout (little-endian):
//   bytes 0-7   magic "WRNCKPT\0"
//   bytes 8-11  uint32 format version (kCheckpointVersion)
//   bytes 12-15 uint32 CRC-32 (zlib) of the payload
//   bytes 16-23 uint64 payload size
//   bytes 24-   payload: torch::pickle_save of a dict {str: IValue} (torch.load reads it with
//               weights_only=False: its dicts carry LibTorch's type tags)
// Written through wrn::write_file_atomically (temporary file, fsync, rename), so a crash
// leaves the previous checkpoint intact. A torn, truncated or corrupted file is detected by
// the size and the checksum and reported as wrn::FileError naming the file.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "wrn/io/state_dict.h"

namespace wrn::io {

inline constexpr uint32_t kCheckpointVersion = 1;
inline constexpr char kCheckpointMagic[8] = {'W', 'R', 'N', 'C', 'K', 'P', 'T', '\0'};

struct Checkpoint {
  std::string config_yaml;     // the resolved TrainConfig (config_to_string)
  std::string meta_json;  // counters and bookkeeping (train/run_state.h's RunCounters), "class_names", as JSON text
  StateDict model;        // state_dict: parameters and buffers by name, on the CPU
  StateDict optimizer;    // the optimizer's state() (optim/optimizer.h: SGD's or AdamW's)
  StateDict rng;          // generator states by role ("augment", "cpu_default", ...; train/run_state.h)
  StateDict running;      // the partial epoch's running metric sums (train/run_state.h), loss scaler, EMA count
  std::vector<torch::Tensor> normalizer;  // Normalizer::state()
  // The weight average's state_dict (config ema), same keys as `model`; empty without EMA
  // (and in checkpoints from before it existed: the key is optional).
  StateDict ema;
};

// The weights a checkpoint serves with (eval, predict, export, init_from): the weight
// average when the run kept one, else the trained weights.
const StateDict& inference_weights(const Checkpoint& checkpoint);

// Writes atomically. Throws wrn::FileError naming `path` when it cannot be written.
void save_checkpoint(const std::string& path, const Checkpoint& checkpoint);

// Reads and verifies magic, version, size and checksum. Throws wrn::FileError naming the
// file and what is wrong ("not a wrn checkpoint", "truncated", "checksum mismatch", ...).
Checkpoint load_checkpoint(const std::string& path);
// The same from a file's bytes (a data-parallel rank gets rank 0's); `path` names it in errors.
Checkpoint parse_checkpoint(const std::string& bytes, const std::string& path);

}  // namespace wrn::io
