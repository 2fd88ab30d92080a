#include "dashboard/web_assets.h"
#include "util/text.h"

namespace fp::dash {

const char* content_type_for(std::string_view name) {
  if (fp::ends_with(name, ".html")) return "text/html; charset=utf-8";
  if (fp::ends_with(name, ".css")) return "text/css; charset=utf-8";
  if (fp::ends_with(name, ".js")) return "text/javascript; charset=utf-8";
  if (fp::ends_with(name, ".svg")) return "image/svg+xml";
  if (fp::ends_with(name, ".json")) return "application/json";
  if (fp::ends_with(name, ".txt")) return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

}  // namespace fp::dash
