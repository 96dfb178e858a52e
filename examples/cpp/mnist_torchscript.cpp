// Runs a digitlab TorchScript export on the MNIST test set and prints its accuracy and confusion matrix.
//
//   mnist_torchscript MODEL.pt t10k-images-idx3-ubyte t10k-labels-idx1-ubyte [--batch N] [--predictions FILE]
//
// The IDX files must be uncompressed (gunzip -k them first). The module takes uint8 images
// (N, 1, 28, 28); its input normalisation is baked in by `digitlab export --format torchscript`.
// --predictions writes one byte per image (the predicted class) so a test can compare argmaxes exactly.

#include <torch/script.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct Idx {
  std::vector<uint32_t> shape;
  std::vector<uint8_t> data;
};

uint32_t read_be32(std::istream& in) {
  unsigned char b[4];
  if (!in.read(reinterpret_cast<char*>(b), 4)) throw std::runtime_error("truncated IDX header");
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

// Reads an uncompressed IDX file of unsigned bytes (type code 0x08).
Idx read_idx(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  unsigned char magic[4];
  if (!in.read(reinterpret_cast<char*>(magic), 4)) throw std::runtime_error(path + ": too short");
  if (magic[0] == 0x1f && magic[1] == 0x8b) throw std::runtime_error(path + ": gzip-compressed; gunzip it first");
  if (magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08 || magic[3] == 0)
    throw std::runtime_error(path + ": not an IDX file of unsigned bytes");
  Idx idx;
  size_t count = 1;
  for (int i = 0; i < magic[3]; ++i) {
    idx.shape.push_back(read_be32(in));
    count *= idx.shape.back();
  }
  idx.data.resize(count);
  if (!in.read(reinterpret_cast<char*>(idx.data.data()), static_cast<std::streamsize>(count)))
    throw std::runtime_error(path + ": truncated payload");
  return idx;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: " << argv[0]
              << " MODEL.pt IMAGES.idx3-ubyte LABELS.idx1-ubyte [--batch N] [--predictions FILE]\n";
    return 2;
  }
  int64_t batch = 1000;
  std::string predictions_path;
  for (int i = 4; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--batch" && i + 1 < argc) {
      batch = std::stoll(argv[++i]);
    } else if (arg == "--predictions" && i + 1 < argc) {
      predictions_path = argv[++i];
    } else {
      std::cerr << "unknown argument: " << arg << "\n";
      return 2;
    }
  }
  try {
    torch::jit::script::Module module = torch::jit::load(argv[1]);
    module.eval();
    Idx images = read_idx(argv[2]);
    Idx labels = read_idx(argv[3]);
    if (images.shape.size() != 3 || images.shape[1] != 28 || images.shape[2] != 28)
      throw std::runtime_error("images must have shape (N, 28, 28)");
    const int64_t n = images.shape[0];
    if (labels.shape.size() != 1 || labels.shape[0] != static_cast<uint32_t>(n))
      throw std::runtime_error("labels must have shape (N,) matching the images");

    torch::NoGradGuard no_grad;
    std::vector<uint8_t> predicted(static_cast<size_t>(n));
    for (int64_t start = 0; start < n; start += batch) {
      const int64_t size = std::min(batch, n - start);
      torch::Tensor x = torch::from_blob(images.data.data() + start * 784, {size, 1, 28, 28}, torch::kUInt8);
      torch::Tensor logits = module.forward({x}).toTensor();
      torch::Tensor best = logits.argmax(1).to(torch::kInt64).contiguous();
      const int64_t* p = best.data_ptr<int64_t>();
      for (int64_t i = 0; i < size; ++i) predicted[static_cast<size_t>(start + i)] = static_cast<uint8_t>(p[i]);
    }

    int classes = 0;
    for (int64_t i = 0; i < n; ++i) classes = std::max({classes, int{labels.data[i]} + 1, int{predicted[i]} + 1});
    std::vector<int64_t> confusion(static_cast<size_t>(classes * classes), 0);
    int64_t correct = 0;
    for (int64_t i = 0; i < n; ++i) {
      correct += labels.data[i] == predicted[i];
      ++confusion[static_cast<size_t>(labels.data[i] * classes + predicted[i])];
    }
    std::printf("accuracy: %.6f (%lld/%lld)\n", n ? static_cast<double>(correct) / n : 0.0,
                static_cast<long long>(correct), static_cast<long long>(n));
    std::printf("confusion matrix (rows: true class, columns: predicted):\n     ");
    for (int c = 0; c < classes; ++c) std::printf("%6d", c);
    std::printf("\n");
    for (int r = 0; r < classes; ++r) {
      std::printf("%4d ", r);
      for (int c = 0; c < classes; ++c) std::printf("%6lld", static_cast<long long>(confusion[r * classes + c]));
      std::printf("\n");
    }
    if (!predictions_path.empty()) {
      std::ofstream out(predictions_path, std::ios::binary);
      out.write(reinterpret_cast<const char*>(predicted.data()), static_cast<std::streamsize>(predicted.size()));
      if (!out) throw std::runtime_error(predictions_path + ": cannot write");
    }
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
