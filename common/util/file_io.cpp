#include "util/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "util/scratch_folder.h"

namespace fp {

namespace {

Result<std::string> read_whole(const std::string& path, const std::string& what,
                               bool regular_only) {
  // Into a string of the file's size (one byte more, so the read that finds its end needs no
  // room), by read(2): a stringstream grew its buffer by doubling and copied it out again, a
  // third of a simulated agent's private data load. O_NONBLOCK where only a regular file will
  // do: a FIFO is then refused at once instead of waiting for a writer.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (regular_only ? O_NONBLOCK : 0));
  if (fd < 0) return Status::not_found(what + " " + path + " cannot be opened");
  struct stat st {};
  const bool sized = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  if (regular_only && !sized) {
    ::close(fd);
    return Status::invalid_argument(what + " " + path +
                                    " is not a regular file (a pipe, a device or a folder)");
  }
  std::string bytes(sized ? static_cast<size_t>(st.st_size) + 1 : size_t{1} << 16, '\0');
  size_t got = 0;
  for (;;) {
    if (got == bytes.size()) bytes.resize(2 * bytes.size());  // it grew, or had no size
    const ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (n > 0) {
      got += static_cast<size_t>(n);
    } else if (n == 0) {
      break;
    } else if (errno != EINTR) {
      const int error = errno;
      ::close(fd);
      return Status::io_error("reading " + what + " " + path + ": " + std::strerror(error));
    }
  }
  ::close(fd);
  bytes.resize(got);
  return bytes;
}

}  // namespace

Result<std::string> read_file(const std::string& path, const std::string& what) {
  return read_whole(path, what, false);
}

Result<std::string> read_regular_file(const std::string& path, const std::string& what) {
  return read_whole(path, what, true);
}

Status write_file(const std::string& path, std::string_view bytes, const std::string& what) {
  errno = 0;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) {
    return Status::io_error("writing " + what + " " + path + ": " +
                            (errno ? std::strerror(errno) : "stream error"));
  }
  return Status::ok_status();
}

namespace {

// What the thing at `st` is, for a message: "a folder", "a device", ...
const char* kind_of(const struct stat& st) {
  if (S_ISDIR(st.st_mode)) return "a folder";
  if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) return "a device";
  if (S_ISFIFO(st.st_mode)) return "a pipe";
  if (S_ISSOCK(st.st_mode)) return "a socket";
  return "no regular file";
}

}  // namespace

Result<StagedFile> stage_file(const std::string& named, std::string_view bytes,
                              const std::string& what, bool durable, mode_t mode) {
  // The file a link names (a dangling link is replaced itself, as a missing file is made).
  std::string path = named;
  struct stat st {};
  if (::lstat(named.c_str(), &st) == 0 && S_ISLNK(st.st_mode) && ::stat(named.c_str(), &st) == 0) {
    std::error_code ec;
    path = std::filesystem::canonical(named, ec).string();
    if (ec) return Status::io_error(what + " " + named + ": following its link: " + ec.message());
  }
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    return Status::invalid_argument(what + " " + named + " is " + kind_of(st) +
                                    ", not a file: not replaced");
  static std::atomic<uint64_t> counter{0};  // two writers of one path never share a scratch file
  const std::string prefix = scratch_file_prefix(path);
  const std::filesystem::path target(path);
  remove_files_of_gone_processes(target.parent_path().string(),
                                 std::filesystem::path(prefix).filename().string());
  const std::string tmp = prefix + std::to_string(::getpid()) + "." + std::to_string(counter++);
  auto fail = [&](const std::string& step, int error, bool made) {
    if (made) ::unlink(tmp.c_str());
    return Status::io_error(what + " " + named + ": " + step + " " + tmp + ": " +
                            std::strerror(error));
  };
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode ? mode : 0644);
  if (fd < 0) return fail("cannot create", errno, false);
  if (mode != 0 && ::fchmod(fd, mode) != 0) {  // O_CREAT's mode is masked by the umask
    const int error = errno;
    ::close(fd);
    return fail("cannot set the mode of", error, true);
  }
  for (size_t done = 0; done < bytes.size();) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = n < 0 ? errno : ENOSPC;
      ::close(fd);
      return fail("cannot write", error, true);
    }
    done += static_cast<size_t>(n);
  }
  if (durable && ::fsync(fd) != 0) {
    const int error = errno;
    ::close(fd);
    return fail("cannot flush", error, true);
  }
  if (::close(fd) != 0) return fail("cannot close", errno, true);
  return StagedFile{tmp, path, named, what};
}

