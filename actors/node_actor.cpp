// Definitions of the simulation's seams (node_actor.hpp, mutations.hpp), of
// the guards of the node's actors, and of `derive_key` (actors.hpp).

#include <atomic>
#include <cstring>
#include <mutex>
#include <set>
#include <string>

#include <caf/all.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "actors.hpp"
#include "mutations.hpp"
#include "node_actor.hpp"
#include "dtask/errors.hpp"
#include "dtask/names.hpp"

namespace dtask {

namespace {

std::atomic<uint64_t> unexpected_count{0};
std::mutex unexpected_mtx;
/// Kinds logged so far (at most `max_unexpected_kinds`).
std::set<std::string> unexpected_kinds;
constexpr size_t max_unexpected_kinds = 64;

/// The kind of a message: its element types.
std::string kind_of(const caf::type_erased_tuple& x) {
  std::string kind;
  for (size_t i = 0; i < x.size(); ++i) {
    auto t = x.type(i);
    kind += std::to_string(t.first);
    kind += t.second != nullptr ? t.second->name() : "?";
    kind += ',';
  }
  return kind;
}

} // namespace

caf::result<caf::message> drop_unexpected(caf::scheduled_actor* self,
                                          caf::message_view& x) {
  ++unexpected_count;
  auto kind = kind_of(x.content());
  bool first = false;
  {
    std::lock_guard<std::mutex> guard{unexpected_mtx};
    if (unexpected_kinds.size() < max_unexpected_kinds)
      first = unexpected_kinds.insert(kind).second;
  }
  if (first)
    log_line{true} << "dtask: " << self->name()
                   << " dropped an unexpected message "
                   << escaped(x.content().stringify(), 120)
                   << " (logged once per kind)";
  return caf::sec::unexpected_message;
}

caf::error refuse_sender(caf::scheduled_actor* self, const char* what) {
  ++unexpected_count;
  auto kind = std::string{self->name()} + ":" + what;
  bool first = false;
  {
    std::lock_guard<std::mutex> guard{unexpected_mtx};
    if (unexpected_kinds.size() < max_unexpected_kinds)
      first = unexpected_kinds.insert(kind).second;
  }
  auto& sender = self->current_sender();
  if (first)
    log_line{true} << "dtask: " << self->name() << " refused '" << what
                   << "' from "
                   << (sender != nullptr
                         ? escaped(caf::to_string(sender->address()), 120)
                         : std::string{"an anonymous sender"})
                   << ": only the cluster's own actors send it (logged once "
                      "per kind)";
  return make_error(errc::not_allowed, what);
}

uint64_t derive_key(uint64_t secret, const std::string& salt) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), &secret, sizeof(secret),
       reinterpret_cast<const unsigned char*>(salt.data()), salt.size(),
       digest, &len);
  uint64_t result = 0;
  std::memcpy(&result, digest, sizeof(result));
  return result;
}

uint64_t unexpected_messages() {
  return unexpected_count.load();
}

message_filter::~message_filter() {
  // nop
}

message_filter* active_message_filter = nullptr;

mutation active_mutation = mutation::none;

uint64_t first_task_sequence = 0;

} // namespace dtask
