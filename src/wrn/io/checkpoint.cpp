#include "wrn/io/checkpoint.h"

#include <ATen/core/Dict.h>
#include <torch/serialize.h>
#include <zlib.h>

#include <cstring>

#include "wrn/core/atomic_file.h"
#include "wrn/core/error.h"
#include "wrn/io/pickle_scan.h"
#include "wrn/io/zip_check.h"

namespace wrn::io {
namespace {

constexpr size_t kHeaderSize = 24;

uint32_t crc32_of(const char* data, size_t size) {
  uLong crc = crc32(0L, Z_NULL, 0);
  while (size > 0) {
    const auto chunk = static_cast<uInt>(std::min<size_t>(size, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data), chunk);
    data += chunk;
    size -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

c10::Dict<std::string, at::Tensor> to_dict(const StateDict& tensors) {
  c10::Dict<std::string, at::Tensor> d;
  for (const auto& t : tensors) d.insert(t.name, t.value.detach().to(torch::kCPU).contiguous());
  return d;
}

StateDict from_dict(const c10::IValue& v, const std::string& what, const std::string& path) {
  WRN_CHECK_FILE(v.isGenericDict(), "checkpoint '{}': '{}' is not a dictionary", path, what);
  StateDict out;
  for (const auto& e : v.toGenericDict()) {
    WRN_CHECK_FILE(e.key().isString() && e.value().isTensor(), "checkpoint '{}': '{}' holds a non-tensor entry", path,
                   what);
    out.push_back({e.key().toStringRef(), e.value().toTensor()});
  }
  return out;
}

template <class T>
void put(std::string& s, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  s.append(b, sizeof(T));
}

template <class T>
T get(const std::string& s, size_t offset) {
  T v;
  std::memcpy(&v, s.data() + offset, sizeof(T));
  return v;
}

}  // namespace

void save_checkpoint(const std::string& path, const Checkpoint& c) {
  c10::impl::GenericDict root(c10::StringType::get(), c10::AnyType::get());
  root.insert(std::string("format"), std::string("wrn-checkpoint"));
  root.insert(std::string("config"), c.config_yaml);
  root.insert(std::string("meta"), c.meta_json);
  root.insert(std::string("model"), to_dict(c.model));
  root.insert(std::string("optimizer"), to_dict(c.optimizer));
  root.insert(std::string("rng"), to_dict(c.rng));
  root.insert(std::string("running"), to_dict(c.running));
  StateDict norm;
  for (size_t i = 0; i < c.normalizer.size(); ++i) norm.push_back({std::to_string(i), c.normalizer[i]});
  root.insert(std::string("normalizer"), to_dict(norm));
  if (!c.ema.empty()) root.insert(std::string("ema"), to_dict(c.ema));
  const std::vector<char> payload = torch::pickle_save(c10::IValue(root));

  std::string header;
  header.append(kCheckpointMagic, sizeof(kCheckpointMagic));
  put<uint32_t>(header, kCheckpointVersion);
  put<uint32_t>(header, crc32_of(payload.data(), payload.size()));
  put<uint64_t>(header, payload.size());
  write_file_atomically(path, [&](std::ostream& out) {
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.write(payload.data(), static_cast<std::streamsize>(payload.size()));
  });
}

Checkpoint load_checkpoint(const std::string& path) { return parse_checkpoint(read_file(path), path); }

Checkpoint parse_checkpoint(const std::string& bytes, const std::string& path) {
  WRN_CHECK_FILE(bytes.size() >= kHeaderSize && std::memcmp(bytes.data(), kCheckpointMagic, sizeof(kCheckpointMagic)) == 0,
                 "'{}' is not a wrn checkpoint (bad magic or shorter than its {}-byte header)", path, kHeaderSize);
  const auto version = get<uint32_t>(bytes, 8);
  WRN_CHECK_FILE(version >= 1 && version <= kCheckpointVersion,
                 "checkpoint '{}' has format version {}; this wrn reads versions 1 to {}", path, version,
                 kCheckpointVersion);
  const auto crc = get<uint32_t>(bytes, 12);
  const auto size = get<uint64_t>(bytes, 16);
  WRN_CHECK_FILE(bytes.size() - kHeaderSize == size,
                 "checkpoint '{}' is truncated or torn: the header promises {} payload bytes, the file holds {}", path,
                 size, bytes.size() - kHeaderSize);
  const uint32_t actual = crc32_of(bytes.data() + kHeaderSize, size);
  WRN_CHECK_FILE(actual == crc, "checkpoint '{}' is corrupt: payload checksum {:08x}, header says {:08x}", path, actual,
                 crc);
  // The payload's zip structure and CRCs before LibTorch's reader, which trusts them, and
  // its pickle's nesting before LibTorch's unpickler, whose values are destroyed by recursion
  // (a stack overflow at 10^6 nested lists). The payload is stored: data.pkl is a slice of it.
  const std::string what = fmt::format("checkpoint '{}'", path);
  const std::string_view payload = std::string_view(bytes).substr(kHeaderSize);
  for (std::string_view pickle : zip_records(payload, check_zip(payload, what), "data.pkl"))
    check_pickle_nesting(pickle, what);
  c10::IValue root;
  try {
    root = torch::pickle_load(std::vector<char>(bytes.begin() + kHeaderSize, bytes.end()));
  } catch (const std::exception& e) {
    throw FileError(fmt::format("checkpoint '{}': cannot decode the payload: {}", path, one_line_message(e)));
  }
  WRN_CHECK_FILE(root.isGenericDict(), "checkpoint '{}': the payload is not a dictionary", path);
  auto dict = root.toGenericDict();
  auto field = [&](const std::string& key) {
    auto it = dict.find(key);
    WRN_CHECK_FILE(it != dict.end(), "checkpoint '{}' lacks '{}'", path, key);
    return it->value();
  };
  Checkpoint c;
  c.config_yaml = field("config").toStringRef();
  c.meta_json = field("meta").toStringRef();
  c.model = from_dict(field("model"), "model", path);
  c.optimizer = from_dict(field("optimizer"), "optimizer", path);
  c.rng = from_dict(field("rng"), "rng", path);
  c.running = from_dict(field("running"), "running", path);
  auto norm = from_dict(field("normalizer"), "normalizer", path);
  for (size_t i = 0; i < norm.size(); ++i) c.normalizer.push_back(find_tensor(norm, std::to_string(i), path));
  if (auto it = dict.find(std::string("ema")); it != dict.end()) c.ema = from_dict(it->value(), "ema", path);
  return c;
}

const StateDict& inference_weights(const Checkpoint& checkpoint) {
  return checkpoint.ema.empty() ? checkpoint.model : checkpoint.ema;
}

}  // namespace wrn::io
