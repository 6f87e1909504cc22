// The one translation unit that compiles Boost.Asio's SSL support (see
// CMakeLists.txt).
#include <boost/asio/ssl/impl/src.hpp>
