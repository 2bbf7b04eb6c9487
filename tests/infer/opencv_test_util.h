// Shared by the tests that run exported ONNX files in OpenCV's dnn module.
#pragma once

#include <gtest/gtest.h>
#include <torch/types.h>

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#include <string>
#include <vector>

namespace wrn::test {

// Loads an .onnx file for OpenCV's own CPU backend.
inline cv::dnn::Net load_opencv_net(const std::string& path) {
  cv::dnn::Net net = cv::dnn::readNetFromONNX(path);
  net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
  net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
  return net;
}

// Runs the net on x (float [N, C, H, W], input "input") and returns "logits" [N, classes].
inline torch::Tensor run_opencv(cv::dnn::Net& net, const torch::Tensor& x) {
  auto in = x.contiguous();
  std::vector<int> sizes(in.sizes().begin(), in.sizes().end());
  cv::Mat blob(static_cast<int>(sizes.size()), sizes.data(), CV_32F, in.data_ptr<float>());
  net.setInput(blob, "input");
  cv::Mat out = net.forward("logits");
  EXPECT_EQ(out.dims, 2);
  EXPECT_EQ(out.type(), CV_32F);
  out = out.isContinuous() ? out : out.clone();
  return torch::from_blob(out.ptr<float>(), {out.size[0], out.size[1]}, torch::kFloat).clone();
}

}  // namespace wrn::test
