#include "util/process_title.h"

#include <errno.h>

#include <algorithm>
#include <cstring>

extern char** environ;

namespace fp {
namespace {

char* g_area = nullptr;
size_t g_area_size = 0;
bool g_environment_moved = false;

// The environment strings may lie inside the area: they move to the heap before the
// area is written (getenv() reads them through environ), as does glibc's program name
// (error messages print it; it points at argv[0]).
void move_environment() {
  if (g_environment_moved) return;
  g_environment_moved = true;
  size_t count = 0;
  while (environ != nullptr && environ[count] != nullptr) ++count;
  char** moved = new char*[count + 1];
  for (size_t i = 0; i < count; ++i) moved[i] = ::strdup(environ[i]);
  moved[count] = nullptr;
  environ = moved;
  program_invocation_name = ::strdup(program_invocation_name);
  program_invocation_short_name = ::strdup(program_invocation_short_name);
}

}  // namespace

void save_process_title_area(int argc, char** argv) {
  if (argc <= 0 || argv == nullptr || argv[0] == nullptr) return;
  // Only strings that follow each other without a gap: what the kernel laid out.
  char* end = argv[0] + std::strlen(argv[0]) + 1;
  for (int i = 1; i < argc && argv[i] == end; ++i) end = argv[i] + std::strlen(argv[i]) + 1;
  for (char** e = environ; e != nullptr && *e != nullptr && *e == end; ++e)
    end = *e + std::strlen(*e) + 1;
  g_area = argv[0];
  g_area_size = static_cast<size_t>(end - argv[0]);
}

bool set_process_title(const std::string& title) {
  if (g_area == nullptr || g_area_size < 2) return false;
  move_environment();
  const size_t n = std::min(title.size(), g_area_size - 1);
  std::memcpy(g_area, title.data(), n);
  std::memset(g_area + n, 0, g_area_size - n);
  return true;
}

}  // namespace fp
