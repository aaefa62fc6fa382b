// The DLPack adapter: legacy DLManagedTensor (DLPack 0.6, what the Debian
// header and PyTorch 1.13 have) and DLManagedTensorVersioned (1.x); zero
// copy, byte_offset, strides; the deleter runs exactly once on every path.
#include <catch2/catch.hpp>

#include <mir/adapters/dlpack.hpp>

#include <memory>
#include <vector>

#include "fixture.hpp"

using mir::index_t;
using Catch::Matchers::Contains;

namespace {

template <class T>
DLDataType dl_dtype() {
    if constexpr (std::is_same_v<T, mir::bfloat16>) return {4, 16, 1};
    else return {2, static_cast<std::uint8_t>(8 * sizeof(T)), 1};
}

// A producer: owns a copy of the values (with `offset` elements of padding in
// front, addressed through byte_offset) and counts deleter calls.
template <class T>
struct producer {
    std::vector<T> values;
    std::vector<std::int64_t> shape, strides;
    int* deleted = nullptr;
};

// The producer's deleter: counts the call, frees the buffer and the struct.
template <class T, class Managed>
void release(Managed* self) {
    auto* prod = static_cast<producer<T>*>(self->manager_ctx);
    ++*prod->deleted;
    delete prod;
    delete self;
}

template <class T>
DLTensor describe(producer<T>& p, std::size_t offset, bool with_strides) {
    DLTensor t{};
    t.data = p.values.data();
    t.device = {kDLCPU, 0};
    t.ndim = static_cast<int>(p.shape.size());
    t.dtype = dl_dtype<T>();
    t.shape = p.shape.data();
    t.strides = with_strides ? p.strides.data() : nullptr;
    t.byte_offset = offset * sizeof(T);
    return t;
}

template <class T>
DLManagedTensor* make_legacy(const mir_test::sample_values<T>& s, int k, int* deleted, std::size_t offset = 3,
                             bool with_strides = false) {
    auto* p = new producer<T>{std::vector<T>(offset, T(0.0f)), {1, s.tokens, s.d}, {s.tokens * s.d, s.d, 1}, deleted};
    p->values.insert(p->values.end(), s.layer(k), s.layer(k) + s.tokens * s.d);
    auto* m = new DLManagedTensor{describe(*p, offset, with_strides), p, nullptr};
    m->deleter = &release<T, DLManagedTensor>;
    return m;
}

template <class T>
mir::dlpack::managed_tensor_versioned* make_versioned(const mir_test::sample_values<T>& s, int k, int* deleted,
                                                      std::uint32_t major = 1) {
    // Column-major strides: the copy path.
    auto* p = new producer<T>{std::vector<T>(static_cast<std::size_t>(s.tokens * s.d)), {s.tokens, s.d}, {1, s.tokens},
                              deleted};
    for (index_t t = 0; t < s.tokens; ++t) {
        for (index_t j = 0; j < s.d; ++j) p->values[static_cast<std::size_t>(j * s.tokens + t)] = s.at(k, t, j);
    }
    auto* m = new mir::dlpack::managed_tensor_versioned{};
    m->version = {major, 1};
    m->manager_ctx = p;
    m->flags = mir::dlpack::flag_read_only;
    m->dl_tensor = describe(*p, 0, true);
    m->deleter = &release<T, mir::dlpack::managed_tensor_versioned>;
    return m;
}

}  // namespace

