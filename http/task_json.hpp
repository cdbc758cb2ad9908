#pragma once

// The JSON objects behind include/dtask/json.hpp, for the HTTP API that
// embeds them in larger answers.

#include <string>

#include <nlohmann/json.hpp>

#include "dtask/protocol.hpp"

namespace dtask {

/// Keys keep the order they are set in: people and scripts read them.
using ordered_json = nlohmann::ordered_json;

/// A task's status (see `status_json`).
ordered_json status_object(const task_status& st);

/// A lifecycle event (see `event_json`).
ordered_json event_object(const task_event& ev);

/// One member: {"node","state","orchestrator","running"}.
ordered_json node_object(const node_info& n);

/// `j` as compact text. A string that is not UTF-8 does not throw: each
/// invalid byte becomes U+FFFD, so the text stays valid JSON.
std::string dump_json(const ordered_json& j);

} // namespace dtask
