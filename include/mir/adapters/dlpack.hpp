// mir/adapters/dlpack.hpp — DLPack tensors as token rows, without a copy.
//
// DLPack is how PyTorch, JAX, CuPy, TVM and numpy hand tensors to each other
// (https://dmlc.github.io/dlpack). Two managed forms exist:
//   DLManagedTensor           DLPack < 1.0 (the Debian header is 0.6, and
//                             PyTorch 1.13's torch.utils.dlpack exports it)
//   DLManagedTensorVersioned  DLPack >= 1.0 (declared here, following the
//                             1.x ABI, when the installed header predates it)
// Supported: float16, bfloat16 (kDLBfloat), float32, float64 with one lane,
// in host memory (kDLCPU, and the host-pinned kDLCUDAHost / kDLROCMHost);
// NULL strides mean compact row-major; byte_offset is honoured. Other
// devices are refused with an error naming the device: copy to the CPU first.
//
// Ownership follows the spec: a producer hands a managed tensor over, and
// whoever owns it calls its deleter exactly once. mir::dlpack_tensor takes
// that ownership (and calls the deleter exactly once, even when it refuses
// the tensor); the adapters for DLTensor, DLManagedTensor and the versioned
// struct only borrow.
#pragma once

#include <dlpack/dlpack.h>

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "mir/adapters/adapter.hpp"
#include "mir/element.hpp"
#include "mir/error.hpp"