Status commit_staged(const StagedFile& f) {
  if (::rename(f.scratch.c_str(), f.target.c_str()) == 0) return Status::ok_status();
  const int error = errno;
  ::unlink(f.scratch.c_str());
  return Status::io_error(f.what + " " + f.named + ": cannot rename " + f.scratch + ": " +
                          std::strerror(error));
}

Status replace_file(const std::string& named, std::string_view bytes, const std::string& what,
                    bool durable) {
  FP_ASSIGN_OR_RETURN(StagedFile staged, stage_file(named, bytes, what, durable));
  return commit_staged(staged);
}

StagedFiles::~StagedFiles() {
  for (const auto& f : staged_) ::unlink(f.scratch.c_str());
}

Status StagedFiles::add(const std::string& path, std::string_view bytes) {
  FP_RETURN_IF_ERROR(make_parent_folder(path, what_));
  FP_ASSIGN_OR_RETURN(StagedFile f, stage_file(path, bytes, what_, durable_));
  staged_.push_back(std::move(f));
  paths_.push_back(path);
  return Status::ok_status();
}

Status StagedFiles::commit() {
  Status first = Status::ok_status();
  for (const auto& f : staged_) {
    Status put = commit_staged(f);
    if (first.ok()) first = put;
  }
  staged_.clear();
  return first;
}

Status sync_to_disk(const std::string& path, const std::string& what) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::io_error(what + " " + path + ": cannot open: " + std::strerror(errno));
  const bool synced = ::fsync(fd) == 0;
  const int error = errno;
  ::close(fd);
  if (!synced)
    return Status::io_error(what + " " + path + ": cannot flush: " + std::strerror(error));
  return Status::ok_status();
}

Status check_can_make(const std::string& path, const std::string& what) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path at = fs::absolute(path, ec).lexically_normal();
  if (fs::exists(at, ec)) return Status::ok_status();
  while (at.has_relative_path() && !fs::exists(at, ec)) at = at.parent_path();
  const std::string cannot = what + " " + path + " cannot be made: ";
  if (!fs::is_directory(at, ec))
    return Status::invalid_argument(cannot + at.string() + " is not a folder");
  if (::access(at.c_str(), W_OK | X_OK) != 0)
    return Status::invalid_argument(cannot + "no writing in " + at.string() + " (" +
                                    std::strerror(errno) + ")");
  return Status::ok_status();
}

Status make_parent_folder(const std::string& path, const std::string& what) {
  const std::filesystem::path folder = std::filesystem::path(path).parent_path();
  if (folder.empty()) return Status::ok_status();
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  if (ec) {
    return Status::io_error(what + " " + path + ": cannot make folder " + folder.string() + ": " +
                            ec.message());
  }
  return Status::ok_status();
}

Status make_output_folder(const std::string& dir, const std::string& what) {
  std::error_code ec;
  if (std::filesystem::exists(dir, ec) && !std::filesystem::is_directory(dir, ec))
    return Status::invalid_argument(what + " " + dir + " is a file, not a folder");
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::io_error(what + " " + dir + ": cannot make it: " + ec.message());
  return Status::ok_status();
}

