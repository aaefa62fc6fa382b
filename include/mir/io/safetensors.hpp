// mir/io/safetensors.hpp — a validating, memory-mapped safetensors reader
// and an atomic writer.
//
// Format: an 8-byte little-endian header length N, N bytes of UTF-8 JSON,
// then the data section. The JSON object maps tensor names to
// {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the
// data section) and may hold "__metadata__", a string -> string map.
//
// The reader validates as the reference implementation (huggingface/
// safetensors) does, and stricter where the reference is silent:
//   * the file holds at least the 8-byte length; N <= 100,000,000 and
//     8 + N <= file size;
//   * the header is well-formed UTF-8, begins with '{' and is a JSON object
//     (nlohmann/json, no comments), nested at most 8 levels deep;
//   * no duplicate key anywhere (the top level, a tensor's entry, the
//     metadata);
//   * "__metadata__" is an object of strings;
//   * each tensor entry is an object with exactly dtype, shape and
//     data_offsets; dtype is one of F16, BF16, F32, F64, BOOL, U8 (other
//     safetensors dtypes get an "unsupported dtype" error); shape is an
//     array of non-negative integers whose product (in order, checked for
//     overflow) times the dtype size equals end - begin; data_offsets is
//     [begin, end] with begin <= end;
//   * sorted by offsets, the tensors are contiguous: the first begins at 0,
//     each begins where the previous ended (else: overlap or gap), and the
//     last ends at the end of the data section (file size - 8 - N).
// Every failure throws mir::file_error whose message begins with the file
// name and states the rule broken.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <atomic>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "mir/error.hpp"
#include "mir/io/mapped_file.hpp"
#include "mir/io/tensor.hpp"

namespace mir::io {

/// The reference implementation's limit on the header length.
inline constexpr std::uint64_t safetensors_max_header_size = 100'000'000;
/// Nesting limit of the header JSON (a valid header nests 3 levels).
inline constexpr int safetensors_max_json_depth = 8;

namespace detail {

inline bool is_nonnegative_integer(const nlohmann::json& j) noexcept {
    if (j.is_number_unsigned()) return true;
    return j.is_number_integer() && j.get<std::int64_t>() >= 0;  // "-0"
}

inline std::string json_kind(const nlohmann::json& j) {
    if (j.is_number_float()) return "a non-integer number";
    if (j.is_number_integer() && !j.is_number_unsigned()) return "a negative number";
    return std::string("a") + (j.is_object() || j.is_array() ? "n " : " ") + j.type_name();
}

/// Known safetensors dtypes this library does not read.
inline bool is_other_safetensors_dtype(std::string_view s) noexcept {
    static constexpr std::string_view others[] = {
        "I8", "I16", "I32", "I64", "U16", "U32", "U64", "C64", "F8_E5M2", "F8_E4M3",
        "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4"};
    return std::find(std::begin(others), std::end(others), s) != std::end(others);
}

/// A SAX handler that builds the header's DOM in one pass and rejects
/// duplicate keys and deep nesting as it goes. (nlohmann keeps the last of
/// duplicate keys silently, and its callback parser rescans the parent at
/// every object end, O(n^2) in the number of tensors; a key here is one
/// std::map lookup, O(n log n) for the header.)
class header_dom_builder {
public:
    using json = nlohmann::json;

    header_dom_builder(json& root, std::string_view header, const std::string& file)
        : root_(root), header_(header), file_(file) {}

    bool null() { return put(nullptr); }
    bool boolean(bool v) { return put(v); }
    bool number_integer(json::number_integer_t v) { return put(v); }
    bool number_unsigned(json::number_unsigned_t v) { return put(v); }
    bool number_float(json::number_float_t v, const json::string_t& /*text*/) { return put(v); }
    bool string(json::string_t& v) { return put(std::move(v)); }
    bool binary(json::binary_t& v) { return put(std::move(v)); }

