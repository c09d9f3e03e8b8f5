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
# GCC 12 reports -Wmismatched-new-delete inside Boost.Asio's awaitable frames when inlining
# decides so (seen at -O1 and -O2): the frame is allocated by its own operator new and freed by
# its own operator delete, so the warning is a false positive of that compiler version.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(project_warnings INTERFACE -Wno-mismatched-new-delete)
endif()
# In a unity batch every file but the batch's own is an included one, and GCC warns about classes
# whose members use another file's anonymous-namespace types; in a single file it is no issue.
if(CMAKE_UNITY_BUILD AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  target_compile_options(project_warnings INTERFACE -Wno-subobject-linkage)
endif()
