// The adapter core, raw memory and Eigen: every layout gives exactly the raw
// view's numbers; in place where promised (pointer identity), copies where
// the columns are not unit-stride.
#include <catch2/catch.hpp>

#include <mir/adapters/adapter.hpp>
#include <mir/adapters/eigen.hpp>
#include <mir/adapters/raw.hpp>

#include <Eigen/Core>

#include <vector>

#include "fixture.hpp"

using mir::index_t;

static_assert(mir::tensor_like<mir::raw_tensor>);
static_assert(mir::tensor_like<mir::row_view<float>>);
static_assert(mir::tensor_like<Eigen::MatrixXf>);
static_assert(mir::tensor_like<Eigen::Ref<const Eigen::MatrixXd>>);
static_assert(!mir::tensor_like<int>);
static_assert(!mir::tensor_like<std::vector<float>>);

namespace {

template <class T>
using row_major = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using col_major = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;

template <class T>
Eigen::Map<const row_major<T>> map_layer(const mir_test::sample_values<T>& s, int k) {
    return {s.layer(k), s.tokens, s.d};
}

}  // namespace

TEMPLATE_TEST_CASE("Eigen adapter: every layout gives the raw view's numbers", "[adapters][eigen]", mir::half,
                   mir::bfloat16, float, double) {
    using T = TestType;
    const auto samples = mir_test::make_samples<T>(11);
    const auto ref = mir_test::reference_mir(samples);

    SECTION("row-major Matrix, in place") {
        std::vector<row_major<T>> keep;
        mir_test::require_same_as_raw(samples, [&](const auto& s, int k) {
            row_major<T> m = map_layer(s, k);
            const auto rows = std::get<mir::strided_rows<T>>(mir::adapt(m));
            REQUIRE(rows.in_place());
            REQUIRE(rows.data == m.data());
            REQUIRE(mir_test::views_in_place(m, m.data(), m.data() + m.size()));
            return m;
        });
    }
    SECTION("column-major Matrix, copied") {
        mir_test::require_same_as_raw(samples, [&](const auto& s, int k) {
            col_major<T> m = map_layer(s, k);
            const auto rows = std::get<mir::strided_rows<T>>(mir::adapt(m));
            REQUIRE_FALSE(rows.in_place());
            REQUIRE(rows.col_stride == s.tokens);
            REQUIRE_FALSE(mir_test::views_in_place(m, m.data(), m.data() + m.size()));
            return m;
        });
    }
    SECTION("Map with an outer stride (padded rows), in place") {
        std::vector<std::vector<T>> bufs;
        mir_test::require_same_as_raw(samples, [&](const auto& s, int k) {
            const index_t pad = s.d + 5;
            auto& buf = bufs.emplace_back(static_cast<std::size_t>(s.tokens * pad), T(-99.0f));
            for (index_t t = 0; t < s.tokens; ++t) {
                for (index_t j = 0; j < s.d; ++j) buf[static_cast<std::size_t>(t * pad + j)] = s.at(k, t, j);
            }
            Eigen::Map<const row_major<T>, 0, Eigen::OuterStride<>> m(buf.data(), s.tokens, s.d,
                                                                      Eigen::OuterStride<>(pad));
            REQUIRE(mir_test::views_in_place(m, buf.data(), buf.data() + buf.size()));
            return m;
        });
    }
    SECTION("middle columns of a wider row-major matrix (Block), in place") {
        std::vector<row_major<T>> bigs;
        mir_test::require_same_as_raw(samples, [&](const auto& s, int k) {
            auto& big = bigs.emplace_back(row_major<T>::Constant(s.tokens, s.d + 7, T(123.0f)));
            big.middleCols(3, s.d) = map_layer(s, k);
            auto block = big.middleCols(3, s.d);
            const auto rows = std::get<mir::strided_rows<T>>(mir::adapt(block));
            REQUIRE(rows.in_place());
            REQUIRE(rows.row_stride == s.d + 7);
            REQUIRE(rows.data == big.data() + 3);
            return block;
        });
    }
    SECTION("a block of a column-major matrix, copied") {
        std::vector<col_major<T>> bigs;
        mir_test::require_same_as_raw(samples, [&](const auto& s, int k) {
            auto& big = bigs.emplace_back(col_major<T>::Constant(s.tokens + 4, s.d + 2, T(7.0f)));
            big.block(2, 1, s.tokens, s.d) = map_layer(s, k);
            auto block = big.block(2, 1, s.tokens, s.d);
            REQUIRE_FALSE(std::get<mir::strided_rows<T>>(mir::adapt(block)).in_place());
            return block;
        });
    }
    SECTION("Ref to a row-major matrix, in place; transpose of a column-major d x T matrix, in place") {
        std::vector<col_major<T>> keep;
        const auto r1 = mir_test::sink_mir(samples, [&](const auto& s, int k) {
            return Eigen::Ref<const row_major<T>>(map_layer(s, k));
        });
        mir_test::require_identical(r1, ref);
        const auto r2 = mir_test::sink_mir(samples, [&](const auto& s, int k) {
            auto& mt = keep.emplace_back(map_layer(s, k).transpose());  // d x T, column-major
            auto t = mt.transpose();
            const auto rows = std::get<mir::strided_rows<T>>(mir::adapt(t));
            REQUIRE(rows.in_place());
            REQUIRE(rows.data == mt.data());
            return t;
        });
        mir_test::require_identical(r2, ref);
    }
}

