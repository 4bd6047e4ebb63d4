# One INTERFACE target carries every compiler setting; every target links it.
add_library(podnetstat_settings INTERFACE)
add_library(podnetstat::settings ALIAS podnetstat_settings)

target_compile_options(podnetstat_settings INTERFACE -Wall -Wextra -Wpedantic -Wshadow
                                                     -Wnon-virtual-dtor -Wold-style-cast)
if(PODNETSTAT_WERROR)
  target_compile_options(podnetstat_settings INTERFACE -Werror)
endif()

if(PODNETSTAT_SANITIZE STREQUAL "address")
  target_compile_options(podnetstat_settings INTERFACE -fsanitize=address,undefined
                                                       -fno-sanitize-recover=undefined
                                                       -fno-omit-frame-pointer)
  target_link_options(podnetstat_settings INTERFACE -fsanitize=address,undefined)
  # GCC 12's -Wmaybe-uninitialized sees the ASan-instrumented moves of libstdc++'s std::regex
  # states (std::function members) as reading uninitialised memory (the tests using <regex>); the
  # unsanitized build keeps the warning, and ASan itself checks what it guessed at.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(podnetstat_settings INTERFACE -Wno-maybe-uninitialized)
  endif()
  # clang 14's -fsanitize=function emits prologue data that its assembler cannot encode for
  # some inline functions in comdat sections ("Cannot represent a difference across sections",
  # seen in the kubelet client); the check only matters for calls through mistyped C function
  # pointers, which this code base does not make.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    target_compile_options(podnetstat_settings INTERFACE -fno-sanitize=function)
  endif()
elseif(PODNETSTAT_SANITIZE STREQUAL "thread")
  # -Wno-tsan: GCC warns that TSan cannot see atomic_thread_fence, which Boost.Asio's fenced
  # blocks use; the warning says nothing about our code and would stop a -Werror build.
  target_compile_options(podnetstat_settings INTERFACE -fsanitize=thread -fno-omit-frame-pointer
                                                       $<$<CXX_COMPILER_ID:GNU>:-Wno-tsan>)
  target_link_options(podnetstat_settings INTERFACE -fsanitize=thread)
  # protobuf's map fields change layout under __SANITIZE_THREAD__, the uninstrumented libprotobuf
  # and generated messages do not: every unit is made to see the library's (the header says how).
  target_compile_options(podnetstat_settings
    INTERFACE "SHELL:-include ${CMAKE_CURRENT_LIST_DIR}/protobuf_tsan_layout.h")
elseif(NOT PODNETSTAT_SANITIZE STREQUAL "")
  message(FATAL_ERROR "PODNETSTAT_SANITIZE must be '', 'address' or 'thread'")
endif()
