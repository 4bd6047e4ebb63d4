// Force-included into every translation unit of the ThreadSanitizer build (cmake/Settings.cmake).
//
// protobuf 3.21's <google/protobuf/map_field.h> gives MapFieldBase two extra members (seq1_,
// seq2_, a race tripwire) when __SANITIZE_THREAD__ is defined, which GCC does under
// -fsanitize=thread. Debian's libprotobuf, and the generated CRI messages (compiled without the
// sanitizer), are built without them, so an instrumented unit would see every map field's
// members 8 bytes off from where the library and the generated constructors put them: the
// fake CRI server's `(*mutable_labels())["app"]` read a garbage bucket table and crashed. The
// header is parsed here once, with the macro hidden, so every unit agrees with the library;
// its include guard keeps later includes from seeing the other layout. libstdc++'s
// <bits/c++config.h> is read first so that its _GLIBCXX_TSAN still follows the real macro.
#pragma once

#if defined(__SANITIZE_THREAD__) && defined(__cplusplus) && __has_include(<google/protobuf/map_field.h>)
#include <cstddef>
#pragma push_macro("__SANITIZE_THREAD__")
#undef __SANITIZE_THREAD__
#include <google/protobuf/map_field.h>
#pragma pop_macro("__SANITIZE_THREAD__")
#endif
