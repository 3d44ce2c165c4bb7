// Reading and checking a link emulation (kvr/link_emulation.hpp): every bad field becomes an
// InvalidArgument naming it, so a typo in a links file is reported, never paced wrongly.
#include <cmath>
#include <initializer_list>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "kvr/error.hpp"
#include "kvr/link_emulation.hpp"

namespace kvr {

namespace {

// Rank numbers beyond any plan the executor accepts are refused (plan.cpp allows 1024 GPUs).
constexpr int64_t kMaxRank = 1 << 16;
constexpr int64_t kMaxResource = int64_t{1} << 30;

std::string describe(const json::Value& value) {
  switch (value.type()) {
    case json::Value::Type::Null: return "null";
    case json::Value::Type::Bool: return value.as_bool() ? "true" : "false";
    case json::Value::Type::Number: return json::stringify(value);
    case json::Value::Type::String: return "a string";
    case json::Value::Type::Array: return "an array";
    case json::Value::Type::Object: return "an object";
  }
  return "a value";
}

std::string indexed(const std::string& field, size_t index) { return field + "[" + std::to_string(index) + "]"; }

// Unknown keys are refused: a misspelt "latency" must not silently become 0.
void check_keys(const json::Value& object, const std::string& field, std::initializer_list<const char*> known) {
  KVR_CHECK(object.is_object(), ErrorCode::InvalidArgument, field + ": expected an object (got " + describe(object) + ")");
  for (const auto& [key, value] : object.as_object()) {
    bool found = false;
    for (const char* name : known) found = found || key == name;
    if (found) continue;
    std::string names;
    for (const char* name : known) names += (names.empty() ? "" : ", ") + std::string(name);
    KVR_CHECK(found, ErrorCode::InvalidArgument,
              field + ": unknown field " + json::stringify(json::Value(key)) + " (expected " + names + ")");
  }
}

const json::Value& require(const json::Value& object, const char* key, const std::string& field) {
  const json::Value* value = object.find(key);
  KVR_CHECK(value != nullptr, ErrorCode::InvalidArgument, field + "." + key + ": missing");
  return *value;
}

const json::Value::Array& require_array(const json::Value& object, const char* key, const std::string& field) {
  const json::Value& value = require(object, key, field);
  KVR_CHECK(value.is_array(), ErrorCode::InvalidArgument,
            field + "." + key + ": expected an array (got " + describe(value) + ")");
  return value.as_array();
}

int64_t read_int(const json::Value& value, const std::string& field, int64_t min, int64_t max) {
  const bool ok = value.is_number() && std::trunc(value.as_number()) == value.as_number() &&
                  value.as_number() >= static_cast<double>(min) && value.as_number() <= static_cast<double>(max);
  KVR_CHECK(ok, ErrorCode::InvalidArgument,
            field + ": expected an integer in " + std::to_string(min) + ".." + std::to_string(max) + " (got " +
                describe(value) + ")");
  return static_cast<int64_t>(value.as_number());
}

LinkEmulation::Route parse_route(const json::Value& object, const std::string& field, size_t resource_count) {
  check_keys(object, field, {"src", "dst", "latency_s", "resources"});
  LinkEmulation::Route route;
  route.src = static_cast<int>(read_int(require(object, "src", field), field + ".src", 0, kMaxRank));
  route.dst = static_cast<int>(read_int(require(object, "dst", field), field + ".dst", 0, kMaxRank));
  KVR_CHECK(route.src != route.dst, ErrorCode::InvalidArgument,
            field + ".dst: a route from rank " + std::to_string(route.src) + " to itself");
  const json::Value& latency = require(object, "latency_s", field);
  KVR_CHECK(latency.is_number() && std::isfinite(latency.as_number()) && latency.as_number() >= 0,
            ErrorCode::InvalidArgument,
            field + ".latency_s: expected a finite number of seconds >= 0 (got " + describe(latency) + ")");
  route.latency_s = latency.as_number();
  const json::Value::Array& resources = require_array(object, "resources", field);
  std::set<int> seen;
  for (size_t k = 0; k < resources.size(); ++k) {
    const std::string where = indexed(field + ".resources", k);
    const int resource = static_cast<int>(read_int(resources[k], where, 0, kMaxResource));
    KVR_CHECK(static_cast<size_t>(resource) < resource_count, ErrorCode::InvalidArgument,
              where + ": resource " + std::to_string(resource) + " is out of range: links.capacity has " +
                  std::to_string(resource_count) + " entries");
    // Counted twice, a resource would halve the route's own share of it.
    KVR_CHECK(seen.insert(resource).second, ErrorCode::InvalidArgument,
              where + ": resource " + std::to_string(resource) + " appears twice in the route");
    route.resources.push_back(resource);
  }
  return route;
}

}  // namespace

LinkEmulation parse_link_emulation(const json::Value& document) {
  const std::string field = "links";
  check_keys(document, field, {"capacity", "routes"});
  LinkEmulation links;
  const json::Value::Array& capacity = require_array(document, "capacity", field);
  for (size_t i = 0; i < capacity.size(); ++i) {
    const json::Value& value = capacity[i];
    const bool ok = value.is_number() && std::isfinite(value.as_number()) && value.as_number() > 0;
    KVR_CHECK(ok, ErrorCode::InvalidArgument,
              indexed(field + ".capacity", i) + ": expected a positive number of bytes/s (got " + describe(value) + ")");
    links.capacity.push_back(value.as_number());
  }
  const json::Value::Array& routes = require_array(document, "routes", field);
  std::map<std::pair<int, int>, size_t> first_route;
  for (size_t i = 0; i < routes.size(); ++i) {
    const std::string where = indexed(field + ".routes", i);
    LinkEmulation::Route route = parse_route(routes[i], where, links.capacity.size());
    const auto [it, added] = first_route.try_emplace({route.src, route.dst}, i);
    KVR_CHECK(added, ErrorCode::InvalidArgument,
              where + ": a second route from rank " + std::to_string(route.src) + " to rank " +
                  std::to_string(route.dst) + " (the first is " + indexed(field + ".routes", it->second) + ")");
    links.routes.push_back(std::move(route));
  }
  return links;
}

LinkEmulation parse_link_emulation_text(const std::string& text) {
  json::Value document;
  try {
    document = json::parse(text);
  } catch (const Error& error) {
    KVR_FAIL(ErrorCode::InvalidArgument, std::string("links: ") + error.what());
  }
  return parse_link_emulation(document);
}

void check_link_routes(const LinkEmulation& links, const Plan& plan) {
  std::set<std::pair<int, int>> routed;
  for (const LinkEmulation::Route& route : links.routes) routed.insert({route.src, route.dst});
  std::set<std::pair<int, int>> checked;  // a plan has many transfers over few pairs
  for (const PlanOp& op : plan.ops) {
    if (op.kind != OpKind::Transfer || !checked.insert({op.src, op.dst}).second) continue;
    KVR_CHECK(routed.count({op.src, op.dst}) > 0, ErrorCode::InvalidArgument,
              "links: no route for transfers from rank " + std::to_string(op.src) + " to rank " +
                  std::to_string(op.dst));
  }
}

}  // namespace kvr
