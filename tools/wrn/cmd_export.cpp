// wrn export --checkpoint FILE --format safetensors|pt|onnx|torchscript --out PATH: the
// trained network in a format other tools read.
//   safetensors  the state_dict (PyTorch names and order) plus metadata describing the model
//   pt           a PyTorch state_dict file (torch.load; torchvision names for the ImageNet ResNets)
//   onnx         an ONNX model (opset 13, dynamic batch), BatchNorm folded, checked by onnx's checker
//   torchscript  a TorchScript module (torch.jit.load in Python, torch::jit::load in C++)
// safetensors, onnx and torchscript carry the same metadata (setup/export_metadata.h: model,
// classes, input, settings, the preprocessing spec, class names); .pt is a pure state_dict.
// Every file is written to a temporary name and renamed, so a failure leaves no partial file.
#include <fmt/format.h>

#include "command.h"
#include "common_options.h"
#include "output_rule.h"
#include "wrn/core/error.h"
#include "wrn/core/text.h"
#include "wrn/core/threads.h"
#include "wrn/infer/onnx_export.h"
#include "wrn/infer/torchscript_export.h"
#include "wrn/io/pt_format.h"
#include "wrn/io/safetensors.h"
#include "wrn/io/state_dict.h"
#include "wrn/models/summary.h"
#include "wrn/setup/checkpoint_model.h"
#include "wrn/setup/export_metadata.h"

namespace {

const std::vector<std::string>& export_formats() {
  static const std::vector<std::string> formats = {"safetensors", "pt", "onnx", "torchscript"};
  return formats;
}

void add_export_command(CLI::App& app) {
  struct Args {
    std::string checkpoint, format, out, input;
    int64_t opset = 13;
    bool no_fold = false, force = false;
    int threads = 0;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("export", "Write a trained checkpoint as safetensors, PyTorch .pt, ONNX or TorchScript");
  cmd->footer(
      "safetensors, onnx and torchscript files carry the model, its input size, the preprocessing spec\n"
      "(resize/crop and normalization) and the class names as metadata (see 'wrn info FILE').\n"
      "A .pt file is a pure state_dict (torchvision loads it) and carries no preprocessing or class\n"
      "names: use safetensors, onnx or torchscript to keep them.\n"
      "Example:\n  wrn export --checkpoint runs/demo/checkpoints/best.ckpt --format onnx --out demo.onnx");
  wrn::cli::add_checkpoint_option(cmd, args->checkpoint);
  cmd->add_option("--format", args->format, "safetensors | pt | onnx | torchscript")->required();
  cmd->add_option("--out", args->out, "Output file")->required();
  cmd->add_option("--input", args->input, "CxHxW of the exported graph (default: the run's)");
  cmd->add_option("--opset", args->opset, "ONNX opset, 13 to 17");
  cmd->add_flag("--no-fold", args->no_fold, "ONNX: keep BatchNorm as separate nodes instead of folding it into convs");
  wrn::cli::add_threads_option(cmd, args->threads);
  cmd->add_flag("--force", args->force, "Overwrite --out when it exists");
  cmd->callback([args] {
    namespace infer = wrn::infer;
    namespace io = wrn::io;
    const auto& formats = export_formats();
    WRN_CHECK(std::find(formats.begin(), formats.end(), args->format) != formats.end(),
              "--format: expected one of {}, got '{}'{}", wrn::join(formats, ", "), args->format,
              wrn::did_you_mean(args->format, formats));
    wrn::cli::check_output_file("--out", args->out, args->force);
    wrn::configure_threads(args->threads);
    auto m = wrn::train::load_checkpoint_model(args->checkpoint, args->input);
    auto metadata = wrn::train::export_metadata(m);
    if (args->format == "safetensors") {
      metadata["format"] = "pt";  // the Hugging Face convention: PyTorch tensor names
      io::save_safetensors(args->out, io::state_dict(*m.model), metadata);
    } else if (args->format == "pt") {
      io::save_pt(args->out, io::state_dict(*m.model));
    } else if (args->format == "onnx") {
      wrn::models::check_forward_fits(*m.model, m.spec.input, 1, "--input");  // the export traces a forward
      infer::OnnxExportOptions o;
      o.opset = args->opset;
      o.fold_batchnorm = !args->no_fold;
      o.metadata = metadata;
      infer::export_onnx(m.model, m.spec.input, args->out, o);
    } else {
      wrn::models::check_forward_fits(*m.model, m.spec.input, 1, "--input");
      infer::export_torchscript(m.model, m.spec.input, args->out, metadata);
    }
    fmt::print("wrote {} ({}, {} {} classes, input {})\n", args->out, args->format, m.spec.name, m.spec.classes,
               m.spec.input.str());
  });
}

}  // namespace

WRN_REGISTER_COMMAND(55, add_export_command);
