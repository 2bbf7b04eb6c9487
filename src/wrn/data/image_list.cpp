// Image lists (image_list.h): class folders, list files, splits, stratified choices.
#include "wrn/data/image_list.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <system_error>

#include "wrn/core/error.h"
#include "wrn/core/text.h"
#include "wrn/data/image_codec.h"

namespace wrn::data {

namespace {

namespace fs = std::filesystem;

// The entries of a directory; a FileError naming it when it cannot be read.
std::vector<fs::directory_entry> read_directory(const fs::path& dir) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  WRN_CHECK_FILE(!ec, "{}: cannot read this directory ({})", dir.string(), ec.message());
  std::vector<fs::directory_entry> out;
  for (const fs::directory_iterator end; it != end; it.increment(ec)) {
    WRN_CHECK_FILE(!ec, "{}: cannot read this directory ({})", dir.string(), ec.message());
    out.push_back(*it);
  }
  WRN_CHECK_FILE(!ec, "{}: cannot read this directory ({})", dir.string(), ec.message());
  return out;
}

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

// A class index written as digits only (no sign, no spaces); false for anything else.
bool parse_index(const std::string& s, int64_t& out) {
  if (s.empty() || s.size() > 18 || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  out = std::stoll(s);
  return true;
}

// SplitMix64, and unbiased draws below a bound (Lemire's multiply-shift with rejection).
struct Rng {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) {
    unsigned __int128 m = static_cast<unsigned __int128>(next()) * n;
    if (static_cast<uint64_t>(m) < n) {
      const uint64_t threshold = (0 - n) % n;
      while (static_cast<uint64_t>(m) < threshold) m = static_cast<unsigned __int128>(next()) * n;
    }
    return static_cast<uint64_t>(m >> 64);
  }
};

// The members of class `label` in a seeded random order (depends on seed, label, members only).
std::vector<int64_t> shuffled(std::vector<int64_t> members, uint64_t seed, int64_t label) {
  Rng rng{seed};
  rng.state = rng.next() ^ (static_cast<uint64_t>(label) * 0xD1B54A32D192ED03ull);
  for (size_t i = members.size(); i > 1; --i) std::swap(members[i - 1], members[rng.below(i)]);
  return members;
}

std::map<int64_t, std::vector<int64_t>> by_class(const std::vector<int64_t>& labels) {
  std::map<int64_t, std::vector<int64_t>> classes;
  for (size_t i = 0; i < labels.size(); ++i) {
    WRN_CHECK(labels[i] >= 0, "stratified choice: label {} of entry {} is negative", labels[i], i);
    classes[labels[i]].push_back(static_cast<int64_t>(i));
  }
  return classes;
}

// The chosen entries (mask), and the others, each in input order.
std::pair<std::vector<int64_t>, std::vector<int64_t>> partition(const std::vector<bool>& chosen) {
  std::pair<std::vector<int64_t>, std::vector<int64_t>> out;
  for (size_t i = 0; i < chosen.size(); ++i) (chosen[i] ? out.first : out.second).push_back(static_cast<int64_t>(i));
  return out;
}

// -> {held out, train}
std::pair<std::vector<int64_t>, std::vector<int64_t>> split_indices(const std::vector<int64_t>& labels,
                                                                    double fraction, uint64_t seed) {
  WRN_CHECK(fraction >= 0.0 && fraction <= 1.0, "stratified split: the held-out fraction must be in [0, 1], got {}",
            fraction);
  std::vector<bool> held(labels.size(), false);
  for (const auto& [label, members] : by_class(labels)) {
    const auto n = static_cast<int64_t>(members.size());
    int64_t h = std::llround(fraction * static_cast<double>(n));
    if (fraction > 0.0 && n >= 2) h = std::max<int64_t>(h, 1);
    if (fraction < 1.0) h = std::min<int64_t>(h, n - 1);
    h = std::clamp<int64_t>(h, 0, n);
    const auto order = shuffled(members, seed, label);
    for (int64_t i = 0; i < h; ++i) held[static_cast<size_t>(order[static_cast<size_t>(i)])] = true;
  }
  return partition(held);
}

std::vector<int64_t> subset_indices(const std::vector<int64_t>& labels, int64_t n, uint64_t seed) {
  WRN_CHECK(n >= 0, "stratified subset: the number of images must be >= 0, got {}", n);
  const auto total = static_cast<int64_t>(labels.size());
  const auto classes = by_class(labels);
  if (n >= total) return partition(std::vector<bool>(labels.size(), true)).first;
  // Largest remainder, in exact integer arithmetic.
  struct Quota {
    int64_t label, take, remainder;
  };
  std::vector<Quota> quotas;
  int64_t given = 0;
  for (const auto& [label, members] : classes) {
    const auto nc = static_cast<int64_t>(members.size());
    quotas.push_back({label, n * nc / total, n * nc % total});
    given += quotas.back().take;
  }
  std::vector<size_t> by_remainder(quotas.size());
  for (size_t i = 0; i < quotas.size(); ++i) by_remainder[i] = i;
  std::stable_sort(by_remainder.begin(), by_remainder.end(),
                   [&](size_t a, size_t b) { return quotas[a].remainder > quotas[b].remainder; });
  for (size_t i = 0; given < n; ++i, ++given) ++quotas[by_remainder[i]].take;
  std::vector<bool> chosen(labels.size(), false);
  for (const Quota& q : quotas) {
    const auto order = shuffled(classes.at(q.label), seed, q.label);
    for (int64_t i = 0; i < q.take; ++i) chosen[static_cast<size_t>(order[static_cast<size_t>(i)])] = true;
  }
  return partition(chosen).first;
}

std::vector<int64_t> label_vector(const torch::Tensor& labels) {
  WRN_CHECK(labels.defined() && labels.dim() == 1, "stratified choice: labels must be a 1-D tensor");
  const auto cpu = labels.to(torch::kCPU, torch::kInt64).contiguous();
  return std::vector<int64_t>(cpu.data_ptr<int64_t>(), cpu.data_ptr<int64_t>() + cpu.numel());
}

torch::Tensor index_tensor(const std::vector<int64_t>& v) {
  return torch::tensor(v, torch::kInt64).view({static_cast<int64_t>(v.size())});
}

}  // namespace

