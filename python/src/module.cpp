// python/src/module.cpp — the C++ half of `import mir` (pybind11): tensors
// taken where they are (a torch tensor through DLPack, a NumPy array or any
// buffer through the buffer protocol; no copy), the accumulators, the
// program's commands run in-process, and mir errors as Python exceptions.
// The Python half (python/mir/__init__.py) adds passes(), add_sample(),
// the hooks and torch.distributed.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <mir/adapters/dlpack.hpp>
#include <mir/metric/accumulator.hpp>
#include <mir/metric/multipass_accumulator.hpp>
#include <mir/mir.hpp>
#include <mir/stats/state_bytes.hpp>
#include <mir/version.hpp>
#include <nlohmann/json.hpp>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "cli_options.hpp"
#include "command.hpp"
#include "compute.hpp"
#include "output.hpp"
#include "provenance.hpp"
#include "usage.hpp"

namespace py = pybind11;

namespace {

// ---- Tensors --------------------------------------------------------------------------------------

// The rows of a Python tensor, and what keeps its memory alive while they are read.
struct borrowed_rows {
    mir::any_strided_rows rows;
    std::optional<mir::dlpack_tensor> dl;  // a DLPack tensor (owned: its deleter runs when done)
    std::optional<py::buffer_info> buffer;  // a buffer-protocol view (released when done)
};

mir::index_t to_index(py::ssize_t v) { return static_cast<mir::index_t>(v); }

// A [T, d] or [1, T, d] buffer of f16/f32/f64 elements.
borrowed_rows from_buffer(py::buffer b, const std::string& what) {
    borrowed_rows out;
    out.buffer.emplace(b.request());
    const py::buffer_info& info = *out.buffer;
    if (info.ndim != 2 && !(info.ndim == 3 && info.shape[0] == 1)) {
        std::string shape;
        for (auto s : info.shape) shape += (shape.empty() ? "" : ", ") + std::to_string(s);
        throw mir::shape_error(what + ": an array of shape [" + shape + "]; rows are [T, d] or [1, T, d]");
    }
    const std::size_t o = info.ndim == 3 ? 1 : 0;
    const auto strided = [&]<class T>(T*) {
        for (std::size_t i = o; i < 2 + o; ++i) {
            if (info.strides[i] % static_cast<py::ssize_t>(sizeof(T)) != 0) {
                throw mir::shape_error(what + ": strides of " + std::to_string(info.strides[i]) +
                                       " bytes are not a multiple of the element size");
            }
        }
        return mir::any_strided_rows(mir::strided_rows<T>{
            static_cast<const T*>(info.ptr), to_index(info.shape[o]), to_index(info.shape[o + 1]),
            to_index(info.strides[o] / static_cast<py::ssize_t>(sizeof(T))),
            to_index(info.strides[o + 1] / static_cast<py::ssize_t>(sizeof(T)))});
    };
    const std::string& f = info.format;
    if (f == "e") {
        out.rows = strided(static_cast<mir::half*>(nullptr));
    } else if (f == "f") {
        out.rows = strided(static_cast<float*>(nullptr));
    } else if (f == "d") {
        out.rows = strided(static_cast<double*>(nullptr));
    } else {
        throw mir::argument_error(what + ": elements of format '" + f +
                                  "'; rows are float16, bfloat16 (torch), float32 or float64");
    }
    return out;
}

// A torch tensor (or anything with __dlpack__) through DLPack, without a copy.
borrowed_rows from_dlpack(const py::object& t, const std::string& what) {
    py::object cap = t.attr("__dlpack__")();
    PyObject* c = cap.ptr();
    if (!PyCapsule_IsValid(c, "dltensor")) throw mir::argument_error(what + ": __dlpack__ did not give a DLPack capsule");
    auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(c, "dltensor"));
    // The protocol: the consumer renames the capsule and calls the deleter itself (dlpack_tensor does).
    PyCapsule_SetName(c, "used_dltensor");
    borrowed_rows out;
    try {
        out.dl.emplace(m);
    } catch (mir::error& e) {
        throw mir::argument_error(what + ": " + e.message());
    }
    out.rows = out.dl->rows();
    return out;
}

