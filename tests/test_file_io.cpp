// Whole-file reads and writes (util/file_io.h): bytes kept exactly, files replaced whole,
// and errors that name what and where; scratch folders (util/scratch_folder.h).
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "temp_dir.h"
#include "util/file_io.h"
#include "util/scratch_folder.h"

using fp::testing::TempDir;

TEST_CASE("a file written whole reads back byte for byte, and a rewrite truncates it") {
  TempDir dir;
  const std::string path = dir.file("blob.bin");
  const std::string bytes("a\0b\r\n\xff tail", 10);
  REQUIRE(fp::write_file(path, bytes).ok());
  auto back = fp::read_file(path);
  REQUIRE(back.ok());
  CHECK(*back == bytes);
  REQUIRE(fp::write_file(path, "short").ok());
  CHECK(fp::read_file(path).value() == "short");
  // Sizes around the reader's 64 KB steps, and none.
  for (size_t size : {size_t{0}, size_t{1}, size_t{65535}, size_t{65536}, size_t{200001}}) {
    INFO(size);
    std::string big(size, '\0');
    for (size_t i = 0; i < size; ++i) big[i] = static_cast<char>((i * 131) % 251);
    REQUIRE(fp::write_file(path, big).ok());
    CHECK(fp::read_file(path).value() == big);
  }
  // A file whose size stat does not know: read to its end all the same.
  auto status = fp::read_file("/proc/self/status");
  REQUIRE(status.ok());
  CHECK(status->find("VmHWM:") != std::string::npos);
}

TEST_CASE("file errors name what was read or written and where") {
  TempDir dir;
  auto missing = fp::read_file(dir.file("absent.toml"), "scenario file");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == fp::Status::Code::kNotFound);
  CHECK(missing.status().message() ==
        "scenario file " + dir.file("absent.toml") + " cannot be opened");
  auto folder = fp::read_file(dir.path.string(), "scenario file");
  REQUIRE_FALSE(folder.ok());
  CHECK(folder.status().code() == fp::Status::Code::kIOError);
  CHECK_THAT(folder.status().message(),
             Catch::StartsWith("reading scenario file " + dir.path.string() + ": "));
  const std::string nowhere = dir.file("no/such/dir/out.csv");
  auto written = fp::write_file(nowhere, "x", "report file");
  REQUIRE_FALSE(written.ok());
  CHECK(written.code() == fp::Status::Code::kIOError);
  CHECK_THAT(written.message(), Catch::StartsWith("writing report file " + nowhere + ": "));
}

namespace {

// The folder's entries, by name.
std::vector<std::string> entries(const TempDir& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir.path))
    names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST_CASE("a replaced file is the old one or the new one, and a failure keeps the old") {
  TempDir dir;
  const std::string path = dir.file("model.fpm");
  for (bool durable : {true, false}) {
    INFO("durable " << durable);
    REQUIRE(fp::replace_file(path, "first version", "model", durable).ok());
    CHECK(fp::read_file(path).value() == "first version");
    REQUIRE(fp::replace_file(path, std::string("new\0bytes", 9), "model", durable).ok());
    CHECK(fp::read_file(path).value() == std::string("new\0bytes", 9));
    CHECK(entries(dir) == std::vector<std::string>{"model.fpm"});  // no scratch file left
  }
  // A folder is left as it is, with no scratch file beside it.
  const std::string folder = dir.file("taken");
  std::filesystem::create_directories(folder + "/inside");
  auto over_folder = fp::replace_file(folder, "bytes", "export");
  REQUIRE_FALSE(over_folder.ok());
  CHECK(over_folder.code() == fp::Status::Code::kInvalidArgument);
  CHECK(over_folder.message() == "export " + folder + " is a folder, not a file: not replaced");
  CHECK(std::filesystem::is_directory(folder + "/inside"));
  CHECK(entries(dir) == std::vector<std::string>{"model.fpm", "taken"});
  // Nor a pipe or a device, through a link too: renamed over, /dev/null given as an output was
  // replaced by a regular file (as root).
  const std::string pipe = dir.file("pipe");
  REQUIRE(::mkfifo(pipe.c_str(), 0600) == 0);
  std::filesystem::create_symlink(pipe, dir.file("to-pipe"));
  for (const std::string& named : {pipe, dir.file("to-pipe")}) {
    auto over_pipe = fp::replace_file(named, "bytes", "compact artifact");
    CHECK(over_pipe.message() ==
          "compact artifact " + named + " is a pipe, not a file: not replaced");
  }
  CHECK(std::filesystem::is_fifo(pipe));
  CHECK(std::filesystem::is_symlink(dir.file("to-pipe")));
  std::filesystem::remove(pipe);
  std::filesystem::remove(dir.file("to-pipe"));
  // Through a link to a file, the file is replaced and the link stays.
  std::filesystem::create_symlink(path, dir.file("link.fpm"));
  REQUIRE(fp::replace_file(dir.file("link.fpm"), "through the link", "model").ok());
  CHECK(std::filesystem::is_symlink(dir.file("link.fpm")));
  CHECK(fp::read_file(path).value() == "through the link");
  std::filesystem::remove(dir.file("link.fpm"));
  // A folder that does not exist: nothing made.
  const std::string nowhere = dir.file("no/such/dir/out.csv");
  auto missing = fp::replace_file(nowhere, "x", "report file");
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.message(), Catch::StartsWith("report file " + nowhere + ": cannot create "));
  CHECK_FALSE(std::filesystem::exists(dir.file("no")));
}

