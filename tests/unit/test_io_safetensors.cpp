// safetensors reader and writer: every validation rule, fixtures written by
// an outside writer (tools/gen_io_fixtures.py), the golden dumps, round trips.
#include <catch2/catch.hpp>

#include <mir/io/npz.hpp>
#include <mir/io/safetensors.hpp>

#include "support/io_support.hpp"

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace mio = mir::io;
using namespace mir_test::io;

namespace {

/// An image: 8-byte LE header length, the header text, then `data`.
std::vector<std::byte> st_image(std::string_view header, std::string_view data = {},
                                std::optional<std::uint64_t> header_len = std::nullopt) {
    const std::uint64_t n = header_len.value_or(header.size());
    std::vector<std::byte> v;
    for (int i = 0; i < 8; ++i) v.push_back(static_cast<std::byte>((n >> (8 * i)) & 0xff));
    append(v, header);
    append(v, data);
    return v;
}

/// Writes `bytes` as <name> in a temp dir, opens it, and checks that
/// mir::file_error is thrown whose message names the file and contains
/// every phrase.
void expect_invalid(const std::vector<std::byte>& bytes, const std::string& name,
                    const std::vector<std::string>& phrases) {
    expect_file_error([](const fs::path& p) { return mio::safetensors_file::open(p); }, bytes, name,
                      "invalid safetensors file", phrases);
    // The in-memory entry point applies the same rules.
    CHECK_THROWS_AS(mio::safetensors_file::from_bytes(bytes, name), mir::file_error);
}

/// One header (with its data section) and a phrase its error must hold.
struct bad_header {
    const char* header;
    const char* data;
    const char* phrase;
};

void expect_all_invalid(std::initializer_list<bad_header> cases) {
    int i = 0;
    for (const auto& c : cases) expect_invalid(st_image(c.header, c.data), "case" + std::to_string(i++) + ".safetensors", {c.phrase});
}

const std::string one_u8 = R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})";

}  // namespace

TEST_CASE("safetensors: a valid minimal image opens", "[io][safetensors]") {
    auto bytes = st_image(one_u8, "xy");
    auto f = mio::safetensors_file::from_bytes(bytes, "mem.safetensors");
    REQUIRE(f.tensors().size() == 1);
    CHECK(f.tensors()[0].name == "a");
    CHECK(f.tensors()[0].dtype == mio::file_dtype::u8);
    CHECK(f.tensors()[0].nbytes == 2);
    CHECK(f.tensors()[0].data == bytes.data() + 8 + one_u8.size());
    CHECK(f.header_size() == one_u8.size());
    CHECK(f.find("a") == &f.tensors()[0]);
    CHECK(f.find("b") == nullptr);
    CHECK(f.metadata().empty());
    CHECK(f.path() == "mem.safetensors");
}

TEST_CASE("safetensors: the header length field", "[io][safetensors]") {
    expect_invalid(bytes_of("1234567"), "short.safetensors", {"7 bytes long", "too short for the 8-byte header length"});
    expect_invalid({}, "empty.safetensors", {"0 bytes long"});
    expect_invalid(st_image("{}", "", 100'000'001), "huge_len.safetensors",
                   {"header length 100000001 exceeds the limit of 100000000 bytes"});
    expect_invalid(st_image("{}", "", std::numeric_limits<std::uint64_t>::max()), "max_len.safetensors",
                   {"exceeds the limit"});
    expect_invalid(st_image("{}   ", "", 6), "past_end.safetensors",
                   {"header length 6 runs past the end of the file"});
}

TEST_CASE("safetensors: the header must be UTF-8 JSON object text", "[io][safetensors]") {
    expect_invalid(st_image("{\"a\xff\":1}"), "utf8.safetensors", {"header is not valid UTF-8", "byte 3"});
    expect_invalid(st_image("{\"\xed\xa0\x80\":1}"), "surrogate.safetensors", {"not valid UTF-8"});
    expect_invalid(st_image(" {}"), "space.safetensors", {"does not begin with '{'"});
    expect_invalid(st_image("[]"), "array.safetensors", {"does not begin with '{'"});
    expect_invalid(st_image(""), "zero_header.safetensors", {"does not begin with '{'"});
    expect_invalid(st_image("{\"a\":"), "cut_json.safetensors", {"header is not valid JSON"});
    expect_invalid(st_image("{} x"), "garbage.safetensors", {"header is not valid JSON"});
    expect_invalid(st_image("{/* c */}"), "comment.safetensors", {"header is not valid JSON"});
    expect_invalid(st_image("{\"a\":\"\x01\"}"), "control.safetensors", {"header is not valid JSON"});
    // Trailing spaces (the padding) are fine, and so is an empty object.
    CHECK(mio::safetensors_file::from_bytes(st_image("{}      "), "pad").tensors().empty());
}

