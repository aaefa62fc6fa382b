// tools/mir/merge.hpp — exact MIR over shards of the dumps (other machines,
// other times): `mir compute SHARD --save-state S [--resume G]` runs the
// pass in progress over one shard's files and saves that shard's share;
// `mir merge S1 S2 ...` merges the shards' shares of a pass (in the order
// given) and either saves the state of the next pass (--save-state G) or,
// after the last pass, reports the MIR exactly as `mir compute` over all
// the files would (docs/merging.md).
#pragma once

#include "command.hpp"
#include "compute.hpp"

namespace mir::tool {

/// `mir compute ... --save-state S [--resume G]`: one pass over the files of o.inputs.
int run_shard_pass(const compute_options& o);

/// `mir compute --mpi`: the files shared out among the MPI ranks in blocks,
/// merged after every pass (mpi_compute.cpp; a usage error in a build
/// without MIR_BUILD_MPI).
int run_compute_mpi(const compute_options& o);

/// Several inputs records (provenance.schema.json#/$defs/inputs) as one:
/// their files in order, the counts summed.
nlohmann::ordered_json combined_inputs(const std::vector<nlohmann::json>& records);

/// A state file whose passes are all done (the last pass's `mir merge
/// --save-state`), computed as `mir merge FILE` reports it; with o.ci > 0
/// (the state must hold jackknife groups) its intervals too. For mir track
/// and mir compare.
struct state_result {
    files_result computed;
    result_origin origin;
};
state_result compute_done_state(const std::string& path, const compute_options& o);

command register_merge(CLI::App& app);  // merge.cpp

}  // namespace mir::tool
