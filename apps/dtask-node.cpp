// A dtask node with the built-in task types. Usage: dtask-node --help.

#include "dtask/node.hpp"

int main(int argc, char** argv) {
  return dtask::node_main(argc, argv, dtask::builtin_catalog());
}
