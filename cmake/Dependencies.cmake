find_package(Threads REQUIRED)
find_package(OpenSSL REQUIRED)                    # OpenSSL::SSL OpenSSL::Crypto
find_package(Boost 1.81 EXACT REQUIRED)           # Boost::headers (Beast, Asio, URL headers)
find_package(Protobuf REQUIRED)                   # protobuf::libprotobuf protobuf::protoc
find_package(gRPC CONFIG REQUIRED)                # gRPC::grpc++ gRPC::grpc_cpp_plugin
find_package(nlohmann_json 3.11 CONFIG REQUIRED)  # nlohmann_json::nlohmann_json
find_package(yaml-cpp CONFIG REQUIRED)            # yaml-cpp
find_package(spdlog CONFIG REQUIRED)              # spdlog::spdlog
find_package(CLI11 CONFIG REQUIRED)               # CLI11::CLI11
find_package(prometheus-cpp CONFIG REQUIRED)      # prometheus-cpp::core (registry, text format)
find_package(PkgConfig REQUIRED)
pkg_check_modules(PQXX REQUIRED IMPORTED_TARGET libpqxx)  # PkgConfig::PQXX
if(DEPLOY_BUILD_TESTS)
  find_package(GTest CONFIG REQUIRED)             # GTest::gtest GTest::gmock GTest::gtest_main
endif()
# Boost.URL is compiled: Debian ships libboost_url.
find_library(BOOST_URL_LIBRARY NAMES boost_url REQUIRED)