TEST_CASE("safetensors: duplicate keys are rejected at every level", "[io][safetensors]") {
    expect_invalid(st_image(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", "x"),
                   "dup_top.safetensors", {"duplicate key 'a' at the top level"});
    expect_invalid(st_image(R"({"a":{"dtype":"U8","dtype":"F32","shape":[1],"data_offsets":[0,1]}})", "x"),
                   "dup_entry.safetensors", {"duplicate key 'dtype' in the entry of tensor 'a'"});
    expect_invalid(st_image(R"({"__metadata__":{"k":"1","k":"2"}})"), "dup_meta.safetensors",
                   {"duplicate key 'k' in __metadata__"});
    expect_invalid(st_image(R"({"__metadata__":{},"__metadata__":{}})"), "dup_meta_key.safetensors",
                   {"duplicate key '__metadata__' at the top level"});
    // The same key in different objects is fine.
    CHECK_NOTHROW(mio::safetensors_file::from_bytes(
        st_image(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})", "xy"), "ok"));
}

TEST_CASE("safetensors: deeply nested headers are rejected", "[io][safetensors]") {
    expect_invalid(st_image(R"({"a":[[[[[[[[[1]]]]]]]]]})"), "deep.safetensors", {"nested more than 8 levels"});
    std::string deep = "{\"a\":" + std::string(100000, '[');
    expect_invalid(st_image(deep), "very_deep.safetensors", {"nested more than 8 levels"});
}

namespace {

/// A header of n one-byte U8 tensors t000000.. (data "x" x n), with `extra`
/// spliced in before the closing brace.
std::vector<std::byte> many_tensors(int n, const std::string& extra = {}) {
    std::string h = "{";
    for (int i = 0; i < n; ++i) {
        char name[16];
        std::snprintf(name, sizeof name, "t%06d", i);
        h += std::string(i ? "," : "") + "\"" + name + "\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[" +
             std::to_string(i) + "," + std::to_string(i + 1) + "]}";
    }
    h += extra + "}";
    return st_image(h, std::string(static_cast<std::size_t>(n), 'x'));
}

}  // namespace

TEST_CASE("safetensors: duplicate keys are found anywhere in a large header", "[io][safetensors]") {
    // 100k tensors parse (the single-pass SAX parser; the callback parser it
    // replaces rescanned the parent at every object end, O(n^2): minutes),
    // and every tensor is there.
    const int n = 100000;
    auto f = mio::safetensors_file::from_bytes(many_tensors(n), "many");
    REQUIRE(f.tensors().size() == static_cast<std::size_t>(n));
    CHECK(f.find("t099999") != nullptr);
    CHECK(f.find("t099999")->data == f.tensors().back().data);
    // A duplicate of the first, a middle and the last key, at the end.
    for (const char* dup : {"t000000", "t050000", "t099999"}) {
        const std::string extra = std::string(",\"") + dup + "\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}";
        expect_invalid(many_tensors(n, extra), "dup_many.safetensors",
                       {"duplicate key '" + std::string(dup) + "' at the top level"});
    }
    // Inside the last entry, and in a metadata object after 100k tensors.
    expect_invalid(many_tensors(n, R"(,"z":{"dtype":"U8","shape":[0],"shape":[0],"data_offsets":[0,0]})"),
                   "dup_last_entry.safetensors", {"duplicate key 'shape' in the entry of tensor 'z'"});
    expect_invalid(many_tensors(n, R"(,"__metadata__":{"a":"1","b":"2","a":"3"})"), "dup_meta_late.safetensors",
                   {"duplicate key 'a' in __metadata__"});
    // Deeper than an entry (an invalid header, but the duplicate is named first).
    expect_invalid(st_image(R"({"a":{"dtype":{"x":1,"x":2}}})"), "dup_deep.safetensors", {"duplicate key 'x' in the header"});
    // Equal keys in sibling objects at depth are not duplicates.
    CHECK_NOTHROW(mio::safetensors_file::from_bytes(
        st_image(R"({"__metadata__":{"shape":"1"},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", "x"), "ok"));
}

TEST_CASE("safetensors: the header is parsed whole before its entries are judged", "[io][safetensors]") {
    // A JSON syntax error after a broken entry: the header is not JSON, and
    // that is what is reported (entries are checked as they end, but their
    // first problem is reported only once the whole header parsed).
    expect_invalid(st_image(R"({"a":{"dtype":"Q8","shape":[1],"data_offsets":[0,1]},"b":})", "x"),
                   "late_syntax.safetensors", {"header is not valid JSON"});
    // Among broken entries, the first in the file is named (not the first by name).
    expect_invalid(
        st_image(
            R"({"b":{"dtype":"Q8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"R8","shape":[1],"data_offsets":[1,2]}})",
            "xy"),
        "two_bad.safetensors", {"tensor 'b': unknown dtype 'Q8'"});
    // A duplicate metadata key whose first value was not a string is still a duplicate.
    expect_invalid(st_image(R"({"__metadata__":{"k":1,"k":"2"}})"), "dup_meta_nonstring.safetensors",
                   {"duplicate key 'k' in __metadata__"});
    // Unknown keys holding nested values: the first one is named, nothing else read.
    expect_invalid(st_image(R"({"a":{"dtype":"U8","zz":{"p":[1,{"q":2}]},"shape":[1],"data_offsets":[0,1],"yy":3}})",
                            "x"),
                   "nested_unknown.safetensors", {"tensor 'a': unknown key 'zz'"});
    // "-0" is the integer 0 (as the reference reads it), in shapes and offsets.
    auto z = mio::safetensors_file::from_bytes(st_image(R"({"a":{"dtype":"U8","shape":[-0],"data_offsets":[-0,0]}})"),
                                               "z");
    REQUIRE(z.tensors().size() == 1);
    CHECK(z.tensors()[0].shape == std::vector<std::int64_t>{0});
}