bool is_torch_tensor(const py::handle& o) {
    const py::object type = py::type::of(o);
    const std::string mod = py::str(type.attr("__module__"));
    return mod.rfind("torch", 0) == 0 && py::hasattr(o, "__dlpack__");
}

borrowed_rows rows_of(const py::object& o, const std::string& what) {
    if (is_torch_tensor(o)) {
        const std::string device = py::str(o.attr("device").attr("type"));
        if (device != "cpu") {
            throw mir::argument_error(what + ": a tensor on device '" + device +
                                      "'; this mir reads host memory (a CUDA backend is not built): move it with "
                                      ".cpu(), or give the accumulator CPU tensors");
        }
        return from_dlpack(o, what);
    }
    if (PyObject_CheckBuffer(o.ptr())) return from_buffer(py::reinterpret_borrow<py::buffer>(o), what);
    if (py::hasattr(o, "__dlpack__")) return from_dlpack(o, what);
    throw mir::argument_error(what + ": a " + std::string(py::str(py::type::of(o).attr("__name__"))) +
                              "; rows are a torch.Tensor or a NumPy array (or any buffer / DLPack tensor)");
}

// A mask: a contiguous 1-D buffer of bool or uint8 (the Python half converts tensors and lists).
std::span<const std::uint8_t> mask_of(const py::buffer_info& info, const std::string& what) {
    if (info.ndim != 1 || (info.format != "?" && info.format != "B") || info.strides[0] != 1) {
        throw mir::argument_error(what + ": a mask is a contiguous 1-D bool or uint8 array");
    }
    return {static_cast<const std::uint8_t*>(info.ptr), static_cast<std::size_t>(info.shape[0])};
}

std::span<const std::byte> bytes_view(const py::bytes& b) {
    char* p = nullptr;
    Py_ssize_t n = 0;
    if (PyBytes_AsStringAndSize(b.ptr(), &p, &n) != 0) throw py::error_already_set();
    return {reinterpret_cast<const std::byte*>(p), static_cast<std::size_t>(n)};
}

// ---- The accumulator --------------------------------------------------------------------------------

// memory="bounded": the replayed multipass accumulator (exact, bounded); "rows" / "reservoir": the one-pass
// accumulator keeping every row (exact) or a reservoir (an estimate).
class accumulator {
public:
    accumulator(int num_indices, mir::index_t hidden_size, const std::string& outliers, const std::string& sqrt,
                const std::string& precision, std::optional<std::vector<int>> layers, const std::string& memory,
                mir::index_t reservoir_rows)
        : memory_(memory) {
        const mir::outlier_policy policy = mir::parse_outlier_policy(outliers);
        const mir::precision prec = mir::parse_precision(precision);
        mir::sqrt_options so;
        so.method = mir::parse_compute_sqrt_method(sqrt);
        if (memory == "bounded") {
            mir::multipass_options o;
            o.policy = policy;
            o.precision = prec;
            o.sqrt = so;
            if (layers) o.layers = *layers;
            impl_.emplace<mir::multipass_accumulator>(num_indices, hidden_size, o);
        } else if (memory == "rows" || memory == "reservoir") {
            mir::accumulator_options o;
            o.policy = policy;
            o.precision = prec;
            o.sqrt = so;
            o.median = memory == "rows" ? mir::median_mode::keep_rows : mir::median_mode::reservoir;
            o.reservoir_rows = reservoir_rows;
            if (layers) o.layers = *layers;
            impl_.emplace<mir::mir_accumulator>(num_indices, hidden_size, o);
        } else {
            throw mir::argument_error("memory='" + memory + "': one of 'bounded' (exact, the data replayed), "
                                      "'rows' (exact, one pass, every row kept) or 'reservoir' (one pass, bounded, "
                                      "an estimate)");
        }
    }

