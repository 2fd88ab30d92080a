// One writer at a time in a folder whose files belong together: two writers putting their
// files in place at once interleave their renames (one key pair's secret key beside the
// other's public key; one report's summary beside another's tables), each reporting its
// files written. An flock on the folder itself: it leaves no file behind, and the kernel drops
// it when its process ends, however it ends.
#pragma once

#include <string>

namespace fp {

class FolderLock {
 public:
  // Waits until no other writer holds `dir` (which must exist; "" is the working folder),
  // then holds it until destroyed. Where the folder cannot be opened or the file system has no
  // flock, holds nothing and the writer goes on unguarded, as before the lock.
  explicit FolderLock(const std::string& dir);
  ~FolderLock();
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace fp
