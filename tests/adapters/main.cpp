// Catch2 v2 main for the adapter test executables; the test cases live in the
// other tests/adapters/*.cpp files.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