    void add(int index, const py::object& rows, py::buffer vision, std::optional<py::buffer> text) {
        const std::string what = "hidden-state index " + std::to_string(index) + " rows";
        const borrowed_rows r = rows_of(rows, what);
        const py::buffer_info vi = vision.request();
        const auto vm = mask_of(vi, "vision_mask");
        std::optional<py::buffer_info> ti;
        std::span<const std::uint8_t> tm;
        if (text) {
            ti.emplace(text->request());
            tm = mask_of(*ti, "text_mask");
        }
        py::gil_scoped_release release;  // the rows are read in place: other Python threads may run
        add_rows(index, r, vm, text.has_value(), tm);
    }

    // The C++ side of add(): rows already borrowed, masks already checked (the benchmark calls it in a loop).
    void add_rows(int index, const borrowed_rows& r, std::span<const std::uint8_t> vm, bool text,
                  std::span<const std::uint8_t> tm) {
        rows_result_.reset();  // memory="rows": more rows, another result
        std::visit(
            [&](auto& a) {
                using A = std::remove_cvref_t<decltype(a)>;
                if constexpr (std::is_same_v<A, std::monostate>) {
                    throw mir::argument_error("accumulator used after it was moved from");
                } else if constexpr (std::is_same_v<A, mir::multipass_accumulator>) {
                    if (text) {
                        a.add(index, r.rows, vm, tm);
                    } else {
                        a.add(index, r.rows, vm);
                    }
                } else {
                    std::visit(
                        [&](const auto& s) {
                            if (vm.size() != static_cast<std::size_t>(s.rows) || (text && tm.size() != vm.size())) {
                                throw mir::shape_error("the masks have " + std::to_string(vm.size()) +
                                                           (text ? " and " + std::to_string(tm.size()) : "") +
                                                           " entries for " + std::to_string(s.rows) + " tokens",
                                                       mir::error_context{"", "", -1, index});
                            }
                            mir::for_each_row_block(s, [&](const auto& block, mir::index_t b0) {
                                const auto v = vm.subspan(static_cast<std::size_t>(b0),
                                                          static_cast<std::size_t>(block.rows));
                                if (text) {
                                    a.add(index, block, v,
                                          tm.subspan(static_cast<std::size_t>(b0), static_cast<std::size_t>(block.rows)));
                                } else {
                                    a.add(index, block, v);
                                }
                            });
                        },
                        r.rows);
                }
            },
            impl_);
    }

    void end_pass() {
        if (auto* m = std::get_if<mir::multipass_accumulator>(&impl_)) {
            m->end_pass();
        } else {
            throw mir::argument_error("end_pass(): memory='" + memory_ + "' sees the data once (no passes)");
        }
    }
    [[nodiscard]] bool done() const {
        if (const auto* m = std::get_if<mir::multipass_accumulator>(&impl_)) return m->done();
        return true;
    }
    [[nodiscard]] int pass() const {
        if (const auto* m = std::get_if<mir::multipass_accumulator>(&impl_)) return m->pass();
        return 1;
    }
    [[nodiscard]] int passes_expected() const {
        if (const auto* m = std::get_if<mir::multipass_accumulator>(&impl_)) return m->passes_expected();
        return 1;
    }
    [[nodiscard]] bool wants(int index) const {
        return std::visit(
            [&](const auto& a) {
                if constexpr (std::is_same_v<std::remove_cvref_t<decltype(a)>, std::monostate>) {
                    return false;
                } else {
                    return a.wants(index);
                }
            },
            impl_);
    }
    [[nodiscard]] std::vector<int> layers() const {
        return std::visit(
            [](const auto& a) -> std::vector<int> {
                if constexpr (std::is_same_v<std::remove_cvref_t<decltype(a)>, std::monostate>) {
                    return {};
                } else {
                    return a.layers();
                }
            },
            impl_);
    }
    [[nodiscard]] const std::string& memory() const noexcept { return memory_; }

