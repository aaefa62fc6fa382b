// The libtorch adapter: CPU tensors of half, bfloat16, float and double,
// contiguous (in place) or strided (in place when the last stride is 1,
// copied otherwise), give exactly the raw view's numbers.
#include <catch2/catch.hpp>

#include <mir/adapters/libtorch.hpp>

#include <torch/torch.h>

#include <vector>

#include "fixture.hpp"

using mir::index_t;
using Catch::Matchers::Contains;

static_assert(mir::tensor_like<torch::Tensor>);

namespace {

template <class T>
torch::Dtype torch_dtype() {
    if constexpr (std::is_same_v<T, mir::half>) return torch::kHalf;
    else if constexpr (std::is_same_v<T, mir::bfloat16>) return torch::kBFloat16;
    else if constexpr (std::is_same_v<T, float>) return torch::kFloat;
    else return torch::kDouble;
}

// A tensor over the sample's own memory (no copy; the sample outlives it).
template <class T>
torch::Tensor wrap(const mir_test::sample_values<T>& s, int k) {
    return torch::from_blob(const_cast<T*>(s.layer(k)), {s.tokens, s.d}, torch::TensorOptions().dtype(torch_dtype<T>()));
}

}  // namespace

TEMPLATE_TEST_CASE("libtorch adapter: every layout gives the raw view's numbers", "[adapters][libtorch]", mir::half,
                   mir::bfloat16, float, double) {
    using T = TestType;
    const auto samples = mir_test::make_samples<T>(16);
    const auto ref = mir_test::reference_mir(samples);

    SECTION("contiguous [T, d] over the sample's memory, zero copy") {
        mir_test::require_same_as_raw(samples, [&](const auto& s, int k) {
            torch::Tensor t = wrap(s, k);
            REQUIRE(std::get<mir::strided_rows<T>>(mir::adapt(t)).data == s.layer(k));
            REQUIRE(mir_test::views_in_place(t, s.layer(k), s.layer(k) + s.tokens * s.d));
            return t;
        });
    }
    SECTION("[1, T, d] from unsqueeze, and a column slice of a wider tensor: in place") {
        mir_test::require_same_as_raw(samples, [&](const auto& s, int k) { return wrap(s, k).unsqueeze(0); });
        const auto r2 = mir_test::sink_mir(samples, [&](const auto& s, int k) {
            torch::Tensor wide = torch::zeros({s.tokens, s.d + 5}, torch::TensorOptions().dtype(torch_dtype<T>()));
            wide.narrow(1, 2, s.d).copy_(wrap(s, k));
            torch::Tensor slice = wide.narrow(1, 2, s.d);
            const auto rows = std::get<mir::strided_rows<T>>(mir::adapt(slice));
            REQUIRE(rows.in_place());
            REQUIRE(rows.row_stride == s.d + 5);
            return slice;
        });
        mir_test::require_identical(r2, ref);
    }
    SECTION("a transpose of a contiguous [d, T] tensor: copied") {
        mir_test::require_same_as_raw(samples, [&](const auto& s, int k) {
            torch::Tensor t = wrap(s, k).t().contiguous().t();  // [T, d] with strides (1, T)
            REQUIRE_FALSE(t.is_contiguous());
            REQUIRE_FALSE(std::get<mir::strided_rows<T>>(mir::adapt(t)).in_place());
            return t;
        });
    }
}

TEST_CASE("libtorch adapter: what it cannot read is refused by name", "[adapters][libtorch][errors]") {
    CHECK_THROWS_WITH(mir::adapt(torch::zeros({4, 3}, torch::kInt)), Contains("libtorch tensor") && Contains("Int"));
    CHECK_THROWS_WITH(mir::adapt(torch::empty({4, 3}, torch::TensorOptions().device(torch::kMeta))),
                      Contains("meta") && Contains(".cpu()"));
    CHECK_THROWS_WITH(mir::adapt(torch::zeros({12})), Contains("at least 2 dimensions"));
    CHECK_THROWS_WITH(mir::adapt(torch::Tensor()), Contains("undefined"));
    CHECK_THROWS_WITH(mir::adapt(torch::zeros({2, 3, 4}).transpose(0, 1)), Contains("cannot be merged"));
}
