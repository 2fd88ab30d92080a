#include "security/keys.h"

#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "util/file_io.h"
#include "util/folder_lock.h"

namespace fp::security {
namespace {

namespace fs = std::filesystem;

std::string strip_suffix(const std::string& base) {
  for (const char* suffix : {".pub", ".key"}) {
    size_t n = std::strlen(suffix);
    if (base.size() > n && base.compare(base.size() - n, n, suffix) == 0) {
      return base.substr(0, base.size() - n);
    }
  }
  return base;
}

// The one key line of a key file, comments and blank lines skipped.
Result<std::string> read_key_line(const std::string& path, const char* kind) {
  std::error_code ec;
  if (fs::exists(path, ec) && !fs::is_regular_file(path, ec))  // it read as "0 key lines"
    return Status::invalid_argument(std::string(kind) + " key file " + path +
                                    " is not a file (a folder, a pipe or a device)");
  std::ifstream in(path);
  if (!in) {
    return Status::not_found(std::string(kind) + " key file " + path +
                             " cannot be opened: " + std::strerror(errno));
  }
  std::string line, key;
  int keys = 0;
  // The header write_keypair gives the other kind of file: a secret key given where a
  // public one belongs (`enroll --key coordinator.key`) would be stored and printed.
  const bool want_public = std::strcmp(kind, "public") == 0;
  const std::string other_header =
      std::string("# fineprune CURVE ") + (want_public ? "secret" : "public") + " key";
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
      line.pop_back();
    }
    if (line.rfind(other_header, 0) == 0) {
      return Status::invalid_argument(
          std::string(kind) + " key file " + path + " is a " +
          (want_public ? "secret key file (its header says so): give the .pub file made with it; a "
                         "secret key never leaves its machine"
                       : "public key file (its header says so): give the .key file made with it"));
    }
    size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    key = line.substr(start);
    ++keys;
  }
  if (keys != 1) {
    return Status::corruption(std::string(kind) + " key file " + path + " holds " +
                              std::to_string(keys) + " key lines; expected exactly one");
  }
  FP_RETURN_IF_ERROR(check_z85_key(key, std::string(kind) + " key file " + path));
  return key;
}

// Moves the scratch file `tmp` to `path`: replacing what is there with `overwrite`, else only
// where nothing is (a hard link fails if the name is taken: no key replaced in a race; where
// the file system has no hard links, a look first, then a rename).
Status put_in_place(const std::string& tmp, const std::string& path, bool overwrite) {
  int error = 0;
  if (!overwrite && ::link(tmp.c_str(), path.c_str()) == 0) {
    ::unlink(tmp.c_str());
    return Status::ok_status();
  }
  if (!overwrite) error = errno;
  if (overwrite || error == EPERM || error == ENOTSUP) {
    struct stat st {};
    if (!overwrite && ::lstat(path.c_str(), &st) == 0)
      error = EEXIST;
    else
      error = ::rename(tmp.c_str(), path.c_str()) == 0 ? 0 : errno;
  }
  if (error == 0) return Status::ok_status();
  ::unlink(tmp.c_str());
  if (error == EEXIST)
    return Status::invalid_argument(path + " already exists; not overwriting a key");
  return Status::io_error("writing " + path + ": " + std::strerror(error));
}

}  // namespace

bool curve_available() { return zmq_has("curve") == 1; }

Result<KeyPair> generate_keypair() {
  char pub[kZ85KeyChars + 1] = {0}, sec[kZ85KeyChars + 1] = {0};
  if (zmq_curve_keypair(pub, sec) != 0) {
    return Status::unavailable(std::string("zmq_curve_keypair failed: ") +
                               zmq_strerror(zmq_errno()) +
                               " (is libzmq built with CURVE/libsodium?)");
  }
  return KeyPair{pub, sec};
}

Status check_z85_key(const std::string& key, const std::string& what) {
  static const char* alphabet =
      "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
  if (key.size() != kZ85KeyChars) {
    return Status::corruption(what + ": a CURVE key is " + std::to_string(kZ85KeyChars) +
                              " Z85 characters, got " + std::to_string(key.size()));
  }
  for (char c : key) {
    if (c == '\0' || !std::strchr(alphabet, c)) {
      return Status::corruption(what + ": character '" + std::string(1, c) +
                                "' is not in the Z85 alphabet");
    }
  }
  uint8_t decoded[32];
  if (!zmq_z85_decode(decoded, key.c_str())) {
    return Status::corruption(what + ": not a valid Z85 key (value out of range)");
  }
  return Status::ok_status();
}

Result<std::string> public_key_of(const std::string& secret_key) {
  FP_RETURN_IF_ERROR(check_z85_key(secret_key, "secret key"));
  char pub[kZ85KeyChars + 1] = {0};
  if (zmq_curve_public(pub, secret_key.c_str()) != 0) {
    return Status::unavailable(std::string("zmq_curve_public failed: ") +
                               zmq_strerror(zmq_errno()));
  }
  return std::string(pub);
}