TEST_CASE("safetensors: lookup by name after sorting by offset", "[io][safetensors]") {
    // Listed in the header in the reverse of their data order, with the
    // metadata between them: find() must still return each one's own data.
    const std::string h =
        R"({"c":{"dtype":"U8","shape":[1],"data_offsets":[2,3]},"__metadata__":{"m":"v"},)"
        R"("b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})";
    const auto bytes = st_image(h, "ABC");
    auto f = mio::safetensors_file::from_bytes(bytes, "order");
    REQUIRE(f.tensors().size() == 3);
    CHECK(f.tensors()[0].name == "a");
    CHECK(f.tensors()[2].name == "c");
    for (const auto& [name, byte] : {std::pair{"a", 'A'}, {"b", 'B'}, {"c", 'C'}}) {
        const mio::tensor_view* t = f.find(name);
        REQUIRE(t != nullptr);
        CHECK(t->name == name);
        CHECK(static_cast<char>(*t->data) == byte);
    }
    CHECK(f.find("__metadata__") == nullptr);
    CHECK(f.find("d") == nullptr);
    CHECK(f.metadata().at("m") == "v");
}

TEST_CASE("safetensors: only spaces may follow the header object", "[io][safetensors]") {
    const std::string obj = one_u8;
    // NUL ends the input for the JSON lexer: refused wherever it is.
    expect_invalid(st_image(obj + std::string("\0GARBAGE", 8), "xy"), "nul_garbage.safetensors",
                   {"header holds a NUL byte at header offset " + std::to_string(obj.size())});
    expect_invalid(st_image(obj + std::string(6, '\0'), "xy"), "nul_pad.safetensors", {"NUL byte"});
    expect_invalid(st_image(obj + "  " + std::string(1, '\0') + "  ", "xy"), "nul_mid.safetensors",
                   {"NUL byte at header offset " + std::to_string(obj.size() + 2), "file offset " + std::to_string(8 + obj.size() + 2)});
    // Other JSON whitespace and other bytes after the object.
    expect_invalid(st_image(obj + "\n", "xy"), "newline.safetensors",
                   {"header byte " + std::to_string(obj.size()) + " after the JSON object", "only spaces may follow"});
    expect_invalid(st_image(obj + " \t ", "xy"), "tab.safetensors", {"after the JSON object is \\x09"});
    expect_invalid(st_image(obj + "  x", "xy"), "trailing_x.safetensors",
                   {"header byte " + std::to_string(obj.size() + 2) + " follows the JSON object"});
    expect_invalid(st_image(obj + "{}", "xy"), "two_objects.safetensors", {"follows the JSON object"});
    // Spaces are the padding: fine.
    CHECK(mio::safetensors_file::from_bytes(st_image(obj + "       ", "xy"), "pad").tensors().size() == 1);
}

