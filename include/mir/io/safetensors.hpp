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
//     data_offsets; dtype is one of F16, BF16, F32, F64, BOOL, U8, U32, U64 (other
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
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <filesystem>
#include <limits>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
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

/// Known safetensors dtypes this library does not read.
inline bool is_other_safetensors_dtype(std::string_view s) noexcept {
    static constexpr std::string_view others[] = {
        "I8", "I16", "I32", "I64", "U16", "U32", "U64", "C64", "F8_E5M2", "F8_E4M3",
        "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4"};
    return std::find(std::begin(others), std::end(others), s) != std::end(others);
}

/// A transparent string hash: lookups by std::string_view without a copy.
struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

/// How a JSON value is named in messages ("a string", "a negative number").
inline constexpr const char* kind_null = "a null";
inline constexpr const char* kind_boolean = "a boolean";
inline constexpr const char* kind_number = "a number";
inline constexpr const char* kind_negative = "a negative number";
inline constexpr const char* kind_float = "a non-integer number";
inline constexpr const char* kind_string = "a string";
inline constexpr const char* kind_object = "an object";
inline constexpr const char* kind_array = "an array";

/// A validated tensor entry of a safetensors header.
struct header_entry {
    std::size_t position = 0;  // in the header (file order)
    std::string name;
    file_dtype dtype = file_dtype::u8;
    std::vector<std::int64_t> shape;
    std::uint64_t begin = 0, end = 0;
};

/// A SAX handler that parses a safetensors header straight into its table
/// of entries, in one pass, without building a JSON document (the DOM it
/// replaces spent most of its time allocating and freeing nodes: 1.9 s for
/// 300k tensors). Duplicate keys, which nlohmann would keep silently, are
/// found with one hash lookup each; nesting is limited as it goes. Each
/// entry is checked when its value ends; the first broken rule is kept and
/// reported only after the whole header parsed (failed()), so that a JSON
/// syntax error anywhere is reported before any rule about the entries.
class header_table_builder {
public:
    using json = nlohmann::json;
    /// Tensor name -> position in entries() (file order); it also holds
    /// "__metadata__" when present.
    using index_map = std::unordered_map<std::string, std::size_t, string_hash, std::equal_to<>>;

    header_table_builder(std::string_view header, const std::string& file) : header_(header), file_(file) {
        // An entry takes at least ~60 header bytes: size the index once
        // (bounded, for a header that is mostly metadata).
        index_.reserve(std::min<std::size_t>(header.size() / 60, std::size_t{1} << 20));
    }

    /// The tensor entries in file order; their index; "__metadata__"; the
    /// first rule an entry broke ("" if none), in file order.
    [[nodiscard]] std::vector<header_entry>& entries() noexcept { return entries_; }
    [[nodiscard]] index_map& index() noexcept { return index_; }
    [[nodiscard]] std::map<std::string, std::string>& metadata() noexcept { return metadata_; }
    [[nodiscard]] const std::string& failed() const noexcept { return error_; }

    bool null() { return scalar(kind_null); }
    bool boolean(bool /*v*/) { return scalar(kind_boolean); }
    bool number_unsigned(json::number_unsigned_t v) { return number(kind_number, v); }
    // nlohmann calls this for negative integers only, and for "-0" (which
    // the reference accepts as 0).
    bool number_integer(json::number_integer_t v) { return v == 0 ? number(kind_negative, 0) : scalar(kind_negative); }
    bool number_float(json::number_float_t /*v*/, const json::string_t& /*text*/) { return scalar(kind_float); }
    bool binary(json::binary_t& /*v*/) { return scalar("a binary value"); }
    bool string(json::string_t& v) {
        const role r = next_role();
        if (r == role::dtype) {
            cur_.dtype = v;  // copies: the lexer keeps its buffer's capacity
            cur_.dtype_kind = nullptr;
        } else if (r == role::metadata_value) {
            metadata_.emplace(key_, v);
        } else {
            mark(r, kind_string);
        }
        return after_value(r);
    }

