#include "cli_json.hpp"

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "dtask/errors.hpp"
#include "dtask/json.hpp"

namespace dtask::cli {

namespace {

// Keys keep the order they are set in: scripts and tests read the lines.
using json = nlohmann::ordered_json;

/// One line of output. A task's result or a name may hold any bytes, and
/// dump() throws on invalid UTF-8 by default; `replace` writes U+FFFD for
/// each invalid byte instead, so that the line stays valid JSON and the rest
/// of it readable (an escape of our own, such as \xNN, is not JSON).
std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

} // namespace

std::string started_line(const task_ref& ref) {
  json out;
  out["name"] = ref.name;
  out["node"] = ref.node;
  out["state"] = "running";
  out["epoch"] = ref.epoch;
  return dump(out);
}

std::string status_line(const task_status& st) {
  return status_json(st);
}

std::string event_line(const task_event& ev) {
  return event_json(ev);
}

std::string node_line(const node_info& n) {
  json out;
  out["node"] = n.node;
  out["state"] = n.state;
  out["orchestrator"] = n.orchestrator;
  out["running"] = n.running;
  return dump(out);
}

std::string member_line(const node_info& n, bool voter) {
  json out;
  out["node"] = n.node;
  out["state"] = n.state;
  out["voter"] = voter;
  out["orchestrator"] = n.orchestrator;
  out["running"] = n.running;
  return dump(out);
}

std::string config_line(const voting_config& x) {
  json out;
  out["config"] = x.epoch;
  out["voters"] = x.names();
  return dump(out);
}

std::string next_line(const std::string& next) {
  json out;
  out["next"] = next;
  return dump(out);
}

std::string incomplete_line(const std::vector<std::string>& unreachable) {
  json out;
  out["incomplete"] = true;
  out["unreachable"] = unreachable;
  return dump(out);
}

std::string error_line(const caf::error& err) {
  auto code = static_cast<errc>(err.code());
  auto& ctx = err.context();
  // A field the context lacks is null: the key is always there.
  auto text = [&](size_t i) -> json {
    if (i < ctx.size() && ctx.match_element<std::string>(i))
      return ctx.get_as<std::string>(i);
    return nullptr;
  };
  auto number = [&](size_t i) -> json {
    if (i < ctx.size() && ctx.match_element<uint64_t>(i))
      return ctx.get_as<uint64_t>(i);
    return nullptr;
  };
  json out;
  out["error"] = to_string(code);
  switch (code) {
    case errc::already_running:
    case errc::node_down:
      out["name"] = text(0);
      out["node"] = text(1);
      break;
    case errc::not_found:
      out["name"] = text(0);
      break;
    case errc::unknown_task_type:
      out["type"] = text(0);
      break;
    case errc::invalid_name:
      out["name"] = text(0);
      out["reason"] = text(1);
      break;
    case errc::args_too_large:
      out["size"] = number(0);
      out["limit"] = number(1);
      break;
    case errc::capacity:
      out["node"] = text(0);
      out["limit"] = number(1);
      break;
    case errc::too_many:
      out["count"] = number(0);
      out["limit"] = number(1);
      break;
    case errc::unknown:
      out["name"] = text(0);
      out["unreachable"] = json::array();
      if (ctx.size() > 1 && ctx.match_element<std::vector<std::string>>(1))
        out["unreachable"] = ctx.get_as<std::vector<std::string>>(1);
      break;
    default:
      out["reason"] = text(0);
  }
  return dump(out);
}

std::string json_string(const std::string& text) {
  return dump(json(text));
}

} // namespace dtask::cli
