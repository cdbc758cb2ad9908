#pragma once

// A node's metrics, in a prometheus-cpp registry that the HTTP server
// serializes for `/metrics` (text format). The node's actors count through
// the free functions below, which take the node's `node_metrics*` and do
// nothing when it is null: the simulation and the unit tests run nodes
// without metrics. Every metric is per node; a cluster-wide figure is the
// sum over the nodes (the orchestrator's metrics move only on the node that
// runs it). The README lists them all.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
class Registry;
template <class T>
class Family;
} // namespace prometheus

namespace dtask {

enum class task_state : uint8_t;

/// Counters, gauges and the start latency histogram of one node. Every
/// member function is safe to call from any thread (prometheus-cpp's
/// metrics are atomic or locked), so the HTTP thread serializes while the
/// actors count.
class node_metrics {
public:
  node_metrics();
  ~node_metrics();

  node_metrics(const node_metrics&) = delete;
  node_metrics& operator=(const node_metrics&) = delete;

  /// The registry in Prometheus's text exposition format.
  std::string text() const;

  void start_accepted();
  void start_refused(const std::string& code);
  void outcome(task_state state);
  void restart();
  void callback_sent();
  void election();
  void failover();
  void lease_lost();
  void start_latency(std::chrono::nanoseconds latency);
  void set_running(uint64_t n);
  void set_members_up(uint64_t n);
  void set_orchestrator_here(bool here);
  void set_watchers(uint64_t n);

private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Counter& starts_accepted_;
  prometheus::Family<prometheus::Counter>& starts_refused_;
  prometheus::Family<prometheus::Counter>& outcomes_;
  prometheus::Counter& restarts_;
  prometheus::Counter& callbacks_;
  prometheus::Counter& elections_;
  prometheus::Counter& failovers_;
  prometheus::Counter& lease_losses_;
  prometheus::Histogram& start_latency_;
  prometheus::Gauge& running_;
  prometheus::Gauge& members_up_;
  prometheus::Gauge& orchestrator_here_;
  prometheus::Gauge& watchers_;
};

// -- null-safe counting, for the actors ---------------------------------------

/// The orchestrator placed a start (sent its spawn order).
inline void count_start_accepted(node_metrics* m) {
  if (m != nullptr)
    m->start_accepted();
}

/// A start was refused on this node (orchestrator, registry or gateway),
/// with the error's code name (`code_name` in errors.hpp).
inline void count_start_refused(node_metrics* m, const std::string& code) {
  if (m != nullptr)
    m->start_refused(code);
}

/// The orchestrator recorded an outcome.
inline void count_outcome(node_metrics* m, task_state state) {
  if (m != nullptr)
    m->outcome(state);
}

inline void count_restart(node_metrics* m) {
  if (m != nullptr)
    m->restart();
}

inline void count_callback(node_metrics* m) {
  if (m != nullptr)
    m->callback_sent();
}

/// This node started an orchestrator.
inline void count_election(node_metrics* m) {
  if (m != nullptr)
    m->election();
}

/// This node followed a new orchestrator after having followed another.
inline void count_failover(node_metrics* m) {
  if (m != nullptr)
    m->failover();
}

/// This node's registry lost its lease (it held one, and it ran out).
inline void count_lease_lost(node_metrics* m) {
  if (m != nullptr)
    m->lease_lost();
}

/// From a start's placement to the orchestrator learning that it runs.
inline void observe_start_latency(node_metrics* m,
                                  std::chrono::nanoseconds latency) {
  if (m != nullptr)
    m->start_latency(latency);
}

inline void set_running_tasks(node_metrics* m, uint64_t n) {
  if (m != nullptr)
    m->set_running(n);
}

inline void set_members_up(node_metrics* m, uint64_t n) {
  if (m != nullptr)
    m->set_members_up(n);
}

inline void set_orchestrator_here(node_metrics* m, bool here) {
  if (m != nullptr)
    m->set_orchestrator_here(here);
}

inline void set_watchers(node_metrics* m, uint64_t n) {
  if (m != nullptr)
    m->set_watchers(n);
}

} // namespace dtask