    bool start_object(std::size_t /*size*/) {
        nest();
        json* j = slot(json::object());
        objects_.push_back(objects_.empty() ? std::string() : last_key_);
        stack_.push_back(j);
        return true;
    }
    bool key(json::string_t& k) {
        auto& obj = stack_.back()->get_ref<json::object_t&>();
        auto [it, inserted] = obj.try_emplace(k);
        if (!inserted) {
            const std::string where = objects_.size() == 1 ? "at the top level of the header"
                                      : objects_.size() == 2 && objects_.back() == "__metadata__"
                                          ? "in __metadata__"
                                      : objects_.size() == 2
                                          ? "in the entry of tensor '" + printable(objects_.back()) + "'"
                                          : "in the header";
            throw file_error(file_ + ": invalid safetensors file: duplicate key '" + printable(k) + "' " + where);
        }
        key_slot_ = &it->second;
        last_key_ = std::move(k);
        return true;
    }
    bool end_object() {
        objects_.pop_back();
        return leave();
    }
    bool start_array(std::size_t /*size*/) {
        nest();
        stack_.push_back(slot(json::array()));
        return true;
    }
    bool end_array() { return leave(); }
    bool parse_error(std::size_t position, const std::string& /*token*/, const json::exception& e) {
        if (done_) {
            // position is just past the lexer's last byte, inside the token
            // that follows the object: back up to its first byte.
            std::size_t at = std::min(position, header_.size());
            at = at > 0 ? at - 1 : 0;
            auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '}'; };
            while (at > 0 && !ws(header_[at - 1])) --at;
            throw file_error(file_ + ": invalid safetensors file: header is not valid JSON: header byte " +
                             std::to_string(at) + " follows the JSON object (only spaces may follow it)");
        }
        throw file_error(file_ + ": invalid safetensors file: header is not valid JSON: " + e.what());
    }

private:
    void nest() {
        if (++nesting_ > safetensors_max_json_depth) {
            throw file_error(file_ + ": invalid safetensors file: header JSON is nested more than " +
                             std::to_string(safetensors_max_json_depth) + " levels deep");
        }
    }
    bool leave() {
        stack_.pop_back();
        --nesting_;
        if (stack_.empty()) done_ = true;
        return true;
    }
    /// Where the next value goes: the root, the end of the open array, or
    /// the slot of the last key. Pointers into the DOM stay valid: an
    /// ancestor array grows only after its open child is closed.
    json* slot(json&& v) {
        if (stack_.empty()) {
            root_ = std::move(v);
            return &root_;
        }
        json& top = *stack_.back();
        if (top.is_array()) {
            auto& a = top.get_ref<json::array_t&>();
            a.push_back(std::move(v));
            return &a.back();
        }
        *key_slot_ = std::move(v);
        return key_slot_;
    }
    template <class V>
    bool put(V&& v) {
        slot(json(std::forward<V>(v)));
        if (stack_.empty()) done_ = true;
        return true;
    }

    json& root_;
    std::string_view header_;
    const std::string& file_;
    std::vector<json*> stack_;
    std::vector<std::string> objects_;  // the key of each open object
    std::string last_key_;
    json* key_slot_ = nullptr;
    int nesting_ = 0;
    bool done_ = false;
};

}  // namespace detail

/// A validated safetensors file. Tensor data are viewed in place (no copy).
class safetensors_file {
public:
    safetensors_file() = default;

    /// Maps and validates `path`; throws mir::file_error naming the file
    /// and the rule broken.
    static safetensors_file open(const std::filesystem::path& path) {
        safetensors_file f;
        f.file_ = mapped_file::open(path);
        f.path_ = path;
        f.parse(f.file_.bytes(), path.string());
        return f;
    }

    /// Validates a safetensors image in memory. Does not copy: the views
    /// point into `bytes`, which must outlive the object. `name` names it in
    /// messages (and becomes path()).
    static safetensors_file from_bytes(std::span<const std::byte> bytes, std::string name) {
        safetensors_file f;
        f.path_ = name;
        f.parse(bytes, name);
        return f;
    }

    /// The tensors, sorted by data offset (ties by name).
    [[nodiscard]] const std::vector<tensor_view>& tensors() const noexcept { return tensors_; }
    /// The tensor called `name`, or nullptr.
    [[nodiscard]] const tensor_view* find(std::string_view name) const {
        auto it = index_.find(name);
        return it == index_.end() ? nullptr : &tensors_[it->second];
    }
    /// "__metadata__" (empty if absent).
    [[nodiscard]] const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }
    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
    /// Where `t` (one of tensors()) begins in the file: a mapping made later
    /// finds its data there.
    [[nodiscard]] std::uint64_t offset_of(const tensor_view& t) const noexcept {
        return t.data == nullptr ? 0 : static_cast<std::uint64_t>(t.data - base_);
    }
    /// The mapped file's identity (see mapped_file::id); zero for from_bytes.
    [[nodiscard]] file_id id() const noexcept { return file_.id(); }
    /// N, the JSON header's length in bytes.
    [[nodiscard]] std::uint64_t header_size() const noexcept { return header_size_; }

    /// Unmaps the file. tensors() keeps names, dtypes and shapes, but their
    /// data pointers become null (visit_rows then throws).
    void close() noexcept {
        file_.close();
        for (auto& t : tensors_) t.data = nullptr;
    }

    /// Drops the resident pages of `t`'s data (see mapped_file::release);
    /// the view stays valid and pages come back from the file if touched.
    void release(const tensor_view& t) const noexcept {
        if (t.data != nullptr) file_.release({t.data, t.nbytes});
    }

