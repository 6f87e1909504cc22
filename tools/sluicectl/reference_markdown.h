// The command reference of docs/sluicectl.md, printed from the registry and
// the CLI11 tree it built (`sluicectl help-markdown`; tools/gen_docs.sh puts
// it between the doc's "generated" markers, and the SluicectlDocs.Current
// test fails when the committed doc differs). So a command's help is written
// once, in its group file, and the doc cannot drift from the binary.
//
// Per section: "## title" and its prose. Per command: "### path", its
// summary, whether --data-dir can run it, a usage line, a table of its
// positionals and flags (value, default, help text), then its description.
// Above them, an index of every command.
#pragma once

#include <ostream>

#include "registry.h"

namespace sluice::ctl {

// Precondition: `root` was built by registry.Define (and not parsed: the
// defaults are read from the commands' bound Args). Fills in the options'
// default strings of `root`, so print its --help before, not after.
void PrintReferenceMarkdown(const Registry& registry, CLI::App& root, std::ostream& out);

}  // namespace sluice::ctl
