// examples/dlpack_zero_copy.cpp — a DLPack tensor consumed without a copy
// (docs/adapters.md, docs/integrations.md).
//
// A producer (standing in for torch.utils.dlpack.to_dlpack, or any framework
// that exports DLPack) hands over DLManagedTensor objects holding one
// layer's hidden states each, as bfloat16 [1, T, d] with a byte_offset.
// mir::dlpack_tensor takes ownership, the sink reads the producer's memory
// in place (the pointer is checked), and the producer's deleter runs exactly
// once per tensor, when the owner goes out of scope.
#include <mir/adapters/dlpack.hpp>
#include <mir/mir.hpp>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

namespace {

int tensors_made = 0, tensors_deleted = 0;

// The producer's side: a buffer with 8 bytes of header before the data.
struct exported_layer {
    std::vector<mir::bfloat16> storage;
    std::int64_t shape[3];
};

DLManagedTensor* export_layer(std::int64_t tokens, std::int64_t dim, int layer, std::mt19937& rng) {
    auto* ctx = new exported_layer{std::vector<mir::bfloat16>(static_cast<std::size_t>(4 + tokens * dim)),
                                   {1, tokens, dim}};
    std::normal_distribution<float> g(0.0f, 1.0f);
    const float gap = 2.5f / static_cast<float>(1 + layer);
    for (std::int64_t t = 0; t < tokens; ++t) {
        for (std::int64_t j = 0; j < dim; ++j) {
            ctx->storage[static_cast<std::size_t>(4 + t * dim + j)] = mir::bfloat16(g(rng) + (t < 24 ? gap : 0.0f));
        }
    }
    auto* m = new DLManagedTensor{};
    m->dl_tensor.data = ctx->storage.data();
    m->dl_tensor.device = {kDLCPU, 0};
    m->dl_tensor.ndim = 3;
    m->dl_tensor.dtype = {kDLBfloat, 16, 1};
    m->dl_tensor.shape = ctx->shape;
    m->dl_tensor.strides = nullptr;  // compact row-major
    m->dl_tensor.byte_offset = 4 * sizeof(mir::bfloat16);
    m->manager_ctx = ctx;
    m->deleter = [](DLManagedTensor* self) {
        delete static_cast<exported_layer*>(self->manager_ctx);
        delete self;
        ++tensors_deleted;
    };
    ++tensors_made;
    return m;
}

}  // namespace

int main() {
    const std::int64_t dim = 48;
    const int indices = 5;
    std::mt19937 rng(42);
    mir::hidden_state_sink sink(indices, dim);
    bool zero_copy = true;
    for (int sample = 0; sample < 6; ++sample) {
        const std::int64_t tokens = 64;
        sink.begin_sample(mir::vision_positions::from_ranges({{0, 24}}, tokens));
        for (int k = 0; k < indices; ++k) {
            mir::dlpack_tensor owner(export_layer(tokens, dim, k, rng));  // ownership moves to mir here
            const DLTensor& dl = owner.tensor();
            const auto* first = reinterpret_cast<const mir::bfloat16*>(static_cast<const char*>(dl.data) + dl.byte_offset);
            const auto& rows = std::get<mir::strided_rows<mir::bfloat16>>(owner.rows());
            zero_copy = zero_copy && rows.in_place() && rows.data == first;
            sink.push(k, owner);
        }  // owner's destructor calls the producer's deleter, once
        sink.end_sample();
    }
    const mir::mir_result r = sink.finalize();
    for (const auto& l : r.layers) std::printf("  layer %d  FID %.6f\n", l.layer, l.fid);
    std::printf("MIR = %.6f\n", r.mir);
    std::printf("zero copy: %s; tensors exported %d, deleted %d\n", zero_copy ? "yes" : "NO", tensors_made,
                tensors_deleted);
    return zero_copy && tensors_made == tensors_deleted && std::isfinite(r.mir) ? 0 : 1;
}