TEMPLATE_TEST_CASE("raw adapter: compact, padded, column-major, reversed and batched layouts", "[adapters][raw]",
                   mir::half, mir::bfloat16, float, double) {
    using T = TestType;
    const auto samples = mir_test::make_samples<T>(12);
    const mir::dtype tag = mir::dtype_of<T>;
    std::vector<std::vector<T>> bufs;

    SECTION("compact row-major (no strides), in place") {
        mir_test::require_same_as_raw(samples, [&](const auto& s, int k) {
            mir::raw_tensor t{s.layer(k), tag, {s.tokens, s.d}};
            REQUIRE(mir_test::views_in_place(t, s.layer(k), s.layer(k) + s.tokens * s.d));
            return t;
        });
    }
    SECTION("[1, T, d] with explicit strides and padded rows, in place") {
        mir_test::require_same_as_raw(samples, [&](const auto& s, int k) {
            const index_t pad = s.d + 3;
            auto& buf = bufs.emplace_back(static_cast<std::size_t>(s.tokens * pad), T(0.0f));
            for (index_t t = 0; t < s.tokens; ++t) {
                for (index_t j = 0; j < s.d; ++j) buf[static_cast<std::size_t>(t * pad + j)] = s.at(k, t, j);
            }
            mir::raw_tensor t{buf.data(), tag, {1, s.tokens, s.d}, {777, pad, 1}};
            const auto rows = std::get<mir::strided_rows<T>>(mir::adapt(t));
            REQUIRE(rows.in_place());
            REQUIRE(rows.rows == s.tokens);
            REQUIRE(rows.row_stride == pad);
            return t;
        });
    }
    SECTION("column-major strides, copied") {
        mir_test::require_same_as_raw(samples, [&](const auto& s, int k) {
            auto& buf = bufs.emplace_back(static_cast<std::size_t>(s.tokens * s.d));
            for (index_t t = 0; t < s.tokens; ++t) {
                for (index_t j = 0; j < s.d; ++j) buf[static_cast<std::size_t>(j * s.tokens + t)] = s.at(k, t, j);
            }
            mir::raw_tensor t{buf.data(), tag, {s.tokens, s.d}, {1, s.tokens}};
            REQUIRE_FALSE(mir_test::views_in_place(t, buf.data(), buf.data() + buf.size()));
            return t;
        });
    }
    SECTION("rows stored in reverse (negative row stride), copied") {
        mir_test::require_same_as_raw(samples, [&](const auto& s, int k) {
            auto& buf = bufs.emplace_back(static_cast<std::size_t>(s.tokens * s.d));
            for (index_t t = 0; t < s.tokens; ++t) {
                for (index_t j = 0; j < s.d; ++j) {
                    buf[static_cast<std::size_t>((s.tokens - 1 - t) * s.d + j)] = s.at(k, t, j);
                }
            }
            return mir::raw_tensor{buf.data() + (s.tokens - 1) * s.d, tag, {s.tokens, s.d}, {-s.d, 1}};
        });
    }
}

