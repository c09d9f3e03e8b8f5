#pragma once
// Server-sent events of one deployment page (`GET /deployments/{id}/events`).
#include <atomic>
#include <string>

#include <boost/beast/core/tcp_stream.hpp>

#include "common/asio.hpp"
#include "hookd/http/console.hpp"

namespace hookd::http {

// Serves the event stream of deployment `id` on `stream` (the request has been read; the
// connection is closed afterwards): an `update` event with the page's live sections at once and
// whenever a status of the deployment is stored by any replica (the status hub is fed by this
// replica's writes and by the other replicas' notifications), a comment as heartbeat every
// Console::kHeartbeat (with a database read, in case a notification was lost), and the end of the
// stream when the deployment has finished. Ends within a second once `stopping` is set.
// Beyond Console::kMaxStreams streams: 503. Database reads run on `blocking`.
common::net::awaitable<void> ServeEvents(boost::beast::tcp_stream& stream, Console& console,
                                         const Request& request, common::net::thread_pool& blocking,
                                         const std::atomic<bool>& stopping);

}  // namespace hookd::http
