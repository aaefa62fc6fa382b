// mir/stats/state_bytes.hpp — a layer_passes state as bytes and back, to
// send it between participants of one computation (MPI ranks: mir/mpi.hpp;
// torch.distributed ranks: the Python module's all_reduce and state_dict).
//
// The bytes are every field of visit_state() in visit order, in the
// machine's own representation: a message between processes running the
// same mir, not a file format (files: mir/source/saved_state.hpp, which
// names, types and versions every field). Reading checks sizes as it goes
// and the state's invariants at the end (check_state), so bytes of another
// layer, hidden size or policy, truncated or damaged, are an argument_error
// naming `where`, never a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "mir/error.hpp"
#include "mir/stats/layer_passes.hpp"

namespace mir {

namespace detail {

// Every field of a state (visit_state) appended to bytes, in visit order.
struct state_byte_writer {
    std::vector<std::byte>& out;

    void raw(const void* p, std::size_t n) {
        const auto* b = static_cast<const std::byte*>(p);
        out.insert(out.end(), b, b + n);
    }
    template <class T>
    void operator()(std::string_view, T&& field) {
        using U = std::remove_cvref_t<T>;
        if constexpr (std::is_arithmetic_v<U>) {
            raw(&field, sizeof(U));
        } else if constexpr (requires { field.matrix; }) {  // lower_triangle: the matrix as it is
            const std::uint8_t zero = field.zero ? 1 : 0;
            raw(&zero, 1);
            if (!field.zero)
                raw(field.matrix.data(), static_cast<std::size_t>(field.matrix.size()) * sizeof(*field.matrix.data()));
        } else {  // std::vector or an Eigen vector
            const auto n = static_cast<std::uint64_t>(field.size());
            raw(&n, sizeof n);
            if (n > 0) raw(field.data(), static_cast<std::size_t>(n) * sizeof(*field.data()));
        }
    }
};

// The same fields read back from bytes written by state_byte_writer for a
// state of the same layer, hidden size and policy.
struct state_byte_reader {
    std::span<const std::byte> in;
    const std::string& where;
    std::size_t at = 0;

    [[noreturn]] void fail(const std::string& what) const {
        throw argument_error(where + ": " + what +
                             " (the bytes are not a state of this layer, hidden size and policy from this mir, or "
                             "the participants are out of step)");
    }
    void raw(void* p, std::size_t n) {
        if (n > in.size() - at) fail("the state's bytes end early");
        std::memcpy(p, in.data() + at, n);
        at += n;
    }
    template <class T>
    void operator()(std::string_view, T&& field) {
        using U = std::remove_cvref_t<T>;
        if constexpr (std::is_arithmetic_v<U>) {
            raw(&field, sizeof(U));
        } else if constexpr (requires { field.matrix; }) {
            std::uint8_t zero = 0;
            raw(&zero, 1);
            if (zero) {
                field.matrix.setZero();
            } else {
                raw(field.matrix.data(), static_cast<std::size_t>(field.matrix.size()) * sizeof(*field.matrix.data()));
            }
        } else {
            std::uint64_t n = 0;
            raw(&n, sizeof n);
            if constexpr (requires {
                              field.resize(std::size_t{});
                              field.capacity();
                          }) {  // std::vector
                if (n > (in.size() - at) / sizeof(*field.data())) fail("a field is longer than the bytes left");
                field.resize(static_cast<std::size_t>(n));
            } else if (n != static_cast<std::uint64_t>(field.size())) {  // an Eigen vector of the hidden size
                fail("a vector of size " + std::to_string(n) + ", expected " + std::to_string(field.size()));
            }
            if (n > 0) raw(field.data(), static_cast<std::size_t>(n) * sizeof(*field.data()));
        }
    }
};

}  // namespace detail

/// Every field of `s` as bytes (to send to another participant).
template <accumulator_type Acc>
[[nodiscard]] std::vector<std::byte> state_to_bytes(layer_passes<Acc>& s) {
    std::vector<std::byte> b;
    s.visit_state(detail::state_byte_writer{b});
    return b;
}

/// Reads into `s` (constructed with the writer's hidden size, policy and
/// layer) bytes written by state_to_bytes; errors name `where`.
template <accumulator_type Acc>
void state_from_bytes(layer_passes<Acc>& s, std::span<const std::byte> b, const std::string& where) {
    detail::state_byte_reader r{b, where};
    s.visit_state(r);
    if (r.at != b.size()) r.fail("the state's bytes do not end where the state does");
    s.check_state(where);
}

}  // namespace mir
