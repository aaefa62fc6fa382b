#include "output.hpp"

#include <mir/error.hpp>

#include <cstdio>
#include <fstream>

namespace mir::tool {

void write_output(const std::string& path, std::string_view doc, std::string_view what) {
    std::string failed = ": cannot write";
    if (!what.empty()) failed.append(" ").append(what);
    if (path == "-") {
        if (std::fwrite(doc.data(), 1, doc.size(), stdout) != doc.size() || std::fflush(stdout) != 0) {
            throw file_error("stdout" + failed);
        }
        return;
    }
    std::ofstream out(path, std::ios::binary);
    out.write(doc.data(), static_cast<std::streamsize>(doc.size()));
    out.close();  // the last bytes reach the file here; a full disk shows only now
    if (!out) throw file_error(path + failed);
}

void write_json(const std::string& path, const nlohmann::ordered_json& j) {
    write_output(path, j.dump(2) + "\n", "the JSON output");
}

}  // namespace mir::tool
