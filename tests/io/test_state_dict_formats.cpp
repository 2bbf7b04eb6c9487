// safetensors and .pt writers/readers: round trips, PyTorch's state_dict order, and a
// clear FileError (with no file left behind) for every malformed input.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>
#include <caffe2/serialize/inline_container.h>

#include <filesystem>
#include <fstream>

#include "../models/golden_fill.h"
#include "wrn/core/atomic_file.h"
#include "wrn/core/error.h"
#include "wrn/io/pt_format.h"
#include "wrn/io/safetensors.h"
#include "wrn/io/state_dict.h"
#include "wrn/models/registry.h"

namespace fs = std::filesystem;
using namespace wrn::io;

namespace {

fs::path temp_dir() {
  auto dir = fs::temp_directory_path() / ("wrn_test_export_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}

wrn::models::Classifier filled_model(const std::string& name) {
  wrn::models::ModelSpec spec;
  spec.name = name;
  auto model = wrn::models::build_model(spec);
  torch::NoGradGuard no_grad;
  for (auto& t : state_dict(*model)) {
    if (t.value.is_floating_point()) t.value.copy_(wrn::testing::golden_value(t.name, t.value.sizes().vec()));
  }
  model->eval();
  return model;
}

void expect_same(const StateDict& a, const StateDict& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].name, b[i].name);
    EXPECT_EQ(a[i].value.scalar_type(), b[i].value.scalar_type()) << a[i].name;
    EXPECT_TRUE(a[i].value.equal(b[i].value)) << a[i].name;
  }
}

// Bytes with the 8-byte length, the header text and `data`.
std::string raw_safetensors(const std::string& header, const std::string& data) {
  std::string out;
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  return out + header + data;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const wrn::FileError& e) {
    return e.what();
  }
  return "(no FileError)";
}

}  // namespace

TEST(StateDict, FollowsPyTorchOrderForTorchvisionResnet18) {
  // tests/golden/models/resnet18.json lists torchvision's floating state_dict in order.
  auto golden = nlohmann::json::parse(wrn::read_file(WRN_SOURCE_DIR "/tests/golden/models/resnet18.json"));
  wrn::models::ModelSpec spec;
  spec.name = "resnet18";
  spec.classes = golden["classes"].get<int64_t>();
  auto sd = state_dict(*wrn::models::build_model(spec));
  std::vector<std::string> ours;
  for (auto& t : sd) {
    if (t.value.is_floating_point()) ours.push_back(t.name);
  }
  std::vector<std::string> theirs;
  for (auto& e : golden["state_dict"]) theirs.push_back(e[0].get<std::string>());
  EXPECT_EQ(ours, theirs);
  // num_batches_tracked is kept, as an int64 buffer right after running_var.
  auto it = std::find_if(sd.begin(), sd.end(), [](auto& t) { return t.name == "bn1.num_batches_tracked"; });
  ASSERT_NE(it, sd.end());
  EXPECT_EQ(it->value.scalar_type(), torch::kInt64);
  EXPECT_EQ(std::prev(it)->name, "bn1.running_var");
}

TEST(Safetensors, RoundTripKeepsNamesOrderDtypesAndMetadata) {
  StateDict sd = {{"b.weight", torch::randn({3, 4})},
                  {"a.half", torch::randn({5}).to(torch::kHalf)},
                  {"a.bf16", torch::randn({2, 2}).to(torch::kBFloat16)},
                  {"c.double", torch::randn({1}, torch::kFloat64)},
                  {"n", torch::tensor(7, torch::kInt64)},
                  {"empty", torch::empty({0, 3})}};
  auto path = (temp_dir() / "rt.safetensors").string();
  save_safetensors(path, sd, {{"model", "resnet20"}});
  auto bytes = wrn::read_file(path);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(bytes[8], '{');
  auto loaded = load_safetensors(path);
  expect_same(sd, loaded.tensors);
  EXPECT_EQ(loaded.metadata.at("model"), "resnet20");
}

TEST(Safetensors, ModelRoundTripGivesTheSameLogits) {
  auto model = filled_model("resnet20");
  auto path = (temp_dir() / "resnet20.safetensors").string();
  save_safetensors(path, state_dict(*model));
  wrn::models::ModelSpec spec;
  spec.name = "resnet20";
  auto other = wrn::models::build_model(spec);
  load_state_dict(*other, load_safetensors(path).tensors, path);
  other->eval();
  auto x = torch::randn({2, 3, 32, 32});
  EXPECT_TRUE(model->forward(x).equal(other->forward(x)));
}

