// Catch2 v2 main, compiled once (library mir_catch_main) for every Catch2
// test executable: the implementation half of catch.hpp is among the slowest
// files of the sanitizer build, so it is not compiled per executable.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
