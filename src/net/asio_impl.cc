// The one translation unit that compiles Boost.Asio (see CMakeLists.txt).
#include <boost/asio/impl/src.hpp>
