// Which files an image data set has: class folders, list files, where a split lives, and
// seeded stratified splits and subsets (of file lists, and of in-memory sets by index).
//
// Nothing here decodes an image: listing a folder or a list file reads directory entries and
// stats files only, so it costs the same for 1,000 and 1,000,000 images' worth of pixels.
// Errors a user sees are one line: wrn::FileError naming the folder, or the list file and
// line number, and what was expected; wrn::ConfigError for a bad argument.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace wrn::data {

// A labelled list of image files. Contract: paths.size() == labels.size(), every label in
// [0, class_names.size()).
struct ImageList {
  std::string name;                      // "folder:<root>" or "list:<file>"
  std::vector<std::string> paths;        // as found: <root>/<class>/<file>, or resolved list entries
  std::vector<int64_t> labels;
  std::vector<std::string> class_names;  // the label order

  int64_t size() const { return static_cast<int64_t>(paths.size()); }
  int64_t num_classes() const { return static_cast<int64_t>(class_names.size()); }
  // The entries `indices` (each in [0, size()), in that order); name and classes kept.
  // Throws ConfigError for an index out of range.
  ImageList subset(const std::vector<int64_t>& indices) const;
};

// <root>/<class>/<images>: one sub-folder per class, the images in it chosen by name
// (data::is_image_file_name: .png/.jpg/.jpeg, any case; other files are ignored), sorted by
// path within a class; the entries in label order.
//   requires: nothing.
//   ensures:  class_names == the sorted sub-folder names when `class_names` is empty, else
//             `class_names` (so "val" takes the "train" order; a class with no folder has no
//             images); every class folder has at least one image.
//   throws:   FileError naming root when it is not a directory or has no sub-folders, naming
//             the folder for a class folder that is not one of `class_names` (did-you-mean),
//             a class folder with no images, or a directory that cannot be read.
ImageList list_image_folder(const std::string& root, const std::vector<std::string>& class_names = {});

// A list file: one image a line, `relative/path<TAB>label`. Paths are relative to the list
// file's directory (an absolute path is taken as is); the label is a class name or an
// integer class index. Blank lines and lines starting with '#' (after spaces) are skipped; a
// trailing '\r' is dropped. Every listed file is stat'ed up front (not decoded).
//   requires: nothing.
//   ensures:  class_names == `class_names` when not empty: a label that equals a name gets its
//             index, else an integer in [0, class_names.size()) is the index. When empty: the
//             classes are "0".."max" when every label is an integer, else the sorted distinct
//             labels (then a label is always a name). Entries in file order.
//   throws:   FileError naming the file when it cannot be read or lists no image, and naming
//             "<file>:<line>" for a line without exactly one TAB or with an empty path or label,
//             a path that is not a .png/.jpg/.jpeg name, an unknown label (did-you-mean) or an
//             index out of range, and a listed file that does not exist (with the count of the
//             missing ones).
ImageList read_image_list_file(const std::string& path, const std::vector<std::string>& class_names = {});

// Where a split of an image data set (data kind "folder") lives under `dir`.
struct SplitSource {
  std::string split;           // the split asked for: "train", "val", "test", ...
  std::string found;           // the split whose files are used: == split, or the other of val/test
  std::string path;            // the class folder root, or the list file
  bool is_list_file = false;
  // "<path>" or, when found != split, "<path> (no 'test' split; using 'val')".
  std::string description() const;
};

// Looks, in order, for <dir>/<split>/ (a class folder), <dir>/<split>.txt, <dir>/<split>.tsv
// (list files); for "val" and "test" then the same three for the other one (so a data set
// with only val/ answers "test", and says so in `found`).
//   requires: split is not empty and has no '/'.
//   throws:   ConfigError for a bad split name; FileError naming dir and listing every path
//             looked for when none exists.
SplitSource find_split(const std::string& dir, const std::string& split);

// The images of a split found by find_split: list_image_folder or read_image_list_file.
ImageList list_split(const SplitSource& source, const std::vector<std::string>& class_names = {});

// ------------------------------------------------------------ stratified splits and subsets
//
// Both draw per class with their own seeded generator (SplitMix64 over (seed, class), a
// Fisher-Yates shuffle with unbiased bounded draws: the same on every platform and standard
// library), so a class's choice depends only on the seed, the class and that class's
// members, never on the other classes. The parts keep the input's order. Labels must be >= 0.

// Holds out, of each class of n images, h = round(fraction * n) (half away from zero), at
// least 1 when fraction > 0 and n >= 2, and at most n - 1 when fraction < 1 (a class keeps a
// training image). The two parts are disjoint and together are the whole list.
//   requires: 0 <= fraction <= 1 (else ConfigError).
struct ImageListSplit {
  ImageList train;
  ImageList held_out;
};
ImageListSplit stratified_split(const ImageList& list, double fraction, uint64_t seed);

// n of the images with the class proportions kept: class c of n_c images gets
// floor(n * n_c / N) and the remaining images go to the classes with the largest remainders
// (n * n_c mod N; ties to the lower class index). n >= size() returns the whole list.
//   requires: n >= 0 (else ConfigError).
ImageList stratified_subset(const ImageList& list, int64_t n, uint64_t seed);

// The same on the labels of an in-memory set (data::Dataset::labels, int64 [N] on any device),
// as sorted int64 CPU index tensors for Dataset::subset. Same choice as the ImageList
// functions for the same labels and seed.
struct IndexSplit {
  torch::Tensor train;     // int64 [N - held out]
  torch::Tensor held_out;  // int64 [held out]
};
IndexSplit stratified_split_indices(const torch::Tensor& labels, double fraction, uint64_t seed);
torch::Tensor stratified_subset_indices(const torch::Tensor& labels, int64_t n, uint64_t seed);

}  // namespace wrn::data
