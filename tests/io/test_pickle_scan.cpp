// Issue 11: a .pt file or a checkpoint whose pickle nests 10^6 tuples, lists or dicts crashed
// wrn with a stack overflow (recursive destructors, ours and LibTorch's). The scan
// (io/pickle_scan.h) refuses such pickles with a one-line FileError before either unpickler
// runs; real files, and nesting up to the limit, still pass.
#include <gtest/gtest.h>
#include <zlib.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/torch.h>

#include <cstring>
#include <filesystem>
#include <functional>

#include "wrn/core/atomic_file.h"
#include "wrn/core/error.h"
#include "wrn/io/checkpoint.h"
#include "wrn/io/pickle_scan.h"
#include "wrn/io/pt_format.h"
#include "wrn/io/zip_check.h"

namespace fs = std::filesystem;
using namespace wrn::io;
using namespace std::string_literals;

namespace {

constexpr size_t kMillion = 1000000;
const std::string kProto = "\x80\x02"s;

std::string repeat(const std::string& s, size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

// Pickles of containers nested exactly n deep, in the opcodes that torch.save and LibTorch's
// pickler use (and both unpicklers read): (((...),),), [[[...]]] and {0: {0: {...}}}.
std::string nested_tuples(size_t n) { return kProto + ")" + std::string(n - 1, '\x85') + "."; }
std::string nested_lists(size_t n) { return kProto + repeat("](", n - 1) + "]" + std::string(n - 1, 'e') + "."; }
std::string nested_dicts(size_t n) {
  return kProto + repeat("}(K\0"s, n - 1) + "}" + std::string(n - 1, 'u') + ".";
}

struct Kind {
  const char* name;
  std::function<std::string(size_t)> make;
};
const std::vector<Kind>& kinds() {
  static const std::vector<Kind> k = {{"tuples", nested_tuples}, {"lists", nested_lists}, {"dicts", nested_dicts}};
  return k;
}

// A torch.save-style archive (archive/data.pkl) holding `pickle`.
std::string pt_archive(const std::string& pickle) {
  std::string out;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* p, size_t n) {
    out.append(static_cast<const char*>(p), n);
    return n;
  });
  writer.writeRecord("data.pkl", pickle.data(), pickle.size());
  writer.writeEndOfFile();
  return out;
}

// A wrn checkpoint around `payload`, its header built as save_checkpoint builds it (a valid
// CRC: only the pickle inside is crafted).
std::string checkpoint_file(const std::string& payload) {
  std::string out(kCheckpointMagic, sizeof(kCheckpointMagic));
  auto put = [&](auto v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); };
  put(kCheckpointVersion);
  put(static_cast<uint32_t>(crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(payload.data()),
                                  static_cast<uInt>(payload.size()))));
  put(static_cast<uint64_t>(payload.size()));
  return out + payload;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const wrn::FileError& e) {
    return e.what();
  }
  return "(no FileError)";
}

std::string scan_error(const std::string& pickle, size_t max_depth = kMaxPickleNesting) {
  return error_of([&] { check_pickle_nesting(pickle, "p.pkl", max_depth); });
}

