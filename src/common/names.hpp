#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace common {

// Team and cluster names are Kubernetes namespace names: DNS-1123 labels (at most 63 characters,
// lower case a-z, 0-9 and '-', starting and ending with a letter or digit). Every entry point
// checks them before a name reaches a header, a path, a query or the database.
inline constexpr std::size_t kMaxLabelLength = 63;

// The rule, as the Kubernetes API words it.
inline constexpr std::string_view kLabelRule =
    "must be a lowercase RFC 1123 label: at most 63 characters, lower case alphanumeric "
    "characters or '-', starting and ending with an alphanumeric character (e.g. 'my-name', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

bool IsDnsLabel(std::string_view name);

// nullopt when `name` is a DNS-1123 label, else the message
// `invalid <what> "<name>": must be a lowercase RFC 1123 label: ...`, with the name quoted so
// that control characters show as escapes (\r, \n, \x00) and never reach a log line raw.
std::optional<std::string> InvalidLabel(std::string_view what, std::string_view name);

// Throws common::Error{kInvalidArgument} with InvalidLabel's message.
void RequireLabel(std::string_view what, std::string_view name);

// `text` in double quotes with control and non-ASCII bytes escaped (\n, \r, \t, \", \\, \xNN);
// at most `max` input bytes, then "...".
std::string Quote(std::string_view text, std::size_t max = 80);
// Appends `text` with Quote's escapes, no quotes around it; bytes from 0x80 up are escaped only
// when `escape_non_ascii` (the log formatter lets UTF-8 through).
void AppendEscaped(std::string& out, std::string_view text, bool escape_non_ascii);

}  // namespace common