    bool start_object(std::size_t /*size*/) {
        nest();
        const role r = next_role();
        if (r == role::root) {
            frames_.push_back({frame::in_root});
        } else if (r == role::entry && cur_.is_metadata) {
            frames_.push_back({frame::in_metadata});
        } else if (r == role::entry) {
            frames_.push_back({frame::in_entry});
        } else {
            mark(r, kind_object);
            frames_.push_back({frame::skip_object});
        }
        return true;
    }
    bool start_array(std::size_t /*size*/) {
        nest();
        const role r = next_role();
        if (r == role::shape) {
            cur_.shape_kind = nullptr;
            frames_.push_back({frame::in_shape});
        } else if (r == role::offsets) {
            frames_.push_back({frame::in_offsets});
        } else {
            mark(r, kind_array);
            frames_.push_back({frame::skip_array});
        }
        return true;
    }
    bool end_object() { return leave(); }
    bool end_array() { return leave(); }

    bool key(json::string_t& k) {
        frame& f = frames_.back();
        switch (f.what) {
            case frame::in_root:
                start_entry(k);
                f.value = role::entry;
                break;
            case frame::in_entry: {
                const unsigned bit = k == "dtype" ? 1u : k == "shape" ? 2u : k == "data_offsets" ? 4u : 0u;
                const bool again = bit != 0 ? (cur_.seen & bit) != 0 : !f.keys.insert(k).second;
                if (again) duplicate(k, "in the entry of tensor '" + printable(cur_.name) + "'");
                cur_.seen |= bit;
                if (bit == 0 && !cur_.has_unknown_key) {
                    cur_.has_unknown_key = true;
                    cur_.unknown_key = k;
                }
                f.value = bit == 1 ? role::dtype : bit == 2 ? role::shape : bit == 4 ? role::offsets : role::ignored;
                break;
            }
            case frame::in_metadata:
                if (!f.keys.insert(k).second) duplicate(k, "in __metadata__");
                key_ = k;
                f.value = role::metadata_value;
                break;
            default:  // an object nobody reads: duplicates are still refused
                if (!f.keys.insert(k).second) duplicate(k, "in the header");
                f.value = role::ignored;
                break;
        }
        return true;
    }

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
    /// What the next value is to the table.
    enum class role : unsigned char { root, entry, metadata_value, dtype, shape, offsets, dimension, offset, ignored };
    struct frame {
        enum kind : unsigned char {
            in_root,
            in_metadata,
            in_entry,
            in_shape,
            in_offsets,
            skip_object,
            skip_array
        } what;
        role value = role::ignored;              // of an object: the role of the value after the last key
        std::unordered_set<std::string> keys{};  // keys seen (only for keys no table holds)
    };
    /// The top-level entry being parsed: what each field held, or the kind
    /// of JSON value it was instead (nullptr = as expected). Reused from
    /// entry to entry (its buffers keep their capacity).
    struct raw_entry {
        std::string name;
        bool is_metadata = false;
        const char* kind = kind_object;  // the entry's own value
        unsigned seen = 0;               // a bit per field: 1 dtype, 2 shape, 4 data_offsets
        bool has_unknown_key = false;
        std::string unknown_key;  // the first key that is none of the three
        std::string dtype;
        const char* dtype_kind = nullptr;
        std::vector<std::int64_t> shape;
        const char* shape_kind = nullptr;
        std::string shape_error;  // the first dimension that is not one
        std::uint64_t offsets[2] = {0, 0};
        int offsets_count = 0;
        bool offsets_ok = true;      // an array of non-negative integers
        std::string metadata_error;  // the first value that is not a string
    };

    void start_entry(const std::string& k) {
        auto [it, inserted] = index_.try_emplace(k, entries_.size());
        if (!inserted) duplicate(k, "at the top level of the header");
        cur_.name = k;
        cur_.is_metadata = k == "__metadata__";
        cur_.kind = kind_object;
        cur_.seen = 0;
        cur_.has_unknown_key = false;
        cur_.dtype.clear();
        cur_.dtype_kind = kind_null;  // until a string arrives
        cur_.shape.clear();
        cur_.shape_kind = kind_null;
        cur_.shape_error.clear();
        cur_.offsets_count = 0;
        cur_.offsets_ok = true;
        cur_.metadata_error.clear();
    }

