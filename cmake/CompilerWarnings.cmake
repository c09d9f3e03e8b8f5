# Warnings for first-party targets only (generated protobuf code is compiled without them).
# -Wconversion/-Wsign-conversion from the house style are left out for now: nlohmann::json and
# protobuf accessors make them fire on nearly every numeric field access (see README).
add_library(project_warnings INTERFACE)
target_compile_options(project_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Woverloaded-virtual -Wformat=2 -Wimplicit-fallthrough -Wmisleading-indentation
  -Wduplicated-cond -Wlogical-op)
if(PROJECT_WERROR)
  target_compile_options(project_warnings INTERFACE -Werror)
endif()
