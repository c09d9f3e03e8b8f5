# -DPROJECT_SANITIZE="address;undefined"
set(PROJECT_SANITIZE "" CACHE STRING "Sanitizers: address;undefined | thread")
add_library(project_sanitizers INTERFACE)
if(PROJECT_SANITIZE)
  if("thread" IN_LIST PROJECT_SANITIZE AND "address" IN_LIST PROJECT_SANITIZE)
    message(FATAL_ERROR "thread and address sanitizers cannot be combined")
  endif()
  list(JOIN PROJECT_SANITIZE "," san)
  target_compile_options(project_sanitizers INTERFACE -fsanitize=${san} -fno-omit-frame-pointer
                                                      -fno-sanitize-recover=all)
  target_link_options(project_sanitizers INTERFACE -fsanitize=${san})
endif()