namespace {

struct FileKind {
  std::string_view magic;
  const char* name;
};
constexpr FileKind kWorkKinds[] = {  // the first: is_sqlite_database's
    {std::string_view("SQLite format 3\0", 16), "an SQLite database"},
    {std::string_view("FPMODEL\0", 8), "a fineprune model file"},
    {"# fineprune CURVE", "a CURVE key file"}};

// Which of kWorkKinds the file's first bytes are, or none.
const FileKind* kind_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char head[18] = {};
  in.read(head, sizeof head);
  const std::string_view start(head, static_cast<size_t>(in.gcount()));
  for (const auto& kind : kWorkKinds)
    if (start.substr(0, kind.magic.size()) == kind.magic) return &kind;
  return nullptr;
}

}  // namespace

bool is_sqlite_database(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec) && kind_of(path) == &kWorkKinds[0];
}

Status check_output_target(const std::string& path, const std::string& what,
                           const std::vector<std::string>& inputs) {
  namespace fs = std::filesystem;
  std::error_code ec;
  // A database's side files hold its work too (its last commits, its lock), and one made
  // where none is would be taken for its -wal.
  for (const std::string_view side : {"-wal", "-shm", "-journal", ".lock"}) {
    if (path.size() <= side.size() ||
        path.compare(path.size() - side.size(), side.size(), side.data(), side.size()) != 0)
      continue;
    const std::string database = path.substr(0, path.size() - side.size());
    if (is_sqlite_database(database))
      return Status::invalid_argument(what + " " + path + " is the " + std::string(side) +
                                      " file of the SQLite database " + database +
                                      ": not replaced; name another file");
  }
  if (!fs::is_regular_file(path, ec)) return Status::ok_status();  // missing, a pipe, a device
  for (const auto& input : inputs) {
    if (!input.empty() && fs::equivalent(path, input, ec))
      return Status::invalid_argument(what + " " + path + " is " + input +
                                      ", which this command reads: not replaced; name another "
                                      "file");
  }
  if (const FileKind* kind = kind_of(path))
    return Status::invalid_argument(what + " " + path + " is " + kind->name +
                                    ": not replaced; name another file");
  return Status::ok_status();
}

Status check_later_output(const std::string& path, const std::string& what,
                          const std::vector<std::string>& inputs) {
  FP_RETURN_IF_ERROR(check_output_target(path, what, inputs));
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    return Status::invalid_argument(what + " " + path + " is a folder; name a file");
  return check_can_make(path, what);
}

Status write_output(const std::string& path, std::string_view bytes, const std::string& what,
                    const std::vector<std::string>& inputs) {
  namespace fs = std::filesystem;
  FP_RETURN_IF_ERROR(check_output_target(path, what, inputs));
  std::error_code missing, ec;  // status of a missing file (or a dangling link) sets `missing`
  const fs::file_status st = fs::status(path, missing);  // through links
  if (fs::is_directory(st))
    return Status::invalid_argument(what + " " + path + " is a folder; name a file");
  if (fs::exists(st) && !fs::is_regular_file(st))
    return write_file(path, bytes, what);  // a device or a pipe (/dev/stdout): as it is
  // Through a link, the file it names is replaced: replacing the link by a file would leave
  // its target stale. A dangling link's target is made.
  fs::path target(path);
  if (fs::exists(st)) {
    if (fs::is_symlink(fs::symlink_status(target, missing))) target = fs::canonical(target, ec);
  } else {
    for (int hops = 0; fs::is_symlink(fs::symlink_status(target, missing)) && hops < 40; ++hops) {
      const fs::path next = fs::read_symlink(target, ec);
      target = next.is_absolute() ? next : target.parent_path() / next;
    }
  }
  if (ec) return Status::io_error(what + " " + path + ": following its link: " + ec.message());
  FP_RETURN_IF_ERROR(make_parent_folder(target.string(), what));
  return replace_file(target.string(), bytes, what);
}

}  // namespace fp
