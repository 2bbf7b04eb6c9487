// A linear scan of a pickle's opcodes before an unpickler sees it (issue 11): LibTorch's
// Unpickler (a checkpoint's payload, checkpoint.cpp) and our own (pt_format.cpp) build
// the nested containers of a crafted pickle without limit, and destroying 10^6 nested
// tuples, lists or dicts recurses once per level until the stack overflows.
//
// The scan simulates the unpickler's stack without building any object: every entry carries
// the nesting depth of the value it stands for (a scalar, string or global 0; a container
// 1 + the deepest of its items; the result of REDUCE / NEWOBJ / BUILD as deep as its
// argument tuple, since an unpickler may return the tuple or anything in it). APPEND(S),
// SETITEM(S), ADDITEMS and BUILD raise their target's depth. An entry that has been memoized
// shares its depth with the memo, so filling a container after BINPUT is seen by a later
// BINGET.
//
// A value may be changed only while nothing else can hold it: once BINGET or DUP has copied
// it, or once it is a REDUCE / NEWOBJ / BUILD result that may be an alias of an argument's
// container (as torch.jit._pickle.restore_type_tag and _rebuild_parameter return their
// argument), a later APPEND / SETITEM / ADDITEMS / BUILD on it is refused: otherwise the
// depth already counted for its copies would be stale, and chains of such edits could nest
// without limit. Neither torch.save nor LibTorch's pickler writes such a pickle; Python's
// pickler does only for self-referencing (cyclic) structures, which no state_dict holds.
//
// Covers every opcode of protocols 0-5 (pickletools.opcodes). Memory: the stack, the marks
// and one small cell per memoized container; no recursion.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace wrn::io {

inline constexpr size_t kMaxPickleNesting = 1000;

// Throws wrn::FileError "<what>: the pickle nests containers N deep (more than <max_depth>);
// refusing to decode it" as soon as a value nests deeper than max_depth, and a FileError
// naming the opcode and its byte offset for a truncated pickle (no STOP), a stack underflow,
// a MARK missing, a memo reference to nothing, a memo index beyond the pickle's size (LibTorch's
// Unpickler would size its memo table from it), an edit of a shared value (see above) or an
// unknown opcode. Returns when the pickle reaches STOP within the limit.
void check_pickle_nesting(std::string_view pickle, const std::string& what, size_t max_depth = kMaxPickleNesting);

}  // namespace wrn::io
