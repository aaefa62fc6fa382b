// mir/error.hpp — the errors mir throws for bad input.
//
// Every error carries a kind (what went wrong) and a context (where: file,
// tensor, sample, layer), and formats them the same way in every module:
//     "<file>: tensor '<name>': sample <n>, layer <k>: <message>"
// (each part only when known). Code that adds context on the way up does so
// in place and rethrows the same object, so the dynamic type survives:
//     catch (mir::error& e) { e.in_sample(n); throw; }
// Numerical outcomes that are not the caller's fault (rank deficiency
// handled by a fallback, non-convergence) are statuses in result objects;
// numerical_error is for the few callers that asked for a plain number.
#pragma once

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "mir/detail/enum_name.hpp"

namespace mir {

enum class error_kind {
    shape,         ///< shapes that do not fit together (dimension mismatch, empty input)
    non_finite,    ///< NaN or Inf in the input
    too_few_rows,  ///< not enough rows for the statistic asked for
    argument,      ///< invalid argument values (unknown name, out of range)
    file,          ///< malformed or unsupported files, unreadable paths
    numerical,     ///< a solver failed where the caller asked for a plain number
    undefined,     ///< the result is mathematically undefined for this input
};

constexpr std::string_view to_string(error_kind k) noexcept {
    return detail::enum_name(k, std::array<std::string_view, 7>{"shape", "non-finite", "too-few-rows", "argument", "file",
                                                                 "numerical", "undefined"});
}

/// Where an error happened; empty / negative fields are unknown.
struct error_context {
    std::string file;          ///< path of the file
    std::string tensor;        ///< tensor (or archive member) name
    std::int64_t sample = -1;  ///< sample index (one dump file or sink sample)
    int layer = -1;            ///< hidden-state index
};

class error : public std::runtime_error {
public:
    error(error_kind kind, std::string message, error_context context = {})
        : std::runtime_error(message), kind_(kind), message_(std::move(message)), context_(std::move(context)) {
        format();
    }

    [[nodiscard]] error_kind kind() const noexcept { return kind_; }
    [[nodiscard]] const error_context& context() const noexcept { return context_; }
    /// The message without its context.
    [[nodiscard]] const std::string& message() const noexcept { return message_; }
    /// Context and message, formatted as the header comment says.
    [[nodiscard]] const char* what() const noexcept override { return what_.c_str(); }

    // Fill a context field that is still unknown (an inner layer knows
    // better) and re-format; return *this for `throw;` after.
    error& in_file(std::string path) { return set(context_.file, std::move(path)); }
    error& in_tensor(std::string name) { return set(context_.tensor, std::move(name)); }
    error& in_sample(std::int64_t n) {
        if (context_.sample < 0) context_.sample = n;
        format();
        return *this;
    }
    error& in_layer(int k) {
        if (context_.layer < 0) context_.layer = k;
        format();
        return *this;
    }

private:
    error& set(std::string& field, std::string value) {
        if (field.empty()) field = std::move(value);
        format();
        return *this;
    }

    void format() {
        std::string s;
        if (!context_.file.empty()) s += context_.file + ": ";
        if (!context_.tensor.empty()) s += "tensor '" + context_.tensor + "': ";
        if (context_.sample >= 0) s += "sample " + std::to_string(context_.sample);
        if (context_.layer >= 0) s += (context_.sample >= 0 ? ", layer " : "layer ") + std::to_string(context_.layer);
        if (context_.sample >= 0 || context_.layer >= 0) s += ": ";
        what_ = s + message_;
    }

    error_kind kind_;
    std::string message_;
    error_context context_;
    std::string what_;
};

namespace detail {
/// A subclass per kind, so that callers can catch by type as well.
template <error_kind K>
class kind_error : public error {
public:
    explicit kind_error(std::string message, error_context context = {})
        : error(K, std::move(message), std::move(context)) {}
};
}  // namespace detail

/// Shapes that do not fit together (dimension mismatch, empty input).
class shape_error : public detail::kind_error<error_kind::shape> {
    using kind_error::kind_error;
};
/// NaN or Inf in the input rows.
class non_finite_error : public detail::kind_error<error_kind::non_finite> {
    using kind_error::kind_error;
};
/// Not enough rows for the statistic asked for (e.g. < 2 rows for a covariance).
class too_few_rows_error : public detail::kind_error<error_kind::too_few_rows> {
    using kind_error::kind_error;
};
/// Invalid argument values (unknown policy name, bad option).
class argument_error : public detail::kind_error<error_kind::argument> {
    using kind_error::kind_error;
};
/// Malformed or unsupported files (used by the opt-in io/ headers).
class file_error : public detail::kind_error<error_kind::file> {
    using kind_error::kind_error;
};
/// A solver failed where the caller asked for a plain number.
class numerical_error : public detail::kind_error<error_kind::numerical> {
    using kind_error::kind_error;
};
/// The result is undefined for this input (e.g. MIR when the modalities coincide).
class undefined_error : public detail::kind_error<error_kind::undefined> {
    using kind_error::kind_error;
};

}  // namespace mir
