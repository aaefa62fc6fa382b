// tools/mir/provenance.hpp — where a result came from, recorded in every
// JSON the program writes (docs/schema/): which mir, which command line and
// options, which inputs, which machine and BLAS, when. Two results from two
// checkpoints are told apart (and rerun) from their JSON alone.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <mir/backend/threads.hpp>
#include <mir/source/dump_source.hpp>

namespace mir::tool {

/// The version of the result schemas (docs/schema/: compute, moca-init,
/// bench-sqrt; their shared parts in provenance.schema.json).
inline constexpr int result_schema_version = 1;

/// Remembers the process's argv and start time (main calls it first).
void record_invocation(int argc, char** argv);

/// {"mir_version", "command_line", "started_at" (UTC, ISO 8601), "host",
///  "blas": {"backend", "core", "threads"}}.
nlohmann::ordered_json run_record();

/// Every option of subcommand `sub` by its long name, as given or its
/// default (null when it has none): what was run, defaults included.
nlohmann::ordered_json options_record(const CLI::App& sub);

/// The inputs: per file its path, size in bytes, layout, dtype, and rows
/// (vision, text, ignored); K, d and the totals.
nlohmann::ordered_json inputs_record(const dump_source& d);

/// Appends the provenance of a result to `j`: the run record's fields,
/// "options" (of `sub`; {} without one), "threads" (when given) and
/// "inputs" (when given). Every JSON the program writes ends with these.
void append_provenance(nlohmann::ordered_json& j, const CLI::App* sub, const thread_plan* threads,
                       const dump_source* inputs);

}  // namespace mir::tool