namespace mir {
namespace dlpack {

#if defined(DLPACK_MAJOR_VERSION) && DLPACK_MAJOR_VERSION >= 1
using pack_version = ::DLPackVersion;
using managed_tensor_versioned = ::DLManagedTensorVersioned;
inline constexpr bool header_declares_versioned = true;
#else
/// DLPackVersion of DLPack 1.x.
struct pack_version {
    std::uint32_t major;
    std::uint32_t minor;
};
/// DLManagedTensorVersioned of DLPack 1.x, field for field (the installed
/// header predates it).
struct managed_tensor_versioned {
    pack_version version;
    void* manager_ctx;
    void (*deleter)(managed_tensor_versioned* self);
    std::uint64_t flags;
    DLTensor dl_tensor;
};
inline constexpr bool header_declares_versioned = false;
#endif

/// The major version of DLManagedTensorVersioned this code reads.
inline constexpr std::uint32_t supported_major_version = 1;
/// DLPack 1.x flag bits.
inline constexpr std::uint64_t flag_read_only = 1ULL << 0;
inline constexpr std::uint64_t flag_is_copied = 1ULL << 1;

/// "CPU:0", "CUDA:1", … for messages.
inline std::string describe_device(const DLDevice& d) {
    std::string name;
    switch (static_cast<int>(d.device_type)) {
        case 1: name = "CPU"; break;
        case 2: name = "CUDA"; break;
        case 3: name = "CUDAHost"; break;
        case 4: name = "OpenCL"; break;
        case 7: name = "Vulkan"; break;
        case 8: name = "Metal"; break;
        case 9: name = "VPI"; break;
        case 10: name = "ROCM"; break;
        case 11: name = "ROCMHost"; break;
        case 12: name = "ExtDev"; break;
        case 13: name = "CUDAManaged"; break;
        case 14: name = "OneAPI"; break;
        case 15: name = "WebGPU"; break;
        case 16: name = "Hexagon"; break;
        default: name = "device type " + std::to_string(static_cast<int>(d.device_type)); break;
    }
    return name + ":" + std::to_string(d.device_id);
}

/// "float32", "bfloat16", "int8x4", … for messages.
inline std::string describe_dtype(const DLDataType& t) {
    std::string name;
    switch (t.code) {
        case 0: name = "int"; break;
        case 1: name = "uint"; break;
        case 2: name = "float"; break;
        case 3: name = "opaque"; break;
        case 4: name = "bfloat"; break;
        case 5: name = "complex"; break;
        case 6: name = "bool"; break;
        default: name = "code " + std::to_string(t.code) + " "; break;
    }
    name += std::to_string(t.bits);
    if (t.lanes != 1) name += "x" + std::to_string(t.lanes);
    return name;
}

/// The rows of a borrowed DLTensor; throws shape_error / argument_error
/// naming `what`, the device or the dtype when it cannot be read here.
inline any_strided_rows rows(const DLTensor& t, const std::string& what = "DLPack tensor") {
    const int type = static_cast<int>(t.device.device_type);
    if (type != 1 && type != 3 && type != 11) {
        throw argument_error(what + " lives on " + describe_device(t.device) +
                             "; only host memory (CPU, CUDAHost, ROCMHost) can be read here: copy it to the CPU first");
    }
    dtype e{};
    if (t.dtype.lanes == 1 && t.dtype.code == 2 && t.dtype.bits == 16) {
        e = dtype::f16;
    } else if (t.dtype.lanes == 1 && t.dtype.code == 4 && t.dtype.bits == 16) {
        e = dtype::bf16;
    } else if (t.dtype.lanes == 1 && t.dtype.code == 2 && t.dtype.bits == 32) {
        e = dtype::f32;
    } else if (t.dtype.lanes == 1 && t.dtype.code == 2 && t.dtype.bits == 64) {
        e = dtype::f64;
    } else {
        throw argument_error(what + " has dtype " + describe_dtype(t.dtype) +
                             "; expected float16, bfloat16, float32 or float64 with one lane");
    }
    if (t.ndim < 0 || (t.ndim > 0 && t.shape == nullptr)) {
        throw shape_error(what + ": ndim " + std::to_string(t.ndim) + " without a shape array");
    }
    const std::vector<index_t> shape(t.shape, t.shape + t.ndim);
    const std::vector<index_t> strides =
        t.strides == nullptr ? detail::compact_strides(shape) : std::vector<index_t>(t.strides, t.strides + t.ndim);
    const char* base = static_cast<const char*>(t.data);
    if (base != nullptr) base += t.byte_offset;
    if (reinterpret_cast<std::uintptr_t>(base) % size_of(e) != 0) {
        throw shape_error(what + ": data + byte_offset is not aligned to its " + std::to_string(size_of(e)) +
                          "-byte elements");
    }
    const std::string named = what + " (" + describe_dtype(t.dtype) + ")";
    switch (e) {
        case dtype::f16: return detail::rows_from_shape(reinterpret_cast<const half*>(base), shape, strides, named);
        case dtype::bf16:
            return detail::rows_from_shape(reinterpret_cast<const bfloat16*>(base), shape, strides, named);
        case dtype::f32: return detail::rows_from_shape(reinterpret_cast<const float*>(base), shape, strides, named);
        case dtype::f64: return detail::rows_from_shape(reinterpret_cast<const double*>(base), shape, strides, named);
    }
    throw argument_error(what + ": unsupported dtype");
}

/// Throws unless `t` has the major version this code reads (the spec asks
/// consumers to check before reading past the version field).
inline void check_version(const managed_tensor_versioned& t) {
    if (t.version.major != supported_major_version) {
        throw argument_error("DLPack tensor (DLManagedTensorVersioned) has DLPack version " +
                             std::to_string(t.version.major) + "." + std::to_string(t.version.minor) +
                             "; this reader supports major version " + std::to_string(supported_major_version));
    }
}

}  // namespace dlpack

/// Owner of a managed DLPack tensor (either form). Takes ownership in the
/// constructor — from then on its deleter is called exactly once: by the
/// destructor, or by the constructor itself when it refuses the tensor
/// (wrong device, dtype, shape or major version). Move-only.
class dlpack_tensor {
public:
    explicit dlpack_tensor(DLManagedTensor* t) : owned_(t) { validate(); }
    explicit dlpack_tensor(dlpack::managed_tensor_versioned* t) : owned_(t) { validate(); }