TEST(Safetensors, KnownBytesDecode) {
  // Written by hand from the format description: one F32 [2] tensor = {1, 2}.
  float v[2] = {1.0f, 2.0f};
  auto file = decode_safetensors(
      raw_safetensors(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", std::string((char*)v, 8)), "mem");
  ASSERT_EQ(file.tensors.size(), 1u);
  EXPECT_TRUE(file.tensors[0].value.equal(torch::tensor({1.0f, 2.0f})));
}

TEST(Safetensors, CorruptInputsGiveOneLineFileErrors) {
  const std::string ok_entry = R"("x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const std::string eight(8, '\0');
  struct Case {
    std::string bytes, expect;
  };
  std::vector<Case> cases = {
      {"abc", "shorter than the 8-byte header length"},
      {std::string("\xff\xff\xff\xff\x00\x00\x00\x00", 8) + "{}", "header length"},
      {raw_safetensors("{not json", ""), "invalid JSON"},
      {raw_safetensors("[1,2]", ""), "expected a JSON object"},
      {raw_safetensors(R"({"x":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}})", eight), "unsupported dtype 'Q7'"},
      {raw_safetensors(R"({"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", eight), "negative"},
      {raw_safetensors(R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", eight), "needs 12"},
      {raw_safetensors("{" + ok_entry + "}", "1234"), "outside the 4 data bytes"},
      {raw_safetensors("{" + ok_entry + "}", eight + "zz"), "cover 8 bytes but 10"},
      {raw_safetensors(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                       eight),
       "overlap"},
      {raw_safetensors(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", eight), "gap"},
      {raw_safetensors(R"({"x":{"dtype":"F32","shape":[2]}})", eight), "needs dtype, shape and data_offsets"},
      {raw_safetensors(R"({"__metadata__":{"k":1}})", ""), "is not a string"},
  };
  for (const auto& c : cases) {
    auto msg = error_of([&] { decode_safetensors(c.bytes, "bad.safetensors"); });
    EXPECT_NE(msg.find("bad.safetensors"), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.expect), std::string::npos) << "expected '" << c.expect << "' in: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(Safetensors, TruncatedFileOnDiskNamesTheFile) {
  auto path = (temp_dir() / "trunc.safetensors").string();
  save_safetensors(path, {{"w", torch::randn({64})}});
  fs::resize_file(path, fs::file_size(path) - 10);
  auto msg = error_of([&] { load_safetensors(path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
}

TEST(Safetensors, UnwritablePathThrowsAndLeavesNothing) {
  auto dir = temp_dir() / "no_such_dir";
  auto path = (dir / "x.safetensors").string();
  EXPECT_THROW(save_safetensors(path, {{"w", torch::randn({4})}}), wrn::FileError);
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_THROW(save_pt(path, {{"w", torch::randn({4})}}), wrn::FileError);
  EXPECT_FALSE(fs::exists(dir));
}

TEST(Safetensors, RejectsDuplicateNamesBeforeWriting) {
  auto path = (temp_dir() / "dup.safetensors").string();
  fs::remove(path);
  EXPECT_THROW(save_safetensors(path, {{"w", torch::randn({1})}, {"w", torch::randn({1})}}), wrn::ConfigError);
  EXPECT_FALSE(fs::exists(path));
}

TEST(PtFormat, RoundTripKeepsOrderAndValues) {
  auto model = filled_model("resnet20");
  auto sd = state_dict(*model);
  auto path = (temp_dir() / "resnet20.pt").string();
  save_pt(path, sd);
  expect_same(sd, load_pt(path));
}

TEST(PtFormat, ReadsAFileWrittenByPythonTorchSave) {
  // scripts/golden_interop.py: torch.save(model.state_dict()) of the reference WRN-16-1
  // (an OrderedDict with _metadata, as every real checkpoint has).
  auto sd = load_pt(WRN_SOURCE_DIR "/tests/golden/interop/wrn-16-1.pt");
  ASSERT_FALSE(sd.empty());
  EXPECT_EQ(sd.front().name, "conv1.weight");
  EXPECT_EQ(sd.back().name, "fc.bias");
  auto it = std::find_if(sd.begin(), sd.end(), [](auto& t) { return t.name == "final_bn.num_batches_tracked"; });
  ASSERT_NE(it, sd.end());
  EXPECT_EQ(it->value.scalar_type(), torch::kInt64);
}

TEST(PtFormat, MalformedFilesGiveFileErrors) {
  auto dir = temp_dir();
  auto not_zip = (dir / "not_zip.pt").string();
  wrn::write_file_atomically(not_zip, std::string("hello world"));
  auto msg = error_of([&] { load_pt(not_zip); });
  EXPECT_NE(msg.find(not_zip), std::string::npos) << msg;
  EXPECT_NE(msg.find("not a PyTorch state_dict file"), std::string::npos) << msg;

  auto truncated = (dir / "truncated.pt").string();
  save_pt(truncated, {{"w", torch::randn({1000})}});
  fs::resize_file(truncated, fs::file_size(truncated) / 2);
  msg = error_of([&] { load_pt(truncated); });
  EXPECT_NE(msg.find(truncated), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;

  // A pickled value that is not a dict of tensors.
  auto list = (dir / "list.pt").string();
  auto bytes = torch::pickle_save(c10::IValue(std::string("not a dict")));
  wrn::write_file_atomically(list, std::string(bytes.begin(), bytes.end()));
  msg = error_of([&] { load_pt(list); });
  EXPECT_NE(msg.find("expected a state_dict"), std::string::npos) << msg;
}

// A torch.save-style archive holding `pickle` as data.pkl and a 4-float storage data/0.
static std::string pt_archive(const std::string& pickle) {
  std::string out;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* p, size_t n) {
    out.append(static_cast<const char*>(p), n);
    return n;
  });
  writer.writeRecord("data.pkl", pickle.data(), pickle.size());
  const float storage[4] = {1, 2, 3, 4};
  writer.writeRecord("data/0", storage, sizeof storage);
  writer.writeEndOfFile();
  return out;
}

// {'w': _rebuild_tensor_v2(storage, 0, size, stride)} with the given int64 size and stride.
static std::string tensor_pickle(const std::vector<int64_t>& size, const std::vector<int64_t>& stride) {
  auto str = [](const std::string& t) {
    std::string o = "X";
    for (int i = 0; i < 4; ++i) o.push_back(static_cast<char>((t.size() >> (8 * i)) & 0xff));
    return o + t;
  };
  auto tuple = [](const std::vector<int64_t>& v) {
    std::string o = "(";
    for (int64_t x : v) {
      o += "\x8a\x08";  // LONG1, 8 bytes little-endian
      for (int i = 0; i < 8; ++i) o.push_back(static_cast<char>((static_cast<uint64_t>(x) >> (8 * i)) & 0xff));
    }
    return o + "t";
  };
  return std::string("\x80\x02}") + str("w") + "ctorch._utils\n_rebuild_tensor_v2\n(" + "(" + str("storage") +
         "ctorch\nFloatStorage\n" + str("0") + str("cpu") + "K\x04tQ" + std::string("K\0", 2) + tuple(size) + tuple(stride) +
         "\x89tRs.";
}

// UBSan found the stride check's signed overflow: (3 - 1) * 2^62 wrapped to a negative index
// that passed "within the storage", and as_strided then read far outside it.
TEST(PtFormat, StridesThatOverflowAreRejectedWithoutWrapping) {
  // The crafting is right: a view inside the storage reads back.
  auto good = decode_pt(pt_archive(tensor_pickle({2, 2}, {2, 1})), "good.pt");
  ASSERT_EQ(good.size(), 1u);
  EXPECT_TRUE(good[0].value.equal(torch::tensor({{1.f, 2.f}, {3.f, 4.f}})));
  const int64_t big = int64_t{1} << 62;
  for (const auto& shape : std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>>{
           {{3, 2}, {big, big}}, {{2, 2}, {big, big}}, {{big, 2}, {4, 1}}, {{2, 2}, {INT64_MAX, 1}}}) {
    // (no structured binding: C++17 lambdas cannot capture one, and clang says so)
    const auto msg = error_of([&] { decode_pt(pt_archive(tensor_pickle(shape.first, shape.second)), "crafted.pt"); });
    EXPECT_NE(msg.find("crafted.pt: cannot read the PyTorch state_dict: a tensor that reaches past the end of its "
                       "storage"),
              std::string::npos)
        << msg;
  }
}

// Issue 11: a flipped byte inside a .pt tensor was accepted (the zip CRC was never checked;
// Python's zipfile flags it). Now the entry is named.
TEST(PtFormat, AFlippedTensorByteFailsTheEntrysCrc) {
  const StateDict sd{{"w", torch::full({64}, 0.25f)}};
  std::string bytes = encode_pt(sd);
  EXPECT_NO_THROW(decode_pt(bytes, "good.pt"));
  const auto at = bytes.find(std::string("\x00\x00\x80\x3e\x00\x00\x80\x3e", 8));
  ASSERT_NE(at, std::string::npos);
  bytes[at + 2] ^= 0x01;
  try {
    decode_pt(bytes, "flipped.pt");
    ADD_FAILURE() << "a corrupt tensor was accepted";
  } catch (const wrn::FileError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("flipped.pt: corrupt zip archive: entry '"), std::string::npos) << m;
    EXPECT_NE(m.find("CRC-32"), std::string::npos) << m;
  }
}
