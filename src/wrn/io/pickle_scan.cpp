#include "wrn/io/pickle_scan.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "wrn/core/error.h"

namespace wrn::io {
namespace {

// The opcodes of pickletools.opcodes (protocols 0-5), named for messages.
const char* op_name(unsigned char op) {
  switch (op) {
    case '(': return "MARK";
    case '.': return "STOP";
    case '0': return "POP";
    case '1': return "POP_MARK";
    case '2': return "DUP";
    case 'F': return "FLOAT";
    case 'I': return "INT";
    case 'J': return "BININT";
    case 'K': return "BININT1";
    case 'L': return "LONG";
    case 'M': return "BININT2";
    case 'N': return "NONE";
    case 'P': return "PERSID";
    case 'Q': return "BINPERSID";
    case 'R': return "REDUCE";
    case 'S': return "STRING";
    case 'T': return "BINSTRING";
    case 'U': return "SHORT_BINSTRING";
    case 'V': return "UNICODE";
    case 'X': return "BINUNICODE";
    case 'a': return "APPEND";
    case 'b': return "BUILD";
    case 'c': return "GLOBAL";
    case 'd': return "DICT";
    case '}': return "EMPTY_DICT";
    case 'e': return "APPENDS";
    case 'g': return "GET";
    case 'h': return "BINGET";
    case 'i': return "INST";
    case 'j': return "LONG_BINGET";
    case 'l': return "LIST";
    case ']': return "EMPTY_LIST";
    case 'o': return "OBJ";
    case 'p': return "PUT";
    case 'q': return "BINPUT";
    case 'r': return "LONG_BINPUT";
    case 's': return "SETITEM";
    case 't': return "TUPLE";
    case ')': return "EMPTY_TUPLE";
    case 'u': return "SETITEMS";
    case 'G': return "BINFLOAT";
    case 'B': return "BINBYTES";
    case 'C': return "SHORT_BINBYTES";
    case 0x80: return "PROTO";
    case 0x81: return "NEWOBJ";
    case 0x82: return "EXT1";
    case 0x83: return "EXT2";
    case 0x84: return "EXT4";
    case 0x85: return "TUPLE1";
    case 0x86: return "TUPLE2";
    case 0x87: return "TUPLE3";
    case 0x88: return "NEWTRUE";
    case 0x89: return "NEWFALSE";
    case 0x8a: return "LONG1";
    case 0x8b: return "LONG4";
    case 0x8c: return "SHORT_BINUNICODE";
    case 0x8d: return "BINUNICODE8";
    case 0x8e: return "BINBYTES8";
    case 0x8f: return "EMPTY_SET";
    case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET";
    case 0x92: return "NEWOBJ_EX";
    case 0x93: return "STACK_GLOBAL";
    case 0x94: return "MEMOIZE";
    case 0x95: return "FRAME";
    case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER";
    case 0x98: return "READONLY_BUFFER";
    default: return nullptr;
  }
}

constexpr size_t kNoCell = SIZE_MAX;

// What the scan knows of a value: how deep it nests, whether it may no longer be changed
// (see pickle_scan.h), and whether it is a tuple (immutable in every unpickler).
struct Cell {
  uint64_t depth = 0;
  bool frozen = false;
  bool tuple = false;
};

// A stack entry: a scalar (`leaf`: numbers, strings, bytes, None, globals, persistent ids)
// or a container / object, whose Cell lives inline or, once memoized, in the memo's cells.
struct Entry {
  bool leaf = true;
  Cell inline_cell;
  size_t cell = kNoCell;
};

class Scanner {
 public:
  Scanner(std::string_view pickle, const std::string& what, size_t max_depth)
      : p_(pickle), what_(what), max_(max_depth) {}