TEST_CASE("row blocks: copies are cut into bounded blocks with the right values", "[adapters]") {
    const index_t rows = 2500, cols = 9;
    Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic> m(rows, cols);  // column-major
    for (index_t i = 0; i < rows; ++i) {
        for (index_t j = 0; j < cols; ++j) m(i, j) = static_cast<double>(i * 100 + j);
    }
    const auto r = std::get<mir::strided_rows<double>>(mir::adapt(m));
    std::vector<index_t> firsts, counts;
    bool values_ok = true;
    mir::for_each_row_block(r, [&](const mir::row_view<double>& b, index_t first) {
        firsts.push_back(first);
        counts.push_back(b.rows);
        for (index_t i = 0; i < b.rows; ++i) {
            for (index_t j = 0; j < cols; ++j) values_ok = values_ok && b.row(i)[j] == m(first + i, j);
        }
    });
    CHECK(values_ok);
    CHECK(firsts == std::vector<index_t>{0, 1024, 2048});
    CHECK(counts == std::vector<index_t>{1024, 1024, 452});

    // A long copied layer agrees with the in-place one up to summation order.
    Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> rm = m;
    for (index_t i = 0; i < rows; ++i) rm.row(i) = rm.row(i).array().sin() * (1.0 + (i % 7));
    m = rm;
    std::vector<std::uint8_t> mask(static_cast<std::size_t>(rows), 0);
    for (index_t i = 300; i < 1700; ++i) mask[static_cast<std::size_t>(i)] = 1;
    for (auto policy : {mir::outlier_policy::none, mir::outlier_policy::drop, mir::outlier_policy::replace_median}) {
        mir::accumulator_options o;
        o.policy = policy;
        o.layers = {0};
        mir::hidden_state_sink a(1, cols, o), b(1, cols, o);
        a.begin_sample(mir::vision_positions::from_mask(mask));
        a.push(0, rm);
        a.end_sample();
        b.begin_sample(mir::vision_positions::from_mask(mask));
        b.push(0, m);
        b.end_sample();
        // FID here is 6e-5 of terms of order 1: compare on the terms' scale
        // (measured 4e-16; relative to the FID itself the same rounding is
        // 1.5e-11 under `none`, with OpenBLAS's own summation order per thread count).
        CHECK(mir_test::max_fid_diff_vs_terms(b.finalize(), a.finalize()) <= 1e-14);
    }
}

