// Saved pass states (mir/source/saved_state.hpp): participants that meet
// only through files — every state saved after its pass and loaded by the
// next step — give exactly the in-memory merged result; damaged or foreign
// files are errors naming the file, the layer and the field.
#include <catch2/catch.hpp>

#include <mir/mir.hpp>
#include <mir/source/saved_state.hpp>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "../support/io_support.hpp"

namespace {

namespace fs = std::filesystem;
using mir_test::io::temp_dir;

template <class T>
std::vector<T> rows_of(mir::index_t n, mir::index_t d, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> g(0.0, 1.0);
    std::vector<T> v(static_cast<std::size_t>(n * d));
    for (mir::index_t i = 0; i < n; ++i) {
        const double big = i % 31 == 5 ? 30.0 : 1.0;
        for (mir::index_t j = 0; j < d; ++j)
            v[static_cast<std::size_t>(i * d + j)] = static_cast<T>(big * g(rng) + 0.1 * j);
    }
    return v;
}

// Two layers (hidden-state indices 1 and 2), two shards of rows each.
struct shards {
    static constexpr mir::index_t d = 8, n = 120;
    std::vector<float> rows[2][2][2];  // [layer][shard][modality]
    shards() {
        for (int l = 0; l < 2; ++l) {
            for (int s = 0; s < 2; ++s) {
                for (int m = 0; m < 2; ++m)
                    rows[l][s][m] = rows_of<float>(n, d, static_cast<unsigned>(100 * l + 10 * s + m));
            }
        }
    }
    template <class State>
    void feed(State& p, int l, int s) const {
        p.add(true, mir::row_view<float>(rows[l][s][0].data(), n, d));
        p.add(false, mir::row_view<float>(rows[l][s][1].data(), n, d));
    }
};

// Every pass: both shards start from the merged state of the last pass,
// (via a file, or in memory), add their rows, (are saved and loaded,) and
// are merged, in shard order.
template <mir::accumulator_type Acc>
std::vector<mir::layer_statistics> run(const shards& data, mir::outlier_policy policy, const temp_dir* files) {
    const std::vector<int> layers{1, 2};
    std::vector<mir::layer_passes<Acc>> merged;
    for (int l : layers) merged.emplace_back(shards::d, policy, l);
    for (int pass = 1; !merged[0].done(); ++pass) {
        std::vector<std::vector<mir::layer_passes<Acc>>> part(2);
        for (int s = 0; s < 2; ++s) {
            for (std::size_t l = 0; l < layers.size(); ++l) {
                part[static_cast<std::size_t>(s)].push_back(merged[l]);  // a copy: what a shard resumes from
                data.feed(part[static_cast<std::size_t>(s)].back(), static_cast<int>(l), s);
            }
            if (files) {
                const fs::path p = *files /
                                   ("shard" + std::to_string(s) + "_pass" + std::to_string(pass) + ".mirstate");
                mir::save_pass_states(p, layers, part[static_cast<std::size_t>(s)], {{"shard", s}});
                mir::saved_state_info info;
                part[static_cast<std::size_t>(s)] = mir::load_pass_states<Acc>(p, &info);
                CHECK(info.pass == pass);
                CHECK(info.layers == layers);
                CHECK(info.info["shard"] == s);
            }
        }
        for (std::size_t l = 0; l < layers.size(); ++l) {
            mir::layer_passes<Acc> m = std::move(part[0][l]);
            m.merge(part[1][l]);
            m.end_pass();
            merged[l] = std::move(m);
        }
        if (files) {  // the merged state too goes through a file
            const fs::path p = *files / ("merged_pass" + std::to_string(pass) + ".mirstate");
            mir::save_pass_states(p, layers, merged);
            merged = mir::load_pass_states<Acc>(p);
        }
    }
    std::vector<mir::layer_statistics> out;
    for (auto& m : merged) out.push_back(m.finish());
    return out;
}

}  // namespace

TEST_CASE("saved states: shards that meet through files equal shards in memory, bit for bit", "[saved_state][merge]") {
    const shards data;
    for (const auto& pol : mir::outlier_policies) {
        INFO(pol.name);
        temp_dir dir;
        const auto mem = run<double>(data, pol.policy, nullptr);
        const auto via = run<double>(data, pol.policy, &dir);
        const auto mem32 = run<float>(data, pol.policy, nullptr);
        const auto via32 = run<float>(data, pol.policy, &dir);
        for (std::size_t l = 0; l < mem.size(); ++l) {
            CHECK(via[l].alpha == mem[l].alpha);
            CHECK(via[l].vision.outliers == mem[l].vision.outliers);
            CHECK(via[l].vision.gaussian.covariance == mem[l].vision.gaussian.covariance);
            CHECK(via[l].text.gaussian.mean == mem[l].text.gaussian.mean);
            CHECK(via32[l].text.gaussian.covariance == mem32[l].text.gaussian.covariance);
            CHECK(mir::compute_layer(via[l]).fid == mir::compute_layer(mem[l]).fid);
        }
        if (pol.policy == mir::outlier_policy::replace_median) CHECK(mem[0].vision.outliers > 0);
    }
}