  void run() {
    while (pos_ < p_.size()) {
      op_pos_ = pos_;
      op_ = static_cast<unsigned char>(p_[pos_++]);
      switch (op_) {
        // Framing and the protocol: no stack effect.
        case 0x80: skip(1); break;  // PROTO
        case 0x95: skip(8); break;  // FRAME
        case '.':                   // STOP
          pop();
          return;

        // The stack and its marks.
        case '(': marks_.push_back(stack_.size()); break;  // MARK
        case '0':                                          // POP: the top value, or a mark
          if (stack_.size() > floor()) {
            stack_.pop_back();
          } else {
            if (marks_.empty()) underflow();
            marks_.pop_back();
          }
          break;
        case '1': pop_mark(); break;  // POP_MARK
        case '2': {                   // DUP: two references to one value
          Entry& t = top();
          freeze(t);
          Entry copy = t;
          stack_.push_back(copy);
          break;
        }

        // Scalars.
        case 'N': case 0x88: case 0x89: push_leaf(); break;       // NONE, NEWTRUE, NEWFALSE
        case 'K': skip(1), push_leaf(); break;                     // BININT1
        case 'M': skip(2), push_leaf(); break;                     // BININT2
        case 'J': skip(4), push_leaf(); break;                     // BININT
        case 'G': skip(8), push_leaf(); break;                     // BINFLOAT
        case 0x8a: skip(u8()), push_leaf(); break;                 // LONG1
        case 0x8b: skip(signed_length()), push_leaf(); break;      // LONG4
        case 'I': case 'L': case 'F': case 'S': case 'V': line(), push_leaf(); break;  // text
        case 'X': case 'B': skip(u32()), push_leaf(); break;       // BINUNICODE, BINBYTES
        case 0x8c: case 'C': case 'U': skip(u8()), push_leaf(); break;  // the short forms
        case 'T': skip(signed_length()), push_leaf(); break;       // BINSTRING
        case 0x8d: case 0x8e: case 0x96: skip(u64()), push_leaf(); break;  // the 8-byte forms
        case 0x97: push_leaf(); break;                             // NEXT_BUFFER
        case 0x98: top(); break;                                   // READONLY_BUFFER
        case 'c': line(), line(), push_leaf(); break;              // GLOBAL
        case 0x93: pop(), pop(), push_leaf(); break;               // STACK_GLOBAL
        case 0x82: skip(1), push_leaf(); break;                    // EXT1
        case 0x83: skip(2), push_leaf(); break;                    // EXT2
        case 0x84: skip(4), push_leaf(); break;                    // EXT4
        case 'P': line(), push_leaf(); break;                      // PERSID
        case 'Q': pop(), push_leaf(); break;                       // BINPERSID: a storage

        // Containers built at once.
        case ')': push_value(1, false, true); break;               // EMPTY_TUPLE
        case ']': case '}': case 0x8f: push_value(1, false, false); break;  // EMPTY_LIST/DICT/SET
        case 0x85: case 0x86: case 0x87: {                         // TUPLE1..3
          uint64_t d = 0;
          for (int i = 0; i < op_ - 0x84; ++i) d = std::max(d, depth(pop()));
          push_value(d + 1, false, true);
          break;
        }
        case 't': push_value(pop_mark().depth + 1, false, true); break;         // TUPLE
        case 'l': case 'd': case 0x91: push_value(pop_mark().depth + 1, false, false); break;  // LIST, DICT, FROZENSET

        // Containers filled in place.
        case 'a': {  // APPEND
          const uint64_t d = depth(pop());
          grow(top(), d + 1);
          break;
        }
        case 's': {  // SETITEM
          const uint64_t d = std::max(depth(pop()), depth(pop()));
          grow(top(), d + 1);
          break;
        }
        case 'e': case 'u': case 0x90: {  // APPENDS, SETITEMS, ADDITEMS: the target lies below the mark
          if (marks_.empty()) no_mark();
          const size_t target = marks_.back();
          const size_t below = marks_.size() >= 2 ? marks_[marks_.size() - 2] : 0;
          if (target <= below) underflow();
          const uint64_t d = pop_mark().depth;
          grow(stack_[target - 1], d + 1);
          break;
        }

        // Calls: the result may be (an alias of) anything inside their arguments.
        case 'R': case 0x81: {  // REDUCE (callable, args), NEWOBJ (cls, args)
          Entry args = pop(), fn = pop();
          call_result(std::max(depth(fn), depth(args)), may_alias(fn) || may_alias(args));
          break;
        }
        case 0x92: {  // NEWOBJ_EX (cls, args, kwargs)
          Entry kwargs = pop(), args = pop(), cls = pop();
          call_result(std::max({depth(cls), depth(args), depth(kwargs)}),
                      may_alias(cls) || may_alias(args) || depth(kwargs) > 1);  // kwargs are unpacked
          break;
        }
        case 'i': {  // INST: the arguments since the mark, the class named by two lines
          line(), line();
          const Items items = pop_mark();
          call_result(items.depth + 1, items.any_value);
          break;
        }
        case 'o': {  // OBJ: the class and the arguments since the mark
          const Items items = pop_mark();
          call_result(items.depth + 1, items.any_value);
          break;
        }
        case 'b': {  // BUILD (object, state): Python sets the state on the object; LibTorch
                     // calls the global below with the state, like REDUCE.
          Entry state = pop();
          Entry& target = top();
          if (target.leaf) {
            target = value(depth(state), may_alias(state), false);
          } else {
            grow(target, depth(state));
            if (may_alias(state)) freeze(target);
          }
          break;
        }

        // The memo.
        case 'q': put(u8()); break;                    // BINPUT
        case 'r': put(u32()); break;                   // LONG_BINPUT
        case 'p': put(decimal(line())); break;         // PUT
        case 0x94: put(memo_.size()); break;           // MEMOIZE
        case 'h': get(u8()); break;                    // BINGET
        case 'j': get(u32()); break;                   // LONG_BINGET
        case 'g': get(decimal(line())); break;         // GET

        default:
          throw FileError(fmt::format("{}: unknown pickle opcode 0x{:02x} at byte {}", what_, op_, op_pos_));
      }
    }
    throw FileError(fmt::format("{}: the pickle is truncated: its {} bytes end without STOP", what_, p_.size()));
  }

