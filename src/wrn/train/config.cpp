#include "wrn/train/config.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <set>

#include "wrn/core/error.h"
#include "wrn/core/text.h"

namespace wrn::train {
namespace {

std::string type_name(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Null: return "nothing";
    default: return "'" + n.Scalar() + "'";
  }
}

// Reads one mapping, remembering the keys it was asked for, so that finish() can reject
// the others with a did-you-mean.
class MapReader {
 public:
  MapReader(const YAML::Node& node, std::string path) : node_(node), path_(std::move(path)) {
    WRN_CHECK(!node_.IsDefined() || node_.IsNull() || node_.IsMap(), "config: '{}' must be a mapping, got {}",
              path_.empty() ? "<top level>" : path_, type_name(node_));
  }

  std::string key_path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

  YAML::Node take(const std::string& key) {
    known_.push_back(key);
    if (!node_.IsMap()) return YAML::Node();
    return node_[key];
  }

  void get(const std::string& key, std::string& out) {
    auto n = take(key);
    if (!n.IsDefined() || n.IsNull()) return;
    WRN_CHECK(n.IsScalar(), "config: '{}' must be a string, got {}", key_path(key), type_name(n));
    out = n.Scalar();
  }
  void get(const std::string& key, int64_t& out) {
    auto n = scalar(key);
    if (n) out = parse_int(*n, "config key '" + key_path(key) + "'");
  }
  void get(const std::string& key, int& out) {
    int64_t v = out;
    get(key, v);
    WRN_CHECK(v >= std::numeric_limits<int>::min() && v <= std::numeric_limits<int>::max(),
              "config: '{}' is out of range: {}", key_path(key), v);
    out = static_cast<int>(v);
  }
  void get(const std::string& key, uint64_t& out) {
    auto n = scalar(key);
    if (!n) return;
    long long v = parse_int(*n, "config key '" + key_path(key) + "'");
    WRN_CHECK(v >= 0, "config: '{}' must be >= 0, got {}", key_path(key), v);
    out = static_cast<uint64_t>(v);
  }
  void get(const std::string& key, double& out) {
    auto n = scalar(key);
    if (n) out = parse_double(*n, "config key '" + key_path(key) + "'");
  }
  void get(const std::string& key, bool& out) {
    auto n = scalar(key);
    if (n) out = parse_bool(*n, "config key '" + key_path(key) + "'");
  }
  void get(const std::string& key, std::vector<double>& out) {
    auto n = take(key);
    if (!n.IsDefined() || n.IsNull()) return;
    out.clear();
    if (n.IsScalar()) {
      out.push_back(parse_double(n.Scalar(), "config key '" + key_path(key) + "'"));
      return;
    }
    WRN_CHECK(n.IsSequence(), "config: '{}' must be a list of numbers, got {}", key_path(key), type_name(n));
    for (size_t i = 0; i < n.size(); ++i) {
      WRN_CHECK(n[i].IsScalar(), "config: '{}[{}]' must be a number, got {}", key_path(key), i, type_name(n[i]));
      out.push_back(parse_double(n[i].Scalar(), fmt::format("config key '{}[{}]'", key_path(key), i)));
    }
  }
  // A mapping of scalar settings, kept in file order.
  void get(const std::string& key, std::vector<std::pair<std::string, std::string>>& out) {
    auto n = take(key);
    if (!n.IsDefined() || n.IsNull()) return;
    WRN_CHECK(n.IsMap(), "config: '{}' must be a mapping of settings, got {}", key_path(key), type_name(n));
    out.clear();
    for (const auto& kv : n) {
      const auto k = kv.first.Scalar();
      const auto& v = kv.second;
      std::string text;
      if (v.IsScalar()) {
        text = v.Scalar();
      } else if (v.IsSequence()) {  // block: [3, 3] -> "3,3"
        std::vector<std::string> parts;
        for (const auto& e : v) parts.push_back(e.Scalar());
        text = join(parts, ",");
      } else {
        throw ConfigError(fmt::format("config: '{}.{}' must be a value, got {}", key_path(key), k, type_name(v)));
      }
      out.emplace_back(k, text);
    }
  }

