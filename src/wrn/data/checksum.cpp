#include "wrn/data/checksum.h"

#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "wrn/core/error.h"

namespace wrn::data {
namespace {

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

const EVP_MD* digest_of(HashAlgorithm algorithm) {
  return algorithm == HashAlgorithm::kMd5 ? EVP_md5() : EVP_sha256();
}

MdCtx start(HashAlgorithm algorithm) {
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), digest_of(algorithm), nullptr) != 1) {
    throw Error("cannot initialise the message digest (OpenSSL libcrypto)");
  }
  return ctx;
}

std::string finish(EVP_MD_CTX* ctx) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(ctx, digest, &length) != 1) throw Error("cannot finish the message digest");
  static const char* hex = "0123456789abcdef";
  std::string out(2 * length, '0');
  for (unsigned int i = 0; i < length; ++i) {
    out[2 * i] = hex[digest[i] >> 4];
    out[2 * i + 1] = hex[digest[i] & 15];
  }
  return out;
}

}  // namespace

std::string hash_hex(std::string_view bytes, HashAlgorithm algorithm) {
  MdCtx ctx = start(algorithm);
  EVP_DigestUpdate(ctx.get(), bytes.data(), bytes.size());
  return finish(ctx.get());
}

std::string hash_file_hex(const std::string& path, HashAlgorithm algorithm) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  WRN_CHECK_FILE(file != nullptr, "{}: cannot open for checksumming: {}", path, std::strerror(errno));
  MdCtx ctx = start(algorithm);
  std::vector<char> buffer(1 << 20);
  size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), file.get())) > 0) {
    EVP_DigestUpdate(ctx.get(), buffer.data(), n);
  }
  WRN_CHECK_FILE(!std::ferror(file.get()), "{}: read error while checksumming: {}", path, std::strerror(errno));
  return finish(ctx.get());
}

}  // namespace wrn::data