 private:
  struct Items {
    uint64_t depth = 0;      // the deepest item
    bool any_value = false;  // an item that is not a scalar
  };

  std::string op() const {
    const char* name = op_name(op_);
    return fmt::format("{} at byte {}", name ? name : "?", op_pos_);
  }
  [[noreturn]] void fail(const std::string& problem) const {
    throw FileError(fmt::format("{}: {}", what_, problem));
  }
  [[noreturn]] void underflow() const { fail(fmt::format("the pickle's stack underflows at {}", op())); }
  [[noreturn]] void no_mark() const { fail(fmt::format("the pickle has no MARK for {}", op())); }
  [[noreturn]] void too_deep(uint64_t d) const {
    fail(fmt::format("the pickle nests containers {} deep (more than {}); refusing to decode it", d, max_));
  }

  // Arguments.
  void need(uint64_t n) const {
    if (n > p_.size() - pos_) fail(fmt::format("the pickle is truncated: {} runs past its end", op()));
  }
  void skip(uint64_t n) {
    need(n);
    pos_ += static_cast<size_t>(n);
  }
  uint64_t le(int n) {
    need(static_cast<uint64_t>(n));
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(p_[pos_ + i])) << (8 * i);
    pos_ += static_cast<size_t>(n);
    return v;
  }
  uint64_t u8() { return le(1); }
  uint64_t u32() { return le(4); }
  uint64_t u64() { return le(8); }
  uint64_t signed_length() {
    const auto n = static_cast<int32_t>(static_cast<uint32_t>(le(4)));
    if (n < 0) fail(fmt::format("the pickle's {} has a negative length", op()));
    return static_cast<uint64_t>(n);
  }
  std::string_view line() {
    const size_t end = p_.find('\n', pos_);
    if (end == std::string_view::npos) fail(fmt::format("the pickle is truncated: {} runs past its end", op()));
    std::string_view s = p_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return s;
  }
  uint64_t decimal(std::string_view s) const {
    uint64_t v = 0;
    bool ok = !s.empty() && s.size() <= 19;
    for (char c : s) {
      ok = ok && c >= '0' && c <= '9';
      v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    if (!ok) fail(fmt::format("the pickle's {} has a malformed memo index", op()));
    return v;
  }

  // The stack; a mark hides the values below it, as Python's metastack does.
  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  Entry& top() {
    if (stack_.size() <= floor()) underflow();
    return stack_.back();
  }
  Entry pop() {
    Entry e = top();
    stack_.pop_back();
    return e;
  }
  Items pop_mark() {
    if (marks_.empty()) no_mark();
    Items items;
    for (size_t i = marks_.back(); i < stack_.size(); ++i) {
      items.depth = std::max(items.depth, depth(stack_[i]));
      items.any_value |= !stack_[i].leaf;
    }
    stack_.resize(marks_.back());
    marks_.pop_back();
    return items;
  }

  Cell& cell(Entry& e) { return e.cell == kNoCell ? e.inline_cell : cells_[e.cell]; }
  const Cell& cell(const Entry& e) const { return e.cell == kNoCell ? e.inline_cell : cells_[e.cell]; }
  uint64_t depth(const Entry& e) const { return e.leaf ? 0 : cell(e).depth; }
  void freeze(Entry& e) {
    if (!e.leaf) cell(e).frozen = true;
  }
  // Whether a call on this argument may return one of the containers it holds, or the
  // argument itself, which could then be changed under the depth counted for its copies.
  // A tuple of scalars cannot: it holds no container and is itself immutable.
  bool may_alias(const Entry& e) const { return !e.leaf && !(cell(e).tuple && cell(e).depth <= 1); }

  Entry value(uint64_t d, bool frozen, bool tuple) const {
    if (d > max_) too_deep(d);
    Entry e;
    e.leaf = false;
    e.inline_cell = Cell{d, frozen, tuple};
    return e;
  }
  void push_leaf() { stack_.emplace_back(); }
  void push_value(uint64_t d, bool frozen, bool tuple) { stack_.push_back(value(d, frozen, tuple)); }
  void call_result(uint64_t d, bool alias) { push_value(d, alias, false); }
  // An edit of a container in place: it now holds something `d` deep.
  void grow(Entry& target, uint64_t d) {
    if (target.leaf) return;  // no unpickler nests anything inside a scalar; it fails there
    Cell& c = cell(target);
    if (c.frozen)
      fail(fmt::format("the pickle's {} changes a value it has already shared (a self-referencing or aliased "
                       "structure); refusing to decode it",
                       op()));
    if (d > c.depth) {
      if (d > max_) too_deep(d);
      c.depth = d;
    }
  }

  // The memo shares the Cell of the value it holds, so that filling the value after PUT
  // is seen by GET; a GET then freezes it (the copy and the original are one value).
  void put(uint64_t index) {
    // Writers number memo entries 0, 1, 2, ...; LibTorch's Unpickler sizes its memo table from
    // the index, so a crafted LONG_BINPUT of 2^31 made it allocate 32 GB (fuzzing).
    if (index > p_.size())
      fail(fmt::format("the pickle's {} stores memo entry {}, beyond the {} bytes of the pickle", op(), index,
                       p_.size()));
    Entry& t = top();
    if (t.leaf) {
      memo_[index] = kNoCell;
      return;
    }
    if (t.cell == kNoCell) {
      cells_.push_back(t.inline_cell);
      t.cell = cells_.size() - 1;
    }
    memo_[index] = t.cell;
  }
  void get(uint64_t index) {
    const auto it = memo_.find(index);
    if (it == memo_.end()) fail(fmt::format("the pickle's {} refers to memo entry {}, which was never stored", op(), index));
    Entry e;
    if (it->second != kNoCell) {
      e.leaf = false;
      e.cell = it->second;
      cells_[e.cell].frozen = true;
    }
    stack_.push_back(e);
  }

  std::string_view p_;
  const std::string& what_;
  uint64_t max_;
  size_t pos_ = 0, op_pos_ = 0;
  unsigned char op_ = 0;
  std::vector<Entry> stack_;
  std::vector<size_t> marks_;  // the stack's size at each MARK
  std::vector<Cell> cells_;    // of memoized values
  std::unordered_map<uint64_t, size_t> memo_;  // index -> cell (kNoCell: a scalar)
};

}  // namespace

void check_pickle_nesting(std::string_view pickle, const std::string& what, size_t max_depth) {
  Scanner(pickle, what, max_depth).run();
}

}  // namespace wrn::io
