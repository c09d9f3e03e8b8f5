# -DPROJECT_SANITIZE="address;undefined"
set(PROJECT_SANITIZE "" CACHE STRING "Sanitizers: address;undefined | thread")
add_library(project_sanitizers INTERFACE)
# The tests' own code: AddressSanitizer only (UndefinedBehaviorSanitizer would add half again to
# the compile time of files that are mostly gtest and fixtures); every runtime is linked, for the
# products' code they call, which has both.
add_library(project_test_sanitizers INTERFACE)
if(PROJECT_SANITIZE)
  if("thread" IN_LIST PROJECT_SANITIZE AND "address" IN_LIST PROJECT_SANITIZE)
    message(FATAL_ERROR "thread and address sanitizers cannot be combined")
  endif()
  list(JOIN PROJECT_SANITIZE "," san)
  target_compile_options(project_sanitizers INTERFACE -fsanitize=${san} -fno-omit-frame-pointer
                                                      -fno-sanitize-recover=all)
  target_link_options(project_sanitizers INTERFACE -fsanitize=${san})
  set(test_san ${PROJECT_SANITIZE})
  list(REMOVE_ITEM test_san undefined)
  if(test_san)
    list(JOIN test_san "," test_san)
    target_compile_options(project_test_sanitizers INTERFACE -fsanitize=${test_san}
                                                             -fno-omit-frame-pointer
                                                             -fno-sanitize-recover=all)
  endif()
  target_link_options(project_test_sanitizers INTERFACE -fsanitize=${san})
  # GCC 12's -Wmaybe-uninitialized fires inside libstdc++'s <regex> and <functional> once the
  # sanitizers instrument them (the instrumentation hides the initialisation from the analysis):
  # false positives, and warnings are errors.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(project_sanitizers INTERFACE -Wno-maybe-uninitialized)
    target_compile_options(project_test_sanitizers INTERFACE -Wno-maybe-uninitialized)
  endif()
endif()
