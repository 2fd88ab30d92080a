// What the dashboard serves for a request: the embedded pages, the JSON API, and a
// JSON 404 for anything else. Only GET and HEAD are allowed: the dashboard never
// changes the store.
//
//   /                      overview page (agents, campaign progress, live results)
//   /campaigns/<id>        one campaign's results page (tables, bar chart, curve)
//   /static/<file>         the pages' CSS and JavaScript
//   /api/...               see api.h
#pragma once

#include "dashboard/http_server.h"
#include "store/store.h"

namespace fp::dash {

HttpReply route_request(store::Store& store, const HttpRequest& request, double now);

}  // namespace fp::dash
