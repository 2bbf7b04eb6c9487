#include "wrn/io/checkpoint.h"

#include <ATen/core/Dict.h>
#include <c10/core/CPUAllocator.h>
#include <caffe2/serialize/versions.h>
#include <torch/csrc/jit/serialization/unpickler.h>
#include <torch/serialize.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "wrn/core/atomic_file.h"
#include "wrn/core/error.h"
#include "wrn/io/crc32.h"
#include "wrn/io/pickle_scan.h"
#include "wrn/io/zip_check.h"

namespace wrn::io {
namespace {

constexpr size_t kHeaderSize = 24;

c10::Dict<std::string, at::Tensor> to_dict(const StateDict& tensors) {
  c10::Dict<std::string, at::Tensor> d;
  for (const auto& t : tensors) d.insert(t.name, t.value.detach().to(torch::kCPU).contiguous());
  return d;
}

// The payload's archive, decoded without LibTorch's zip reader: torch::pickle_load hands the
// bytes to miniz through an adapter that copies whatever range miniz asks for, and a crafted
// end record (fuzzing, issue 11) made miniz ask beyond the buffer. Here every byte comes from
// an entry that check_zip has bounded and checksummed; LibTorch's Unpickler parses data.pkl
// as pickle_load would (same version, no type resolver), and each tensor record it asks for
// is copied out. The tensors' storages are checked against those records afterwards: the
// Unpickler sizes a storage from the numel in the pickle, not from the record's bytes.
class PayloadDecoder {
 public:
  PayloadDecoder(std::string_view payload, const std::string& path)
      : what_(fmt::format("checkpoint '{}'", path)), zip_(payload, what_) {}

  c10::IValue decode() {
    const std::string_view pickle = zip_.record("data.pkl");
    check_pickle_nesting(pickle, what_);
    const std::string_view version_text = zip_.record("version");
    uint64_t version = 0;
    for (char c : version_text) {
      if (c == '\n' || c == '\r') break;
      WRN_CHECK_FILE(c >= '0' && c <= '9' && version < 1000, "{}: the archive's version record is not a number",
                     what_);
      version = version * 10 + uint64_t(c - '0');
    }
    WRN_CHECK_FILE(version >= caffe2::serialize::kMinSupportedFileFormatVersion &&
                       version <= caffe2::serialize::kMaxSupportedFileFormatVersion,
                   "{}: archive format version {} (LibTorch reads {} to {})", what_, version,
                   caffe2::serialize::kMinSupportedFileFormatVersion,
                   caffe2::serialize::kMaxSupportedFileFormatVersion);
    size_t pos = 0;
    auto reader = [&](char* buffer, size_t len) -> size_t {
      len = std::min(len, pickle.size() - pos);
      if (len > 0) std::memcpy(buffer, pickle.data() + pos, len);
      pos += len;
      return len;
    };
    auto read_record = [&](const std::string& key) {
      const std::string_view bytes = zip_.record("data/" + key);
      at::DataPtr data = c10::GetCPUAllocator()->allocate(bytes.size());
      if (!bytes.empty()) std::memcpy(data.get(), bytes.data(), bytes.size());
      record_bytes_[data.get()] = bytes.size();
      return data;
    };
    try {
      torch::jit::Unpickler unpickler(reader, nullptr, nullptr, read_record, c10::nullopt);
      unpickler.set_version(version);
      return unpickler.parse_ivalue();
    } catch (const wrn::Error&) {
      throw;
    } catch (const std::exception& e) {
      throw FileError(fmt::format("{}: cannot decode the payload: {}", what_, one_line_message(e)));
    }
  }

  // The string under `key` of the payload's dictionary.
  std::string string_field(const c10::Dict<c10::IValue, c10::IValue>& dict, const std::string& key) const {
    const c10::IValue v = field(dict, key);
    WRN_CHECK_FILE(v.isString(), "{}: '{}' is not a string", what_, key);
    return v.toStringRef();
  }

  StateDict dict_field(const c10::IValue& v, const std::string& what) const {
    WRN_CHECK_FILE(v.isGenericDict(), "{}: '{}' is not a dictionary", what_, what);
    StateDict out;
    for (const auto& e : v.toGenericDict()) {
      WRN_CHECK_FILE(e.key().isString() && e.value().isTensor(), "{}: '{}' holds a non-tensor entry", what_, what);
      const at::Tensor& t = e.value().toTensor();
      WRN_CHECK_FILE(t.layout() == at::kStrided && t.device().is_cpu() && !t.is_quantized(),
                     "{}: '{}/{}' is not a dense CPU tensor", what_, what, e.key().toStringRef());
      // The types wrn writes; anything else (quantized, complex) fails later with LibTorch's
      // internal assertions (fuzzing).
      const auto type = t.scalar_type();
      WRN_CHECK_FILE(type == at::kFloat || type == at::kDouble || type == at::kHalf || type == at::kBFloat16 ||
                         type == at::kLong || type == at::kInt || type == at::kShort || type == at::kChar ||
                         type == at::kByte || type == at::kBool,
                     "{}: '{}/{}' has the tensor type {}, which a wrn checkpoint never holds", what_, what,
                     e.key().toStringRef(), c10::toString(type));
      const auto& storage = t.storage();
      const auto it = record_bytes_.find(storage.data());
      WRN_CHECK_FILE(storage.nbytes() == 0 || (it != record_bytes_.end() && storage.nbytes() <= it->second),
                     "{}: tensor '{}/{}' declares {} bytes of storage, more than its record holds", what_, what,
                     e.key().toStringRef(), storage.nbytes());
      out.push_back({e.key().toStringRef(), t});
    }
    return out;
  }

  c10::IValue field(const c10::Dict<c10::IValue, c10::IValue>& dict, const std::string& key) const {
    auto it = dict.find(key);
    WRN_CHECK_FILE(it != dict.end(), "{} lacks '{}'", what_, key);
    return it->value();
  }

 private:
  std::string what_;
  ZipArchive zip_;
  std::map<const void*, size_t> record_bytes_;  // the tensor records handed to the Unpickler
};

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
  // The payload is stored (uncompressed) zip: see PayloadDecoder.
  PayloadDecoder decoder(std::string_view(bytes).substr(kHeaderSize), path);
  const c10::IValue root = decoder.decode();
  WRN_CHECK_FILE(root.isGenericDict(), "checkpoint '{}': the payload is not a dictionary", path);
  const auto dict = root.toGenericDict();
  Checkpoint c;
  c.config_yaml = decoder.string_field(dict, "config");
  c.meta_json = decoder.string_field(dict, "meta");
  c.model = decoder.dict_field(decoder.field(dict, "model"), "model");
  c.optimizer = decoder.dict_field(decoder.field(dict, "optimizer"), "optimizer");
  c.rng = decoder.dict_field(decoder.field(dict, "rng"), "rng");
  c.running = decoder.dict_field(decoder.field(dict, "running"), "running");
  auto norm = decoder.dict_field(decoder.field(dict, "normalizer"), "normalizer");
  for (size_t i = 0; i < norm.size(); ++i) c.normalizer.push_back(find_tensor(norm, std::to_string(i), path));
  if (auto it = dict.find(std::string("ema")); it != dict.end()) c.ema = decoder.dict_field(it->value(), "ema");
  return c;
}

const StateDict& inference_weights(const Checkpoint& checkpoint) {
  return checkpoint.ema.empty() ? checkpoint.model : checkpoint.ema;
}

}  // namespace wrn::io