TEST_CASE("DLPack: the installed header is the legacy 0.x one, and the versioned struct follows the 1.x ABI",
          "[adapters][dlpack]") {
#if defined(DLPACK_MAJOR_VERSION)
    CHECK(mir::dlpack::header_declares_versioned);  // a 1.x header: mir uses its struct
#else
    CHECK(DLPACK_VERSION < 100);
    CHECK_FALSE(mir::dlpack::header_declares_versioned);
#endif
    // DLPack 1.x layout on LP64: version (8) + manager_ctx (8) + deleter (8) + flags (8), then DLTensor.
    CHECK(offsetof(mir::dlpack::managed_tensor_versioned, manager_ctx) == 8);
    CHECK(offsetof(mir::dlpack::managed_tensor_versioned, deleter) == 16);
    CHECK(offsetof(mir::dlpack::managed_tensor_versioned, flags) == 24);
    CHECK(offsetof(mir::dlpack::managed_tensor_versioned, dl_tensor) == 32);
    CHECK(sizeof(mir::dlpack::pack_version) == 8);
}

TEMPLATE_TEST_CASE("DLPack: owned tensors of every dtype give the raw view's numbers, zero copy for compact rows",
                   "[adapters][dlpack]", mir::half, mir::bfloat16, float, double) {
    using T = TestType;
    const auto samples = mir_test::make_samples<T>(14);
    int deleted = 0, made = 0;

    SECTION("legacy DLManagedTensor, [1, T, d], NULL strides, byte_offset") {
        mir_test::require_same_as_raw(samples, [&](const auto& s, int k) {
            ++made;
            mir::dlpack_tensor owner(make_legacy(s, k, &deleted));
            const auto& dl = owner.tensor();
            const auto* first = reinterpret_cast<const T*>(static_cast<const char*>(dl.data) + dl.byte_offset);
            const auto rows = std::get<mir::strided_rows<T>>(owner.rows());
            REQUIRE(rows.data == first);  // zero copy
            REQUIRE(mir_test::views_in_place(owner, first, first + s.tokens * s.d));
            REQUIRE_FALSE(owner.read_only());
            return owner;  // moved into the sink's push, destroyed after it
        });
    }
    SECTION("explicit padded row strides, zero copy") {
        mir_test::require_same_as_raw(samples, [&](const auto& s, int k) {
            ++made;
            const index_t pad = s.d + 3;
            auto* p = new producer<T>{std::vector<T>(static_cast<std::size_t>(s.tokens * pad), T(-1.0f)),
                                      {s.tokens, s.d}, {pad, 1}, &deleted};
            for (index_t t = 0; t < s.tokens; ++t) {
                for (index_t j = 0; j < s.d; ++j) p->values[static_cast<std::size_t>(t * pad + j)] = s.at(k, t, j);
            }
            auto* m = new DLManagedTensor{describe(*p, 0, true), p, nullptr};
            m->deleter = &release<T, DLManagedTensor>;
            mir::dlpack_tensor owner(m);
            const auto rows = std::get<mir::strided_rows<T>>(owner.rows());
            REQUIRE(rows.in_place());
            REQUIRE(rows.row_stride == pad);
            REQUIRE(rows.data == p->values.data());
            return owner;
        });
    }
    SECTION("legacy with explicit strides, borrowed as DLManagedTensor") {
        mir_test::require_same_as_raw(samples, [&](const auto& s, int k) {
            ++made;
            std::unique_ptr<DLManagedTensor, void (*)(DLManagedTensor*)> m(make_legacy(s, k, &deleted, 0, true),
                                                                           [](DLManagedTensor* p) { p->deleter(p); });
            REQUIRE(std::get<mir::strided_rows<T>>(mir::adapt(*m)).in_place());
            return mir::dlpack_tensor(m.release());
        });
    }
    SECTION("versioned, column-major strides (copied), read-only flag") {
        mir_test::require_same_as_raw(samples, [&](const auto& s, int k) {
            ++made;
            mir::dlpack_tensor owner(make_versioned(s, k, &deleted));
            REQUIRE(owner.read_only());
            REQUIRE_FALSE(std::get<mir::strided_rows<T>>(owner.rows()).in_place());
            return owner;
        });
    }
    CHECK(made > 0);
    CHECK(deleted == made);
}