private:
    [[noreturn]] static void fail(const std::string& file, const std::string& rule) {
        throw file_error(file + ": invalid safetensors file: " + rule);
    }

    void parse(std::span<const std::byte> bytes, const std::string& file) {
        using nlohmann::json;
        const std::uint64_t size = bytes.size();
        if (size < 8) {
            fail(file, "the file is " + std::to_string(size) +
                           " bytes long, too short for the 8-byte header length");
        }
        std::uint64_t n = 0;
        for (int i = 7; i >= 0; --i) n = (n << 8) | std::to_integer<std::uint64_t>(bytes[static_cast<std::size_t>(i)]);
        if (n > safetensors_max_header_size) {
            fail(file, "header length " + std::to_string(n) + " exceeds the limit of " +
                           std::to_string(safetensors_max_header_size) + " bytes");
        }
        if (n > size - 8) {
            fail(file, "header length " + std::to_string(n) + " runs past the end of the file (" +
                           std::to_string(size) + " bytes; the header needs 8 + " + std::to_string(n) + ")");
        }
        header_size_ = n;
        base_ = bytes.data();
        detail::table_reads().fetch_add(1, std::memory_order_relaxed);
        const std::string_view header(reinterpret_cast<const char*>(bytes.data()) + 8, static_cast<std::size_t>(n));
        if (auto at = detail::invalid_utf8_at(header)) {
            fail(file, "header is not valid UTF-8 (byte " + std::to_string(*at) + " of the header)");
        }
        if (header.empty() || header.front() != '{') {
            fail(file, "header does not begin with '{' (the header must be a JSON object)");
        }

        // NUL ends the input for nlohmann's lexer, so "{...}\0GARBAGE" would
        // pass; no valid header holds one (JSON strings escape control bytes).
        if (const auto at = header.find('\0'); at != std::string_view::npos) {
            fail(file, "header holds a NUL byte at header offset " + std::to_string(at) + " (file offset " +
                           std::to_string(8 + at) + "); only spaces may pad the header");
        }
        nlohmann::json j;
        {
            detail::header_dom_builder sax(j, header, file);
            nlohmann::json::sax_parse(header.begin(), header.end(), &sax, nlohmann::json::input_format_t::json,
                                      /*strict=*/true, /*ignore_comments=*/false);
        }
        // The parser skips any JSON whitespace after the object; the format
        // allows trailing spaces only.
        if (const auto last = header.find_last_not_of(' '); last != std::string_view::npos && header[last] != '}') {
            fail(file, "header byte " + std::to_string(last) + " after the JSON object is " +
                           detail::printable(header.substr(last, 1)) + "; only spaces may follow the object");
        }
        if (!j.is_object()) fail(file, "header JSON is " + detail::json_kind(j) + ", not an object");

        struct entry {
            std::string name;
            file_dtype dtype;
            std::vector<std::int64_t> shape;
            std::uint64_t begin, end;
        };
        std::vector<entry> entries;
        entries.reserve(j.size());
        for (auto& [key, value] : j.items()) {
            if (key == "__metadata__") {
                if (!value.is_object()) {
                    fail(file, "__metadata__ is " + detail::json_kind(value) + ", not an object of strings");
                }
                for (auto& [mk, mv] : value.items()) {
                    if (!mv.is_string()) {
                        fail(file, "__metadata__ value of '" + detail::printable(mk) + "' is " +
                                       detail::json_kind(mv) + ", not a string");
                    }
                    metadata_.emplace(mk, mv.get<std::string>());
                }
                continue;
            }
            const std::string tname = "tensor '" + detail::printable(key) + "'";
            if (!value.is_object()) fail(file, tname + ": entry is " + detail::json_kind(value) + ", not an object");
            for (auto& [ek, ev] : value.items()) {
                (void)ev;
                if (ek != "dtype" && ek != "shape" && ek != "data_offsets") {
                    fail(file, tname + ": unknown key '" + detail::printable(ek) +
                                   "' in its entry (expected exactly dtype, shape, data_offsets)");
                }
            }
            for (const char* required : {"dtype", "shape", "data_offsets"}) {
                if (!value.contains(required)) {
                    fail(file, tname + ": entry has no '" + required +
                                   "' (expected exactly dtype, shape, data_offsets)");
                }
            }
            entry e{key, file_dtype::u8, {}, 0, 0};
            // dtype
            const json& dt = value.at("dtype");
            if (!dt.is_string()) fail(file, tname + ": dtype is " + detail::json_kind(dt) + ", not a string");
            const auto& dts = dt.get_ref<const std::string&>();
            if (auto t = parse_file_dtype(dts)) {
                e.dtype = *t;
            } else if (detail::is_other_safetensors_dtype(dts)) {
                fail(file, tname + ": unsupported dtype " + dts + " (supported: F16, BF16, F32, F64, BOOL, U8)");
            } else {
                fail(file, tname + ": unknown dtype '" + detail::printable(dts) +
                               "' (supported: F16, BF16, F32, F64, BOOL, U8)");
            }
            // shape
            const json& sh = value.at("shape");
            if (!sh.is_array()) fail(file, tname + ": shape is " + detail::json_kind(sh) + ", not an array");
            for (const auto& d : sh) {
                if (!detail::is_nonnegative_integer(d)) {
                    fail(file, tname + ": shape holds " + detail::json_kind(d) +
                                   " (dimensions are non-negative integers)");
                }
                const auto u = d.get<std::uint64_t>();
                if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
                    fail(file, tname + ": shape dimension " + std::to_string(u) + " is too large");
                }
                e.shape.push_back(static_cast<std::int64_t>(u));
            }
            // data_offsets
            const json& off = value.at("data_offsets");
            if (!off.is_array() || off.size() != 2 || !detail::is_nonnegative_integer(off[0]) ||
                !detail::is_nonnegative_integer(off[1])) {
                fail(file, tname + ": data_offsets is not an array of two non-negative integers [begin, end]");
            }
            e.begin = off[0].get<std::uint64_t>();
            e.end = off[1].get<std::uint64_t>();
            if (e.end < e.begin) {
                fail(file, tname + ": data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                               "] end before they begin");
            }
            // dtype x shape = byte length
            auto numel = detail::checked_numel(e.shape);
            std::uint64_t need = 0;
            if (!numel || !detail::checked_mul(static_cast<std::uint64_t>(*numel), size_of(e.dtype), need)) {
                fail(file, tname + ": the byte size of shape " + detail::shape_string(e.shape) + " x " +
                               std::string(to_string(e.dtype)) + " overflows");
            }
            if (need != e.end - e.begin) {
                fail(file, tname + ": data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                               "] span " + std::to_string(e.end - e.begin) + " bytes, but dtype " +
                               std::string(to_string(e.dtype)) + " x shape " + detail::shape_string(e.shape) +
                               " is " + std::to_string(need) + " bytes");
            }
            entries.push_back(std::move(e));
        }

        std::sort(entries.begin(), entries.end(), [](const entry& a, const entry& b) {
            return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
        });
        const std::uint64_t data_len = size - 8 - n;
        std::uint64_t prev_end = 0;
        const entry* prev = nullptr;
        for (const auto& e : entries) {
            const std::string tname = "tensor '" + detail::printable(e.name) + "'";
            if (e.begin < prev_end) {
                fail(file, tname + ": data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                               "] overlap tensor '" + detail::printable(prev->name) + "', which ends at " +
                               std::to_string(prev_end) + " (tensors must not overlap)");
            }
            if (e.begin > prev_end) {
                if (prev == nullptr) {
                    fail(file, tname + ": the first tensor begins at offset " + std::to_string(e.begin) +
                                   ", not 0 (tensors must be contiguous)");
                }
                fail(file, tname + ": begins at offset " + std::to_string(e.begin) + ", but tensor '" +
                               detail::printable(prev->name) + "' ends at " + std::to_string(prev_end) +
                               " (tensors must be contiguous, without gaps)");
            }
            prev_end = e.end;
            prev = &e;
        }
        if (prev_end != data_len) {
            fail(file, "the tensors end at offset " + std::to_string(prev_end) + " of the data section, but it is " +
                           std::to_string(data_len) + " bytes long (file size " + std::to_string(size) +
                           " - 8 - header length " + std::to_string(n) + ")" +
                           (prev_end < data_len ? ": trailing bytes" : ": the file is truncated"));
        }

        const std::byte* data = bytes.data() + 8 + n;
        tensors_.reserve(entries.size());
        for (auto& e : entries) {
            tensor_view t;
            t.name = std::move(e.name);
            t.dtype = e.dtype;
            t.shape = std::move(e.shape);
            t.data = data + e.begin;
            t.nbytes = static_cast<std::size_t>(e.end - e.begin);
            t.file = file;
            index_.emplace(t.name, tensors_.size());
            tensors_.push_back(std::move(t));
        }
    }

    mapped_file file_;
    std::filesystem::path path_;
    std::vector<tensor_view> tensors_;
    std::map<std::string, std::size_t, std::less<>> index_;
    std::map<std::string, std::string> metadata_;
    std::uint64_t header_size_ = 0;
    const std::byte* base_ = nullptr;
};

