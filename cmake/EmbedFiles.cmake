# embed_files(<target> <namespace> <function> FILES f1 f2 ...)
# Generates a .cpp defining `std::vector<std::pair<std::string_view,std::string_view>> <ns>::<fn>()`
# with (file name, content) pairs, sorted by name, and adds it to <target>.
function(embed_files target ns fn)
  cmake_parse_arguments(EMBED "" "" "FILES" ${ARGN})
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${target}_${fn}_embedded.cpp)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DNS=${ns} -DFN=${fn} "-DFILES=${EMBED_FILES}"
            -P ${PROJECT_SOURCE_DIR}/cmake/EmbedFilesScript.cmake
    DEPENDS ${EMBED_FILES} ${PROJECT_SOURCE_DIR}/cmake/EmbedFilesScript.cmake
    COMMENT "embedding ${fn}" VERBATIM)
  target_sources(${target} PRIVATE ${out})
endfunction()