TEST_CASE("safetensors: __metadata__ is an object of strings", "[io][safetensors]") {
    auto f = mio::safetensors_file::from_bytes(st_image(R"({"__metadata__":{"format":"pt","x":""}})"), "m");
    CHECK(f.metadata().size() == 2);
    CHECK(f.metadata().at("format") == "pt");
    CHECK(f.tensors().empty());
    expect_invalid(st_image(R"({"__metadata__":[]})"), "meta_array.safetensors", {"__metadata__ is an array, not an object of strings"});
    expect_invalid(st_image(R"({"__metadata__":{"n":1}})"), "meta_number.safetensors",
                   {"__metadata__ value of 'n' is a number, not a string"});
    expect_invalid(st_image(R"({"__metadata__":{"n":null}})"), "meta_null.safetensors", {"value of 'n' is a null"});
}

TEST_CASE("safetensors: tensor entries hold exactly dtype shape and data_offsets", "[io][safetensors]") {
    expect_invalid(st_image(R"({"a":[1,2]})"), "entry_array.safetensors", {"tensor 'a': entry is an array, not an object"});
    expect_invalid(st_image(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"extra":1}})", "x"),
                   "entry_extra.safetensors", {"tensor 'a': unknown key 'extra'", "expected exactly dtype, shape, data_offsets"});
    expect_invalid(st_image(R"({"a":{"dtype":"U8","data_offsets":[0,1]}})", "x"), "entry_missing.safetensors",
                   {"tensor 'a': entry has no 'shape'"});
    expect_invalid(st_image(R"({"a":{"shape":[1],"data_offsets":[0,1]}})", "x"), "entry_no_dtype.safetensors",
                   {"tensor 'a': entry has no 'dtype'"});
    expect_invalid(st_image(R"({"a":{"dtype":"U8","shape":[1]}})", "x"), "entry_no_offsets.safetensors",
                   {"tensor 'a': entry has no 'data_offsets'"});
}

TEST_CASE("safetensors: dtypes", "[io][safetensors]") {
    expect_invalid(st_image(R"({"a":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}})", "xxxx"), "i32.safetensors",
                   {"tensor 'a': unsupported dtype I32", "supported: F16, BF16, F32, F64, BOOL, U8, U32, U64"});
    for (const char* dt : {"I8", "I16", "I64", "U16", "F8_E4M3", "F8_E5M2"}) {
        const std::string h = std::string(R"({"t":{"dtype":")") + dt + R"(","shape":[0],"data_offsets":[0,0]}})";
        expect_invalid(st_image(h), std::string(dt) + ".safetensors", {"tensor 't': unsupported dtype " + std::string(dt)});
    }
    expect_invalid(st_image(R"({"a":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}})", "xxxx"), "lower.safetensors",
                   {"tensor 'a': unknown dtype 'f32'"});
    expect_invalid(st_image(R"({"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}})", "xxxx"), "dtype_number.safetensors",
                   {"tensor 'a': dtype is a number, not a string"});
    // The fixture with an I64 tensor next to an F32 one.
    const auto path = io_data("safetensors/i64.safetensors");
    CHECK_THROWS_WITH(mio::safetensors_file::open(path),
                      Catch::Contains(path.string()) && Catch::Contains("tensor 'input_ids': unsupported dtype I64"));
}