TEST_CASE("a folder of outputs is made with its parents; a file in its place is named") {
  TempDir dir;
  CHECK(fp::make_output_folder(dir.file("a/b/report"), "report folder").ok());
  CHECK(std::filesystem::is_directory(dir.file("a/b/report")));
  CHECK(fp::make_output_folder(dir.file("a/b/report"), "report folder").ok());  // there already
  REQUIRE(fp::write_file(dir.file("fp.db"), "SQLite format 3").ok());
  // It was "creating .../fp.db: Not a directory".
  CHECK(fp::make_output_folder(dir.file("fp.db"), "--out").message() ==
        "--out " + dir.file("fp.db") + " is a file, not a folder");
  CHECK(fp::read_file(dir.file("fp.db")).value() == "SQLite format 3");
  auto below = fp::make_output_folder(dir.file("fp.db/report"), "--out");
  CHECK(below.code() == fp::Status::Code::kIOError);
  CHECK_THAT(below.message(),
             Catch::StartsWith("--out " + dir.file("fp.db/report") + ": cannot make it: "));
}

TEST_CASE("an output named by a user is written through links and to devices, never over them") {
  // `export -o link.csv` replaced the link by a file (its target kept the old rows), and as
  // root `-o /dev/full` replaced the device node by a regular file.
  fp::testing::TempDir dir("output");
  const std::string target = dir.file("target.csv"), link = dir.file("link.csv");
  REQUIRE(fp::write_file(target, "old\n").ok());
  std::filesystem::create_symlink("target.csv", link);
  REQUIRE(fp::write_output(link, "new\n", "export").ok());
  CHECK(std::filesystem::is_symlink(link));
  CHECK(fp::testing::read_file(target) == "new\n");
  // A dangling link: the file it names is made.
  std::filesystem::create_symlink("sub/made.csv", dir.file("dangling.csv"));
  REQUIRE(fp::write_output(dir.file("dangling.csv"), "rows\n", "export").ok());
  CHECK(fp::testing::read_file(dir.file("sub/made.csv")) == "rows\n");
  // A pipe is written to as it is (a reader on the other end gets the bytes).
  const std::string fifo = dir.file("pipe");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  std::string got;
  std::thread reader([&] { got = fp::testing::read_file(fifo); });
  REQUIRE(fp::write_output(fifo, "through\n", "export").ok());
  reader.join();
  CHECK(got == "through\n");
  struct stat st {};
  REQUIRE(::stat(fifo.c_str(), &st) == 0);
  CHECK(S_ISFIFO(st.st_mode));
  // /dev/null stays a device.
  REQUIRE(fp::write_output("/dev/null", "gone\n", "export").ok());
  REQUIRE(::stat("/dev/null", &st) == 0);
  CHECK(S_ISCHR(st.st_mode));
  // A folder is named, not written into.
  CHECK_THAT(fp::write_output(dir.path.string(), "x", "export").message(),
             Catch::Contains("is a folder; name a file"));
  // A plain new file, its folder made.
  REQUIRE(fp::write_output(dir.file("new/out.csv"), "fresh\n", "export").ok());
  CHECK(fp::testing::read_file(dir.file("new/out.csv")) == "fresh\n");
}