std::string public_key_path(const std::string& base) { return strip_suffix(base) + ".pub"; }
std::string secret_key_path(const std::string& base) { return strip_suffix(base) + ".key"; }

Status check_key_pair_path(const std::string& base) {
  const std::string name = fs::path(strip_suffix(base)).filename().string();
  std::error_code ec;
  if (name.empty() || name == "." || name == ".." || fs::is_directory(base, ec))
    return Status::invalid_argument("key pair path '" + base +
                                    "' names a folder: give the pair's path without .pub/.key "
                                    "(e.g. keys/coordinator)");
  return Status::ok_status();
}

Status write_keypair(const KeyPair& pair, const std::string& base, bool overwrite) {
  FP_RETURN_IF_ERROR(check_z85_key(pair.public_key, "public key"));
  FP_RETURN_IF_ERROR(check_z85_key(pair.secret_key, "secret key"));
  FP_RETURN_IF_ERROR(check_key_pair_path(base));
  const std::string pub = public_key_path(base), sec = secret_key_path(base);
  std::error_code ec;
  fs::path dir = fs::path(pub).parent_path();
  if (!dir.empty()) fs::create_directories(dir, ec);
  if (ec) return Status::io_error("creating " + dir.string() + ": " + ec.message());
  // Two key pairs written at once into one folder (two `keygen --force`) interleaved their
  // renames: one's secret key beside the other's public key, both reported written.
  const FolderLock one_writer(dir.string());
  if (!overwrite) {
    for (const auto& p : {pub, sec}) {
      if (fs::exists(p, ec)) {
        return Status::invalid_argument(p + " already exists; not overwriting a key");
      }
    }
  }
  // Both written whole (a flushed scratch file each) before either is put in place, and a
  // pair half put in place taken back: a key written in place and cut short by a full disk
  // was left empty, and one key without the other is refused by every later start.
  FP_ASSIGN_OR_RETURN(
      const StagedFile sec_tmp,
      stage_file(
          sec, "# fineprune CURVE secret key: keep private (mode 0600)\n" + pair.secret_key + "\n",
          "writing", /*durable=*/true, 0600));
  auto pub_tmp = stage_file(pub, "# fineprune CURVE public key\n" + pair.public_key + "\n",
                            "writing", /*durable=*/true, 0644);
  if (!pub_tmp.ok()) {
    ::unlink(sec_tmp.scratch.c_str());
    return pub_tmp.status();
  }
  if (Status put = put_in_place(sec_tmp.scratch, sec, overwrite); !put.ok()) {
    ::unlink(pub_tmp->scratch.c_str());
    return put;
  }
  if (Status put = put_in_place(pub_tmp->scratch, pub, overwrite); !put.ok()) {
    if (!overwrite) ::unlink(sec.c_str());  // the one just made
    return put;
  }
  return Status::ok_status();
}

Result<std::string> read_public_key(const std::string& path) {
  return read_key_line(path, "public");
}

Result<KeyPair> read_keypair(const std::string& base) {
  FP_RETURN_IF_ERROR(check_key_pair_path(base));
  const std::string pub = public_key_path(base), sec = secret_key_path(base);
  struct stat st {};
  if (::stat(sec.c_str(), &st) != 0) {
    return Status::not_found("secret key file " + sec + " cannot be read: " + std::strerror(errno));
  }
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Status::invalid_argument("secret key file " + sec + " has mode " + mode +
                                    ": group or others may access it; run chmod 600 " + sec);
  }
  KeyPair pair;
  FP_ASSIGN_OR_RETURN(pair.secret_key, read_key_line(sec, "secret"));
  FP_ASSIGN_OR_RETURN(pair.public_key, read_key_line(pub, "public"));
  FP_ASSIGN_OR_RETURN(std::string derived, public_key_of(pair.secret_key));
  if (derived != pair.public_key) {
    return Status::invalid_argument("key files " + pub + " and " + sec +
                                    " do not belong together (the public key is not the secret "
                                    "key's)");
  }
  return pair;
}

bool keypair_present(const std::string& base) {
  std::error_code ec;
  return fs::exists(public_key_path(base), ec) || fs::exists(secret_key_path(base), ec);
}

Result<KeyPair> load_or_create_keypair(const std::string& base, bool* created) {
  if (created) *created = false;
  if (keypair_present(base)) return read_keypair(base);
  FP_ASSIGN_OR_RETURN(KeyPair pair, generate_keypair());
  FP_RETURN_IF_ERROR(write_keypair(pair, base));
  if (created) *created = true;
  return pair;
}

}  // namespace fp::security
