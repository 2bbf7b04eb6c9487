#include "wrn/setup/export_metadata.h"

#include <nlohmann/json.hpp>

#include "wrn/core/error.h"
#include "wrn/setup/checkpoint_model.h"

namespace wrn::train {

ExportMetadata export_metadata(const models::ModelSpec& spec, const data::Preprocessing& preprocessing,
                               const std::vector<std::string>& class_names) {
  nlohmann::json settings = nlohmann::json::object();
  for (const auto& [k, v] : spec.settings) settings[k] = v;
  ExportMetadata meta = {{"wrn.model", spec.name},
                         {"wrn.classes", std::to_string(spec.classes)},
                         {"wrn.input", spec.input.str()},
                         {"wrn.settings", settings.dump()},
                         {"wrn.preprocessing", preprocessing.to_json()}};
  if (!class_names.empty()) meta["wrn.class_names"] = nlohmann::json(class_names).dump();
  if (!preprocessing.mean.empty()) {
    meta["wrn.mean"] = nlohmann::json(preprocessing.mean).dump();
    meta["wrn.std"] = nlohmann::json(preprocessing.std).dump();
    meta["wrn.zca"] = preprocessing.zca ? "true" : "false";
  }
  return meta;
}

ExportMetadata export_metadata(const CheckpointModel& model) {
  return export_metadata(model.spec, model.preprocessing, model.class_names);
}

std::optional<data::Preprocessing> metadata_preprocessing(const ExportMetadata& metadata, const std::string& source) {
  auto it = metadata.find("wrn.preprocessing");
  if (it == metadata.end()) return std::nullopt;
  return data::Preprocessing::from_json(it->second, source + " metadata 'wrn.preprocessing'");
}

std::vector<std::string> metadata_class_names(const ExportMetadata& metadata, const std::string& source) {
  auto it = metadata.find("wrn.class_names");
  if (it == metadata.end()) return {};
  const auto j = nlohmann::json::parse(it->second, nullptr, /*allow_exceptions=*/false);
  bool ok = j.is_array();
  if (ok) {
    for (const auto& n : j) ok = ok && n.is_string();
  }
  if (!ok) {
    std::string shown = it->second.size() > 60 ? it->second.substr(0, 60) + "..." : it->second;
    for (auto& c : shown) {
      if (c == '\n' || c == '\r') c = ' ';
    }
    throw FileError(fmt::format("{}: metadata 'wrn.class_names' must be a JSON array of strings, got {}", source, shown));
  }
  return j.get<std::vector<std::string>>();
}

}  // namespace wrn::train
