// CURVE key pairs (Curve25519, Z85-encoded as ZeroMQ uses them) and their files.
//
// A key pair lives in two files: NAME.pub holds the public key (share it: the
// coordinator's goes to every agent, an agent's is enrolled at the coordinator) and
// NAME.key the secret key, created with mode 0600 and refused when group or others
// may read it. Each file holds the 40-character Z85 key on one line; lines starting
// with '#' are comments.
#pragma once

#include <string>

#include "util/status.h"

namespace fp::security {

constexpr size_t kZ85KeyChars = 40;

struct KeyPair {
  std::string public_key;  // Z85, 40 characters
  std::string secret_key;  // Z85, 40 characters
};

// True when libzmq was built with CURVE (libsodium).
bool curve_available();

// A fresh random key pair (zmq_curve_keypair).
Result<KeyPair> generate_keypair();

// OK when `key` is 40 characters of the Z85 alphabet that decode to 32 bytes;
// otherwise an error naming `what` (e.g. the file it came from).
Status check_z85_key(const std::string& key, const std::string& what);

// The public key that belongs to a secret key (zmq_curve_public).
Result<std::string> public_key_of(const std::string& secret_key);

// "dir/name" -> "dir/name.pub" and "dir/name.key"; a path already ending in .pub or
// .key names the pair as well.
std::string public_key_path(const std::string& base);
std::string secret_key_path(const std::string& base);

// A key pair's path is the pair's name without .pub/.key. InvalidArgument for one naming a
// folder ("keys/", or "keys" where that is a folder): "keys/" made hidden files keys/.pub
// and keys/.key, and "keys" a second identity keys.pub beside the folder's pair.
Status check_key_pair_path(const std::string& base);

// Writes both files (the secret one with mode 0600); refuses to overwrite unless
// `overwrite`, so a second keygen cannot silently lock every enrolled agent out.
Status write_keypair(const KeyPair& pair, const std::string& base, bool overwrite = false);

// Reads a public key file.
Result<std::string> read_public_key(const std::string& path);
// Reads base.key (must not be readable by group or others) and base.pub, and checks
// that they belong together.
Result<KeyPair> read_keypair(const std::string& base);
// Whether either file of the pair is there: then a start reads the pair (and fails on a
// half of one) rather than making a new one.
bool keypair_present(const std::string& base);
// read_keypair when keypair_present, otherwise a new pair written there.
Result<KeyPair> load_or_create_keypair(const std::string& base, bool* created = nullptr);

}  // namespace fp::security