TEST_CASE("saved states: foreign, damaged and mismatched files are named errors", "[saved_state][errors]") {
    temp_dir dir;
    const shards data;
    const std::vector<int> layers{1, 2};
    std::vector<mir::layer_passes<double>> st;
    for (int l : layers) st.emplace_back(shards::d, mir::outlier_policy::replace_median, l);
    for (std::size_t l = 0; l < 2; ++l) data.feed(st[l], static_cast<int>(l), 0);
    const fs::path good = dir / "good.mirstate";
    mir::save_pass_states(good, layers, st);

    // Rewrites `good` with one tensor replaced (or dropped) and the metadata edited.
    const auto rewrite = [&](const std::string& name, const std::string& drop, const std::vector<std::uint32_t>* counts,
                             const std::function<void(nlohmann::json&)>& edit) {
        const auto f = mir::io::safetensors_file::open(good);
        std::vector<mir::io::tensor_to_write> ts;
        for (const auto& t : f.tensors()) {
            if (t.name == drop) continue;
            if (counts && t.name == "L2.vision.median.counts") {
                ts.push_back({t.name,
                              mir::io::file_dtype::u32,
                              {static_cast<std::int64_t>(counts->size())},
                              std::as_bytes(std::span<const std::uint32_t>(*counts))});
                continue;
            }
            ts.push_back({t.name, t.dtype, t.shape, std::span<const std::byte>(t.data, t.nbytes)});
        }
        nlohmann::json j = nlohmann::json::parse(f.metadata().at("mir_state"));
        if (edit) edit(j);
        const fs::path p = dir / name;
        mir::io::write_safetensors(p, ts, {{"mir_state", j.dump()}});
        return p;
    };
    const auto fails_with = [](const fs::path& p, std::initializer_list<std::string> parts) {
        try {
            (void)mir::load_pass_states<double>(p);
            FAIL("no error for " << p);
        } catch (const mir::file_error& e) {
            const std::string m = e.what();
            CHECK_THAT(m, Catch::Contains(p.string()));
            for (const auto& s : parts) CHECK_THAT(m, Catch::Contains(s));
        }
    };
    // A counter array of the wrong size would be written past its end by the next pass: refused first.
    const std::vector<std::uint32_t> few(10, 0);
    fails_with(rewrite("short_counts.mirstate", "", &few, {}), {"layer 2", "counter size"});
    fails_with(rewrite("missing.mirstate", "L1.text.moments.m2", nullptr, {}),
               {"layer 1", "text.moments.m2", "missing"});
    fails_with(rewrite("version.mirstate", "", nullptr, [](nlohmann::json& j) { j["version"] = 99; }),
               {"state version 99"});
    fails_with(rewrite("type.mirstate", "", nullptr,
                       [](nlohmann::json& j) { j["scalars"]["L1.vision.seen"] = "many"; }),
               {"layer 1", "vision.seen", "wrong type"});
    fails_with(rewrite("rows.mirstate", "", nullptr, [](nlohmann::json& j) { j["scalars"]["L2.text.seen"] = 7; }),
               {"layer 2", "text", "inconsistent row counts"});
    fails_with(rewrite("pass.mirstate", "", nullptr, [](nlohmann::json& j) { j["pass"] = 2; }),
               {"layer 1", "pass 1", "says 2"});
    // Read as the other precision; a dump file is not a state file.
    CHECK_THROWS_WITH(mir::load_pass_states<float>(good), Catch::Contains("a state in fp64, read as fp32"));
    const fs::path dump = dir / "dump.safetensors";
    const std::vector<float> h(2 * 3 * 4, 1.0f);
    mir::io::write_safetensors(
        dump, {{"hidden_states", mir::io::file_dtype::f32, {2, 3, 4}, std::as_bytes(std::span<const float>(h))}});
    CHECK_THROWS_WITH(mir::read_state_info(dump), Catch::Contains("not a mir state file"));
    // The good file loads, and what it says is what was saved.
    const mir::saved_state_info info = mir::read_state_info(good);
    CHECK(info.pass == 1);
    CHECK_FALSE(info.done);
    CHECK(info.hidden_size == shards::d);
    CHECK(info.policy == mir::outlier_policy::replace_median);
    CHECK(mir::load_pass_states<double>(good).size() == 2);
}

TEST_CASE("saved states: a grouped state (the jackknife's) goes through a file with its groups", "[saved_state]") {
    const temp_dir dir;
    const shards data;
    const std::vector<int> layers{1};
    for (const auto& pol : mir::outlier_policies) {
        INFO(pol.name);
        mir::layer_passes<double> mem(shards::d, pol.policy, 1, 3), file(shards::d, pol.policy, 1, 3);
        for (int pass = 1; !mem.done(); ++pass) {
            for (auto* p : {&mem, &file}) {
                for (int s = 0; s < 2; ++s) {
                    p->set_group(s + 1);  // group 0 stays empty
                    data.feed(*p, 0, s);
                }
                p->end_pass();
            }
            std::vector<mir::layer_passes<double>> states{file};
            const fs::path path = dir / ("grouped_pass" + std::to_string(pass) + ".mirstate");
            mir::save_pass_states(path, layers, states);
            file = std::move(mir::load_pass_states<double>(path).front());
            CHECK(file.groups() == 3);
        }
        REQUIRE(file.done());
        for (int g = 0; g < 3; ++g) {
            const mir::layer_statistics a = mem.leave_out(g), b = file.leave_out(g);
            CHECK(a.alpha == b.alpha);
            CHECK(a.vision.gaussian.count == b.vision.gaussian.count);
            CHECK(a.text.gaussian.covariance == b.text.gaussian.covariance);
        }
    }
}