  MapReader child(const std::string& key) { return MapReader(take(key), key_path(key)); }

  void finish() const {
    if (!node_.IsMap()) return;
    for (const auto& kv : node_) {
      const auto k = kv.first.Scalar();
      if (std::find(known_.begin(), known_.end(), k) == known_.end()) {
        throw ConfigError(fmt::format("config: unknown key '{}'{}; known keys here: {}", key_path(k),
                                      did_you_mean(k, known_), join(known_, ", ")));
      }
    }
  }

 private:
  std::optional<std::string> scalar(const std::string& key) {
    auto n = take(key);
    if (!n.IsDefined() || n.IsNull()) return std::nullopt;
    WRN_CHECK(n.IsScalar(), "config: '{}' must be a single value, got {}", key_path(key), type_name(n));
    return n.Scalar();
  }

  YAML::Node node_;
  std::string path_;
  std::vector<std::string> known_;
};

std::string num(double v) { return fmt::format("{}", v); }

YAML::Node number_list(const std::vector<double>& v) {
  YAML::Node n(YAML::NodeType::Sequence);
  for (double x : v) n.push_back(num(x));
  n.SetStyle(YAML::EmitterStyle::Flow);
  return n;
}

template <class T>
void check_one_of(const T& value, const std::vector<std::string>& allowed, const std::string& key) {
  WRN_CHECK(std::find(allowed.begin(), allowed.end(), value) != allowed.end(), "config: '{}' is '{}', expected one of {}{}",
            key, value, join(allowed, ", "), did_you_mean(value, allowed));
}

}  // namespace

void TrainConfig::validate() const {
  WRN_CHECK(!model.name.empty(), "config: 'model.name' must be set");
  WRN_CHECK(model.classes >= 0, "config: 'model.classes' must be >= 0, got {}", model.classes);
  WRN_CHECK(data.batch_size >= 1, "config: 'data.batch_size' must be >= 1, got {}", data.batch_size);
  WRN_CHECK(data.test_batch_size >= 0, "config: 'data.test_batch_size' must be >= 0, got {}", data.test_batch_size);
  WRN_CHECK(data.limit_train >= 0 && data.limit_test >= 0, "config: 'data.limit_train' and 'data.limit_test' must be >= 0");
  WRN_CHECK(data.augment.pad >= 0, "config: 'data.augment.pad' must be >= 0, got {}", data.augment.pad);
  check_one_of(data.augment.pad_mode, {"reflect", "zeros"}, "data.augment.pad_mode");
  WRN_CHECK(data.normalize.mean.size() == data.normalize.std.size(),
            "config: 'data.normalize.mean' and 'data.normalize.std' need the same length (got {} and {})",
            data.normalize.mean.size(), data.normalize.std.size());
  for (double s : data.normalize.std) WRN_CHECK(s > 0, "config: 'data.normalize.std' values must be positive, got {}", s);
  WRN_CHECK(data.normalize.zca_epsilon > 0, "config: 'data.normalize.zca_epsilon' must be positive");
  optimizer.sgd().validate("optimizer");
  schedule.validate("schedule");
  WRN_CHECK(epochs >= 1, "config: 'epochs' must be >= 1, got {}", epochs);
  WRN_CHECK(threads >= 0, "config: 'threads' must be >= 0, got {}", threads);
  WRN_CHECK(eval_every >= 1, "config: 'eval_every' must be >= 1, got {}", eval_every);
  WRN_CHECK(checkpoint.every_steps >= 0, "config: 'checkpoint.every_steps' must be >= 0");
  WRN_CHECK(checkpoint.every_seconds >= 0, "config: 'checkpoint.every_seconds' must be >= 0");
  WRN_CHECK(device == "cpu" || device == "auto" || device == "cuda" || device.rfind("cuda:", 0) == 0,
            "config: 'device' is '{}', expected cpu, auto, cuda or cuda:N", device);
}

