# Precompiled headers for the test executables. A test file includes GoogleTest and most of the
# third-party headers of what it tests (the standard library, nlohmann/json, spdlog, Asio/Beast,
# gRPC, libpqxx): parsing them was about 40 % of a test file's compile time (-ftime-report), and
# the test files are compiled at -O0, where parsing is the larger part. With a precompiled header
# they are parsed once per test executable. Only headers, no code of ours: a file compiles the
# same with and without it. -DDEPLOY_PCH=OFF turns it off.
# Not for the libraries: there many small files include none of the heavy headers, and loading a
# precompiled header of several hundred MB made such a file 1 s -> 8 s (measured), while the -O2
# files gained little.
# Every target builds its own (no REUSE_FROM), so a precompiled header always matches its target's
# flags; with mismatching flags GCC would ignore it, and -Winvalid-pch with -Werror would fail.
option(DEPLOY_PCH "Precompile the heavy third-party headers per target" ON)

set(DEPLOY_PCH_BASE <algorithm> <chrono> <functional> <map> <memory> <mutex> <optional> <string>
                    <string_view> <utility> <vector> <nlohmann/json.hpp> <fmt/format.h>
                    <spdlog/spdlog.h>)
set(DEPLOY_PCH_ASIO <boost/asio.hpp> <boost/beast/core.hpp> <boost/beast/http.hpp>)
set(DEPLOY_PCH_GRPC <google/protobuf/struct.pb.h> <grpcpp/grpcpp.h>)
set(DEPLOY_PCH_PQXX <pqxx/pqxx>)
set(DEPLOY_PCH_YAML <yaml-cpp/yaml.h>)
set(DEPLOY_PCH_GTEST <gtest/gtest.h> <gmock/gmock.h>)

# deploy_precompile(<target> [ASIO] [GRPC] [PQXX] [YAML] [GTEST]): the base set plus the named
# ones (only those whose libraries the target links).
function(deploy_precompile target)
  if(NOT DEPLOY_PCH)
    return()
  endif()
  set(headers ${DEPLOY_PCH_BASE})
  foreach(set_name IN LISTS ARGN)
    list(APPEND headers ${DEPLOY_PCH_${set_name}})
  endforeach()
  target_precompile_headers(${target} PRIVATE ${headers})
endfunction()