fs::path temp_dir() {
  auto dir = fs::temp_directory_path() / ("wrn_test_pickle_scan_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}

std::string data_pkl(const std::string& archive) {
  const auto records = zip_records(archive, check_zip(archive, "archive"), "data.pkl");
  EXPECT_EQ(records.size(), 1u);
  return records.empty() ? std::string() : std::string(records[0]);
}

}  // namespace

TEST(PickleScan, NestingUpToTheLimitPassesAndOneLevelMoreIsRefused) {
  for (const auto& k : kinds()) {
    SCOPED_TRACE(k.name);
    EXPECT_NO_THROW(check_pickle_nesting(k.make(900), "p.pkl"));
    EXPECT_NO_THROW(check_pickle_nesting(k.make(1000), "p.pkl"));
    EXPECT_EQ(scan_error(k.make(1001)),
              "p.pkl: the pickle nests containers 1001 deep (more than 1000); refusing to decode it");
    EXPECT_NO_THROW(check_pickle_nesting(k.make(5), "p.pkl", 5));
    EXPECT_EQ(scan_error(k.make(6), 5), "p.pkl: the pickle nests containers 6 deep (more than 5); refusing to decode it");
  }
  // Depth is nesting, not size: a million flat items are one level.
  EXPECT_NO_THROW(check_pickle_nesting(kProto + "](" + repeat("K\1"s, kMillion) + "e.", "p.pkl", 1));
}

TEST(PickleScan, RealPyTorchAndWrnFilesPass) {
  // Written by Python's torch.save(model.state_dict()) (OrderedDict, _rebuild_tensor_v2,
  // BUILD of _metadata), by save_pt (LibTorch's pickler) and by save_checkpoint.
  const std::string python = data_pkl(wrn::read_file(WRN_SOURCE_DIR "/tests/golden/interop/wrn-16-1.pt"));
  EXPECT_NO_THROW(check_pickle_nesting(python, "wrn-16-1.pt", 8));
  const StateDict sd{{"conv.weight", torch::randn({4, 3, 3, 3})}, {"bn.num_batches_tracked", torch::tensor(3)}};
  const std::string pt = encode_pt(sd);
  EXPECT_NO_THROW(check_pickle_nesting(data_pkl(pt), "save_pt", 8));
  EXPECT_EQ(decode_pt(pt, "save_pt").size(), 2u);

  const auto path = (temp_dir() / "real.ckpt").string();
  Checkpoint c;
  c.config_yaml = "epochs: 3\n";
  c.meta_json = "{}";
  c.model = sd;
  c.ema = sd;
  c.optimizer = {{"momentum_buffer", torch::randn({10})}};
  c.normalizer = {torch::tensor({1.0, 2.0})};
  save_checkpoint(path, c);
  const std::string bytes = wrn::read_file(path);
  EXPECT_NO_THROW(check_pickle_nesting(data_pkl(bytes.substr(24)), "real.ckpt", 8));
  EXPECT_EQ(load_checkpoint(path).ema.size(), 2u);
  fs::remove_all(temp_dir());
}

TEST(PickleScan, MalformedPicklesAreOneLineFileErrorsNamingTheOpcode) {
  EXPECT_EQ(scan_error(kProto + ")"), "p.pkl: the pickle is truncated: its 3 bytes end without STOP");
  EXPECT_EQ(scan_error(kProto + "X\x10\0\0\0abc"s), "p.pkl: the pickle is truncated: BINUNICODE at byte 2 runs past its end");
  EXPECT_EQ(scan_error(kProto + "cos\nsys"), "p.pkl: the pickle is truncated: GLOBAL at byte 2 runs past its end");
  EXPECT_EQ(scan_error(kProto + "]a."), "p.pkl: the pickle's stack underflows at APPEND at byte 3");
  EXPECT_EQ(scan_error(kProto + "](."), "p.pkl: the pickle's stack underflows at STOP at byte 4");  // MARK hides []
  EXPECT_EQ(scan_error(kProto + "]K\1e."), "p.pkl: the pickle has no MARK for APPENDS at byte 5");
  EXPECT_EQ(scan_error(kProto + "(]e."), "p.pkl: the pickle's stack underflows at APPENDS at byte 4");
  EXPECT_EQ(scan_error(kProto + "h\x05."s), "p.pkl: the pickle's BINGET at byte 2 refers to memo entry 5, which was never stored");
  EXPECT_EQ(scan_error(kProto + "T\xff\xff\xff\xff."), "p.pkl: the pickle's BINSTRING at byte 2 has a negative length");
  EXPECT_EQ(scan_error(kProto + "]p1x\n."), "p.pkl: the pickle's PUT at byte 3 has a malformed memo index");
  EXPECT_EQ(scan_error(kProto + "N\xff."), "p.pkl: unknown pickle opcode 0xff at byte 3");
  // Protocol 0 text opcodes and protocol 4-5 forms are read.
  EXPECT_NO_THROW(check_pickle_nesting("(lp0\nI1\naF2.5\naS'x'\naVy\na0g0\n.", "p.pkl"));
  EXPECT_NO_THROW(check_pickle_nesting("\x80\x04\x95\x05\0\0\0\0\0\0\0\x8f\x94(K\1\x90."s, "p.pkl"));
}

// A container filled after BINPUT is seen deep by a later BINGET (the memo shares the depth),
// and a value that BINGET, DUP or an aliasing call has shared may not be changed any more:
// otherwise a chain of edits through the memo nests without limit while every count stays 2.
TEST(PickleScan, EditsThroughTheMemoCannotHideNesting) {
  // L = []; memo 0; L.extend([999-deep tuple]); pop; (memo[0],) is 1001 deep.
  const std::string fill = kProto + "]q\0()"s + std::string(998, '\x85') + "e0h\0\x85."s;
  EXPECT_EQ(scan_error(fill), "p.pkl: the pickle nests containers 1001 deep (more than 1000); refusing to decode it");

  // Lists L0..L2 in the memo, then L2.append(L1), L1.append(L0) through BINGET copies: the
  // second edit would deepen L2 behind its count, so already the first is refused.
  std::string chain = kProto;
  for (char i = 0; i < 3; ++i) chain += "]q"s + i + "0";
  chain += "h\2h\1a0h\1h\0a0N."s;
  EXPECT_EQ(scan_error(chain),
            "p.pkl: the pickle's APPEND at byte 18 changes a value it has already shared (a self-referencing or "
            "aliased structure); refusing to decode it");
  // A self-referencing list, l.append(l), as Python's pickler writes it.
  EXPECT_NE(scan_error(kProto + "]q\0h\0a."s).find("changes a value it has already shared"),
            std::string::npos);
  // DUP makes two references too.
  EXPECT_NE(scan_error(kProto + "]2]a.").find("APPEND at byte 5 changes a value"), std::string::npos);
  // restore_type_tag((L, 'List[int]')) is L itself in LibTorch: its result may not be filled.
  const std::string tag = "ctorch.jit._pickle\nrestore_type_tag\n";
  EXPECT_NE(scan_error(kProto + tag + "]X\x09\0\0\0List[int]\x86R]a."s).find("APPEND at byte"), std::string::npos);
  // ...but OrderedDict() (a call on a tuple of scalars) is filled with SETITEMS, as torch.save does.
  EXPECT_NO_THROW(check_pickle_nesting(kProto + "ccollections\nOrderedDict\n)R(K\1]u.", "p.pkl"));
  // As is BUILD's target in Python's pickles; after it the object is frozen (LibTorch's BUILD is a call).
  EXPECT_NE(scan_error(kProto + "ccollections\nOrderedDict\n)R}b(K\1]u.").find("SETITEMS"), std::string::npos);
}

TEST(PickleScan, ZipRecordsFindsEveryEntryThatLibTorchMayOpen) {
  const std::string archive = "0123456789";
  const std::vector<ZipEntry> entries = {{"archive/data.pkl", 0, 1}, {"ARCHIVE/DATA.PKL", 1, 1}, {"archive/xdata.pkl", 2, 1},
                                         {"archive/data/0", 3, 1},   {"data.pkl", 4, 1},         {"a/b/Data.pkl", 5, 1}};
  const auto found = zip_records(archive, entries, "data.pkl");
  ASSERT_EQ(found.size(), 4u);
  EXPECT_EQ(found[0], "0");
  EXPECT_EQ(found[1], "1");
  EXPECT_EQ(found[2], "4");
  EXPECT_EQ(found[3], "5");
}

TEST(PickleScan, AMillionNestedContainersInAPtFileAreAOneLineFileError) {
  for (const auto& k : kinds()) {
    SCOPED_TRACE(k.name);
    const std::string bytes = pt_archive(k.make(kMillion));
    const auto msg = error_of([&] { decode_pt(bytes, "deep.pt"); });
    EXPECT_EQ(msg, "deep.pt: the pickle nests containers 1001 deep (more than 1000); refusing to decode it");
  }
  // Through a file, as `wrn import` / `wrn info` read it.
  const auto path = (temp_dir() / "deep.pt").string();
  wrn::write_file_atomically(path, pt_archive(nested_lists(kMillion)));
  const auto msg = error_of([&] { load_pt(path); });
  EXPECT_EQ(msg.rfind(path + ": the pickle nests containers 1001 deep", 0), 0u) << msg;
  fs::remove_all(temp_dir());
}

// The second line of defence: with the scan's limit lifted, the unpickler of pt_format.cpp
// builds the million-deep tree and frees it without recursion (a crash before).
TEST(PickleScan, TheStateDictUnpicklerFreesAMillionNestedContainersWithoutRecursion) {
  for (const auto& k : kinds()) {
    SCOPED_TRACE(k.name);
    const auto msg = error_of([&] { decode_pt(pt_archive(k.make(kMillion)), "deep.pt", SIZE_MAX); });
    EXPECT_EQ(msg.rfind("deep.pt: expected a state_dict", 0), 0u) << msg;
  }
}

TEST(PickleScan, ACheckpointWithAMillionNestedContainersIsAFileErrorNamingTheFile) {
  const auto dir = temp_dir();
  for (const auto& k : kinds()) {
    SCOPED_TRACE(k.name);
    const auto path = (dir / (std::string(k.name) + ".ckpt")).string();
    wrn::write_file_atomically(path, checkpoint_file(pt_archive(k.make(kMillion))));
    EXPECT_EQ(error_of([&] { load_checkpoint(path); }),
              "checkpoint '" + path + "': the pickle nests containers 1001 deep (more than 1000); refusing to decode it");
    // 900 deep passes the scan and reaches LibTorch's unpickler, which copes; the result is
    // just not a checkpoint.
    wrn::write_file_atomically(path, checkpoint_file(pt_archive(k.make(900))));
    const auto msg = error_of([&] { load_checkpoint(path); });
    EXPECT_EQ(msg.rfind("checkpoint '" + path + "'", 0), 0u) << msg;
    EXPECT_EQ(msg.find("nests"), std::string::npos) << msg;
  }
  fs::remove_all(dir);
}