TrainConfig config_from_yaml(const YAML::Node& root) {
  TrainConfig c;
  MapReader r(root, "");
  r.get("preset", c.preset);
  r.get("description", c.description);
  {
    auto p = r.child("paper");
    p.get("error", c.paper.error);
    p.get("source", c.paper.source);
    p.finish();
  }
  {
    auto m = r.child("model");
    m.get("name", c.model.name);
    m.get("classes", c.model.classes);
    m.get("input", c.model.input);
    m.get("settings", c.model.settings);
    m.get("init_from", c.model.init_from);
    m.finish();
  }
  {
    auto d = r.child("data");
    d.get("kind", c.data.kind);
    d.get("dir", c.data.dir);
    d.get("train_split", c.data.train_split);
    d.get("test_split", c.data.test_split);
    d.get("batch_size", c.data.batch_size);
    d.get("test_batch_size", c.data.test_batch_size);
    d.get("limit_train", c.data.limit_train);
    d.get("limit_test", c.data.limit_test);
    auto a = d.child("augment");
    a.get("pad", c.data.augment.pad);
    a.get("pad_mode", c.data.augment.pad_mode);
    a.get("flip", c.data.augment.flip);
    a.finish();
    auto n = d.child("normalize");
    n.get("mean", c.data.normalize.mean);
    n.get("std", c.data.normalize.std);
    n.get("zca", c.data.normalize.zca);
    n.get("zca_epsilon", c.data.normalize.zca_epsilon);
    n.finish();
    d.finish();
  }
  {
    auto o = r.child("optimizer");
    o.get("lr", c.optimizer.lr);
    o.get("momentum", c.optimizer.momentum);
    o.get("dampening", c.optimizer.dampening);
    o.get("weight_decay", c.optimizer.weight_decay);
    o.get("nesterov", c.optimizer.nesterov);
    o.get("reset_momentum_on_drop", c.optimizer.reset_momentum_on_drop);
    o.finish();
  }
  {
    auto s = r.child("schedule");
    s.get("type", c.schedule.type);
    s.get("unit", c.schedule.unit);
    s.get("milestones", c.schedule.milestones);
    s.get("gamma", c.schedule.gamma);
    s.get("min_lr", c.schedule.min_lr);
    auto w = s.child("warmup");
    w.get("iterations", c.schedule.warmup.iterations);
    w.get("lr", c.schedule.warmup.lr);
    w.get("mode", c.schedule.warmup.mode);
    w.finish();
    s.finish();
  }
  r.get("epochs", c.epochs);
  r.get("seed", c.seed);
  r.get("device", c.device);
  r.get("threads", c.threads);
  r.get("eval_every", c.eval_every);
  r.get("channels_last", c.channels_last);
  {
    auto k = r.child("checkpoint");
    k.get("every_steps", c.checkpoint.every_steps);
    k.get("every_seconds", c.checkpoint.every_seconds);
    k.get("keep_best", c.checkpoint.keep_best);
    k.finish();
  }
  r.finish();
  c.validate();
  return c;
}