/// One tensor for write_safetensors: data holds numel x size_of(dtype)
/// little-endian bytes in C order.
struct tensor_to_write {
    std::string name;
    file_dtype dtype = file_dtype::f32;
    std::vector<std::int64_t> shape;
    std::span<const std::byte> data;
};

/// Writes a safetensors file atomically (a temporary file next to `path`,
/// then rename). The header JSON lists "__metadata__" first (when not
/// empty), then the tensors in the given order, and is padded with spaces
/// so that the data section begins at a multiple of 8 bytes; tensor data
/// are laid out in the given order without gaps. Throws mir::argument_error
/// for bad tensors (duplicate or reserved names, invalid UTF-8, negative
/// dimensions, byte counts that do not match dtype x shape), and
/// mir::file_error when writing fails.
inline void write_safetensors(const std::filesystem::path& path, const std::vector<tensor_to_write>& tensors,
                              const std::map<std::string, std::string>& metadata = {}) {
    const std::string file = path.string();
    auto bad = [&](const std::string& msg) { throw argument_error(file + ": cannot write safetensors: " + msg); };
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata.empty()) {
        auto& m = header["__metadata__"] = nlohmann::ordered_json::object();
        for (const auto& [k, v] : metadata) {
            if (detail::invalid_utf8_at(k) || detail::invalid_utf8_at(v)) {
                bad("__metadata__ entry '" + detail::printable(k) + "' is not valid UTF-8");
            }
            m[k] = v;
        }
    }
    std::set<std::string_view> names;
    std::uint64_t offset = 0;
    for (const auto& t : tensors) {
        const std::string tname = "tensor '" + detail::printable(t.name) + "'";
        if (t.name == "__metadata__") bad(tname + ": the name is reserved for the metadata");
        if (detail::invalid_utf8_at(t.name)) bad(tname + ": the name is not valid UTF-8");
        if (!names.insert(t.name).second) bad(tname + ": duplicate tensor name");
        auto numel = detail::checked_numel(t.shape);
        std::uint64_t need = 0;
        if (!numel || !detail::checked_mul(static_cast<std::uint64_t>(*numel), size_of(t.dtype), need)) {
            bad(tname + ": invalid shape " + detail::shape_string(t.shape));
        }
        if (need != t.data.size()) {
            bad(tname + ": " + std::to_string(t.data.size()) + " bytes of data, but dtype " +
                std::string(to_string(t.dtype)) + " x shape " + detail::shape_string(t.shape) + " is " +
                std::to_string(need) + " bytes");
        }
        auto& e = header[t.name] = nlohmann::ordered_json::object();
        e["dtype"] = std::string(to_string(t.dtype));
        e["shape"] = t.shape;
        e["data_offsets"] = {offset, offset + need};
        offset += need;
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    if (text.size() > safetensors_max_header_size) {
        bad("the header would be " + std::to_string(text.size()) + " bytes, over the limit of " +
            std::to_string(safetensors_max_header_size));
    }
    std::byte len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<std::byte>((text.size() >> (8 * i)) & 0xff);
    std::vector<std::span<const std::byte>> pieces;
    pieces.reserve(tensors.size() + 2);
    pieces.emplace_back(len, 8);
    pieces.emplace_back(reinterpret_cast<const std::byte*>(text.data()), text.size());
    for (const auto& t : tensors) pieces.push_back(t.data);
    detail::write_file_atomically(path, pieces);
}

}  // namespace mir::io
