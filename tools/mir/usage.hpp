// tools/mir/usage.hpp — a bad command line. main.cpp maps it, and CLI11's
// parse errors, to exit code 2; data and runtime errors exit 1 (docs/cli.md).
#pragma once

#include <mir/error.hpp>

#include <string>

namespace mir::tool {

/// An option value out of its range, options that do not go together,
/// outputs that clash with each other or with an input.
class usage_error : public argument_error {
public:
    using argument_error::argument_error;
};

}  // namespace mir::tool
