// tests/support/golden.hpp — a small test-only reader for the golden
// safetensors dumps (tests/data/golden, copied from ../shared/golden).
// The library's real reader arrives with the io/ headers; this one reads
// just enough (header JSON, F16/BF16/F32/F64/U8 payloads) for the oracle
// tests, and fails loudly on anything else.
#pragma once

#include <mir/element.hpp>
#include <mir/metric/layer.hpp>
#include <mir/metric/mir.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#ifndef MIR_TEST_DATA_DIR
#error "MIR_TEST_DATA_DIR must be defined by the build"
#endif

namespace mir_test {

inline std::filesystem::path data_dir() { return MIR_TEST_DATA_DIR; }
inline std::filesystem::path golden_dir() { return data_dir() / "golden"; }

struct tensor {
    std::string dtype;
    std::vector<std::int64_t> shape;
    std::vector<unsigned char> bytes;

    template <class T>
    const T* as() const {
        return reinterpret_cast<const T*>(bytes.data());
    }
};

inline std::map<std::string, tensor> read_safetensors(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + p.string());
    std::uint64_t n = 0;
    in.read(reinterpret_cast<char*>(&n), 8);
    std::string header(n, '\0');
    in.read(header.data(), static_cast<std::streamsize>(n));
    std::vector<unsigned char> payload((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto j = nlohmann::json::parse(header);
    std::map<std::string, tensor> out;
    for (const auto& [name, v] : j.items()) {
        if (name == "__metadata__") continue;
        tensor t;
        t.dtype = v.at("dtype").get<std::string>();
        t.shape = v.at("shape").get<std::vector<std::int64_t>>();
        const auto off = v.at("data_offsets").get<std::vector<std::uint64_t>>();
        if (off.size() != 2 || off[1] > payload.size() || off[0] > off[1]) {
            throw std::runtime_error(p.string() + ": bad offsets for " + name);
        }
        t.bytes.assign(payload.begin() + static_cast<std::ptrdiff_t>(off[0]),
                       payload.begin() + static_cast<std::ptrdiff_t>(off[1]));
        out.emplace(name, std::move(t));
    }
    return out;
}

inline nlohmann::json expected() {
    std::ifstream in(golden_dir() / "expected.json");
    return nlohmann::json::parse(in);
}

/// One golden case: per-sample hidden states [K+1, T, d] and vision masks,
/// in the stored element type T.
template <class T>
struct dump {
    int indices = 0;  // K + 1
    mir::index_t d = 0;
    struct sample {
        mir::index_t tokens = 0;
        std::vector<T> hidden;              // [K+1, tokens, d]
        std::vector<std::uint8_t> mask;     // [tokens]
        mir::row_view<T> layer(int k, mir::index_t dim) const {
            return {hidden.data() + static_cast<std::ptrdiff_t>(k) * tokens * dim, tokens, dim};
        }
    };
    std::vector<sample> samples;

    /// All vision (or text) rows of layer k, concatenated in sample order.
    std::vector<T> rows(int k, bool vision, mir::index_t& count) const {
        std::vector<T> out;
        count = 0;
        for (const auto& s : samples) {
            for (mir::index_t t = 0; t < s.tokens; ++t) {
                if ((s.mask[static_cast<std::size_t>(t)] != 0) != vision) continue;
                const T* r = s.hidden.data() + (static_cast<std::ptrdiff_t>(k) * s.tokens + t) * d;
                out.insert(out.end(), r, r + d);
                ++count;
            }
        }
        return out;
    }
};

template <class T>
dump<T> read_dump(const std::string& name) {
    dump<T> out;
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(golden_dir() / name)) {
        if (e.path().extension() == ".safetensors") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) throw std::runtime_error("no golden files for " + name);
    for (const auto& f : files) {
        auto ts = read_safetensors(f);
        const tensor& h = ts.at("hidden_states");
        const tensor& m = ts.at("vision_mask");
        if (h.shape.size() != 3 || h.bytes.size() != static_cast<std::size_t>(h.shape[0] * h.shape[1] * h.shape[2]) * sizeof(T)) {
            throw std::runtime_error(f.string() + ": unexpected hidden_states layout/dtype " + h.dtype);
        }
        typename dump<T>::sample s;
        out.indices = static_cast<int>(h.shape[0]);
        s.tokens = h.shape[1];
        out.d = h.shape[2];
        s.hidden.resize(h.bytes.size() / sizeof(T));
        std::memcpy(s.hidden.data(), h.bytes.data(), h.bytes.size());
        s.mask.assign(m.bytes.begin(), m.bytes.end());
        out.samples.push_back(std::move(s));
    }
    return out;
}

/// MIR of a golden dump through the per-layer API: compute_layer on each
/// chosen layer's rows, then aggregate.
template <class T>
mir::mir_result per_layer_api(const dump<T>& g, const std::vector<int>& layers, mir::outlier_policy p,
                              mir::sqrt_method sq = mir::sqrt_method::exact) {
    std::vector<mir::layer_result> out;
    for (int k : layers) {
        mir::index_t nv = 0, nt = 0;
        const auto v = g.rows(k, true, nv);
        const auto t = g.rows(k, false, nt);
        mir::layer_options opt;
        opt.policy = p;
        opt.sqrt = sq;
        opt.layer = k;
        out.push_back(
            mir::compute_layer(mir::row_view<T>(v.data(), nv, g.d), mir::row_view<T>(t.data(), nt, g.d), opt));
    }
    return mir::aggregate(std::move(out));
}

}  // namespace mir_test