    // ---- State: saved, sent, merged (memory="bounded" only: the one-pass memories keep rows) ----

    [[nodiscard]] mir::multipass_accumulator& multipass(const char* what) {
        if (auto* m = std::get_if<mir::multipass_accumulator>(&impl_)) return *m;
        throw mir::argument_error(std::string(what) + ": memory='" + memory_ +
                                  "' keeps rows, not a state to save or merge; use memory='bounded' (exact, the "
                                  "default) for state_dict(), merge() and all_reduce()");
    }

    // One participant's contributions to the pass in progress, added to this one's (same options, same pass).
    void merge(accumulator& other) {
        mir::multipass_accumulator& o = other.multipass("merge()");
        mir::multipass_accumulator& m = multipass("merge()");
        py::gil_scoped_release release;
        m.merge(o);
    }

    [[nodiscard]] int state_count() { return static_cast<int>(multipass("state").layers().size()); }

    [[nodiscard]] bool layer_done(int slot) {
        return std::visit([&](auto& a) { return a.states().at(static_cast<std::size_t>(slot)).done(); },
                          multipass("state").typed());
    }

    // Layer `slot`'s state (in layers() order) as bytes (mir/stats/state_bytes.hpp).
    [[nodiscard]] py::bytes layer_bytes(int slot) {
        std::vector<std::byte> b;
        std::visit([&](auto& a) { b = mir::state_to_bytes(a.states().at(static_cast<std::size_t>(slot))); },
                   multipass("state").typed());
        return {reinterpret_cast<const char*>(b.data()), b.size()};
    }

    // Layer `slot`'s state replaced by the participants' states (bytes, in participant order) merged:
    // what every rank holds after all_reduce.
    void load_merged_layer(int slot, const std::vector<py::bytes>& parts) {
        if (parts.empty()) throw mir::argument_error("all_reduce: no participant's state");
        std::vector<std::span<const std::byte>> views;
        for (const py::bytes& b : parts) views.push_back(bytes_view(b));
        std::visit(
            [&](auto& a) {
                auto& st = a.states().at(static_cast<std::size_t>(slot));
                using S = std::remove_cvref_t<decltype(st)>;
                py::gil_scoped_release release;
                const std::string where = "layer " + std::to_string(st.layer()) + ", pass " + std::to_string(st.pass());
                S merged(st.dim(), st.policy(), st.layer());
                mir::state_from_bytes(merged, views[0], where + ", participant 0");
                for (std::size_t r = 1; r < views.size(); ++r) {
                    S other(st.dim(), st.policy(), st.layer());
                    mir::state_from_bytes(other, views[r], where + ", participant " + std::to_string(r));
                    if (other.done() != merged.done() || other.pass() != merged.pass()) {
                        throw mir::argument_error(where + ", participant " + std::to_string(r) + ": at pass " +
                                                  std::to_string(other.pass()) + " (participants out of step)");
                    }
                    if (!merged.done()) merged.merge(other);
                }
                st = std::move(merged);
            },
            multipass("all_reduce()").typed());
    }

    // Every layer's state as bytes, and back (state_dict / load_state_dict).
    void restore(int pass, const std::vector<py::bytes>& parts) {
        std::vector<std::span<const std::byte>> views;
        for (const py::bytes& b : parts) views.push_back(bytes_view(b));
        std::visit(
            [&](auto& a) {
                using S = std::remove_cvref_t<decltype(a.states().front())>;
                if (views.size() != a.states().size()) {
                    throw mir::argument_error("load_state_dict: " + std::to_string(views.size()) +
                                              " layer states for an accumulator of " +
                                              std::to_string(a.states().size()) + " layers");
                }
                py::gil_scoped_release release;
                std::vector<S> states;
                for (std::size_t i = 0; i < views.size(); ++i) {
                    const S& like = a.states()[i];
                    states.emplace_back(like.dim(), like.policy(), like.layer());
                    mir::state_from_bytes(states.back(), views[i],
                                          "load_state_dict: layer " + std::to_string(like.layer()));
                }
                a.restore(pass, std::move(states));
            },
            multipass("load_state_dict()").typed());
    }

