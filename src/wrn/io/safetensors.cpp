#include "wrn/io/safetensors.h"

#include <fmt/ranges.h>  // fmt::join (in ranges.h since fmt 11, which a LibTorch 2.x bundles)
#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "wrn/core/atomic_file.h"
#include "wrn/core/error.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.cpp writes the host's bytes as little-endian data"
#endif

namespace wrn::io {
namespace {

struct DtypeName {
  torch::ScalarType type;
  const char* name;
};

const DtypeName kDtypes[] = {
    {torch::kFloat64, "F64"}, {torch::kFloat32, "F32"}, {torch::kFloat16, "F16"}, {torch::kBFloat16, "BF16"},
    {torch::kInt64, "I64"},   {torch::kInt32, "I32"},   {torch::kInt16, "I16"},   {torch::kInt8, "I8"},
    {torch::kUInt8, "U8"},    {torch::kBool, "BOOL"},
};

const char* dtype_name(torch::ScalarType t) {
  for (const auto& d : kDtypes) {
    if (d.type == t) return d.name;
  }
  return nullptr;
}

// Header size limit, as in the reference implementation: a corrupt length must not make
// us allocate gigabytes.
constexpr uint64_t kMaxHeader = 100u << 20;

}  // namespace

std::string encode_safetensors(const StateDict& tensors, const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = meta;
  }
  std::set<std::string> names;
  std::vector<torch::Tensor> data;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    WRN_CHECK(names.insert(t.name).second, "safetensors: tensor '{}' is listed twice", t.name);
    WRN_CHECK(t.name != "__metadata__", "safetensors: '__metadata__' cannot name a tensor");
    const char* dtype = dtype_name(t.value.scalar_type());
    WRN_CHECK(dtype != nullptr, "safetensors: tensor '{}' has unsupported dtype {}", t.name,
              c10::toString(t.value.scalar_type()));
    torch::Tensor c = t.value.detach().to(torch::kCPU).contiguous();
    const uint64_t bytes = c.numel() * c.element_size();
    header[t.name] = {{"dtype", dtype}, {"shape", c.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(c);
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');
  const uint64_t n = json.size();
  std::string out;
  out.reserve(8 + n + offset);
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out += json;
  for (const auto& c : data) out.append(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
  return out;
}

void save_safetensors(const std::string& path, const StateDict& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::string bytes = encode_safetensors(tensors, metadata);
  write_file_atomically(path, bytes);
}

SafetensorsFile decode_safetensors(const std::string& bytes, const std::string& source) {
  const char* what = source.c_str();
  WRN_CHECK_FILE(bytes.size() >= 8, "{}: not a safetensors file: {} bytes, shorter than the 8-byte header length",
                 what, bytes.size());
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  WRN_CHECK_FILE(n <= kMaxHeader && n <= bytes.size() - 8,
                 "{}: corrupt safetensors header: header length {} exceeds the file's {} bytes", what, n,
                 bytes.size());
  nlohmann::ordered_json header;  // ordered: the tensors keep the file's order
  try {
    header = nlohmann::ordered_json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(n));
  } catch (const nlohmann::ordered_json::exception& e) {
    throw FileError(fmt::format("{}: corrupt safetensors header: invalid JSON ({})", what, e.what()));
  }
  WRN_CHECK_FILE(header.is_object(), "{}: corrupt safetensors header: expected a JSON object", what);
  const uint64_t data_size = bytes.size() - 8 - n;
  const char* data = bytes.data() + 8 + n;

  SafetensorsFile out;
  struct Span {
    uint64_t begin, end;
    std::string name;
  };
  std::vector<Span> spans;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      WRN_CHECK_FILE(entry.is_object(), "{}: corrupt safetensors header: __metadata__ is not an object", what);
      for (const auto& [k, v] : entry.items()) {
        WRN_CHECK_FILE(v.is_string(), "{}: corrupt safetensors header: __metadata__ value '{}' is not a string",
                       what, k);
        out.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    WRN_CHECK_FILE(entry.is_object() && entry.contains("dtype") && entry.contains("shape") &&
                       entry.contains("data_offsets"),
                   "{}: corrupt safetensors header: tensor '{}' needs dtype, shape and data_offsets", what, name);
    const auto& dt = entry["dtype"];
    WRN_CHECK_FILE(dt.is_string(), "{}: corrupt safetensors header: tensor '{}' has a non-string dtype", what, name);
    const std::string dtype = dt.get<std::string>();
    const DtypeName* found = nullptr;
    for (const auto& d : kDtypes) {
      if (dtype == d.name) found = &d;
    }
    WRN_CHECK_FILE(found != nullptr, "{}: tensor '{}' has unsupported dtype '{}'", what, name, dtype);
    const auto& shape_json = entry["shape"];
    WRN_CHECK_FILE(shape_json.is_array(), "{}: corrupt safetensors header: tensor '{}' shape is not a list", what,
                   name);
    std::vector<int64_t> shape;
    uint64_t numel = 1;
    for (const auto& d : shape_json) {
      WRN_CHECK_FILE(d.is_number_unsigned() || (d.is_number_integer() && d.get<int64_t>() >= 0),
                     "{}: corrupt safetensors header: tensor '{}' has a negative or non-integer dimension", what,
                     name);
      const uint64_t v = d.get<uint64_t>();
      WRN_CHECK_FILE(v < (1ull << 40) && (v == 0 || numel <= (1ull << 62) / v),
                     "{}: corrupt safetensors header: tensor '{}' is impossibly large", what, name);
      numel *= v;
      shape.push_back(static_cast<int64_t>(v));
    }
    const auto& off = entry["data_offsets"];
    WRN_CHECK_FILE(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() && off[1].is_number_unsigned(),
                   "{}: corrupt safetensors header: tensor '{}' data_offsets must be two non-negative integers",
                   what, name);
    const uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
    const uint64_t item = c10::elementSize(found->type);
    WRN_CHECK_FILE(begin <= end && end <= data_size,
                   "{}: truncated or corrupt: tensor '{}' data_offsets [{}, {}] lie outside the {} data bytes", what,
                   name, begin, end, data_size);
    WRN_CHECK_FILE(end - begin == numel * item,
                   "{}: corrupt safetensors header: tensor '{}' has {} data bytes but {} {} needs {}", what, name,
                   end - begin, dtype, fmt::join(shape, "x"), numel * item);
    spans.push_back({begin, end, name});
    torch::Tensor t = torch::empty(shape, torch::TensorOptions().dtype(found->type));
    if (numel > 0) std::memcpy(t.data_ptr(), data + begin, numel * item);
    out.tensors.push_back({name, t});
  }
  std::sort(spans.begin(), spans.end(),
            [](const Span& a, const Span& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  uint64_t pos = 0;
  for (const auto& s : spans) {
    WRN_CHECK_FILE(s.begin == pos, "{}: corrupt safetensors header: tensor '{}' starts at byte {}, expected {} ({})",
                   what, s.name, s.begin, pos, s.begin < pos ? "overlap" : "gap");
    pos = s.end;
  }
  WRN_CHECK_FILE(pos == data_size, "{}: corrupt safetensors file: the tensors cover {} bytes but {} data bytes follow "
                 "the header", what, pos, data_size);
  return out;
}

SafetensorsFile load_safetensors(const std::string& path) { return decode_safetensors(read_file(path), path); }

}  // namespace wrn::io