YAML::Node config_to_yaml(const TrainConfig& c) {
  YAML::Node root;
  if (!c.preset.empty()) root["preset"] = c.preset;
  if (!c.description.empty()) root["description"] = c.description;
  if (c.paper.present()) {
    root["paper"]["error"] = num(c.paper.error);
    root["paper"]["source"] = c.paper.source;
  }
  auto m = root["model"];
  m["name"] = c.model.name;
  m["classes"] = c.model.classes;
  m["input"] = c.model.input;
  YAML::Node settings(YAML::NodeType::Map);
  for (const auto& [k, v] : c.model.settings) settings[k] = v;
  m["settings"] = settings;
  if (!c.model.init_from.empty()) m["init_from"] = c.model.init_from;
  auto d = root["data"];
  d["kind"] = c.data.kind;
  d["dir"] = c.data.dir;
  d["train_split"] = c.data.train_split;
  d["test_split"] = c.data.test_split;
  d["batch_size"] = c.data.batch_size;
  d["test_batch_size"] = c.data.test_batch_size;
  d["limit_train"] = c.data.limit_train;
  d["limit_test"] = c.data.limit_test;
  d["augment"]["pad"] = c.data.augment.pad;
  d["augment"]["pad_mode"] = c.data.augment.pad_mode;
  d["augment"]["flip"] = c.data.augment.flip;
  d["normalize"]["mean"] = number_list(c.data.normalize.mean);
  d["normalize"]["std"] = number_list(c.data.normalize.std);
  d["normalize"]["zca"] = c.data.normalize.zca;
  d["normalize"]["zca_epsilon"] = num(c.data.normalize.zca_epsilon);
  auto o = root["optimizer"];
  o["lr"] = num(c.optimizer.lr);
  o["momentum"] = num(c.optimizer.momentum);
  o["dampening"] = num(c.optimizer.dampening);
  o["weight_decay"] = num(c.optimizer.weight_decay);
  o["nesterov"] = c.optimizer.nesterov;
  o["reset_momentum_on_drop"] = c.optimizer.reset_momentum_on_drop;
  auto s = root["schedule"];
  s["type"] = c.schedule.type;
  s["unit"] = c.schedule.unit;
  s["milestones"] = number_list(c.schedule.milestones);
  s["gamma"] = num(c.schedule.gamma);
  s["min_lr"] = num(c.schedule.min_lr);
  s["warmup"]["iterations"] = c.schedule.warmup.iterations;
  s["warmup"]["lr"] = num(c.schedule.warmup.lr);
  s["warmup"]["mode"] = c.schedule.warmup.mode;
  root["epochs"] = c.epochs;
  root["seed"] = c.seed;
  root["device"] = c.device;
  root["threads"] = c.threads;
  root["eval_every"] = c.eval_every;
  root["channels_last"] = c.channels_last;
  root["checkpoint"]["every_steps"] = c.checkpoint.every_steps;
  root["checkpoint"]["every_seconds"] = num(c.checkpoint.every_seconds);
  root["checkpoint"]["keep_best"] = c.checkpoint.keep_best;
  return root;
}

std::string config_to_string(const TrainConfig& config) {
  YAML::Emitter out;
  out << config_to_yaml(config);
  return std::string(out.c_str()) + "\n";
}

YAML::Node load_yaml_file(const std::string& path) {
  WRN_CHECK_FILE(std::filesystem::is_regular_file(path), "config file '{}' does not exist", path);
  try {
    return YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    throw FileError(fmt::format("config file '{}': line {}: {}", path, e.mark.line + 1, e.msg));
  }
}

void apply_override(YAML::Node& root, const std::string& key_equals_value) {
  const auto eq = key_equals_value.find('=');
  WRN_CHECK(eq != std::string::npos && eq > 0, "--set expects key=value (e.g. optimizer.lr=0.05), got '{}'",
            key_equals_value);
  const auto key = trim(key_equals_value.substr(0, eq));
  const auto value_text = key_equals_value.substr(eq + 1);
  YAML::Node value;
  try {
    value = YAML::Load(value_text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(fmt::format("--set {}: cannot parse the value '{}': {}", key, value_text, e.msg));
  }
  if (value.IsNull() && value_text.empty()) value = YAML::Node("");
  auto parts = split(key, '.');
  for (const auto& p : parts) WRN_CHECK(!p.empty(), "--set: empty component in the key '{}'", key);
  if (!root.IsMap()) root = YAML::Node(YAML::NodeType::Map);
  // yaml-cpp nodes are handles: walk with copies that reference the same tree.
  std::vector<YAML::Node> chain{root};
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    YAML::Node next = chain.back()[parts[i]];
    if (!next.IsMap()) {
      chain.back()[parts[i]] = YAML::Node(YAML::NodeType::Map);
      next = chain.back()[parts[i]];
    }
    chain.push_back(next);
  }
  chain.back()[parts.back()] = value;
}

}  // namespace wrn::train
