#include "wrn/io/pt_format.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickler.h>

#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <variant>

#include "wrn/core/atomic_file.h"
#include "wrn/core/error.h"
#include "wrn/io/pickle_scan.h"
#include "wrn/io/zip_check.h"

namespace wrn::io {

// torch::pickle_save, but with the Pickler's type tags off: pickle_save wraps a typed dict in
// torch.jit._pickle.restore_type_tag(dict, "Dict[str, Tensor]"), a global that torch.load's
// weights_only mode (2.x's default since 2.6) refuses. Untagged, the pickle holds only a dict,
// torch._utils._rebuild_tensor_v2, storages and OrderedDict: what torch.save writes.
std::string encode_pt(const StateDict& tensors) {
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& t : tensors) {
    WRN_CHECK(!dict.contains(t.name), "state dict: tensor '{}' is listed twice", t.name);
    dict.insert(t.name, t.value.detach().to(torch::kCPU).contiguous());
  }
  std::vector<char> pickle;
  torch::jit::Pickler pickler([&](const char* data, size_t size) { pickle.insert(pickle.end(), data, data + size); },
                              /*tensor_table=*/nullptr, /*type_renamer=*/nullptr, /*memoized_class_types=*/nullptr,
                              /*get_tensor_id=*/nullptr, /*tag_aggregates=*/false);
  pickler.protocol();
  pickler.pushIValue(c10::IValue(dict));
  pickler.stop();
  std::string out;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t size) {
    out.append(static_cast<const char*>(data), size);
    return size;
  });
  torch::jit::writeArchiveAndTensors("data", pickle.data(), pickle.size(), pickler.tensorData(), writer);
  writer.writeEndOfFile();
  return out;
}

void save_pt(const std::string& path, const StateDict& tensors) { write_file_atomically(path, encode_pt(tensors)); }

namespace {

// LibTorch's torch::pickle_load turns Python's collections.OrderedDict into None (it only
// expects one in tensor backward hooks), so it cannot read the state_dict files that
// torch.save(model.state_dict()) writes. This is a small unpickler for exactly the subset
// of pickle that such files use (protocols 2-4): dicts and OrderedDicts of tensors rebuilt
// by torch._utils._rebuild_tensor_v2 / _rebuild_parameter from persistent storages.
struct Obj;
using ObjPtr = std::shared_ptr<Obj>;
struct Global {
  std::string module, name;
};
struct Storage {
  torch::Tensor data;  // 1-D, the whole storage
};
struct Mark {};
struct Obj {
  using Items = std::vector<std::pair<ObjPtr, ObjPtr>>;
  struct Tuple {
    std::vector<ObjPtr> items;
  };
  struct List {
    std::vector<ObjPtr> items;
  };
  struct Dict {
    Items items;
  };
  std::variant<std::monostate, bool, int64_t, double, std::string, Tuple, List, Dict, Global, Storage, torch::Tensor,
               Mark>
      v;

  Obj() = default;
  Obj(const Obj&) = delete;
  Obj& operator=(const Obj&) = delete;
  // Without recursion, however deep the tree (issue 11: the default destructor recursed once
  // per level, and 10^6 nested tuples overflowed the stack). The children this Obj owns alone
  // are emptied into a work list first, so every destructor runs on an Obj without children.
  ~Obj() {
    std::vector<ObjPtr> work;
    take_children(*this, work);
    while (!work.empty()) {
      ObjPtr o = std::move(work.back());
      work.pop_back();
      if (o && o.use_count() == 1) take_children(*o, work);
    }  // o's Obj, if this was its last owner, goes here with no children left
  }

 private:
  static void take_children(Obj& o, std::vector<ObjPtr>& work) {
    auto take = [&work](std::vector<ObjPtr>& items) {
      for (auto& i : items) work.push_back(std::move(i));
      items.clear();
    };
    if (auto* t = std::get_if<Tuple>(&o.v)) take(t->items);
    if (auto* l = std::get_if<List>(&o.v)) take(l->items);
    if (auto* d = std::get_if<Dict>(&o.v)) {
      for (auto& [k, val] : d->items) {
        work.push_back(std::move(k));
        work.push_back(std::move(val));
      }
      d->items.clear();
    }
  }
};

ObjPtr make(decltype(Obj::v) v) {
  auto o = std::make_shared<Obj>();
  o->v = std::move(v);
  return o;
}

const std::map<std::string, torch::ScalarType>& storage_types() {
  static const std::map<std::string, torch::ScalarType> m = {
      {"FloatStorage", torch::kFloat32}, {"DoubleStorage", torch::kFloat64}, {"HalfStorage", torch::kFloat16},
      {"BFloat16Storage", torch::kBFloat16}, {"LongStorage", torch::kInt64}, {"IntStorage", torch::kInt32},
      {"ShortStorage", torch::kInt16}, {"CharStorage", torch::kInt8}, {"ByteStorage", torch::kUInt8},
      {"BoolStorage", torch::kBool}};
  return m;
}

class StateDictUnpickler {
 public:
  StateDictUnpickler(const std::string& pickle, const ZipArchive& zip, const std::string& source)
      : p_(pickle), zip_(zip), source_(source) {}

