#include "util/sha256.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace fp {

struct Sha256::Ctx {
  EVP_MD_CTX* md = nullptr;
};

namespace {

// The digest, fetched from OpenSSL's default provider once per process. OpenSSL reads
// its configuration file when first used unless told not to: half of the first hash's
// time in a process (1 of 2 ms here), for settings (providers, engines) a content hash does
// not use. A process that uses OpenSSL elsewhere first keeps its own initialisation.
const EVP_MD* sha256_digest() {
  static const EVP_MD* md = [] {
    OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, nullptr);
    const EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return fetched != nullptr ? fetched : EVP_sha256();  // an implicit fetch per use
  }();
  return md;
}

}  // namespace

Sha256::Sha256() : ctx_(std::make_unique<Ctx>()) {
  ctx_->md = EVP_MD_CTX_new();
  if (!ctx_->md || EVP_DigestInit_ex(ctx_->md, sha256_digest(), nullptr) != 1)
    throw std::runtime_error("OpenSSL: cannot initialise SHA-256");
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_->md); }

void Sha256::update(const void* data, size_t size) {
  if (size > 0) EVP_DigestUpdate(ctx_->md, data, size);
}

Sha256Digest Sha256::finish() {
  Sha256Digest digest{};
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_->md, digest.data(), &len);
  return digest;
}

Sha256Digest sha256(std::string_view bytes) {
  Sha256 h;
  h.update(bytes);
  return h.finish();
}

std::string to_hex(const Sha256Digest& digest) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (uint8_t b : digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

std::string sha256_hex(std::string_view bytes) { return to_hex(sha256(bytes)); }

Result<std::string> sha256_file_hex(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::io_error("opening " + path + ": " + std::strerror(errno));
  Sha256 hasher;
  std::string buffer(1 << 20, '\0');
  while (true) {
    ssize_t n = ::read(fd, &buffer[0], buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status s = Status::io_error("reading " + path + ": " + std::strerror(errno));
      ::close(fd);
      return s;
    }
    if (n == 0) break;
    hasher.update(buffer.data(), static_cast<size_t>(n));
  }
  ::close(fd);
  return to_hex(hasher.finish());
}

}  // namespace fp
