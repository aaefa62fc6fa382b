// mir/error.hpp — the exception hierarchy for bad input.
//
// Bad input (shapes, dtypes, non-finite rows, too few rows, malformed files)
// throws a subclass of mir::error whose message names what was wrong and
// where (file, tensor, layer, modality, row). Numerical outcomes that are
// not the caller's fault (rank deficiency handled by a fallback,
// non-convergence) are reported in result objects instead.
#pragma once

#include <stdexcept>
#include <string>

namespace mir {

class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Shapes that do not fit together (dimension mismatch, empty input).
class shape_error : public error {
public:
    using error::error;
};

/// NaN or Inf in the input rows.
class non_finite_error : public error {
public:
    using error::error;
};

/// Not enough rows for the statistic asked for (e.g. < 2 rows for a covariance).
class too_few_rows_error : public error {
public:
    using error::error;
};

/// Invalid argument values (unknown policy name, bad option).
class argument_error : public error {
public:
    using error::error;
};

/// Malformed or unsupported files (used by the opt-in io/ headers).
class file_error : public error {
public:
    using error::error;
};

}  // namespace mir
