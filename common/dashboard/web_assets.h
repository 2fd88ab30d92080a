// The dashboard's static pages (common/dashboard/web/*), compiled into the program
// by embed_web.cmake so that nothing is read from disk or fetched at run time.
#pragma once

#include <cstddef>
#include <string_view>

namespace fp::dash {

struct WebAsset {
  const char* name;  // file name in web/, e.g. "app.js"
  const char* data;
  std::size_t size;
  std::string_view body() const { return {data, size}; }
};

// The embedded file called `name`, or nullptr.
const WebAsset* find_web_asset(std::string_view name);

// "text/html; charset=utf-8" etc. from the file name's extension.
const char* content_type_for(std::string_view name);

}  // namespace fp::dash
