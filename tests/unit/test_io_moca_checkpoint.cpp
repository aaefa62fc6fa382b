// MoCa checkpoints (mir/moca/checkpoint.hpp): save -> load round trips in
// F32, BF16 and F16, and the golden files written by a Python writer under
// the official names (tests/data/golden/moca, from ../shared/golden/moca).
#include <catch2/catch.hpp>

#include <mir/moca/checkpoint.hpp>
#include <mir/mir.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

namespace {

std::filesystem::path moca_dir() { return std::filesystem::path(MIR_TEST_DATA_DIR) / "golden" / "moca"; }

std::filesystem::path temp_path(const std::string& name) {
    return std::filesystem::temp_directory_path() / ("mir_test_moca_" + std::to_string(::getpid()) + "_" + name);
}

}  // namespace

TEST_CASE("moca checkpoint names follow the official module", "[moca][io]") {
    CHECK(mir::moca::scale_name(0) == "model.layers.0.modality_layernorm.scale");
    CHECK(mir::moca::shift_name(31) == "model.layers.31.modality_layernorm.shift");
}

TEST_CASE("moca checkpoint save then load round trips in F32 BF16 and F16", "[moca][io]") {
    mir::moca::init_options o;
    o.stddev = 0.05;
    o.seed = 9;
    const auto c = mir::moca::init_calibration(3, 40, o);
    const auto path = temp_path("roundtrip.safetensors");
    for (auto dt : {mir::io::file_dtype::f32, mir::io::file_dtype::bf16, mir::io::file_dtype::f16}) {
        INFO(std::string(mir::io::to_string(dt)));
        mir::moca::save_checkpoint(path, c, dt, {{"format", "pt"}});
        const auto f = mir::io::safetensors_file::open(path);
        REQUIRE(f.tensors().size() == 6);
        const auto* t = f.find("model.layers.2.modality_layernorm.shift");
        REQUIRE(t != nullptr);
        CHECK(t->dtype == dt);
        CHECK(t->shape == std::vector<std::int64_t>{40});
        CHECK(f.metadata().at("format") == "pt");
        const auto back = mir::moca::load_checkpoint(f);
        REQUIRE(back.num_layers() == 3);
        REQUIRE(back.hidden_size() == 40);
        for (std::size_t i = 0; i < 3; ++i) {
            for (mir::index_t j = 0; j < 40; ++j) {
                for (const bool s : {true, false}) {
                    const double x = s ? c.layers[i].scale[j] : c.layers[i].shift[j];
                    const double y = s ? back.layers[i].scale[j] : back.layers[i].shift[j];
                    const auto f32 = static_cast<float>(x);
                    const double want = dt == mir::io::file_dtype::f32    ? static_cast<double>(f32)
                                        : dt == mir::io::file_dtype::bf16 ? static_cast<double>(static_cast<float>(mir::bfloat16(f32)))
                                                                          : static_cast<double>(static_cast<float>(mir::half(f32)));
                    CHECK(y == want);
                }
            }
        }
    }
    std::filesystem::remove(path);
}

TEST_CASE("moca checkpoints from the golden Python writer read to the expected values", "[moca][io]") {
    std::ifstream in(moca_dir() / "expected.json");
    REQUIRE(in);
    const auto expected = nlohmann::json::parse(in);
    const int k = expected["num_layers"];
    const int d = expected["hidden_size"];
    for (const std::string kind : {"f32", "bf16"}) {
        INFO(kind);
        const auto f = mir::io::safetensors_file::open(moca_dir() / ("official_names_" + kind + ".safetensors"));
        const auto c = mir::moca::load_checkpoint(f);
        REQUIRE(c.num_layers() == k);
        REQUIRE(c.hidden_size() == d);
        if (kind == "f32") CHECK(f.tensors().size() == static_cast<std::size_t>(2 * k + 1));  // one unrelated tensor
        for (int i = 0; i < k; ++i) {
            const auto& u = expected[kind][mir::moca::scale_name(i)];
            const auto& v = expected[kind][mir::moca::shift_name(i)];
            for (int j = 0; j < d; ++j) {
                CHECK(c.layers[static_cast<std::size_t>(i)].scale[j] == u[static_cast<std::size_t>(j)].get<double>());
                CHECK(c.layers[static_cast<std::size_t>(i)].shift[j] == v[static_cast<std::size_t>(j)].get<double>());
            }
        }
    }
}