    [[nodiscard]] mir::mir_result result() {
        py::gil_scoped_release release;
        if (auto* m = std::get_if<mir::multipass_accumulator>(&impl_)) {
            const mir::mir_result& r = m->result();
            seconds_ = m->layer_seconds();
            return r;
        }
        if (auto* a = std::get_if<mir::mir_accumulator>(&impl_)) {
            if (!rows_result_) {
                std::vector<mir::layer_result> out;
                seconds_.clear();
                for (int k : a->layers()) {
                    const auto t0 = std::chrono::steady_clock::now();
                    out.push_back(a->finalize_layer(k));
                    seconds_.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
                }
                rows_result_ = mir::aggregate(std::move(out));
            }
            return *rows_result_;
        }
        throw mir::argument_error("accumulator used after it was moved from");
    }
    // Wall seconds result() took per layer (in layers() order).
    [[nodiscard]] const std::vector<double>& layer_seconds() const noexcept { return seconds_; }

private:
    std::string memory_;
    std::vector<double> seconds_;
    std::optional<mir::mir_result> rows_result_;  // memory="rows"/"reservoir": computed once
    std::variant<std::monostate, mir::multipass_accumulator, mir::mir_accumulator> impl_;
};

// ---- The result as `mir compute --json` writes it ----------------------------------------------------

// The document of docs/schema/compute.schema.json for an accumulator's result: the program's own
// result_json, with compute's options as a compute over the accumulator's samples would record them
// (paths: a description of where the rows came from), the Python process's command line and the
// accumulator's start time, and `inputs` as the Python half counted them (per sample: rows and dtype).
std::string result_document(accumulator& a, mir::index_t hidden_size, int num_indices, const std::string& outliers,
                            const std::string& sqrt, const std::string& precision, const std::vector<int>& layers,
                            const std::vector<std::string>& command_line, const std::string& started_at,
                            const std::string& inputs_json, const std::string& source) {
    const mir::mir_result r = a.result();
    const nlohmann::ordered_json inputs = nlohmann::ordered_json::parse(inputs_json);
    std::vector<std::string> argv = command_line;
    std::vector<char*> cargv;
    for (auto& s : argv) cargv.push_back(s.data());
    mir::tool::record_invocation(static_cast<int>(cargv.size()), cargv.data());

    CLI::App app{"mir"};
    const mir::tool::command compute = mir::tool::register_compute(app);
    std::string layer_list;
    for (int k : layers) layer_list += (layer_list.empty() ? "" : ",") + std::to_string(k);
    std::vector<std::string> args{"compute", source,        "--outliers", outliers,   "--sqrt",
                                  sqrt,      "--precision", precision,    "--layers", layer_list};
    std::vector<std::string> reversed(args.rbegin(), args.rend());
    app.parse(reversed);

    mir::tool::compute_options o;
    o.policy = mir::parse_outlier_policy(outliers);
    o.sqrt.method = mir::parse_compute_sqrt_method(sqrt);
    o.precision = mir::parse_precision(precision);
    mir::tool::result_origin origin;
    origin.files = static_cast<std::size_t>(inputs.at("samples").get<long long>());
    origin.hidden_size = hidden_size;
    origin.num_indices = num_indices;
    origin.inputs = inputs;
    mir::tool::run_details run;
    run.sub = compute.app;
    run.threads = {1, mir::blas_threads()};
    run.layers = a.layers();
    run.layer_seconds = a.layer_seconds();
    nlohmann::ordered_json j = mir::tool::result_json(r, o, origin, run);
    if (!started_at.empty()) j["started_at"] = started_at;
    return mir::tool::json_text(j);
}

// ---- The program, in-process ------------------------------------------------------------------------

