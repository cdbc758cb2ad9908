#pragma once

// The CLI's answers as JSON, one object per line. Every string in them comes
// from a user or from a task (names, types, results, reasons), so none is
// trusted to be UTF-8: invalid bytes come out as U+FFFD.

#include <string>

#include <caf/fwd.hpp>

#include "dtask/protocol.hpp"

namespace dtask::cli {

/// {"name","node","state":"running","epoch"}: a start was accepted.
std::string started_line(const task_ref& ref);

/// {"name","state","node","epoch","attempt"[,"stale"],"result"|"reason"}.
std::string status_line(const task_status& st);

/// {"seq","event","time",...the status's fields}: one lifecycle event
/// (`dtask watch`).
std::string event_line(const task_event& ev);

/// {"node","state","orchestrator","running"}: one member.
std::string node_line(const node_info& n);

/// {"node","state","voter","orchestrator","running"}: one member, or a voter
/// that is no member (`state` unreachable), for `dtask members`.
std::string member_line(const node_info& n, bool voter);

/// {"config":EPOCH,"voters":[NODE...]}: a voting configuration.
std::string config_line(const voting_config& x);

/// {"next":NAME}: the last line of a `list` page that more tasks follow.
std::string next_line(const std::string& next);

/// {"incomplete":true,"unreachable":[NODE...]}: the last line of a `list`
/// page that may lack tasks of these nodes.
std::string incomplete_line(const std::vector<std::string>& unreachable);

/// {"error":CODE, ...the context of CODE}, for a dtask error only.
std::string error_line(const caf::error& err);

/// `text` as a JSON string literal, quotes included (for messages).
std::string json_string(const std::string& text);

} // namespace dtask::cli
