#pragma once

// Tasks and their lifecycle events as JSON, one object per line: what
// `dtask status` and `dtask watch` print and what a node's HTTP API serves.
// Every string in them comes from a user or from a task (names, results,
// reasons), so none is trusted to be UTF-8: invalid bytes come out as
// U+FFFD.

#include <string>

#include "dtask/protocol.hpp"

namespace dtask {

/// {"name","state","node","epoch","attempt"[,"stale"],"result"|"reason"
/// [,"progress"]}.
std::string status_json(const task_status& st);

/// {"seq","event","time", then the fields of `status_json`}: `event` is
/// started, progress, done, failed, lost, cancelled or restarted; `time`
/// the orchestrator's wall clock in UTC (2026-01-31T12:00:00.000Z).
std::string event_json(const task_event& ev);

} // namespace dtask