TEST_CASE("safetensors: shapes", "[io][safetensors]") {
    expect_all_invalid({
        {R"({"a":{"dtype":"U8","shape":2,"data_offsets":[0,2]}})", "xx", "tensor 'a': shape is a number, not an array"},
        {R"({"a":{"dtype":"U8","shape":[-2],"data_offsets":[0,2]}})", "xx", "tensor 'a': shape holds a negative number"},
        {R"({"a":{"dtype":"U8","shape":[2.0],"data_offsets":[0,2]}})", "xx", "shape holds a non-integer number"},
        {R"({"a":{"dtype":"U8","shape":["2"],"data_offsets":[0,2]}})", "xx", "shape holds a string"},
        {R"({"a":{"dtype":"U8","shape":[18446744073709551615],"data_offsets":[0,2]}})", "xx",
         "shape dimension 18446744073709551615 is too large"},
        {R"({"a":{"dtype":"U8","shape":[1e30],"data_offsets":[0,2]}})", "xx", "shape holds a non-integer number"},
    });
    // dtype x shape overflows: in the element count, and in the byte count.
    expect_invalid(st_image(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,4]}})", "xxxx"),
                   "overflow_numel.safetensors", {"tensor 'a': the byte size of shape", "overflows"});
    expect_invalid(st_image(R"({"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,8]}})", "xxxxxxxx"),
                   "overflow_bytes.safetensors", {"overflows"});
    // A zero dimension after huge ones still overflows on the way (in order,
    // as the reference multiplies); one before them does not.
    expect_invalid(st_image(R"({"a":{"dtype":"U8","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}})"),
                   "overflow_zero_last.safetensors", {"overflows"});
    auto f = mio::safetensors_file::from_bytes(
        st_image(R"({"a":{"dtype":"U8","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}})"), "ok");
    CHECK(f.tensors()[0].numel() == 0);
}

TEST_CASE("safetensors: data_offsets and byte lengths", "[io][safetensors]") {
    for (const char* off : {"[0]", "[0,1,2]", "[-1,1]", "[0,\"1\"]", "{}", "[0,1.5]"}) {
        const std::string h = std::string(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":)") + off + "}}";
        expect_invalid(st_image(h, "x"), "offsets.safetensors",
                       {"tensor 'a': data_offsets is not an array of two non-negative integers"});
    }
    expect_all_invalid({
        {R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[2,1]}})", "xx", "tensor 'a': data_offsets [2, 1] end before they begin"},
        {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", "xxxx",
         "tensor 'a': data_offsets [0, 4] span 4 bytes, but dtype F32 x shape [2] is 8 bytes"},
        {R"({"a":{"dtype":"BF16","shape":[3,1],"data_offsets":[0,8]}})", "xxxxxxxx", "dtype BF16 x shape [3, 1] is 6 bytes"},
    });
}

TEST_CASE("safetensors: tensors are sorted contiguous and fill the data section", "[io][safetensors]") {
    expect_invalid(st_image(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}})", "xyz"),
                   "overlap.safetensors", {"tensor 'b': data_offsets [1, 3] overlap tensor 'a', which ends at 2"});
    expect_invalid(st_image(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})", "xy"),
                   "same_range.safetensors", {"overlap tensor 'a'"});
    expect_invalid(st_image(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}})", "xyz"),
                   "gap.safetensors", {"tensor 'b': begins at offset 2, but tensor 'a' ends at 1", "without gaps"});
    expect_invalid(st_image(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})", "xy"), "first.safetensors",
                   {"tensor 'a': the first tensor begins at offset 1, not 0"});
    expect_invalid(st_image(one_u8, "xyz"), "trailing.safetensors",
                   {"the tensors end at offset 2 of the data section, but it is 3 bytes long", "trailing bytes"});
    expect_invalid(st_image(one_u8, "x"), "truncated.safetensors", {"the data section, but it is 1 bytes long", "truncated"});
    expect_invalid(st_image("{}", "x"), "no_tensors_data.safetensors", {"trailing bytes"});
    // Offsets listed out of order in the header are sorted first.
    auto f = mio::safetensors_file::from_bytes(
        st_image(R"({"z":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[2],"data_offsets":[1,3]},"e":{"dtype":"F32","shape":[0],"data_offsets":[1,1]}})", "xyz"),
        "order");
    REQUIRE(f.tensors().size() == 3);
    CHECK(f.tensors()[0].name == "z");
    CHECK(f.tensors()[1].name == "e");  // zero bytes at offset 1, before a's [1, 3)
    CHECK(f.tensors()[2].name == "a");
    CHECK(f.tensors()[1].numel() == 0);
}