    /// The entry's value ended: validate it, keep it or its first problem.
    void finish_entry() {
        if (!error_.empty()) return;  // only the first problem is reported
        if (cur_.is_metadata) {
            if (cur_.kind != kind_object) {
                error_ = std::string("__metadata__ is ") + cur_.kind + ", not an object of strings";
            } else {
                error_ = cur_.metadata_error;
            }
            return;
        }
        auto tname = [&] { return "tensor '" + printable(cur_.name) + "'"; };  // built only for a message
        if (cur_.kind != kind_object) {
            error_ = tname() + ": entry is " + cur_.kind + ", not an object";
            return;
        }
        if (cur_.has_unknown_key) {
            error_ = tname() + ": unknown key '" + printable(cur_.unknown_key) +
                     "' in its entry (expected exactly dtype, shape, data_offsets)";
            return;
        }
        for (const auto& [bit, required] : {std::pair{1u, "dtype"}, {2u, "shape"}, {4u, "data_offsets"}}) {
            if ((cur_.seen & bit) == 0) {
                error_ = tname() + ": entry has no '" + required + "' (expected exactly dtype, shape, data_offsets)";
                return;
            }
        }
        header_entry e;
        // dtype
        if (cur_.dtype_kind != nullptr) {
            error_ = tname() + ": dtype is " + cur_.dtype_kind + ", not a string";
            return;
        }
        if (auto t = parse_file_dtype(cur_.dtype)) {
            e.dtype = *t;
        } else if (is_other_safetensors_dtype(cur_.dtype)) {
            error_ = tname() + ": unsupported dtype " + cur_.dtype +
                     " (supported: F16, BF16, F32, F64, BOOL, U8, U32, U64)";
            return;
        } else {
            error_ = tname() + ": unknown dtype '" + printable(cur_.dtype) +
                     "' (supported: F16, BF16, F32, F64, BOOL, U8, U32, U64)";
            return;
        }
        // shape
        if (cur_.shape_kind != nullptr) {
            error_ = tname() + ": shape is " + cur_.shape_kind + ", not an array";
            return;
        }
        if (!cur_.shape_error.empty()) {
            error_ = tname() + ": " + cur_.shape_error;
            return;
        }
        // data_offsets
        if (!cur_.offsets_ok || cur_.offsets_count != 2) {
            error_ = tname() + ": data_offsets is not an array of two non-negative integers [begin, end]";
            return;
        }
        e.begin = cur_.offsets[0];
        e.end = cur_.offsets[1];
        const std::string offsets = "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "]";
        if (e.end < e.begin) {
            error_ = tname() + ": " + offsets + " end before they begin";
            return;
        }
        // dtype x shape = byte length
        auto numel = checked_numel(cur_.shape);
        std::uint64_t need = 0;
        if (!numel || !checked_mul(static_cast<std::uint64_t>(*numel), size_of(e.dtype), need)) {
            error_ = tname() + ": the byte size of shape " + shape_string(cur_.shape) + " x " +
                     std::string(to_string(e.dtype)) + " overflows";
            return;
        }
        if (need != e.end - e.begin) {
            error_ = tname() + ": " + offsets + " span " + std::to_string(e.end - e.begin) + " bytes, but dtype " +
                     std::string(to_string(e.dtype)) + " x shape " + shape_string(cur_.shape) + " is " +
                     std::to_string(need) + " bytes";
            return;
        }
        e.position = entries_.size();
        e.name = cur_.name;
        e.shape = cur_.shape;
        entries_.push_back(std::move(e));
    }

    [[nodiscard]] role next_role() const noexcept {
        if (frames_.empty()) return role::root;
        const frame& f = frames_.back();
        switch (f.what) {
            case frame::in_shape: return role::dimension;
            case frame::in_offsets: return role::offset;
            case frame::skip_array: return role::ignored;
            default: return f.value;
        }
    }

    /// A value of kind `kind` where role `r` expected something else.
    void mark(role r, const char* kind) {
        switch (r) {
            case role::entry: cur_.kind = kind; break;
            case role::dtype: cur_.dtype_kind = kind; break;
            case role::shape: cur_.shape_kind = kind; break;
            case role::offsets:
            case role::offset: cur_.offsets_ok = false; break;
            case role::dimension:
                if (cur_.shape_error.empty()) {
                    cur_.shape_error = std::string("shape holds ") + kind + " (dimensions are non-negative integers)";
                }
                break;
            case role::metadata_value:
                if (cur_.metadata_error.empty()) {
                    cur_.metadata_error = "__metadata__ value of '" + printable(key_) + "' is " + kind +
                                          ", not a string";
                }
                break;
            default: break;  // root: the header begins with '{', checked before parsing
        }
    }
    bool scalar(const char* kind) {
        const role r = next_role();
        mark(r, kind);
        return after_value(r);
    }
    /// A non-negative integer (`kind` names it where none is wanted).
    bool number(const char* kind, std::uint64_t v) {
        const role r = next_role();
        if (r == role::dimension) {
            if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
                if (cur_.shape_error.empty())
                    cur_.shape_error = "shape dimension " + std::to_string(v) + " is too large";
            } else {
                cur_.shape.push_back(static_cast<std::int64_t>(v));
            }
        } else if (r == role::offset) {
            if (cur_.offsets_count < 2) cur_.offsets[cur_.offsets_count] = v;
            ++cur_.offsets_count;
        } else {
            mark(r, kind);
        }
        return after_value(r);
    }
    /// A scalar value ended; one at the top level ends its entry.
    bool after_value(role r) {
        if (r == role::entry) finish_entry();
        return true;
    }
    void nest() {
        if (++nesting_ > safetensors_max_json_depth) {
            throw file_error(file_ + ": invalid safetensors file: header JSON is nested more than " +
                             std::to_string(safetensors_max_json_depth) + " levels deep");
        }
    }
    bool leave() {
        frames_.pop_back();
        --nesting_;
        if (frames_.empty()) {
            done_ = true;
        } else if (frames_.size() == 1) {  // the value of a top-level key ended
            finish_entry();
        }
        return true;
    }
    [[noreturn]] void duplicate(const std::string& k, const std::string& where) const {
        throw file_error(file_ + ": invalid safetensors file: duplicate key '" + printable(k) + "' " + where);
    }

    std::string_view header_;
    const std::string& file_;
    std::vector<header_entry> entries_;
    index_map index_;
    std::map<std::string, std::string> metadata_;
    std::string error_;
    raw_entry cur_;
    std::vector<frame> frames_;
    std::string key_;  // the last key in __metadata__
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
        detail::header_table_builder sax(header, file);
        nlohmann::json::sax_parse(header.begin(), header.end(), &sax, nlohmann::json::input_format_t::json,
                                  /*strict=*/true, /*ignore_comments=*/false);
        // The parser skips any JSON whitespace after the object; the format
        // allows trailing spaces only.
        if (const auto last = header.find_last_not_of(' '); last != std::string_view::npos && header[last] != '}') {
            fail(file, "header byte " + std::to_string(last) + " after the JSON object is " +
                           detail::printable(header.substr(last, 1)) + "; only spaces may follow the object");
        }

        if (!sax.failed().empty()) fail(file, sax.failed());
        std::vector<detail::header_entry>& entries = sax.entries();

        std::sort(entries.begin(), entries.end(), [](const detail::header_entry& a, const detail::header_entry& b) {
            return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
        });
        const std::uint64_t data_len = size - 8 - n;
        std::uint64_t prev_end = 0;
        const detail::header_entry* prev = nullptr;
        for (const auto& e : entries) {
            auto tname = [&] { return "tensor '" + detail::printable(e.name) + "'"; };  // only for a message
            if (e.begin < prev_end) {
                fail(file, tname() + ": data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                               "] overlap tensor '" + detail::printable(prev->name) + "', which ends at " +
                               std::to_string(prev_end) + " (tensors must not overlap)");
            }
            if (e.begin > prev_end) {
                if (prev == nullptr) {
                    fail(file, tname() + ": the first tensor begins at offset " + std::to_string(e.begin) +
                                   ", not 0 (tensors must be contiguous)");
                }
                fail(file, tname() + ": begins at offset " + std::to_string(e.begin) + ", but tensor '" +
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

        index_ = std::move(sax.index());
        index_.erase("__metadata__");  // kept during the parse: a second one is a duplicate key
        metadata_ = std::move(sax.metadata());
        // The index held header positions: make them positions in tensors_
        // (a pass over the nodes, no hashing).
        std::vector<std::size_t> sorted_at(entries.size());
        for (std::size_t i = 0; i < entries.size(); ++i) sorted_at[entries[i].position] = i;
        for (auto& [name, at] : index_) at = sorted_at[at];

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
            tensors_.push_back(std::move(t));
        }
    }

    mapped_file file_;
    std::filesystem::path path_;
    std::vector<tensor_view> tensors_;
    detail::header_table_builder::index_map index_;
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