  ObjPtr run() {
    for (;;) {
      const auto op = static_cast<unsigned char>(byte());
      switch (op) {
        case 0x80: byte(); break;                // PROTO
        case 0x95: bytes(8); break;              // FRAME
        case '.': return pop();                  // STOP
        case 'c': {                              // GLOBAL
          std::string module = line(), name = line();
          push(make(Global{module, name}));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          auto name = pop(), module = pop();
          push(make(Global{str(module), str(name)}));
          break;
        }
        case 'q': memo_[byte_u()] = top(); break;          // BINPUT
        case 'r': memo_[uint32()] = top(); break;          // LONG_BINPUT
        case 0x94: memo_[memo_.size()] = top(); break;     // MEMOIZE
        case 'h': push(memo(byte_u())); break;             // BINGET
        case 'j': push(memo(uint32())); break;             // LONG_BINGET
        case '}': push(make(Obj::Dict{})); break;          // EMPTY_DICT
        case ']': push(make(Obj::List{})); break;          // EMPTY_LIST
        case ')': push(make(Obj::Tuple{})); break;         // EMPTY_TUPLE
        case '(': push(make(Mark{})); break;               // MARK
        case 't': push(make(Obj::Tuple{pop_to_mark()})); break;  // TUPLE
        case 0x85: case 0x86: case 0x87: {                 // TUPLE1..3
          std::vector<ObjPtr> items(op - 0x84);
          for (size_t i = items.size(); i-- > 0;) items[i] = pop();
          push(make(Obj::Tuple{items}));
          break;
        }
        case 'N': push(make(std::monostate{})); break;
        case 0x88: push(make(true)); break;
        case 0x89: push(make(false)); break;
        case 'K': push(make(static_cast<int64_t>(byte_u()))); break;  // BININT1
        case 'M': {                                                   // BININT2
          int64_t v = byte_u();
          v |= static_cast<int64_t>(byte_u()) << 8;
          push(make(v));
          break;
        }
        case 'J': push(make(static_cast<int64_t>(static_cast<int32_t>(uint32())))); break;  // BININT
        case 0x8a: {  // LONG1
          size_t n = byte_u();
          fail_unless(n <= 8, "an integer wider than 64 bits");
          std::string b = bytes(n);
          uint64_t u = 0;
          for (size_t i = 0; i < n; ++i) u |= static_cast<uint64_t>(static_cast<unsigned char>(b[i])) << (8 * i);
          if (n > 0 && n < 8 && (static_cast<unsigned char>(b[n - 1]) & 0x80)) u |= ~0ull << (8 * n);
          push(make(static_cast<int64_t>(u)));
          break;
        }
        case 'G': {  // BINFLOAT, big-endian
          std::string b = bytes(8);
          uint64_t u = 0;
          for (int i = 0; i < 8; ++i) u = (u << 8) | static_cast<unsigned char>(b[i]);
          double d;
          std::memcpy(&d, &u, 8);
          push(make(d));
          break;
        }
        case 'X': push(make(bytes(uint32()))); break;    // BINUNICODE
        case 0x8c: push(make(bytes(byte_u()))); break;   // SHORT_BINUNICODE
        case 'T': push(make(bytes(uint32()))); break;    // BINSTRING
        case 'U': push(make(bytes(byte_u()))); break;    // SHORT_BINSTRING
        case 'a': {                                      // APPEND
          auto v = pop();
          list(top()).push_back(v);
          break;
        }
        case 'e': {  // APPENDS
          auto items = pop_to_mark();
          auto& l = list(top());
          l.insert(l.end(), items.begin(), items.end());
          break;
        }
        case 's': {  // SETITEM
          auto v = pop(), k = pop();
          dict(top()).push_back({k, v});
          break;
        }
        case 'u': {  // SETITEMS
          auto items = pop_to_mark();
          fail_unless(items.size() % 2 == 0, "SETITEMS with an odd number of items");
          auto& d = dict(top());
          for (size_t i = 0; i < items.size(); i += 2) d.push_back({items[i], items[i + 1]});
          break;
        }
        case 'b': pop(); break;  // BUILD: object state (OrderedDict._metadata) is not needed
        case 'Q': push(persistent_load(pop())); break;  // BINPERSID
        case 'R': {                                      // REDUCE
          auto args = pop(), fn = pop();
          push(reduce(fn, args));
          break;
        }
        default:
          fail(fmt::format("unsupported pickle opcode 0x{:02x} at byte {}", op, pos_ - 1));
      }
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw FileError(fmt::format("{}: cannot read the PyTorch state_dict: {}", source_, what));
  }
  void fail_unless(bool ok, const std::string& what) const {
    if (!ok) fail(what);
  }
  char byte() {
    fail_unless(pos_ < p_.size(), "the pickle ends early (truncated file?)");
    return p_[pos_++];
  }
  size_t byte_u() { return static_cast<unsigned char>(byte()); }
  uint32_t uint32() {
    std::string b = bytes(4);
    uint32_t u = 0;
    for (int i = 0; i < 4; ++i) u |= static_cast<uint32_t>(static_cast<unsigned char>(b[i])) << (8 * i);
    return u;
  }
  std::string bytes(size_t n) {
    fail_unless(n <= p_.size() - pos_, "the pickle ends early (truncated file?)");
    std::string s = p_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  std::string line() {
    auto end = p_.find('\n', pos_);
    fail_unless(end != std::string::npos, "the pickle ends early (truncated file?)");
    std::string s = p_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return s;
  }
  void push(ObjPtr o) { stack_.push_back(std::move(o)); }
  ObjPtr pop() {
    fail_unless(!stack_.empty(), "pickle stack underflow");
    auto o = stack_.back();
    stack_.pop_back();
    return o;
  }
  ObjPtr top() {
    fail_unless(!stack_.empty(), "pickle stack underflow");
    return stack_.back();
  }
  ObjPtr memo(size_t i) {
    auto it = memo_.find(i);
    fail_unless(it != memo_.end(), "a pickle memo reference to a missing object");
    return it->second;
  }
  std::vector<ObjPtr> pop_to_mark() {
    std::vector<ObjPtr> items;
    for (;;) {
      auto o = pop();
      if (std::holds_alternative<Mark>(o->v)) break;
      items.push_back(o);
    }
    return {items.rbegin(), items.rend()};
  }
  std::string str(const ObjPtr& o) {
    auto* s = std::get_if<std::string>(&o->v);
    fail_unless(s != nullptr, "expected a string in the pickle");
    return *s;
  }
  int64_t integer(const ObjPtr& o) {
    auto* i = std::get_if<int64_t>(&o->v);
    fail_unless(i != nullptr, "expected an integer in the pickle");
    return *i;
  }
  std::vector<int64_t> ints(const ObjPtr& o) {
    auto* t = std::get_if<Obj::Tuple>(&o->v);
    fail_unless(t != nullptr, "expected a tuple of integers in the pickle");
    std::vector<int64_t> out;
    for (auto& i : t->items) out.push_back(integer(i));
    return out;
  }
  std::vector<ObjPtr>& list(const ObjPtr& o) {
    auto* l = std::get_if<Obj::List>(&o->v);
    fail_unless(l != nullptr, "APPEND to something that is not a list");
    return l->items;
  }
  Obj::Items& dict(const ObjPtr& o) {
    auto* d = std::get_if<Obj::Dict>(&o->v);
    fail_unless(d != nullptr, "SETITEM on something that is not a dict");
    return d->items;
  }

  // ('storage', torch.FloatStorage, key, location, numel) -> the record data/<key>.
  ObjPtr persistent_load(const ObjPtr& pid) {
    auto* t = std::get_if<Obj::Tuple>(&pid->v);
    fail_unless(t && t->items.size() >= 5 && str(t->items[0]) == "storage", "an unknown persistent id");
    auto* g = std::get_if<Global>(&t->items[1]->v);
    fail_unless(g != nullptr, "a storage without a type");
    auto type = storage_types().find(g->name);
    fail_unless(type != storage_types().end(), "unsupported storage type " + g->module + "." + g->name);
    const std::string key = str(t->items[2]);
    const int64_t numel = integer(t->items[4]);
    auto cached = storages_.find(key);
    if (cached != storages_.end()) return cached->second;
    const std::string record = "data/" + key;
    fail_unless(zip_.has(record), "the archive lacks the storage record " + record);
    const std::string_view bytes = zip_.record(record);
    const size_t size = bytes.size();
    const size_t item = c10::elementSize(type->second);
    fail_unless(numel >= 0 && size == static_cast<size_t>(numel) * item,
                fmt::format("storage {} has {} bytes, expected {}", key, size, numel * item));
    torch::Tensor data = torch::empty({numel}, torch::TensorOptions().dtype(type->second));
    if (size > 0) std::memcpy(data.data_ptr(), bytes.data(), size);
    auto o = make(Storage{data});
    storages_[key] = o;
    return o;
  }

  ObjPtr reduce(const ObjPtr& fn, const ObjPtr& args_obj) {
    auto* g = std::get_if<Global>(&fn->v);
    auto* args = std::get_if<Obj::Tuple>(&args_obj->v);
    fail_unless(g != nullptr && args != nullptr, "a call of something that is not a global");
    const std::string name = g->module + "." + g->name;
    if (name == "collections.OrderedDict" && args->items.empty()) return make(Obj::Dict{});
    if (name == "torch._utils._rebuild_tensor_v2") {
      fail_unless(args->items.size() >= 4, "_rebuild_tensor_v2 with too few arguments");
      auto* st = std::get_if<Storage>(&args->items[0]->v);
      fail_unless(st != nullptr, "_rebuild_tensor_v2 without a storage");
      const int64_t offset = integer(args->items[1]);
      auto size = ints(args->items[2]), stride = ints(args->items[3]);
      fail_unless(size.size() == stride.size(), "a tensor whose size and stride differ in length");
      // The highest element index the view touches, in checked arithmetic: crafted sizes and
      // strides must not wrap around (signed overflow) into a small, passing index.
      int64_t last = offset;
      bool overflow = false;
      for (size_t i = 0; i < size.size(); ++i) {
        fail_unless(size[i] >= 0 && stride[i] >= 0, "a tensor with a negative size or stride");
        if (size[i] == 0) last = -1;
        int64_t reach = 0;
        if (last >= 0) overflow |= __builtin_mul_overflow(size[i] - 1, stride[i], &reach) ||
                                   __builtin_add_overflow(last, reach, &last);
      }
      fail_unless(offset >= 0 && !overflow && last < st->data.numel(),
                  "a tensor that reaches past the end of its storage");
      return make(st->data.as_strided(size, stride, offset).clone());
    }
    if (name == "torch._utils._rebuild_parameter" && !args->items.empty()) return args->items[0];
    // LibTorch's pickle_save tags typed containers: restore_type_tag(dict, "Dict[str, Tensor]").
    if (name == "torch.jit._pickle.restore_type_tag" && !args->items.empty()) return args->items[0];
    fail("unsupported object " + name + " (a state_dict file holds tensors only)");
  }

  const std::string& p_;
  const ZipArchive& zip_;
  const std::string& source_;
  size_t pos_ = 0;
  std::vector<ObjPtr> stack_;
  std::map<size_t, ObjPtr> memo_;
  std::map<std::string, ObjPtr> storages_;
};

}  // namespace

StateDict decode_pt(const std::string& bytes, const std::string& source, size_t max_nesting) {
  // A torch.save archive is a zip file: "PK\x03\x04".
  WRN_CHECK_FILE(bytes.size() >= 4 && bytes.compare(0, 4, std::string("PK\x03\x04", 4)) == 0,
                 "{}: not a PyTorch state_dict file (expected the zip archive that torch.save writes)", source);
  ObjPtr root;
  try {
    const ZipArchive zip(bytes, source);  // structure and CRC-32s; LibTorch's zip reader never sees the file
    WRN_CHECK_FILE(zip.has("data.pkl"), "{}: not a PyTorch state_dict file (no data.pkl in the archive)", source);
    const std::string pickle(zip.record("data.pkl"));
    check_pickle_nesting(pickle, source, max_nesting);  // before any object is built
    root = StateDictUnpickler(pickle, zip, source).run();
  } catch (const FileError&) {
    throw;
  } catch (const std::exception& e) {
    throw FileError(fmt::format("{}: cannot read the PyTorch file: {}", source, one_line_message(e)));
  }
  auto* dict = std::get_if<Obj::Dict>(&root->v);
  WRN_CHECK_FILE(dict != nullptr, "{}: expected a state_dict (a dict of tensors) at the top of the file", source);
  StateDict out;
  std::set<std::string> names;
  for (const auto& [k, v] : dict->items) {
    auto* name = std::get_if<std::string>(&k->v);
    WRN_CHECK_FILE(name != nullptr, "{}: expected a state_dict with string keys", source);
    auto* t = std::get_if<torch::Tensor>(&v->v);
    WRN_CHECK_FILE(t != nullptr,
                   "{}: entry '{}' is not a tensor (a state_dict file holds tensors only; a full training "
                   "checkpoint must be reduced to its model state_dict)",
                   source, *name);
    WRN_CHECK_FILE(names.insert(*name).second, "{}: tensor '{}' is listed twice", source, *name);
    out.push_back({*name, *t});
  }
  return out;
}

StateDict load_pt(const std::string& path) { return decode_pt(read_file(path), path); }

}  // namespace wrn::io