TEST_CASE("safetensors: hostile names are printed safely", "[io][safetensors]") {
    expect_invalid(st_image("{\"a\\n\\u0001b\":{\"dtype\":\"I32\",\"shape\":[0],\"data_offsets\":[0,0]}}"), "names.safetensors",
                   {"tensor 'a\\x0a\\x01b': unsupported dtype I32"});
}

TEST_CASE("safetensors: files that cannot be opened", "[io][safetensors]") {
    temp_dir dir;
    CHECK_THROWS_WITH(mio::safetensors_file::open(dir / "missing.safetensors"),
                      Catch::Contains((dir / "missing.safetensors").string()) && Catch::Contains("cannot open"));
    CHECK_THROWS_AS(mio::safetensors_file::open(dir / "missing.safetensors"), mir::file_error);
    CHECK_THROWS_WITH(mio::safetensors_file::open(dir.path()), Catch::Contains("is a directory"));
}

TEST_CASE("safetensors: the outside writer's fixture with every dtype", "[io][safetensors]") {
    const auto path = io_data("safetensors/all_dtypes.safetensors");
    auto f = mio::safetensors_file::open(path);
    CHECK(f.path() == path);
    CHECK(f.metadata() == std::map<std::string, std::string>{{"format", "pt"}, {"note", "mir io fixture"}});
    std::vector<std::string> names;
    for (const auto& t : f.tensors()) names.push_back(t.name);
    // File (offset) order, not the header's alphabetical order.
    CHECK(names == std::vector<std::string>{"f64", "f32", "bf16", "f16", "empty", "mask_bool", "mask_u8"});
    for (const char* n : {"f64", "f32", "bf16", "f16"}) {
        const auto* t = f.find(n);
        REQUIRE(t != nullptr);
        CHECK(t->shape == std::vector<std::int64_t>{2, 3, 4});
        CHECK(t->file == path.string());
        check_float_values(*t);
    }
    CHECK(f.find("f64")->dtype == mio::file_dtype::f64);
    CHECK(f.find("bf16")->dtype == mio::file_dtype::bf16);
    CHECK(f.find("f16")->dtype == mio::file_dtype::f16);
    const auto* e = f.find("empty");
    CHECK(e->shape == std::vector<std::int64_t>{0, 4});
    CHECK(e->nbytes == 0);
    CHECK(to_doubles(*e).empty());
    const auto* mb = f.find("mask_bool");
    const auto* mu = f.find("mask_u8");
    CHECK(mb->dtype == mio::file_dtype::boolean);
    CHECK(mu->dtype == mio::file_dtype::u8);
    for (std::int64_t i = 0; i < 7; ++i) {
        CHECK(to_u8(*mb)[static_cast<std::size_t>(i)] == bool_value(i));
        CHECK(to_u8(*mu)[static_cast<std::size_t>(i)] == u8_value(i));
    }
    CHECK_THROWS_WITH(mio::visit_all_rows(*mb, [](auto) {}),
                      Catch::Contains(path.string()) && Catch::Contains("tensor 'mask_bool'") &&
                          Catch::Contains("dtype BOOL holds no hidden states"));
    CHECK_THROWS_AS(mio::visit_all_rows(*mu, [](auto) {}), mir::file_error);
}

TEST_CASE("safetensors: misaligned data are read through an aligned copy", "[io][safetensors]") {
    auto f = mio::safetensors_file::open(io_data("safetensors/misaligned.safetensors"));
    const auto* x = f.find("x");
    REQUIRE(x != nullptr);
    CHECK(reinterpret_cast<std::uintptr_t>(x->data) % alignof(float) != 0);
    check_float_values(*x);
    mio::visit_rows(*x, 1, 1, [&](auto rows) {
        CHECK(reinterpret_cast<std::uintptr_t>(rows.data) % alignof(float) == 0);
        CHECK(rows.rows == 1);
        CHECK(rows.cols == 3);
        CHECK(mir::to_acc<double>(rows.row(0)[0]) == float_value(3));
    });
}