ImageList ImageList::subset(const std::vector<int64_t>& indices) const {
  ImageList out;
  out.name = name;
  out.class_names = class_names;
  out.paths.reserve(indices.size());
  out.labels.reserve(indices.size());
  for (const int64_t i : indices) {
    WRN_CHECK(i >= 0 && i < size(), "{}: index {} is outside the list's {} images", name, i, size());
    out.paths.push_back(paths[static_cast<size_t>(i)]);
    out.labels.push_back(labels[static_cast<size_t>(i)]);
  }
  return out;
}

ImageList list_image_folder(const std::string& root, const std::vector<std::string>& class_names) {
  WRN_CHECK_FILE(is_dir(root), "{}: directory not found", root);
  // Classes: sorted sub-folder names, or the given order.
  std::vector<std::string> folders;
  for (const auto& entry : read_directory(root))
    if (is_dir(entry.path())) folders.push_back(entry.path().filename().string());
  std::sort(folders.begin(), folders.end());
  WRN_CHECK_FILE(!folders.empty(), "{}: no class sub-folders (expected {}/<class>/<images>)", root, root);
  ImageList list;
  list.name = "folder:" + root;
  list.class_names = class_names.empty() ? folders : class_names;
  const auto& classes = list.class_names;
  for (const auto& folder : folders) {
    const auto it = std::find(classes.begin(), classes.end(), folder);
    const fs::path dir = fs::path(root) / folder;
    WRN_CHECK_FILE(it != classes.end(), "{}: class folder '{}' is not one of the {} known classes{}", dir.string(),
                   folder, classes.size(), did_you_mean(folder, classes));
    std::vector<std::string> files;
    for (const auto& entry : read_directory(dir))
      if (is_file(entry.path()) && is_image_file_name(entry.path().string())) files.push_back(entry.path().string());
    std::sort(files.begin(), files.end());
    WRN_CHECK_FILE(!files.empty(), "{}: no .png/.jpg/.jpeg images in this class folder", dir.string());
    for (auto& f : files) {
      list.paths.push_back(std::move(f));
      list.labels.push_back(it - classes.begin());
    }
  }
  return list;
}