TEST_CASE("an output never replaces a database, a model, a key or the file a command reads") {
  // `export -o fp.db`, `--endpoint-file fp.db` or `-o models/<sha>.fpm` replaced them.
  fp::testing::TempDir dir("output");
  auto made = [&](const std::string& name, const std::string& bytes) {
    REQUIRE(fp::write_file(dir.file(name), bytes).ok());
    return dir.file(name);
  };
  const std::string db = made("fp.db", std::string("SQLite format 3\0", 16) + "pages");
  const std::string model = made("m.fpm", std::string("FPMODEL\0", 8) + "tensors");
  const std::string key = made("c.key", "# fineprune CURVE secret key: keep private\nabc\n");
  const std::string config = made("fp.toml", "[server]\n");
  for (const auto& [path, kind] :
       {std::pair{db, "an SQLite database"}, std::pair{model, "a fineprune model file"},
        std::pair{key, "a CURVE key file"}}) {
    INFO(path);
    const std::string before = fp::testing::read_file(path);
    CHECK(fp::write_output(path, "rows\n", "export").message() ==
          "export " + path + " is " + kind + ": not replaced; name another file");
    CHECK(fp::testing::read_file(path) == before);
  }
  // The command's own input, also through a link to it.
  std::filesystem::create_symlink("fp.toml", dir.file("link.toml"));
  CHECK_THAT(fp::write_output(dir.file("link.toml"), "x", "export", {config}).message(),
             Catch::Contains("which this command reads: not replaced"));
  CHECK(fp::testing::read_file(config) == "[server]\n");
  // An earlier export is replaced, as before; a missing file made.
  const std::string old = made("old.csv", "a,b\n");
  CHECK(fp::write_output(old, "c,d\n", "export", {config}).ok());
  CHECK(fp::testing::read_file(old) == "c,d\n");
  CHECK(fp::check_output_target(dir.file("new.txt"), "--endpoint-file", {config}).ok());
  // A database's side files: `export -o fp.db-wal` replaced the commits a killed run left there.
  for (const std::string side : {"-wal", "-shm", "-journal", ".lock"}) {
    const std::string path = made("fp.db" + side, "frames");
    CHECK(fp::write_output(path, "rows\n", "export").message() ==
          "export " + path + " is the " + side + " file of the SQLite database " + db +
              ": not replaced; name another file");
    CHECK(fp::testing::read_file(path) == "frames");
  }
  std::filesystem::remove(dir.file("fp.db-wal"));  // none yet: not made either
  CHECK_THAT(fp::write_output(dir.file("fp.db-wal"), "rows\n", "export").message(),
             Catch::Contains("is the -wal file of the SQLite database"));
  CHECK_FALSE(std::filesystem::exists(dir.file("fp.db-wal")));
  CHECK(fp::write_output(made("notes.txt-wal", "x"), "rows\n", "export").ok());  // no database
  CHECK(fp::is_sqlite_database(db));
  CHECK_FALSE(fp::is_sqlite_database(model));
  CHECK_FALSE(fp::is_sqlite_database(dir.file("none.db")));
  // Written later (an --endpoint-file once the program listens): a file where its folder goes
  // was found then, an error logged and the run going on (its hosts waiting for ever).
  CHECK(fp::check_later_output(dir.file("later/endpoint"), "--endpoint-file").ok());
  CHECK(fp::check_later_output(dir.file("fp.db/endpoint"), "--endpoint-file").message() ==
        "--endpoint-file " + dir.file("fp.db/endpoint") + " cannot be made: " + dir.file("fp.db") +
            " is not a folder");
  CHECK_THAT(fp::check_later_output(db, "--endpoint-file").message(),
             Catch::Contains("is an SQLite database"));
  CHECK(fp::check_later_output(dir.path.string(), "--endpoint-file").message() ==
        "--endpoint-file " + dir.path.string() + " is a folder; name a file");
}