TEST_CASE("DLPack: ownership — the deleter runs exactly once, on success and on every error path",
          "[adapters][dlpack][errors]") {
    const auto samples = mir_test::make_samples<float>(15, 2, 4, {10});
    const auto& s = samples[0];
    int deleted = 0;

    SECTION("destructor, move construction, move assignment, reset") {
        {
            mir::dlpack_tensor a(make_legacy(s, 1, &deleted));
            mir::dlpack_tensor b(std::move(a));
            CHECK(a.empty());
            CHECK(std::holds_alternative<mir::strided_rows<mir::half>>(a.rows()));  // reset: no stale view
            CHECK(std::get<mir::strided_rows<mir::half>>(a.rows()).data == nullptr);
            CHECK(deleted == 0);
            mir::dlpack_tensor c(make_versioned(s, 1, &deleted));
            c = std::move(b);  // c's own tensor is released here
            CHECK(deleted == 1);
            c.reset();
            CHECK(deleted == 2);
            c.reset();
            CHECK(deleted == 2);
            CHECK_THROWS_WITH(mir::adapt(c), Contains("empty"));
        }
        CHECK(deleted == 2);
    }
    SECTION("unsupported dtype") {
        auto* m = make_legacy(s, 1, &deleted);
        m->dl_tensor.dtype = {0, 32, 1};  // int32
        CHECK_THROWS_WITH(mir::dlpack_tensor(m), Contains("DLManagedTensor") && Contains("dtype int32"));
        CHECK(deleted == 1);
        auto* v = make_versioned(s, 1, &deleted);
        v->dl_tensor.dtype = {2, 32, 4};  // float32x4
        CHECK_THROWS_WITH(mir::dlpack_tensor(v), Contains("float32x4"));
        CHECK(deleted == 2);
    }
    SECTION("a device other than the CPU is named") {
        auto* m = make_legacy(s, 1, &deleted);
        m->dl_tensor.device = {kDLCUDA, 1};
        CHECK_THROWS_WITH(mir::dlpack_tensor(m), Contains("CUDA:1") && Contains("copy it to the CPU"));
        CHECK(deleted == 1);
        auto* v = make_versioned(s, 1, &deleted);
        v->dl_tensor.device = {kDLROCM, 0};
        CHECK_THROWS_WITH(mir::dlpack_tensor(v), Contains("ROCM:0"));
        CHECK(deleted == 2);
        // Borrowed: refused too, and nothing is deleted by the adapter.
        auto* b = make_legacy(s, 1, &deleted);
        b->dl_tensor.device = {kDLCUDAManaged, 0};
        CHECK_THROWS_WITH(mir::adapt(*b), Contains("CUDAManaged:0"));
        CHECK(deleted == 2);
        b->deleter(b);
        CHECK(deleted == 3);
    }
    SECTION("an unknown major version, a bad shape, misalignment") {
        CHECK_THROWS_WITH(mir::dlpack_tensor(make_versioned(s, 1, &deleted, 2)), Contains("version 2.1"));
        CHECK(deleted == 1);
        auto* m = make_legacy(s, 1, &deleted);
        m->dl_tensor.ndim = 1;
        CHECK_THROWS_WITH(mir::dlpack_tensor(m), Contains("at least 2 dimensions"));
        CHECK(deleted == 2);
        auto* a = make_legacy(s, 1, &deleted);
        a->dl_tensor.byte_offset = 2;
        CHECK_THROWS_WITH(mir::dlpack_tensor(a), Contains("not aligned"));
        CHECK(deleted == 3);
    }
    SECTION("a push that fails after adoption still releases the tensor once") {
        mir::hidden_state_sink sink(2, 5);  // hidden size 5, the tensor has 4 columns
        sink.begin_sample(mir::vision_positions::from_mask(s.mask));
        {
            mir::dlpack_tensor owner(make_legacy(s, 1, &deleted));
            CHECK_THROWS_WITH(sink.push(1, owner), Contains("4 columns"));
        }
        CHECK(deleted == 1);
    }
}
