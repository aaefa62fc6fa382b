#include "provenance.hpp"

#include <mir/backend/threads.hpp>
#include <mir/version.hpp>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

namespace mir::tool {

namespace {

std::vector<std::string>& command_line() {
    static std::vector<std::string> args;
    return args;
}
std::string& started_at() {
    static std::string t;
    return t;
}

std::string utc_now() {
    const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

}  // namespace

void record_invocation(int argc, char** argv) {
    command_line().assign(argv, argv + argc);
    started_at() = utc_now();
}

nlohmann::ordered_json run_record() {
    nlohmann::ordered_json j;
    j["mir_version"] = MIR_VERSION_STRING;
    j["command_line"] = command_line();
    j["started_at"] = started_at().empty() ? utc_now() : started_at();
    char host[256] = {};
    j["host"] = ::gethostname(host, sizeof host - 1) == 0 ? std::string(host) : std::string();
    nlohmann::ordered_json blas;
#if MIR_USE_LAPACK
    blas["backend"] = "lapack";
#else
    blas["backend"] = "eigen";
#endif
    blas["core"] = backend::active::name();
    blas["threads"] = blas_threads();
    j["blas"] = std::move(blas);
    return j;
}

nlohmann::ordered_json options_record(const CLI::App& sub) {
    nlohmann::ordered_json j = nlohmann::ordered_json::object();
    for (const CLI::Option* o : sub.get_options()) {
        if (o->get_lnames().empty() && o->nonpositional()) continue;  // -h only
        const std::string name = o->nonpositional() ? o->get_lnames().front() : o->get_name();
        if (name == "help") continue;
        const bool flag = o->get_items_expected_max() == 0;
        if (o->count() > 0) {
            const std::vector<std::string>& r = o->results();
            if (flag) {
                j[name] = true;  // a flag given
            } else if (o->get_items_expected_max() > 1 || r.size() > 1) {
                j[name] = r;
            } else {
                j[name] = r.empty() ? std::string() : r.front();
            }
        } else if (flag) {
            j[name] = false;
        } else if (!o->get_default_str().empty()) {
            j[name] = o->get_default_str();
        } else {
            j[name] = nullptr;
        }
    }
    return j;
}

nlohmann::ordered_json inputs_record(const dump_source& d) {
    nlohmann::ordered_json j;
    j["num_indices"] = d.num_indices();
    j["hidden_size"] = d.hidden_size();
    j["samples"] = d.num_samples();
    j["vision_rows"] = d.vision_rows();
    j["text_rows"] = d.text_rows();
    index_t ignored = 0;
    nlohmann::ordered_json files = nlohmann::ordered_json::array();
    for (const dump_file& f : d.dump_files()) {
        nlohmann::ordered_json e;
        e["path"] = f.path().string();
        std::error_code ec;
        const auto size = std::filesystem::file_size(f.path(), ec);
        e["bytes"] = ec ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(size);
        e["layout"] = f.layout() == dump_layout::per_sample ? "per-sample" : "pre-split";
        e["dtype"] = std::string(io::to_string(f.dtype()));
        e["vision_rows"] = f.vision_rows();
        e["text_rows"] = f.text_rows();
        e["ignored_rows"] = f.ignored_rows();
        ignored += f.ignored_rows();
        files.push_back(std::move(e));
    }
    j["ignored_rows"] = ignored;
    j["files"] = std::move(files);
    return j;
}

void append_provenance(nlohmann::ordered_json& j, const CLI::App* sub, const thread_plan* threads,
                       const dump_source* inputs) {
    const nlohmann::ordered_json rec = run_record();  // a named object: items() refers to it
    for (const auto& [k, v] : rec.items()) j[k] = v;
    j["options"] = sub != nullptr ? options_record(*sub) : nlohmann::ordered_json::object();
    if (threads != nullptr) {
        j["threads"] = {{"layer_workers", threads->layer_workers}, {"blas_threads", threads->blas_threads}};
    }
    if (inputs != nullptr) j["inputs"] = inputs_record(*inputs);
}

}  // namespace mir::tool