TEST_CASE("what only a file can be is read from a file only; a FIFO is not waited on") {
  fp::testing::TempDir dir("regular");
  const std::string fifo = dir.file("model.fpm");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  auto refused = fp::read_regular_file(fifo, "model artifact");  // at once: no writer comes
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().message() ==
        "model artifact " + fifo + " is not a regular file (a pipe, a device or a folder)");
  CHECK_FALSE(fp::read_regular_file(dir.path.string(), "model artifact").ok());
  REQUIRE(fp::write_file(dir.file("m.fpm"), "bytes").ok());
  CHECK(fp::read_regular_file(dir.file("m.fpm")).value() == "bytes");
}

TEST_CASE("a scratch folder a killed process left is removed by the next one of its kind") {
  // A kill -9 never runs the destructor: every killed check left its folder in $TMPDIR.
  TempDir dir;
  const char* before = std::getenv("TMPDIR");
  const std::string saved = before ? before : "";
  ::setenv("TMPDIR", dir.path.c_str(), 1);
  struct Restore {
    std::string value;
    bool had;
    ~Restore() { had ? ::setenv("TMPDIR", value.c_str(), 1) : ::unsetenv("TMPDIR"); }
  } restore{saved, before != nullptr};

  const pid_t child = ::fork();  // a process that is gone: its pid names no process now
  if (child == 0) ::_exit(0);
  REQUIRE(child > 0);
  REQUIRE(::waitpid(child, nullptr, 0) == child);
  const std::string gone = dir.file("fp-check." + std::to_string(child) + ".Ab12Cd");
  const std::string alive = dir.file("fp-check." + std::to_string(::getppid()) + ".Ef34Gh");
  const std::string other_tag = dir.file("fp-other." + std::to_string(child) + ".Ij56Kl");
  const std::string no_pid = dir.file("fp-check.Mn78Op");
  for (const auto& p : {gone, alive, other_tag, no_pid}) {
    std::filesystem::create_directories(p);
    REQUIRE(fp::write_file(p + "/copy.db", "x").ok());
  }
  {
    auto scratch = fp::ScratchFolder::make("fp-check");
    REQUIRE(scratch.ok());
    CHECK(scratch->path().rfind(dir.file("fp-check." + std::to_string(::getpid()) + "."), 0) == 0);
    CHECK(std::filesystem::is_directory(scratch->path()));
    CHECK_FALSE(std::filesystem::exists(gone));
    CHECK(std::filesystem::exists(alive + "/copy.db"));      // its process runs
    CHECK(std::filesystem::exists(other_tag + "/copy.db"));  // another kind's
    CHECK(std::filesystem::exists(no_pid + "/copy.db"));     // not named as ours are
  }
  CHECK(std::filesystem::exists(alive));
}

TEST_CASE("a scratch file a killed writer left beside a file is removed when it is next written") {
  // A kill -9 (a device's power, the OOM killer) during a model's write left its scratch
  // file, a model's size, for good: nothing counted or removed it.
  TempDir dir;
  const std::string model = dir.file("model.fpm");
  const std::string prefix = fp::scratch_file_prefix(model);
  CHECK(prefix.rfind(model + ".tmp.", 0) == 0);
  CHECK(prefix.find('/', model.size()) == std::string::npos);  // the machine's name, no path
  const pid_t child = ::fork();                                // a process that is gone
  if (child == 0) ::_exit(0);
  REQUIRE(child > 0);
  REQUIRE(::waitpid(child, nullptr, 0) == child);
  const std::string gone = prefix + std::to_string(child) + ".0";
  const std::string alive = prefix + std::to_string(::getppid()) + ".3";
  // Another machine's writer on a shared folder: its pid means nothing here.
  const std::string elsewhere = model + ".tmp.other-machine." + std::to_string(child) + ".0";
  const std::string other_file =
      fp::scratch_file_prefix(dir.file("other.fpm")) + std::to_string(child) + ".0";
  for (const auto& p : {gone, alive, elsewhere, other_file}) REQUIRE(fp::write_file(p, "x").ok());
  REQUIRE(fp::replace_file(model, "model bytes", "model").ok());
  CHECK(fp::read_file(model).value() == "model bytes");
  CHECK_FALSE(std::filesystem::exists(gone));
  CHECK(std::filesystem::exists(alive));       // its writer runs
  CHECK(std::filesystem::exists(elsewhere));   // not this machine's
  CHECK(std::filesystem::exists(other_file));  // another file's: removed when that is written
  REQUIRE(fp::replace_file(dir.file("other.fpm"), "y", "model").ok());
  CHECK_FALSE(std::filesystem::exists(other_file));
}
