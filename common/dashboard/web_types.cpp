#include "dashboard/web_assets.h"
#include "util/text.h"

namespace fp::dash {

const char* content_type_for(std::string_view name) {
  auto ends_with = [&](std::string_view suffix) { return fp::ends_with(name, suffix); };
  if (ends_with(".html")) return "text/html; charset=utf-8";
  if (ends_with(".css")) return "text/css; charset=utf-8";
  if (ends_with(".js")) return "text/javascript; charset=utf-8";
  if (ends_with(".svg")) return "image/svg+xml";
  if (ends_with(".json")) return "application/json";
  if (ends_with(".txt")) return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

}  // namespace fp::dash
