#include "dashboard/routes.h"

#include <arpa/inet.h>

#include "dashboard/api.h"
#include "dashboard/web_assets.h"
#include "util/text.h"

namespace fp::dash {
namespace {

// Pages load scripts and styles from this server only; nothing from elsewhere.
constexpr const char* kPagePolicy =
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'";

HttpReply json_reply(int status, const nlohmann::json& body) {
  HttpReply r;
  r.status = status;
  r.content_type = "application/json";
  // Replace rather than throw on bytes that are not UTF-8 (they can come from a path).
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  r.headers = {{"Cache-Control", "no-store"}, {"X-Content-Type-Options", "nosniff"}};
  return r;
}

HttpReply asset_reply(const WebAsset& asset) {
  HttpReply r;
  r.content_type = content_type_for(asset.name);
  r.body = std::string(asset.body());
  r.headers = {{"Cache-Control", "no-cache"},
               {"X-Content-Type-Options", "nosniff"},
               {"Content-Security-Policy", kPagePolicy}};
  return r;
}

HttpReply not_found(const std::string& path) {
  return json_reply(404, {{"error", "not found: " + path}});
}

HttpReply page(const char* name, const std::string& path) {
  const WebAsset* asset = find_web_asset(name);
  return asset ? asset_reply(*asset) : not_found(path);
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

bool is_loopback_address(const std::string& address) {
  // "localhost" binds 127.0.0.1 (http_server.cpp).
  if (address == "::1" || ascii_lower(address) == "localhost") return true;
  in_addr ip{};
  return ::inet_pton(AF_INET, address.c_str(), &ip) == 1 && (ntohl(ip.s_addr) >> 24) == 127;
}

bool is_local_host_header(const std::string& host) {
  std::string name = host;
  if (starts_with(name, "[")) {
    name = name.substr(0, name.find(']') == std::string::npos ? 0 : name.find(']') + 1);
  } else {
    name = name.substr(0, name.find(':'));
  }
  name = ascii_lower(name);
  return name == "localhost" || name == "[::1]" || is_loopback_address(name);
}

HttpReply forbidden_host(const std::string& host) {
  return json_reply(403, {{"error", "host '" + host +
                                        "' is not allowed: this dashboard listens on loopback "
                                        "and answers only to localhost or 127.0.0.1"}});
}

HttpReply route_request(Api& api, const HttpRequest& request, double now) {
  if (request.method != "GET" && request.method != "HEAD") {
    HttpReply r = json_reply(
        405, {{"error", "the dashboard is read-only: " + request.method + " is not allowed"}});
    r.headers.emplace_back("Allow", "GET, HEAD");
    return r;
  }
  const std::string target = request.target.substr(0, request.target.find('#'));
  const size_t question = target.find('?');
  const std::string path = target.substr(0, question);
  const std::string query = question == std::string::npos ? "" : target.substr(question + 1);
  if (path == "/" || path == "/index.html") return page("index.html", path);
  if (path == "/metrics") {
    auto text = api.metrics(now);
    if (!text.ok()) {
      const ApiReply failed = reply_for(text.status());
      return json_reply(failed.status, failed.body);
    }
    HttpReply r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";  // Prometheus's exposition
    r.body = std::move(text).value();
    r.headers = {{"Cache-Control", "no-store"}, {"X-Content-Type-Options", "nosniff"}};
    return r;
  }
  if (starts_with(path, "/api/")) {
    ApiReply reply = api.handle(path, query, now);
    return json_reply(reply.status, reply.body);
  }
  if (starts_with(path, "/campaigns/")) {
    std::string rest = path.substr(11);
    if (!rest.empty() && rest.find('/') == std::string::npos) return page("campaign.html", path);
    return not_found(path);
  }
  if (starts_with(path, "/static/")) {
    std::string name = path.substr(8);
    // Pages have their own routes; only the files they load are static.
    const WebAsset* asset = find_web_asset(name);
    if (asset && name.find(".html") == std::string::npos) return asset_reply(*asset);
  }
  return not_found(path);
}

}  // namespace fp::dash
