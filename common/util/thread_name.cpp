#include "util/thread_name.h"

#include <pthread.h>

#include <cstring>
#include <string>

namespace fp {

void set_thread_name(const char* name) {
  std::string cut(name, strnlen(name, 15));  // the kernel's limit, without the NUL
  pthread_setname_np(pthread_self(), cut.c_str());
}

}  // namespace fp
