#include "metrics.hpp"

#include <sstream>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "dtask/protocol.hpp"

namespace dtask {

namespace {

prometheus::Counter& counter(prometheus::Registry& reg, const char* name,
                             const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(reg).Add(
    {});
}

prometheus::Gauge& gauge(prometheus::Registry& reg, const char* name,
                         const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(reg).Add({});
}

prometheus::Family<prometheus::Counter>&
counter_family(prometheus::Registry& reg, const char* name, const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(reg);
}

/// Start latencies in seconds: a start on loopback takes about a
/// millisecond; one that waits for a lease or a mirror takes seconds.
prometheus::Histogram::BucketBoundaries latency_buckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
          0.1,    0.25,  0.5,    1,     2.5,  5,     10};
}

} // namespace

node_metrics::node_metrics()
  : registry_(std::make_shared<prometheus::Registry>()),
    starts_accepted_(counter(*registry_, "dtask_starts_accepted_total",
                             "Starts the orchestrator on this node placed "
                             "(sent to the chosen node's registry)")),
    starts_refused_(counter_family(*registry_, "dtask_starts_refused_total",
                                   "Starts refused on this node (by its "
                                   "orchestrator, its registry or its "
                                   "gateway), by error code")),
    outcomes_(counter_family(*registry_, "dtask_task_outcomes_total",
                             "Task outcomes the orchestrator on this node "
                             "recorded, by final state")),
    restarts_(counter(*registry_, "dtask_task_restarts_total",
                      "Tasks the orchestrator on this node started again "
                      "after their node was lost (restart=on-node-loss)")),
    callbacks_(counter(*registry_, "dtask_callbacks_sent_total",
                       "Callbacks the orchestrator on this node sent")),
    elections_(counter(*registry_, "dtask_elections_total",
                       "Orchestrators this node started (elections it won)")),
    failovers_(counter(*registry_, "dtask_failovers_total",
                       "Times this node followed a new orchestrator after "
                       "having followed another")),
    lease_losses_(counter(*registry_, "dtask_lease_losses_total",
                          "Times this node's lease ran out (its running "
                          "tasks were stopped)")),
    start_latency_(prometheus::BuildHistogram()
                     .Name("dtask_start_latency_seconds")
                     .Help("From a start's placement by the orchestrator on "
                           "this node to its report that the task runs")
                     .Register(*registry_)
                     .Add({}, latency_buckets())),
    running_(gauge(*registry_, "dtask_tasks_running",
                   "Tasks running on this node")),
    members_up_(gauge(*registry_, "dtask_members_up",
                      "Members this node sees up, itself included")),
    orchestrator_here_(gauge(*registry_, "dtask_orchestrator",
                             "1 if this node runs the cluster's "
                             "orchestrator, else 0")),
    watchers_(gauge(*registry_, "dtask_event_watchers",
                    "Actors subscribed to the lifecycle events of the "
                    "orchestrator on this node")) {
  // Every final state shows from the first scrape, at 0.
  for (auto state : {task_state::done, task_state::failed, task_state::lost,
                     task_state::cancelled})
    outcomes_.Add({{"state", to_string(state)}});
}

node_metrics::~node_metrics() = default;

std::string node_metrics::text() const {
  std::ostringstream out;
  prometheus::TextSerializer{}.Serialize(out, registry_->Collect());
  return out.str();
}

void node_metrics::start_accepted() {
  starts_accepted_.Increment();
}

void node_metrics::start_refused(const std::string& code) {
  starts_refused_.Add({{"code", code}}).Increment();
}

void node_metrics::outcome(task_state state) {
  outcomes_.Add({{"state", to_string(state)}}).Increment();
}

void node_metrics::restart() {
  restarts_.Increment();
}

void node_metrics::callback_sent() {
  callbacks_.Increment();
}

void node_metrics::election() {
  elections_.Increment();
}

void node_metrics::failover() {
  failovers_.Increment();
}

void node_metrics::lease_lost() {
  lease_losses_.Increment();
}

void node_metrics::start_latency(std::chrono::nanoseconds latency) {
  start_latency_.Observe(std::chrono::duration<double>(latency).count());
}

void node_metrics::set_running(uint64_t n) {
  running_.Set(static_cast<double>(n));
}

void node_metrics::set_members_up(uint64_t n) {
  members_up_.Set(static_cast<double>(n));
}

void node_metrics::set_orchestrator_here(bool here) {
  orchestrator_here_.Set(here ? 1 : 0);
}

void node_metrics::set_watchers(uint64_t n) {
  watchers_.Set(static_cast<double>(n));
}

} // namespace dtask