TEST_CASE("moca checkpoint errors name the file and the tensor", "[moca][io]") {
    const auto path = temp_path("broken.safetensors");
    const std::vector<float> x(4, 1.0f);
    const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(x.data()), 16);
    mir::io::write_safetensors(path, {{"model.layers.0.modality_layernorm.scale", mir::io::file_dtype::f32, {4}, bytes},
                                      {"model.layers.0.modality_layernorm.shift", mir::io::file_dtype::f32, {4}, bytes},
                                      {"model.layers.1.modality_layernorm.scale", mir::io::file_dtype::f32, {4}, bytes}});
    try {
        (void)mir::moca::load_checkpoint(path);
        FAIL("no error");
    } catch (const mir::file_error& e) {
        const std::string msg = e.what();
        CHECK(msg.find(path.filename().string()) != std::string::npos);
        CHECK(msg.find("model.layers.1.modality_layernorm.shift") != std::string::npos);
        CHECK(msg.find("missing") != std::string::npos);
    }
    mir::io::write_safetensors(path, {{"lm_head.weight", mir::io::file_dtype::f32, {4}, bytes}});
    CHECK_THROWS_AS(mir::moca::load_checkpoint(path), mir::file_error);
    mir::io::write_safetensors(path, {{"model.layers.0.modality_layernorm.scale", mir::io::file_dtype::f32, {2, 2}, bytes},
                                      {"model.layers.0.modality_layernorm.shift", mir::io::file_dtype::f32, {4}, bytes}});
    CHECK_THROWS_AS(mir::moca::load_checkpoint(path), mir::file_error);
    std::filesystem::remove(path);
}

TEST_CASE("moca checkpoint values beyond the dtype's range are an error naming layer, parameter and dtype",
          "[moca][io][hardening]") {
    mir::moca::init_options o;
    const auto base = mir::moca::init_calibration(3, 4, o);
    // F16 ends at 65504: a shift of 7e4 (a layer whose modalities' means differ by that) does not fit.
    auto c = base;
    c.layers[2].shift[1] = 7.0e4;
    const auto path = temp_path("beyond_f16.safetensors");
    std::filesystem::remove(path);
    try {
        mir::moca::save_checkpoint(path, c, mir::io::file_dtype::f16);
        FAIL("no error for a shift beyond the F16 range");
    } catch (const mir::numerical_error& e) {
        const std::string m = e.what();
        INFO(m);
        CHECK(m.find(path.string()) != std::string::npos);
        CHECK(m.find("layer 2's shift, dimension 1: 70000 is beyond the F16 range (largest finite 65504)") !=
              std::string::npos);
        CHECK(m.find("F32 or BF16") != std::string::npos);
    }
    CHECK_FALSE(std::filesystem::exists(path));  // nothing written
    // The same values fit BF16 and F32; 65504 itself fits F16 (and rounds there exactly).
    CHECK_NOTHROW(mir::moca::save_checkpoint(path, c, mir::io::file_dtype::bf16));
    CHECK_NOTHROW(mir::moca::save_checkpoint(path, c, mir::io::file_dtype::f32));
    c.layers[2].shift[1] = 65504.0;
    CHECK(mir::moca::stored_values(c.layers[2].shift, mir::io::file_dtype::f16, 2, false)[1] == 65504.0);
    // Beyond float: no checkpoint dtype holds it.
    c.layers[0].scale[3] = 1e39;
    CHECK_THROWS_WITH(mir::moca::stored_values(c.layers[0].scale, mir::io::file_dtype::f32, 0, true),
                      Catch::Contains("layer 0's scale, dimension 3") &&
                          Catch::Contains("no checkpoint dtype holds it"));
    std::filesystem::remove(path);
}