ImageList read_image_list_file(const std::string& path, const std::vector<std::string>& class_names) {
  WRN_CHECK_FILE(is_file(path), "{}: list file not found", path);
  std::ifstream in(path);
  WRN_CHECK_FILE(in.good(), "{}: cannot read this list file", path);
  const fs::path base = fs::path(path).parent_path();
  struct Entry {
    std::string path, label;
    int64_t line;
  };
  std::vector<Entry> entries;
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::string t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    const auto tab = line.find('\t');
    const bool one_tab = tab != std::string::npos && line.find('\t', tab + 1) == std::string::npos;
    const std::string file = one_tab ? trim(line.substr(0, tab)) : "";
    const std::string label = one_tab ? trim(line.substr(tab + 1)) : "";
    WRN_CHECK_FILE(one_tab && !file.empty() && !label.empty(),
                   "{}:{}: expected 'relative/path<TAB>label' (one TAB), got '{}'", path, number, t);
    WRN_CHECK_FILE(is_image_file_name(file), "{}:{}: '{}' is not a .png/.jpg/.jpeg file name", path, number, file);
    const fs::path p(file);
    entries.push_back({p.is_absolute() || base.empty() ? file : (base / p).string(), label, number});
  }
  WRN_CHECK_FILE(in.eof(), "{}: cannot read this list file", path);
  WRN_CHECK_FILE(!entries.empty(), "{}: lists no images (expected lines 'relative/path<TAB>label')", path);

  ImageList list;
  list.name = "list:" + path;
  list.class_names = class_names;
  std::map<std::string, int64_t> by_name;
  if (class_names.empty()) {
    int64_t max_index = -1, value = 0;
    bool all_integers = true;
    for (const auto& e : entries) {
      all_integers = all_integers && parse_index(e.label, value);
      if (all_integers) max_index = std::max(max_index, value);
    }
    if (all_integers) {
      for (int64_t i = 0; i <= max_index; ++i) list.class_names.push_back(std::to_string(i));
    } else {
      for (const auto& e : entries) by_name.emplace(e.label, 0);
      for (auto& [name, index] : by_name) {
        index = static_cast<int64_t>(list.class_names.size());
        list.class_names.push_back(name);
      }
    }
  } else {
    for (size_t i = 0; i < class_names.size(); ++i) by_name.emplace(class_names[i], static_cast<int64_t>(i));
  }
  const auto classes = static_cast<int64_t>(list.class_names.size());
  for (const auto& e : entries) {
    int64_t label = 0;
    if (const auto it = by_name.find(e.label); it != by_name.end()) {
      label = it->second;
    } else {
      WRN_CHECK_FILE(parse_index(e.label, label), "{}:{}: unknown class '{}' (not one of the {} classes){}", path,
                     e.line, e.label, classes, did_you_mean(e.label, list.class_names));
      WRN_CHECK_FILE(label < classes, "{}:{}: class index {} is out of range (there are {} classes)", path, e.line,
                     label, classes);
    }
    list.paths.push_back(e.path);
    list.labels.push_back(label);
  }
  // Every file up front (stat only): a missing image fails now, not hours into an epoch.
  int64_t missing = 0;
  const Entry* first = nullptr;
  for (const auto& e : entries)
    if (!is_file(e.path)) {
      ++missing;
      if (!first) first = &e;
    }
  WRN_CHECK_FILE(missing == 0, "{}:{}: {} not found ({} of the {} listed files are missing)", path, first->line,
                 first->path, missing, entries.size());
  return list;
}

std::string SplitSource::description() const {
  return found == split ? path : fmt::format("{} (no '{}' split; using '{}')", path, split, found);
}

SplitSource find_split(const std::string& dir, const std::string& split) {
  WRN_CHECK(!split.empty() && split != "." && split != ".." && split.find('/') == std::string::npos &&
                split.find('\\') == std::string::npos,
            "image data: bad split name '{}' (expected train, val, test, ...)", split);
  WRN_CHECK_FILE(is_dir(dir), "{}: directory not found", dir);
  std::vector<std::string> names{split};
  if (split == "val") names.push_back("test");
  if (split == "test") names.push_back("val");
  std::vector<std::string> looked;
  for (const auto& name : names) {
    SplitSource s;
    s.split = split;
    s.found = name;
    const fs::path folder = fs::path(dir) / name;
    looked.push_back(folder.string() + "/");
    if (is_dir(folder)) {
      s.path = folder.string();
      return s;
    }
    for (const char* ext : {".txt", ".tsv"}) {
      const fs::path file = fs::path(dir) / (name + ext);
      looked.push_back(file.string());
      if (is_file(file)) {
        s.path = file.string();
        s.is_list_file = true;
        return s;
      }
    }
  }
  throw FileError(fmt::format("{}: no '{}' split (looked for {})", dir, split, join(looked, ", ")));
}

ImageList list_split(const SplitSource& source, const std::vector<std::string>& class_names) {
  return source.is_list_file ? read_image_list_file(source.path, class_names)
                             : list_image_folder(source.path, class_names);
}

ImageListSplit stratified_split(const ImageList& list, double fraction, uint64_t seed) {
  const auto [held, train] = split_indices(list.labels, fraction, seed);
  return {list.subset(train), list.subset(held)};
}

ImageList stratified_subset(const ImageList& list, int64_t n, uint64_t seed) {
  return list.subset(subset_indices(list.labels, n, seed));
}

IndexSplit stratified_split_indices(const torch::Tensor& labels, double fraction, uint64_t seed) {
  const auto [held, train] = split_indices(label_vector(labels), fraction, seed);
  return {index_tensor(train), index_tensor(held)};
}

torch::Tensor stratified_subset_indices(const torch::Tensor& labels, int64_t n, uint64_t seed) {
  return index_tensor(subset_indices(label_vector(labels), n, seed));
}

}  // namespace wrn::data
