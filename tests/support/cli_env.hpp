#pragma once
// What end-to-end tests need to run the deploy CLI as a CI job would: a clean environment and a
// team API key stored the way hookd (and the original) store it.
#include <map>
#include <string>

#include <pqxx/pqxx>

#include "common/crypto.hpp"
#include "common/hex.hpp"

namespace testsupport {

// hookd's default --database-encryption-key.
inline constexpr const char* kHookdDefaultEncryptionKey =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

// The extra environment for the CLI: none of the GitHub variables, API key or team of the
// machine running the tests ("\x01unset" removes a variable; see ChildProcess).
inline const std::map<std::string, std::string>& CiEnvironment() {
  static const std::map<std::string, std::string> env = {{"GITHUB_STEP_SUMMARY", "\x01unset"},
                                                         {"GITHUB_ACTIONS", "\x01unset"},
                                                         {"GITHUB_SHA", "\x01unset"},
                                                         {"APIKEY", "\x01unset"},
                                                         {"TEAM", "\x01unset"}};
  return env;
}

// Inserts a fresh API key for `team`, encrypted with `encryption_key_hex`, valid five years;
// returns the key in hex, as the CLI's --apikey takes it.
inline std::string ProvisionApiKey(
    const std::string& database_url, const std::string& team,
    const std::string& encryption_key_hex = kHookdDefaultEncryptionKey) {
  const std::string key = common::RandomBytes(32);
  const std::string stored = common::EncryptApiKey(*common::HexDecode(encryption_key_hex), key);
  pqxx::connection conn(database_url);
  pqxx::work tx(conn);
  tx.exec_params(
      "INSERT INTO apikey (key, team, created, expires) "
      "VALUES ($1, $2, NOW(), NOW() + MAKE_INTERVAL(years := 5))",
      stored, team);
  tx.commit();
  return common::HexEncode(key);
}

}  // namespace testsupport
