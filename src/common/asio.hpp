#pragma once
// The one header that pulls in Asio. <utility> first (Boost 1.74 + g++ 12 std::exchange issue).
#include <utility>

#include <boost/asio.hpp>

namespace common {
namespace net = boost::asio;
}  // namespace common