TEST_CASE("safetensors: scalars and files without tensors", "[io][safetensors]") {
    auto s = mio::safetensors_file::open(io_data("safetensors/scalar.safetensors"));
    REQUIRE(s.tensors().size() == 1);
    CHECK(s.tensors()[0].shape.empty());
    CHECK(s.tensors()[0].numel() == 1);
    CHECK(to_doubles(s.tensors()[0]) == std::vector<double>{2.5});
    auto n = mio::safetensors_file::open(io_data("safetensors/no_tensors.safetensors"));
    CHECK(n.tensors().empty());
}

TEST_CASE("safetensors: the golden dumps match their npz twins byte for byte", "[io][safetensors][npz]") {
    const auto golden = std::filesystem::path(MIR_TEST_DATA_DIR) / "golden";
    int compared = 0;
    for (int i = 0; i < 6; ++i) {
        char stem[32];
        std::snprintf(stem, sizeof stem, "sample_%04d", i);
        auto st = mio::safetensors_file::open(golden / "f16_small" / (std::string(stem) + ".safetensors"));
        auto z = mio::npz_file::open(golden / "f16_small_npz" / (std::string(stem) + ".npz"));
        CHECK(z.names() == std::vector<std::string>{"hidden_states", "vision_mask"});
        const auto* hs = st.find("hidden_states");
        const auto* vm = st.find("vision_mask");
        REQUIRE(hs != nullptr);
        REQUIRE(vm != nullptr);
        CHECK(hs->dtype == mio::file_dtype::f16);
        CHECK(vm->dtype == mio::file_dtype::u8);
        const auto zhs = z.read("hidden_states");
        const auto zvm = z.read("vision_mask");
        CHECK(zhs.dtype == mio::file_dtype::f16);
        CHECK(zvm.dtype == mio::file_dtype::boolean);
        CHECK(zhs.shape == hs->shape);
        CHECK(zvm.shape == vm->shape);
        REQUIRE(zhs.data.size() == hs->nbytes);
        REQUIRE(zvm.data.size() == vm->nbytes);
        CHECK(std::memcmp(zhs.data.data(), hs->data, hs->nbytes) == 0);
        CHECK(std::memcmp(zvm.data.data(), vm->data, vm->nbytes) == 0);
        ++compared;
    }
    CHECK(compared == 6);
}

TEST_CASE("safetensors: write then read every dtype", "[io][safetensors]") {
    temp_dir dir;
    const auto path = dir / "round.safetensors";
    std::vector<mir::half> h = {mir::half(1.5f), mir::half(-2.0f), mir::half(65504.0f)};
    std::vector<mir::bfloat16> b = {mir::bfloat16(0.25f), mir::bfloat16(-3.0e38f)};
    std::vector<float> f = {1.f, 2.f, 3.f, 4.f, 5.f, 6.f};
    std::vector<double> d = {3.141592653589793, -1e300};
    std::vector<std::uint8_t> m = {1, 0, 1, 1};
    std::vector<std::uint8_t> u = {0, 7, 255};
    auto span = [](const auto& v) { return std::as_bytes(std::span(v)); };
    std::vector<mio::tensor_to_write> ts = {
        {"h", mio::file_dtype::f16, {3}, span(h)},
        {"mask", mio::file_dtype::boolean, {4}, span(m)},
        {"b", mio::file_dtype::bf16, {1, 2}, span(b)},
        {"f", mio::file_dtype::f32, {2, 3}, span(f)},
        {"u", mio::file_dtype::u8, {3}, span(u)},
        {"d", mio::file_dtype::f64, {2}, span(d)},
        {"none", mio::file_dtype::f32, {0, 3}, {}},
        {"scalar", mio::file_dtype::f64, {}, {}},
    };
    const double sc = 7.0;
    ts.back().data = std::as_bytes(std::span(&sc, 1));
    mio::write_safetensors(path, ts, {{"format", "pt"}, {"by", "mir"}});

    const auto raw = read_file(path);
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | std::to_integer<std::uint64_t>(raw[static_cast<std::size_t>(i)]);
    CHECK(n % 8 == 0);
    CHECK(raw[8] == std::byte{'{'});

    auto r = mio::safetensors_file::open(path);
    CHECK(r.header_size() == n);
    CHECK(r.metadata() == std::map<std::string, std::string>{{"format", "pt"}, {"by", "mir"}});
    std::vector<std::string> order;
    for (const auto& t : r.tensors()) order.push_back(t.name);
    // Data are laid out in the given order.
    CHECK(order == std::vector<std::string>{"h", "mask", "b", "f", "u", "d", "none", "scalar"});
    for (std::size_t i = 0; i < ts.size(); ++i) {
        const auto* t = r.find(ts[i].name);
        REQUIRE(t != nullptr);
        CHECK(t->dtype == ts[i].dtype);
        CHECK(t->shape == ts[i].shape);
        REQUIRE(t->nbytes == ts[i].data.size());
        CHECK((t->nbytes == 0 || std::memcmp(t->data, ts[i].data.data(), t->nbytes) == 0));
    }
    CHECK(to_doubles(*r.find("d")) == d);
    CHECK(to_doubles(*r.find("scalar")) == std::vector<double>{7.0});
    // No temporary file is left behind; overwriting works.
    mio::write_safetensors(path, {ts[0]});
    CHECK(mio::safetensors_file::open(path).tensors().size() == 1);
    int files = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
    CHECK(files == 1);
}