    dlpack_tensor(dlpack_tensor&& o) noexcept
        : owned_(std::exchange(o.owned_, std::monostate{})), rows_(std::exchange(o.rows_, any_strided_rows{})) {}
    dlpack_tensor& operator=(dlpack_tensor&& o) noexcept {
        if (this != &o) {
            reset();
            owned_ = std::exchange(o.owned_, std::monostate{});
            rows_ = std::exchange(o.rows_, any_strided_rows{});
        }
        return *this;
    }
    dlpack_tensor(const dlpack_tensor&) = delete;
    dlpack_tensor& operator=(const dlpack_tensor&) = delete;
    ~dlpack_tensor() { reset(); }

    /// The tensor's rows (in place: the producer's memory, no copy).
    [[nodiscard]] const any_strided_rows& rows() const noexcept { return rows_; }
    /// The underlying DLTensor; precondition: owns one.
    [[nodiscard]] const DLTensor& tensor() const {
        if (const auto* l = std::get_if<DLManagedTensor*>(&owned_)) return (*l)->dl_tensor;
        if (const auto* v = std::get_if<dlpack::managed_tensor_versioned*>(&owned_)) return (*v)->dl_tensor;
        throw argument_error("dlpack_tensor: empty (moved from or reset)");
    }
    /// Whether the producer marked the memory read-only (DLPack 1.x flag).
    [[nodiscard]] bool read_only() const noexcept {
        const auto* v = std::get_if<dlpack::managed_tensor_versioned*>(&owned_);
        return v != nullptr && ((*v)->flags & dlpack::flag_read_only) != 0;
    }
    [[nodiscard]] bool empty() const noexcept { return std::holds_alternative<std::monostate>(owned_); }

    /// Calls the deleter now (once) and becomes empty.
    void reset() noexcept {
        if (auto* l = std::get_if<DLManagedTensor*>(&owned_)) {
            if (*l != nullptr && (*l)->deleter != nullptr) (*l)->deleter(*l);
        } else if (auto* v = std::get_if<dlpack::managed_tensor_versioned*>(&owned_)) {
            if (*v != nullptr && (*v)->deleter != nullptr) (*v)->deleter(*v);
        }
        owned_ = std::monostate{};
        rows_ = {};
    }

private:
    void validate() {
        try {
            if (auto* l = std::get_if<DLManagedTensor*>(&owned_)) {
                if (*l == nullptr) throw argument_error("dlpack_tensor: null DLManagedTensor");
                rows_ = dlpack::rows((*l)->dl_tensor, "DLPack tensor (DLManagedTensor)");
            } else if (auto* v = std::get_if<dlpack::managed_tensor_versioned*>(&owned_)) {
                if (*v == nullptr) throw argument_error("dlpack_tensor: null DLManagedTensorVersioned");
                dlpack::check_version(**v);
                rows_ = dlpack::rows((*v)->dl_tensor, "DLPack tensor (DLManagedTensorVersioned)");
            }
        } catch (...) {
            reset();  // refused: we own it, so its deleter runs here, once
            throw;
        }
    }

    std::variant<std::monostate, DLManagedTensor*, dlpack::managed_tensor_versioned*> owned_;
    any_strided_rows rows_;
};

template <>
struct tensor_adapter<DLTensor> {
    static any_strided_rows rows(const DLTensor& t) { return dlpack::rows(t); }
};

template <>
struct tensor_adapter<DLManagedTensor> {
    static any_strided_rows rows(const DLManagedTensor& t) {
        return dlpack::rows(t.dl_tensor, "DLPack tensor (DLManagedTensor)");
    }
};

template <>
struct tensor_adapter<dlpack::managed_tensor_versioned> {
    static any_strided_rows rows(const dlpack::managed_tensor_versioned& t) {
        dlpack::check_version(t);
        return dlpack::rows(t.dl_tensor, "DLPack tensor (DLManagedTensorVersioned)");
    }
};

template <>
struct tensor_adapter<dlpack_tensor> {
    static any_strided_rows rows(const dlpack_tensor& t) {
        if (t.empty()) throw argument_error("dlpack_tensor: empty (moved from or reset)");
        return t.rows();
    }
};

}  // namespace mir
