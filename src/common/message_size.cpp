#include "common/message_size.hpp"

#include <array>
#include <charconv>
#include <climits>
#include <limits>
#include <utility>

#include <fmt/format.h>

#include "common/error.hpp"

namespace common {

std::optional<std::size_t> ParseByteSize(std::string_view text) {
  std::size_t value = 0;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc() || ptr == begin) return std::nullopt;
  const std::string_view suffix(ptr, static_cast<std::size_t>(end - ptr));
  static constexpr std::array<std::pair<std::string_view, std::size_t>, 15> kUnits = {{
      {"", 1},
      {"B", 1},
      {"Ki", std::size_t{1} << 10},
      {"KiB", std::size_t{1} << 10},
      {"Mi", std::size_t{1} << 20},
      {"MiB", std::size_t{1} << 20},
      {"Gi", std::size_t{1} << 30},
      {"GiB", std::size_t{1} << 30},
      {"k", 1000},
      {"kB", 1000},
      {"K", 1000},
      {"M", 1000 * 1000},
      {"MB", 1000 * 1000},
      {"G", 1000 * 1000 * 1000},
      {"GB", 1000 * 1000 * 1000},
  }};
  for (const auto& [name, factor] : kUnits) {
    if (name != suffix) continue;
    if (value > std::numeric_limits<std::size_t>::max() / factor) return std::nullopt;
    return value * factor;
  }
  return std::nullopt;
}

std::string FormatByteSize(std::size_t bytes) {
  if (bytes != 0 && bytes % (std::size_t{1} << 30) == 0) return fmt::format("{} GiB", bytes >> 30);
  if (bytes != 0 && bytes % (std::size_t{1} << 20) == 0) return fmt::format("{} MiB", bytes >> 20);
  if (bytes != 0 && bytes % (std::size_t{1} << 10) == 0) return fmt::format("{} KiB", bytes >> 10);
  return fmt::format("{} bytes", bytes);
}

std::size_t ParseMaxMessageSize(std::string_view text) {
  const auto value = ParseByteSize(text);
  if (!value || *value < kMinMaxMessageSize || *value > kMaxMaxMessageSize) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("invalid value \"{}\" for max-message-size: want a size between {} "
                            "and {}, such as {} or 32MiB",
                            text, FormatByteSize(kMinMaxMessageSize),
                            FormatByteSize(kMaxMaxMessageSize), kDefaultMaxMessageSize));
  }
  return *value;
}

std::string TooLargeMessage(std::string_view subject, std::optional<std::size_t> size,
                            const SizeLimit& limit) {
  const std::string what = size ? fmt::format("{} is {} bytes, more than", subject, *size)
                                : fmt::format("{} is larger than", subject);
  return fmt::format("{} {} accepts ({} bytes = {}, {})", what, limit.owner, limit.bytes,
                     FormatByteSize(limit.bytes), limit.setting);
}

SizeLimit HookdSizeLimit(std::size_t bytes) {
  return {bytes, "hookd", "set by hookd's --max-message-size or HOOKD_MAX_MESSAGE_SIZE"};
}

SizeLimit CliSizeLimit(std::size_t bytes) {
  return {bytes, "this client", "set by --max-message-size or MAX_MESSAGE_SIZE"};
}

SizeLimit DeploydSizeLimit(std::size_t bytes, std::string_view cluster, bool announced) {
  return {bytes, fmt::format("the deployd of cluster '{}'", cluster),
          announced ? "set by deployd's --max-message-size or DEPLOYD_MAX_MESSAGE_SIZE"
                    : "gRPC's default: this deployd announces no --max-message-size"};
}

int GrpcChannelLimit(std::size_t max_message_size) {
  const std::size_t channel = max_message_size + kMessageEnvelope;
  return channel > static_cast<std::size_t>(INT_MAX) ? INT_MAX : static_cast<int>(channel);
}

}  // namespace common