TEST_CASE("safetensors: the writer rejects bad tensors", "[io][safetensors]") {
    temp_dir dir;
    const auto path = dir / "bad.safetensors";
    std::vector<float> f = {1.f, 2.f};
    const auto data = std::as_bytes(std::span(f));
    auto rejects = [&](std::vector<mio::tensor_to_write> ts, const std::string& phrase,
                       std::map<std::string, std::string> meta = {}) {
        INFO(phrase);
        CHECK_THROWS_AS(mio::write_safetensors(path, ts, meta), mir::argument_error);
        CHECK_THROWS_WITH(mio::write_safetensors(path, ts, meta),
                          Catch::Contains(path.string()) && Catch::Contains(phrase));
        CHECK_FALSE(std::filesystem::exists(path));
    };
    rejects({{"a", mio::file_dtype::f32, {3}, data}}, "8 bytes of data, but dtype F32 x shape [3] is 12 bytes");
    rejects({{"a", mio::file_dtype::f32, {-2}, data}}, "invalid shape [-2]");
    rejects({{"a", mio::file_dtype::f32, {2}, data}, {"a", mio::file_dtype::f32, {2}, data}}, "duplicate tensor name");
    rejects({{"__metadata__", mio::file_dtype::f32, {2}, data}}, "reserved");
    rejects({{"a\xff", mio::file_dtype::f32, {2}, data}}, "not valid UTF-8");
    rejects({{"a", mio::file_dtype::f32, {2}, data}}, "not valid UTF-8", {{"k", "\xc3"}});
    CHECK_THROWS_WITH(mio::write_safetensors(dir / "no" / "such" / "dir.safetensors", {{"a", mio::file_dtype::f32, {2}, data}}),
                      Catch::Contains("dir.safetensors") && Catch::Contains("cannot create"));
    CHECK_THROWS_AS(mio::write_safetensors(dir / "no" / "such" / "dir.safetensors", {{"a", mio::file_dtype::f32, {2}, data}}),
                    mir::file_error);
}

TEST_CASE("safetensors: close releases the mapping and keeps the names", "[io][safetensors]") {
    auto f = mio::safetensors_file::open(io_data("safetensors/all_dtypes.safetensors"));
    f.release(*f.find("f32"));  // a hint; data stay readable
    check_float_values(*f.find("f32"));
    auto g = std::move(f);
    check_float_values(*g.find("f32"));
    g.close();
    REQUIRE(g.find("f32") != nullptr);
    CHECK(g.find("f32")->data == nullptr);
    CHECK(g.find("f32")->shape == std::vector<std::int64_t>{2, 3, 4});
    CHECK_THROWS_WITH(mio::visit_all_rows(*g.find("f32"), [](auto) {}), Catch::Contains("closed"));
}
