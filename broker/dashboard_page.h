// The dashboard page (broker/dashboard/index.html): one self-contained HTML
// file, inline CSS and JS, embedded into sluiced at build time by
// cmake/embed_file.cmake (the generated dashboard_page.cc defines it).
#pragma once

#include <string_view>

namespace sluice::broker {

// The bytes of broker/dashboard/index.html as it was at build time.
std::string_view DashboardPage();

}  // namespace sluice::broker
