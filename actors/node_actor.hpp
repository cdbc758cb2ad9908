#pragma once

// The base of every actor that belongs to a node (supervisor, registry,
// orchestrator, worker), and the seam the deterministic simulation
// (tests/sim) uses to play the network: a filter that sees each message
// before the actor handles it. In a real process no filter is installed and
// `consume` costs one extra branch.

#include <caf/event_based_actor.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/message_view.hpp>
#include <caf/result.hpp>
#include <caf/system_messages.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace dtask {

/// Decides, for each message a node's actor is about to handle, whether it
/// arrives now. The simulation implements it: it delays messages between
/// nodes (keeping each link's order), drops them on partitions, and learns
/// which node each new actor belongs to.
class message_filter {
public:
  virtual ~message_filter();

  /// A node's actor was just created (inside its constructor).
  virtual void created(caf::scheduled_actor& self) = 0;

  /// `x` was just put into the mailbox of `self` (by the actor that runs
  /// now, if any: the hop a delegated message takes starts there).
  virtual void enqueued(caf::scheduled_actor& self,
                        const caf::mailbox_element& x) = 0;

  /// `self` is about to handle `x`: true lets it, false takes the message
  /// away (the filter may deliver a copy later).
  virtual bool admit(caf::scheduled_actor& self, caf::mailbox_element& x) = 0;

  /// `self` left `x` in its mailbox (a skipping behaviour): it is offered
  /// to `admit` again later and must pass then.
  virtual void skipped(caf::scheduled_actor& self, caf::mailbox_element& x) = 0;
};

/// The installed filter; null in every real process. Set only before the
/// actor system that it watches starts, and reset after it stopped.
extern message_filter* active_message_filter;

/// Whether a system message may reach a node's internal actor: an exit
/// only from a local actor that names itself as its source (nothing in
/// dtask links or stops its actors across nodes: a remote or anonymous
/// exit is an attack, or a bug); a down message sent by its source, or by
/// nobody once its source is gone. (CAF sends it from the actor that went
/// down while anyone holds a handle to it, and every actor that dtask
/// monitors is held by its watcher: an anonymous down naming an actor that
/// still exists is forged.) Other messages pass.
inline bool trusted_system_message(const caf::abstract_actor& self,
                                   const caf::mailbox_element& x) {
  auto& content = x.content();
  if (content.match_elements<caf::exit_msg>()) {
    auto& em = content.get_as<caf::exit_msg>(0);
    return x.sender != nullptr && x.sender->node() == self.node()
           && em.source == x.sender->address();
  }
  if (content.match_elements<caf::down_msg>()) {
    auto& dm = content.get_as<caf::down_msg>(0);
    if (x.sender == nullptr)
      return caf::actor_cast<caf::strong_actor_ptr>(dm.source) == nullptr;
    return dm.source == x.sender->address();
  }
  return true;
}

/// The default handler of a node's internal actors: a message none of its
/// handlers takes (a bug, an old version, a peer that probes) is dropped
/// and counted, and only the first of each kind (its element types) is
/// logged, escaped and cut short. CAF's default printed every one, as sent:
/// a flood of log lines, and lines a peer could forge.
caf::result<caf::message> drop_unexpected(caf::scheduled_actor* self,
                                          caf::message_view& x);

/// How many unexpected messages the node's internal actors dropped.
uint64_t unexpected_messages();

/// See the file comment. `Base` is `caf::event_based_actor` (workers: their
/// behaviour is the user's task, links included) or the `base` of a typed
/// interface (supervisor, registry, orchestrator: `Guarded`, they also drop
/// system messages that fail `trusted_system_message`).
template <class Base, bool Guarded = false>
class node_actor_base : public Base {
public:
  explicit node_actor_base(caf::actor_config& cfg) : Base(cfg) {
    if (Guarded)
      this->set_default_handler(drop_unexpected);
    if (active_message_filter != nullptr)
      active_message_filter->created(*this);
  }

  void enqueue(caf::mailbox_element_ptr x, caf::execution_unit* eu) override {
    if (active_message_filter != nullptr && x != nullptr)
      active_message_filter->enqueued(*this, *x);
    Base::enqueue(std::move(x), eu);
  }

  caf::invoke_message_result consume(caf::mailbox_element& x) override {
    if (Guarded && !trusted_system_message(*this, x))
      return caf::invoke_message_result::consumed;
    auto filter = active_message_filter;
    if (filter == nullptr)
      return Base::consume(x);
    if (!filter->admit(*this, x))
      return caf::invoke_message_result::consumed;
    auto result = Base::consume(x);
    if (result == caf::invoke_message_result::skipped)
      filter->skipped(*this, x);
    return result;
  }
};

using node_actor = node_actor_base<caf::event_based_actor>;

/// True if the message `self` handles now is one it sent itself. Timers
/// (`tick`, `flush`, `watchdog`, `resync`) are self-messages in a typed
/// interface; one from anyone else is dropped, or each would start another
/// timer chain that repeats forever (at most one chain per actor and
/// purpose, whatever arrives).
template <class Self>
bool from_self(Self* self) {
  return self->current_sender() == self->ctrl();
}

/// True if the message `self` handles now comes from an actor of its own
/// process: the node's main, supervisor, registry or orchestrator (or one
/// of its tasks, which run the node's own code). Messages between a node's
/// own actors are accepted only this way: a peer cannot drain a node or
/// redirect its mirror.
template <class Self>
bool from_local(Self* self) {
  auto& sender = self->current_sender();
  return sender != nullptr && sender->node() == self->node();
}

/// Drops an internal message from an actor that may not send it (a peer
/// that forges it, an outdated sender, or a bug): counted with the
/// unexpected messages and logged once per actor and message (`what`).
/// Returns the error that answers a request: `not_allowed`.
caf::error refuse_sender(caf::scheduled_actor* self, const char* what);

/// The stateful actor type of a node's actor with the typed interface
/// `Handle`.
template <class State, class Handle>
using typed_node_actor
  = caf::stateful_actor<State, node_actor_base<typename Handle::base, true>>;

} // namespace dtask