// Runs `mir ARGS...` as the program would (its parser, its checks, its files) and returns its exit code;
// errors are thrown (usage errors as mir::tool::usage_error).
int run_program(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"mir"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    mir::tool::record_invocation(static_cast<int>(cargv.size()), cargv.data());
    CLI::App app{"mir"};
    const std::vector<mir::tool::command> commands = mir::tool::register_commands(app);
    std::vector<std::string> reversed(argv.rbegin(), argv.rend() - 1);  // CLI11 takes them last first
    try {
        app.parse(reversed);
    } catch (const CLI::ParseError& e) {
        throw mir::tool::usage_error(e.what());
    }
    py::gil_scoped_release release;
    for (const auto& c : commands) {
        if (*c.app) return c.run();
    }
    throw mir::tool::usage_error("no subcommand");
}

}  // namespace

PYBIND11_MODULE(_mir, m) {
    m.doc() = "mir: the Modality Integration Rate of vision-language models (C++ core; see the mir package)";
    m.attr("__version__") = MIR_VERSION_STRING;

    // Errors: mir.Error and one subclass per kind (mir::error_kind), usage errors below ArgumentError.
    static py::exception<mir::error> base(m, "Error");
    static py::exception<mir::shape_error> shape(m, "ShapeError", base.ptr());
    static py::exception<mir::non_finite_error> non_finite(m, "NonFiniteError", base.ptr());
    static py::exception<mir::too_few_rows_error> too_few(m, "TooFewRowsError", base.ptr());
    static py::exception<mir::argument_error> argument(m, "ArgumentError", base.ptr());
    static py::exception<mir::file_error> file(m, "FileError", base.ptr());
    static py::exception<mir::numerical_error> numerical(m, "NumericalError", base.ptr());
    static py::exception<mir::undefined_error> undefined(m, "UndefinedError", base.ptr());
    static py::exception<mir::tool::usage_error> usage(m, "UsageError", argument.ptr());
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const mir::tool::usage_error& e) {
            usage(e.what());
        } catch (const mir::error& e) {
            switch (e.kind()) {
                case mir::error_kind::shape: shape(e.what()); break;
                case mir::error_kind::non_finite: non_finite(e.what()); break;
                case mir::error_kind::too_few_rows: too_few(e.what()); break;
                case mir::error_kind::argument: argument(e.what()); break;
                case mir::error_kind::file: file(e.what()); break;
                case mir::error_kind::numerical: numerical(e.what()); break;
                case mir::error_kind::undefined: undefined(e.what()); break;
                default: base(e.what()); break;
            }
        }
    });

    py::class_<mir::modality_summary>(m, "ModalitySummary")
        .def_readonly("rows", &mir::modality_summary::rows)
        .def_readonly("outliers", &mir::modality_summary::outliers)
        .def_readonly("norm_median", &mir::modality_summary::norm_median)
        .def_readonly("norm_sigma", &mir::modality_summary::norm_sigma);

    py::class_<mir::layer_result>(m, "LayerResult")
        .def_readonly("layer", &mir::layer_result::layer)
        .def_readonly("fid", &mir::layer_result::fid)
        .def_readonly("fid_bound", &mir::layer_result::fid_bound)
        .def_readonly("alpha", &mir::layer_result::alpha)
        .def_readonly("exact", &mir::layer_result::exact)
        .def_property_readonly("vision_rows", [](const mir::layer_result& l) { return l.vision.rows; })
        .def_property_readonly("text_rows", [](const mir::layer_result& l) { return l.text.rows; })
        .def_property_readonly("vision_outliers", [](const mir::layer_result& l) { return l.vision.outliers; })
        .def_property_readonly("text_outliers", [](const mir::layer_result& l) { return l.text.outliers; })
        .def_property_readonly("mean_term", [](const mir::layer_result& l) { return l.terms.mean_term; })
        .def_property_readonly("trace_vision", [](const mir::layer_result& l) { return l.terms.trace_1; })
        .def_property_readonly("trace_text", [](const mir::layer_result& l) { return l.terms.trace_2; })
        .def_property_readonly("trace_sqrt", [](const mir::layer_result& l) { return l.terms.trace_sqrt; })
        .def("__repr__", [](const mir::layer_result& l) {
            return "<mir.LayerResult layer " + std::to_string(l.layer) + " fid " + std::to_string(l.fid) + ">";
        });

    py::class_<mir::mir_result>(m, "MirResult")
        .def_readonly("mir", &mir::mir_result::mir)
        .def_readonly("fid_sum", &mir::mir_result::fid_sum)
        .def_readonly("layers", &mir::mir_result::layers)
        .def("__repr__", [](const mir::mir_result& r) { return "<mir.MirResult MIR " + std::to_string(r.mir) + ">"; });

    py::class_<accumulator>(m, "_Accumulator")
        .def(py::init<int, mir::index_t, const std::string&, const std::string&, const std::string&,
                      std::optional<std::vector<int>>, const std::string&, mir::index_t>(),
             py::arg("num_indices"), py::arg("hidden_size"), py::arg("outliers"), py::arg("sqrt"), py::arg("precision"),
             py::arg("layers"), py::arg("memory"), py::arg("reservoir_rows"))
        .def("add", &accumulator::add, py::arg("index"), py::arg("rows"), py::arg("vision_mask"),
             py::arg("text_mask") = py::none())
        .def("end_pass", &accumulator::end_pass)
        .def_property_readonly("done", &accumulator::done)
        .def_property_readonly("pass_", &accumulator::pass)
        .def_property_readonly("passes_expected", &accumulator::passes_expected)
        .def_property_readonly("layers", &accumulator::layers)
        .def_property_readonly("memory", &accumulator::memory)
        .def("wants", &accumulator::wants)
        .def("result", &accumulator::result)
        .def("merge", &accumulator::merge, py::arg("other"))
        .def_property_readonly("state_count", &accumulator::state_count)
        .def("layer_done", &accumulator::layer_done)
        .def("layer_bytes", &accumulator::layer_bytes)
        .def("load_merged_layer", &accumulator::load_merged_layer)
        .def("restore", &accumulator::restore);
    m.def("_result_document", &result_document);

    m.def("_describe_rows", [](const py::object& rows) {
        // Where add() would read the rows: (address, rows, cols, row stride, col stride, dtype, in place).
        const borrowed_rows r = rows_of(rows, "rows");
        return std::visit(
            [](const auto& s) {
                using T = typename std::remove_cvref_t<decltype(s)>::value_type;
                const char* dtype = std::is_same_v<T, mir::half>       ? "float16"
                                    : std::is_same_v<T, mir::bfloat16> ? "bfloat16"
                                    : std::is_same_v<T, float>         ? "float32"
                                                                       : "float64";
                return py::make_tuple(reinterpret_cast<std::uintptr_t>(s.data), s.rows, s.cols, s.row_stride,
                                      s.col_stride, dtype, s.in_place());
            },
            r.rows);
    });
    m.def(
        "_cpp_add_loop",
        [](accumulator& a, int index, const py::object& rows, py::buffer vision, int repeats) {
            // The baseline of bench/python/bench_module.py: add() of the same rows `repeats` times from C++,
            // without Python between the calls.
            const borrowed_rows r = rows_of(rows, "rows");
            const py::buffer_info vi = vision.request();
            const auto vm = mask_of(vi, "vision_mask");
            py::gil_scoped_release release;
            for (int i = 0; i < repeats; ++i) a.add_rows(index, r, vm, false, {});
        },
        py::arg("acc"), py::arg("index"), py::arg("rows"), py::arg("vision_mask"), py::arg("repeats"));
    m.def("_run_program", &run_program, py::arg("args"),
          "Runs `mir ARGS...` in this process (the program's parser and commands); returns its exit code.");
}