TEST_CASE("row blocks: zero, negative and overlapping column and row strides are copied right", "[adapters]") {
    const std::vector<double> v{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    auto rows_of = [](const mir::raw_tensor& t) {
        std::vector<std::vector<double>> out;
        mir::visit_rows(t, [&](const auto& r) {
            mir::for_each_row_block(r, [&](const auto& b, index_t) {
                for (index_t i = 0; i < b.rows; ++i) out.emplace_back(b.row(i), b.row(i) + b.cols);
            });
        });
        return out;
    };
    using rows = std::vector<std::vector<double>>;
    // Columns reversed (negative column stride).
    CHECK(rows_of({v.data() + 2, mir::dtype::f64, {3, 3}, {3, -1}}) == rows{{2, 1, 0}, {5, 4, 3}, {8, 7, 6}});
    // A broadcast column (stride 0) and overlapping rows (row stride 1 < 3 columns).
    CHECK(rows_of({v.data() + 4, mir::dtype::f64, {2, 3}, {1, 0}}) == rows{{4, 4, 4}, {5, 5, 5}});
    CHECK(rows_of({v.data(), mir::dtype::f64, {3, 3}, {1, 1}}) == rows{{0, 1, 2}, {1, 2, 3}, {2, 3, 4}});
    // A [1, 1, d] tensor with arbitrary strides on its size-1 dimensions: in place.
    const auto one = std::get<mir::strided_rows<double>>(mir::adapt(mir::raw_tensor{v.data(), mir::dtype::f64, {1, 1, 4}, {-7, 99, 1}}));
    CHECK(one.in_place());
    CHECK(one.rows == 1);
    // A row_view with a row stride below its width is refused, as the accumulator refuses it.
    CHECK_THROWS_AS(mir::adapt(mir::row_view<double>(v.data(), 3, 4, 2)), mir::shape_error);
    // Shapes whose element offsets overflow are refused, not wrapped around.
    CHECK_THROWS_WITH(mir::adapt(mir::raw_tensor{v.data(), mir::dtype::f64, {std::int64_t{1} << 40, std::int64_t{1} << 40}}),
                      Catch::Matchers::Contains("overflow"));
}

TEST_CASE("raw adapter: shapes and strides it cannot read are refused by name", "[adapters][raw][errors]") {
    std::vector<float> buf(2 * 5 * 4, 1.0f);
    using Catch::Matchers::Contains;
    CHECK_THROWS_WITH(mir::adapt(mir::raw_tensor{buf.data(), mir::dtype::f32, {20}}),
                      Contains("raw tensor (f32)") && Contains("[20]") && Contains("at least 2 dimensions"));
    CHECK_THROWS_WITH(mir::adapt(mir::raw_tensor{buf.data(), mir::dtype::f32, {2, 5, 4}, {4, 8, 1}}),
                      Contains("cannot be merged") && Contains("[2, 5, 4]") && Contains("[4, 8, 1]"));
    CHECK_THROWS_WITH(mir::adapt(mir::raw_tensor{buf.data(), mir::dtype::f32, {5, 4}, {4}}),
                      Contains("2 dimensions but 1 strides"));
    CHECK_THROWS_WITH(mir::adapt(mir::raw_tensor{nullptr, mir::dtype::f32, {5, 4}}), Contains("null data pointer"));
    CHECK_THROWS_AS(mir::adapt(mir::raw_tensor{buf.data(), mir::dtype::f32, {-1, 4}}), mir::shape_error);
    // Mergeable batches are fine: [2, 5, 4] compact is 10 rows.
    const auto r = std::get<mir::strided_rows<float>>(mir::adapt(mir::raw_tensor{buf.data(), mir::dtype::f32, {2, 5, 4}}));
    CHECK(r.rows == 10);
    CHECK(r.in_place());
}

TEST_CASE("vision positions: ranges, masks and runs", "[adapters][positions]") {
    const std::vector<std::uint8_t> mask{0, 1, 1, 0, 0, 1, 1, 1, 0, 0};
    const auto m = mir::vision_positions::from_mask(mask);
    const auto r = mir::vision_positions::from_ranges({{1, 2}, {2, 3}, {5, 8}}, 10);
    CHECK(m.ranges() == r.ranges());
    CHECK(m.tokens() == 10);
    CHECK(m.vision_count() == 5);
    std::vector<std::tuple<index_t, index_t, bool>> runs;
    m.for_each_run(2, 5, [&](index_t b, index_t e, bool v) { runs.emplace_back(b, e, v); });
    CHECK(runs == std::vector<std::tuple<index_t, index_t, bool>>{{2, 3, true}, {3, 5, false}, {5, 7, true}});
    runs.clear();
    m.for_each_run(8, 2, [&](index_t b, index_t e, bool v) { runs.emplace_back(b, e, v); });
    CHECK(runs == std::vector<std::tuple<index_t, index_t, bool>>{{8, 10, false}});
    const std::vector<bool> bits(mask.begin(), mask.end());
    CHECK(mir::vision_positions::from_mask(bits).ranges() == m.ranges());
    std::vector<std::uint8_t> writable = mask;
    CHECK(mir::vision_positions::from_mask(std::span<std::uint8_t>(writable)).ranges() == m.ranges());
    using Catch::Matchers::Contains;
    CHECK_THROWS_WITH(mir::vision_positions::from_ranges({{4, 6}, {5, 7}}), Contains("vision range 1 [5, 7)") &&
                                                                                 Contains("overlaps"));
    CHECK_THROWS_WITH(mir::vision_positions::from_ranges({{4, 2}}), Contains("0 <= begin <= end"));
    CHECK_THROWS_WITH(mir::vision_positions::from_ranges({{4, 12}}, 10), Contains("ends past the sample's 10 tokens"));
}

TEST_CASE("hidden_state_sink: pieces, ranges and pre-split layers agree with the accumulator",
          "[adapters][sink]") {
    const auto samples = mir_test::make_samples<float>(21, 4, 10, {64, 97, 40});
    for (auto policy : {mir::outlier_policy::none, mir::outlier_policy::drop, mir::outlier_policy::replace_median}) {
        INFO("policy " << mir::to_string(policy));
        mir::accumulator_options o;
        o.policy = policy;
        const auto ref = mir_test::reference_mir(samples, o);

        // Pieces of 17 tokens with the positions as ranges: runs are cut
        // differently, so equal up to summation order.
        mir::hidden_state_sink sink(4, 10, o);
        for (const auto& s : samples) {
            std::vector<mir::vision_positions::range> ranges;
            mir::for_each_mask_run(std::span<const std::uint8_t>(s.mask), [&](index_t b, index_t e, bool v) {
                if (v) ranges.emplace_back(b, e);
            });
            sink.begin_sample(mir::vision_positions::from_ranges(ranges, s.tokens));
            for (index_t first = 0; first < s.tokens; first += 17) {
                for (int k = 0; k < 4; ++k) {
                    if (!sink.wants(k)) continue;  // index 0 (embeddings) is not among the default layers
                    REQUIRE(sink.tokens_pushed(k) == first);
                    const index_t n = std::min<index_t>(17, s.tokens - first);
                    sink.push(k, mir::row_view<float>(s.layer(k) + first * s.d, n, s.d), first);
                }
            }
            sink.end_sample();
        }
        CHECK(mir_test::max_rel_fid_diff(sink.finalize(), ref) <= 1e-12);

        // Pre-split: vision and text rows as two matrices per layer.
        mir::hidden_state_sink split(4, 10, o);
        for (const auto& s : samples) {
            split.begin_sample();
            for (int k = 0; k < 4; ++k) {
                Eigen::MatrixXf v(0, s.d), t(0, s.d);  // column-major: the copy path too
                for (index_t i = 0; i < s.tokens; ++i) {
                    auto& dst = s.mask[static_cast<std::size_t>(i)] ? v : t;
                    dst.conservativeResize(dst.rows() + 1, Eigen::NoChange);
                    for (index_t j = 0; j < s.d; ++j) dst(dst.rows() - 1, j) = s.at(k, i, j);
                }
                split.push_split(k, v, t);
            }
            split.end_sample();
        }
        CHECK(mir_test::max_rel_fid_diff(split.finalize(), ref) <= 1e-12);
    }
}

TEST_CASE("compute_mir over a user-written hidden_state_source", "[adapters][sink]") {
    struct vector_source {
        std::vector<mir_test::sample_values<double>> samples;
        int num_indices() const { return samples.front().indices; }
        index_t hidden_size() const { return samples.front().d; }
        index_t num_samples() const { return static_cast<index_t>(samples.size()); }
        void feed_sample(index_t n, mir::hidden_state_sink& sink) const {
            const auto& s = samples[static_cast<std::size_t>(n)];
            sink.begin_sample(mir::vision_positions::from_mask(s.mask));
            for (int k = 0; k < s.indices; ++k) sink.push(k, mir::row_view<double>(s.layer(k), s.tokens, s.d));
            sink.end_sample();
        }
    };
    static_assert(mir::hidden_state_source<vector_source>);
    vector_source src{mir_test::make_samples<double>(5)};
    mir_test::require_identical(mir::compute_mir(src), mir_test::reference_mir(src.samples));
}

TEST_CASE("hidden_state_sink: misuse and bad rows are named, and nothing is lost silently",
          "[adapters][sink][errors]") {
    using Catch::Matchers::Contains;
    const auto samples = mir_test::make_samples<float>(8, 3, 6, {30, 30});
    const auto& s = samples[0];
    auto layer = [&](int k) { return mir::row_view<float>(s.layer(k), s.tokens, s.d); };
    const auto positions = mir::vision_positions::from_mask(s.mask);

    SECTION("refused before any row is added: the sink goes on unchanged") {
        mir::hidden_state_sink sink(3, 6);
        CHECK_THROWS_WITH(sink.push(1, layer(1)), Contains("outside a sample"));
        sink.begin_sample(positions);
        CHECK_THROWS_WITH(sink.begin_sample(positions), Contains("still open"));
        CHECK_THROWS_WITH(sink.push(3, layer(1)), Contains("sample 0") && Contains("index 3 is outside 0..2"));
        Eigen::MatrixXf wide = Eigen::MatrixXf::Ones(s.tokens, 7);
        CHECK_THROWS_WITH(sink.push(1, wide), Contains("sample 0, layer 1") && Contains("7 columns") &&
                                                  Contains("hidden size 6"));
        CHECK_THROWS_WITH(sink.push(1, layer(1), 5), Contains("sample 0, layer 1") && Contains("tokens from 5"));
        Eigen::MatrixXf longer = Eigen::MatrixXf::Ones(s.tokens + 1, 6);
        CHECK_THROWS_WITH(sink.push(2, longer), Contains("sample 0, layer 2") && Contains("has 30 tokens"));
        for (int k = 0; k < 3; ++k) sink.push(k, layer(k));
        sink.end_sample();
        mir::hidden_state_sink ref(3, 6);
        ref.begin_sample(positions);
        for (int k = 0; k < 3; ++k) ref.push(k, layer(k));
        ref.end_sample();
        mir_test::require_identical(sink.finalize(), ref.finalize());
    }
    SECTION("a missing or short layer fails the sample and the sink") {
        mir::hidden_state_sink sink(3, 6);
        sink.begin_sample(positions);
        sink.push(1, layer(1));
        sink.push(2, mir::row_view<float>(s.layer(2), 20, s.d));
        CHECK_THROWS_WITH(sink.end_sample(), Contains("sample 0 ended without layers") &&
                                                 Contains("2 (20 of 30 tokens)"));
        CHECK_THROWS_WITH(sink.finalize(), Contains("cannot go on") && Contains("sample 0"));
        CHECK_THROWS_AS(sink.begin_sample(positions), mir::argument_error);
    }
    SECTION("a non-finite row fails with the sample, layer and row, and the sink refuses to finalize") {
        std::vector<float> bad(s.layer(2), s.layer(2) + s.tokens * s.d);
        bad[static_cast<std::size_t>(17 * s.d + 4)] = std::numeric_limits<float>::quiet_NaN();
        mir::hidden_state_sink sink(3, 6);
        sink.begin_sample(positions);
        sink.push(1, layer(1));
        std::string message;
        try {
            sink.push(2, mir::row_view<float>(bad.data(), s.tokens, s.d));
        } catch (const mir::non_finite_error& e) {
            message = e.what();
        }
        CHECK_THAT(message, Contains("sample 0, layer 2") && Contains("NaN"));
        CHECK_THROWS_WITH(sink.push(2, layer(2)), Contains("cannot go on") && Contains("NaN"));
        CHECK_THROWS_WITH(sink.finalize(), Contains("still open"));
        CHECK_THROWS_AS(sink.end_sample(), mir::argument_error);
        CHECK_THROWS_WITH(sink.finalize(), Contains("cannot go on"));
    }
    SECTION("a sample may be abandoned while none of its rows is in; not after") {
        mir::hidden_state_sink sink(3, 6), ref(3, 6);
        sink.begin_sample(positions);
        Eigen::MatrixXf wide = Eigen::MatrixXf::Ones(s.tokens, 7);
        CHECK_THROWS_AS(sink.push(1, wide), mir::shape_error);  // refused before adding anything
        sink.abort_sample();
        for (auto* k : {&sink, &ref}) {
            k->begin_sample(positions);
            for (int l = 0; l < 3; ++l) k->push(l, layer(l));
            k->end_sample();
        }
        mir_test::require_identical(sink.finalize(), ref.finalize());
        sink.begin_sample(positions);
        sink.push(1, layer(1));
        CHECK_THROWS_WITH(sink.abort_sample(), Contains("sample 1 was aborted after some of its rows"));
        CHECK_THROWS_WITH(sink.finalize(), Contains("cannot go on"));
    }
    SECTION("positions are needed for push, and ranges must fit the layers") {
        mir::hidden_state_sink sink(3, 6);
        sink.begin_sample();
        CHECK_THROWS_WITH(sink.push(1, layer(1)), Contains("needs the sample's vision positions"));
        sink.push_split(1, layer(1), layer(1));
        CHECK_THROWS_WITH(sink.push_split(1, layer(1), layer(1)), Contains("pushed twice"));
        sink.push_split(2, layer(2), layer(2));
        sink.end_sample();
        sink.begin_sample(mir::vision_positions::from_ranges({{0, 40}}));
        sink.push(1, layer(1));
        sink.push(2, layer(2));
        CHECK_THROWS_WITH(sink.end_sample(), Contains("vision ranges reach token 40") && Contains("30 tokens"));
    }
}

// The adapter of docs/adapters.md, verbatim: keep the two in step.
namespace acme {  // the framework
enum class scalar { f16, bf16, f32, f64 };
struct tensor {
    const void* data;
    scalar type;
    std::vector<std::int64_t> shape;
    std::vector<std::int64_t> byte_strides;
};
}  // namespace acme

template <>
struct mir::tensor_adapter<acme::tensor> {
    static mir::any_strided_rows rows(const acme::tensor& t) {
        switch (t.type) {
            case acme::scalar::f16: return make<mir::half>(t);
            case acme::scalar::bf16: return make<mir::bfloat16>(t);
            case acme::scalar::f32: return make<float>(t);
            case acme::scalar::f64: return make<double>(t);
        }
        throw mir::argument_error("acme tensor: unknown scalar type");
    }

private:
    template <class E>
    static mir::any_strided_rows make(const acme::tensor& t) {
        constexpr auto size = static_cast<std::int64_t>(sizeof(E));
        if (reinterpret_cast<std::uintptr_t>(t.data) % sizeof(E) != 0) {
            throw mir::shape_error("acme tensor: data is not aligned to its elements");
        }
        std::vector<mir::index_t> shape(t.shape.begin(), t.shape.end()), strides;
        for (auto b : t.byte_strides) {
            if (b % size != 0) throw mir::shape_error("acme tensor: a byte stride is not a whole number of elements");
            strides.push_back(b / size);
        }
        return mir::detail::rows_from_shape(static_cast<const E*>(t.data), shape, strides, "acme tensor");
    }
};

static_assert(mir::tensor_like<acme::tensor>);

TEMPLATE_TEST_CASE("a user-written adapter (docs/adapters.md) gives the raw view's numbers", "[adapters]", mir::half,
                   mir::bfloat16, float, double) {
    using T = TestType;
    const auto samples = mir_test::make_samples<T>(17);
    const acme::scalar tag = std::is_same_v<T, mir::half>       ? acme::scalar::f16
                             : std::is_same_v<T, mir::bfloat16> ? acme::scalar::bf16
                             : std::is_same_v<T, float>         ? acme::scalar::f32
                                                                : acme::scalar::f64;
    const auto r = mir_test::sink_mir(samples, [&](const auto& s, int k) {
        const auto e = static_cast<std::int64_t>(sizeof(T));
        return acme::tensor{s.layer(k), tag, {1, s.tokens, s.d}, {s.tokens * s.d * e, s.d * e, e}};
    });
    mir_test::require_identical(r, mir_test::reference_mir(samples));
}
