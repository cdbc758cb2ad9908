#pragma once

// The HTTP API's questions to the node, asked in CAF messages only: a
// short-lived actor sends the node's supervisor its requests (each with a
// timeout), composes the JSON answer and hands it to a callback. The HTTP
// thread never touches an actor's state and never blocks on an actor.

#include <chrono>
#include <functional>
#include <string>

#include <caf/fwd.hpp>

#include "dtask/protocol.hpp"

namespace dtask {

/// An answer of the HTTP API: the status code and the JSON body.
struct api_answer {
  unsigned status = 200;
  std::string body;
};

/// Called once, on a CAF thread, with the answer.
using api_callback = std::function<void(api_answer)>;

/// Most events `/api/cluster` includes.
constexpr uint32_t cluster_events_shown = 50;

/// `/api/cluster`: {"node","orchestrator","members":[{"node","state",
/// "orchestrator","running"}],"events":[...],"last_seq"}, from the
/// orchestrator's view through the node `node` called `name`. 503 with
/// {"node","error","reason","members"} (the node's own view, when it has
/// one) if the orchestrator does not answer within `timeout`.
void query_cluster(caf::actor_system& sys, const gateway_api& node,
                   const std::string& name, std::chrono::milliseconds timeout,
                   api_callback done);

/// `/api/events?since=S&limit=N`: {"events":[...]}, the latest `q.limit`
/// events above `q.after`, oldest first; 503 as above.
void query_events(caf::actor_system& sys, const gateway_api& node,
                  const std::string& name, const event_query& q, std::chrono::milliseconds timeout,
                  api_callback done);

} // namespace dtask
