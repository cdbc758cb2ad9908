// The membership file of `[cluster] state-dir`: written atomically, read at
// start (config_cell.hpp).

#include "config_cell.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <unistd.h>

namespace dtask {

namespace {

std::string os_error(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

/// Writes all of `text` to `fd`.
bool write_all(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    auto n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

} // namespace

std::string membership_file(const std::string& dir) {
  return dir + "/membership";
}

std::string epoch_file(const std::string& dir) {
  return dir + "/epoch";
}

std::string write_membership(const std::string& dir, const voting_config& x) {
  return write_atomically(dir, membership_file(dir), to_text(x));
}

std::string write_atomically(const std::string& dir, const std::string& path,
                             const std::string& text) {
  auto tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return os_error("cannot create", tmp);
  bool ok = write_all(fd, text) && ::fsync(fd) == 0;
  auto err = ok ? std::string{} : os_error("cannot write", tmp);
  ::close(fd);
  if (!ok)
    return err;
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return os_error("cannot rename to", path);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return os_error("cannot open", dir);
  ok = ::fsync(dfd) == 0;
  err = ok ? std::string{} : os_error("cannot sync", dir);
  ::close(dfd);
  return err;
}

std::string read_membership(const std::string& dir, voting_config& out,
                            bool& found) {
  auto path = membership_file(dir);
  std::ifstream in{path};
  found = false;
  if (!in) {
    if (errno == ENOENT)
      return {};
    return os_error("cannot read", path);
  }
  found = true;
  std::ostringstream text;
  text << in.rdbuf();
  auto err = from_text(text.str(), out);
  if (!err.empty())
    return path + ": " + err;
  return {};
}

namespace {

/// Reads `epoch_file(dir)`, if there is one, into `cell`.
std::string read_seen_epoch(const std::string& dir, config_cell& cell) {
  auto path = epoch_file(dir);
  std::ifstream in{path};
  if (!in)
    return errno == ENOENT ? std::string{} : os_error("cannot read", path);
  std::string text;
  std::getline(in, text);
  if (text.empty() || text.size() > 19
      || text.find_first_not_of("0123456789") != std::string::npos)
    return "cluster.state-dir: " + path + ": expected one epoch (a number)";
  cell.note_epoch(std::stoull(text));
  return {};
}

} // namespace

std::string make_voting(const std::vector<std::string>& seeds,
                        const std::string& state_dir, config_cell_ptr& out) {
  auto initial = voting_config::initial(seeds);
  if (!state_dir.empty()) {
    voting_config kept;
    bool found = false;
    auto err = read_membership(state_dir, kept, found);
    if (!err.empty())
      return "cluster.state-dir: " + err;
    if (found && newer(kept, initial))
      initial = std::move(kept);
    // Written now: a directory that cannot take it stops the start, not
    // the first change.
    if (!found && !(err = write_membership(state_dir, initial)).empty())
      return "cluster.state-dir: " + err;
  }
  out = std::make_shared<config_cell>(std::move(initial), state_dir);
  return state_dir.empty() ? std::string{} : read_seen_epoch(state_dir, *out);
}

} // namespace dtask
