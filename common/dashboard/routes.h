// What the dashboard serves for a request: the embedded pages, the JSON API, and a
// JSON 404 for anything else. Only GET and HEAD are allowed: the dashboard never
// changes the store.
//
//   /                      overview page (agents, campaign progress, live results)
//   /campaigns/<id>        one campaign's results page (tables, bar chart, curve)
//   /static/<file>         the pages' CSS and JavaScript
//   /api/...               see api.h
//   /metrics               the fleet's state for Prometheus (metrics.h)
#pragma once

#include "dashboard/api.h"
#include "dashboard/http_server.h"

namespace fp::dash {

HttpReply route_request(Api& api, const HttpRequest& request, double now);

// A dashboard bound to loopback answers only requests addressed to this machine by
// name ("localhost", "127.0.0.1", "[::1]", any port): a web page elsewhere cannot
// read it through a DNS name that it points at 127.0.0.1 (DNS rebinding).
bool is_loopback_address(const std::string& address);
bool is_local_host_header(const std::string& host);
HttpReply forbidden_host(const std::string& host);  // 403

}  // namespace fp::dash
