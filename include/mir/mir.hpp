// mir/mir.hpp — the core numerical API of mir (Modality Integration Rate,
// Huang et al., ICCV 2025). Needs Eigen, plus BLAS/LAPACK when the build
// enables MIR_USE_LAPACK. File readers, framework adapters and CUDA are
// opt-in headers with their own dependencies.
//
// Where each equation of SPEC.md lives:
//   §2.1 text-centric scale α        mir/stats/scale.hpp
//   §2.2 3σ rule, outlier policies   mir/stats/norms.hpp, mir/stats/outliers.hpp (policy table and plans)
//   §2.3 moments, covariance         mir/stats/moments.hpp
//   §2.3 Tr (Σ₁Σ₂)^{1/2}, cut-off    mir/linalg/trace_sqrt.hpp, mir/linalg/eigenvalues.hpp
//   §3 official loop (benchmark)    mir/linalg/official_loop.hpp
//   §4 matrix square roots          mir/linalg/sqrt_catalogue.hpp (the table), mir/linalg/sqrt_methods.hpp
//                                   (newton_schulz, denman_beavers, pade, taylor, sqrtm)
//   §2.3 Fréchet distance            mir/metric/frechet.hpp
//   §2.1–2.2 one layer's statistics  mir/stats/layer_statistics.hpp (in memory, replayed, streamed;
//                                   + mir/stats/modality.hpp, mir/stats/gaussian.hpp);
//                                   by mergeable passes: mir/stats/layer_passes.hpp
//   §2   one layer's FID             mir/metric/layer.hpp
//   §2.4 MIR aggregation             mir/metric/mir.hpp
//   streaming, sample by sample      mir/metric/accumulator.hpp (+ mir/stats/streaming.hpp)
//   exact, bounded memory, replayed  mir/metric/multipass.hpp (+ mir/stats/median.hpp)
//   sample by sample, exact,        mir/metric/multipass_accumulator.hpp (the data replayed pass by pass)
//   bounded memory
//   §5 MoCa calibration layer        mir/moca/layer.hpp, calibration.hpp, init.hpp, moment_init.hpp
//                                   (checkpoints: mir/moca/checkpoint.hpp, needs mir::io)
//   tensors of any framework         mir/adapters/adapter.hpp (tensor_adapter<X>), raw.hpp, eigen.hpp;
//                                   opt-in: xtensor.hpp, dlpack.hpp, libtorch.hpp
//   feeding MIR from a model         mir/source/sink.hpp (hidden_state_sink), source.hpp
//                                   (hidden_state_source, compute_mir), vision_positions.hpp,
//                                   tensor_layer.hpp; dump files: mir/source/dump_source.hpp (needs mir::io)
#pragma once

#include "mir/adapters/adapter.hpp"
#include "mir/adapters/eigen.hpp"
#include "mir/adapters/raw.hpp"
#include "mir/config.hpp"
#include "mir/element.hpp"
#include "mir/error.hpp"
#include "mir/linalg/denman_beavers.hpp"
#include "mir/linalg/eigenvalues.hpp"
#include "mir/linalg/matrix_sqrt.hpp"
#include "mir/linalg/newton_schulz.hpp"
#include "mir/linalg/official_loop.hpp"
#include "mir/linalg/pade.hpp"
#include "mir/linalg/sqrt_catalogue.hpp"
#include "mir/linalg/sqrt_methods.hpp"
#include "mir/linalg/sqrtm.hpp"
#include "mir/linalg/taylor.hpp"
#include "mir/linalg/trace_sqrt.hpp"
#include "mir/mask.hpp"
#include "mir/metric/accumulator.hpp"
#include "mir/metric/frechet.hpp"
#include "mir/metric/layer.hpp"
#include "mir/metric/mir.hpp"
#include "mir/metric/multipass.hpp"
#include "mir/metric/multipass_accumulator.hpp"
#include "mir/moca/calibration.hpp"
#include "mir/moca/init.hpp"
#include "mir/moca/layer.hpp"
#include "mir/moca/moment_init.hpp"
#include "mir/precision.hpp"
#include "mir/source/sink.hpp"
#include "mir/source/source.hpp"
#include "mir/source/tensor_layer.hpp"
#include "mir/source/vision_positions.hpp"
#include "mir/stats/gaussian.hpp"
#include "mir/stats/layer_passes.hpp"
#include "mir/stats/layer_statistics.hpp"
#include "mir/stats/median.hpp"
#include "mir/stats/modality.hpp"
#include "mir/stats/moments.hpp"
#include "mir/stats/norms.hpp"
#include "mir/stats/outliers.hpp"
#include "mir/stats/scale.hpp"
#include "mir/stats/streaming.hpp"
