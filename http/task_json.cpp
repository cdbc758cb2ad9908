#include "task_json.hpp"

#include <ctime>

#include <caf/message.hpp>

#include "dtask/json.hpp"

namespace dtask {

namespace {

/// A task's result or progress: its elements as JSON values where they have
/// one, else as CAF prints them.
ordered_json message_array(const caf::message& msg) {
  auto out = ordered_json::array();
  for (size_t i = 0; i < msg.size(); ++i) {
    if (msg.match_element<std::string>(i))
      out.push_back(msg.get_as<std::string>(i));
    else if (msg.match_element<int64_t>(i))
      out.push_back(msg.get_as<int64_t>(i));
    else if (msg.match_element<int32_t>(i))
      out.push_back(msg.get_as<int32_t>(i));
    else if (msg.match_element<uint64_t>(i))
      out.push_back(msg.get_as<uint64_t>(i));
    else if (msg.match_element<bool>(i))
      out.push_back(msg.get_as<bool>(i));
    else
      out.push_back(msg.cvals()->stringify(i));
  }
  return out;
}

/// Milliseconds since the Unix epoch as UTC, ISO 8601.
std::string utc_time(int64_t ms) {
  auto secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

/// The fields of a status, appended to `out`.
void add_status_fields(ordered_json& out, const task_status& st) {
  out["name"] = st.name;
  out["state"] = to_string(st.state);
  out["node"] = st.node;
  out["epoch"] = st.epoch;
  out["attempt"] = st.attempt;
  if (st.stale)
    out["stale"] = true;
  if (st.state == task_state::done)
    out["result"] = message_array(st.result);
  else if (!st.reason.empty())
    out["reason"] = st.reason;
  if (!st.progress.empty())
    out["progress"] = message_array(st.progress);
}

} // namespace

ordered_json status_object(const task_status& st) {
  ordered_json out;
  add_status_fields(out, st);
  return out;
}

ordered_json event_object(const task_event& ev) {
  ordered_json out;
  out["seq"] = ev.seq;
  out["event"] = to_string(ev.kind);
  out["time"] = utc_time(ev.time_ms);
  add_status_fields(out, ev.status);
  return out;
}

ordered_json node_object(const node_info& n) {
  ordered_json out;
  out["node"] = n.node;
  out["state"] = n.state;
  out["orchestrator"] = n.orchestrator;
  out["running"] = n.running;
  return out;
}

std::string dump_json(const ordered_json& j) {
  return j.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

std::string status_json(const task_status& st) {
  return dump_json(status_object(st));
}

std::string event_json(const task_event& ev) {
  return dump_json(event_object(ev));
}

} // namespace dtask
