#include "cluster_query.hpp"

#include <memory>
#include <optional>

#include <caf/all.hpp>

#include "task_json.hpp"
#include "dtask/errors.hpp"

namespace dtask {

namespace {

/// What `/api/cluster` collects; composed once every request answered.
struct cluster_parts {
  std::string name;
  size_t waiting = 3;
  std::optional<std::vector<node_info>> own_view;
  std::optional<std::vector<node_info>> nodes;
  std::optional<std::vector<task_event>> events;
  caf::error error;
  std::string reason;
};

ordered_json members_array(const std::vector<node_info>& xs) {
  auto out = ordered_json::array();
  for (auto& n : xs)
    out.push_back(node_object(n));
  return out;
}

ordered_json events_array(const std::vector<task_event>& xs) {
  auto out = ordered_json::array();
  for (auto& ev : xs)
    out.push_back(event_object(ev));
  return out;
}

/// The 503 of a node that cannot answer: why, and what it knows itself.
api_answer unavailable(const std::string& name, const caf::error& err,
                       const std::string& reason,
                       const std::vector<node_info>* own_view) {
  ordered_json out;
  out["node"] = name;
  out["error"] = err ? code_name(err) : "no_answer";
  out["reason"] = reason;
  if (own_view != nullptr)
    out["members"] = members_array(*own_view);
  return {503, dump_json(out)};
}

api_answer compose(const cluster_parts& p) {
  if (!p.nodes || !p.events)
    return unavailable(p.name, p.error, p.reason,
                       p.own_view ? &*p.own_view : nullptr);
  ordered_json out;
  out["node"] = p.name;
  out["orchestrator"] = nullptr;
  for (auto& n : *p.nodes)
    if (n.orchestrator)
      out["orchestrator"] = n.node;
  out["members"] = members_array(*p.nodes);
  out["events"] = events_array(*p.events);
  out["last_seq"] = p.events->empty() ? 0 : p.events->back().seq;
  return {200, dump_json(out)};
}

void cluster_asker(caf::event_based_actor* self, gateway_api node,
                   std::string name, std::chrono::milliseconds timeout,
                   api_callback done) {
  auto parts = std::make_shared<cluster_parts>();
  parts->name = std::move(name);
  auto step = [=] {
    if (--parts->waiting == 0)
      done(compose(*parts));
  };
  auto failed = [=](caf::error& err) {
    if (!parts->error) {
      parts->reason = self->system().render(err);
      parts->error = std::move(err);
    }
    step();
  };
  self->request(node, timeout, members_atom::value)
    .then([=](std::vector<node_info>& xs) { parts->own_view = std::move(xs); step(); },
          failed);
  self->request(node, timeout, nodes_atom::value)
    .then([=](std::vector<node_info>& xs) { parts->nodes = std::move(xs); step(); },
          failed);
  self->request(node, timeout, events_atom::value,
                event_query{0, cluster_events_shown})
    .then([=](std::vector<task_event>& xs) { parts->events = std::move(xs); step(); },
          failed);
}

void events_asker(caf::event_based_actor* self, gateway_api node,
                  std::string name, event_query q,
                  std::chrono::milliseconds timeout, api_callback done) {
  self->request(node, timeout, events_atom::value, q)
    .then(
      [=](std::vector<task_event>& xs) {
        ordered_json out;
        out["events"] = events_array(xs);
        done({200, dump_json(out)});
      },
      [=](caf::error& err) {
        done(unavailable(name, err, self->system().render(err), nullptr));
      });
}

} // namespace

void query_cluster(caf::actor_system& sys, const gateway_api& node,
                   const std::string& name, std::chrono::milliseconds timeout,
                   api_callback done) {
  sys.spawn(cluster_asker, node, name, timeout, std::move(done));
}

void query_events(caf::actor_system& sys, const gateway_api& node,
                  const std::string& name, const event_query& q, std::chrono::milliseconds timeout,
                  api_callback done) {
  sys.spawn(events_asker, node, name, q, timeout, std::move(done));
}

} // namespace dtask
