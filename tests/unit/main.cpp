// Catch2 v2 main for the mir_tests executable; the test cases live in the
// other tests/unit/*.cpp files.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
