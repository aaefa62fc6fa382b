// tools/mir/main.cpp — the `mir` program: lists its subcommands (each
// registered by its own file, command.hpp) and runs the one chosen.
#include <mir/backend/backend.hpp>
#include <mir/error.hpp>
#include <mir/version.hpp>

#include <CLI/CLI.hpp>

#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "command.hpp"
#include "man_page.hpp"
#include "output.hpp"
#include "provenance.hpp"

namespace {

// OpenBLAS 0.3.21 (Debian 12) does not recognise recent Xeons whose CPUID
// model name is generic and falls back to its SSE3 "Prescott" kernels, 3-4x
// slower here. It picks kernels when the library loads, before main, so the
// only remedy is to restart with OPENBLAS_CORETYPE set. We do that once, only
// when the fallback was chosen on a CPU with AVX2 or AVX-512, and never when
// the user set OPENBLAS_CORETYPE.
void use_fast_blas_kernels(char** argv) {
#if MIR_USE_LAPACK && defined(__x86_64__)
    if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;
    if (std::strcmp(mir::backend::active::name(), "Prescott") != 0) return;
    __builtin_cpu_init();
    const char* core = __builtin_cpu_supports("avx512f") ? "SkylakeX" : __builtin_cpu_supports("avx2") ? "Haswell" : nullptr;
    if (core == nullptr) return;
    setenv("OPENBLAS_CORETYPE", core, 1);
    execv("/proc/self/exe", argv);  // returns only on failure: go on with the slow kernels
#else
    (void)argv;
#endif
}

}  // namespace

// Exit codes (docs/cli.md): 0 success, 1 a data or runtime error, 2 a usage error.
int main(int argc, char** argv) {
    use_fast_blas_kernels(argv);
    mir::tool::record_invocation(argc, argv);
    CLI::App app{"mir — Modality Integration Rate of vision-language models from hidden-state dumps"};
    const std::vector<mir::tool::command> commands = mir::tool::register_commands(app);
    if ((argc == 2 || argc == 3) && std::strcmp(argv[1], "--man") == 0) {  // the manual page: mir --man [FILE]
        try {
            mir::tool::write_output(argc == 3 ? argv[2] : "-",
                                    mir::tool::man_page(app, std::string("mir ") + MIR_VERSION_STRING), "the man page");
            mir::tool::check_stdout();
            return 0;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "mir: error: %s\n", e.what());
            return 1;
        }
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
        std::fprintf(stderr, "mir: usage error: %s\nRun 'mir --help' or 'mir SUBCOMMAND --help' for the options.\n",
                     e.what());
        return 2;
    }
    try {
        int status = 0;
        for (const auto& c : commands) {
            if (*c.app) {
                status = c.run();
                break;
            }
        }
        mir::tool::check_stdout();
        return status;
    } catch (const mir::tool::usage_error& e) {
        std::fprintf(stderr, "mir: usage error: %s\n", e.what());
        return 2;
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "mir: error: out of memory (std::bad_alloc)\n");
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "mir: error: %s\n", e.what());
        return 1;
    }
}
