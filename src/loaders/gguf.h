// GGUF files (llama.cpp's single-file model format, versions 2 and 3): a reader that maps the
// file and hands out zero-copy tensor views, and a small writer.
//
// Layout (little-endian): "GGUF", u32 version, u64 tensor_count, u64 kv_count; kv_count
// key/value pairs (string key, u32 value type, value); tensor_count tensor infos (string name,
// u32 n_dims, u64 ne[n_dims] innermost-first, u32 ggml type, u64 offset); padding to
// general.alignment (default 32); the tensor data, each tensor at data_start + offset.
// Strings are u64 length + bytes (no terminator); arrays are u32 element type, u64 count,
// elements. See docs/gguf.md.
//
// The reader bounds every count and length against the file size and returns a Status naming
// the file and the key or tensor for anything malformed; nothing in a file can crash it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/mmap_file.h"
#include "core/status.h"
#include "core/tensor.h"

namespace dsrt {

// GGUF metadata value types (gguf_type).
enum class GgufType : uint32_t {
  U8 = 0,
  I8 = 1,
  U16 = 2,
  I16 = 3,
  U32 = 4,
  I32 = 5,
  F32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  U64 = 10,
  I64 = 11,
  F64 = 12,
};
std::string_view gguf_type_name(GgufType t);

// One metadata value. Scalars keep their exact GGUF type; an array keeps its element type and
// stores numbers as their raw little-endian bytes (a 100k-entry score array is one buffer),
// strings as strings and nested arrays as values.
struct GgufValue {
  GgufType type = GgufType::U32;
  uint64_t u = 0;   // U8, U16, U32, U64, BOOL (0 or 1)
  int64_t i = 0;    // I8, I16, I32, I64
  double f = 0;     // F32 (exactly representable), F64
  std::string str;  // STRING
  // ARRAY:
  GgufType elem_type = GgufType::U8;
  uint64_t count = 0;
  std::vector<uint8_t> raw;          // numeric/bool elements, count * element size bytes
  std::vector<std::string> strings;  // STRING elements
  std::vector<GgufValue> arrays;     // ARRAY elements

  bool operator==(const GgufValue&) const = default;

  bool is_int() const;    // any integer type (not BOOL)
  bool is_float() const;  // F32 or F64
  // Value as int64 (any integer type; U64 above INT64_MAX is an error).
  Result<int64_t> as_int() const;
  // Value as double (F32, F64 or any integer type).
  Result<double> as_f64() const;
  // Element i of a numeric array (as_int / as_f64 rules), i < count.
  Result<int64_t> int_at(uint64_t idx) const;
  Result<double> f64_at(uint64_t idx) const;
  std::string to_string(size_t max_elems = 8) const;  // for messages and `dsrt inspect`

  static GgufValue make_u8(uint8_t v);
  static GgufValue make_i8(int8_t v);
  static GgufValue make_u16(uint16_t v);
  static GgufValue make_i16(int16_t v);
  static GgufValue make_u32(uint32_t v);
  static GgufValue make_i32(int32_t v);
  static GgufValue make_u64(uint64_t v);
  static GgufValue make_i64(int64_t v);
  static GgufValue make_f32(float v);
  static GgufValue make_f64(double v);
  static GgufValue make_bool(bool v);
  static GgufValue make_string(std::string v);
  static GgufValue make_string_array(std::vector<std::string> v);
  static GgufValue make_i32_array(const std::vector<int32_t>& v);
  static GgufValue make_u32_array(const std::vector<uint32_t>& v);
  static GgufValue make_i64_array(const std::vector<int64_t>& v);
  static GgufValue make_f32_array(const std::vector<float>& v);
  static GgufValue make_bool_array(const std::vector<bool>& v);
  // Any numeric element type from raw little-endian bytes (size must match count).
  static Result<GgufValue> make_numeric_array(GgufType elem, uint64_t count,
                                              std::vector<uint8_t> raw);
  static GgufValue make_array_of_arrays(std::vector<GgufValue> v);
};

// Bytes of one scalar of a numeric/bool type, 0 for STRING and ARRAY.
size_t gguf_scalar_size(GgufType t);

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> shape;    // outermost first (GGUF's ne reversed)
  uint32_t ggml_type = 0;        // the raw type id from the file
  DType dtype = DType::Invalid;  // Invalid for ggml types dsrt does not decode (IQ*, TQ*, ...)
  std::string type_name;         // ggml's name, e.g. "Q4_K", "IQ2_XXS"
  uint64_t offset = 0;           // relative to the data section, as stored
  uint64_t file_offset = 0;      // absolute
  uint64_t nbytes = 0;
  std::vector<int64_t> ne() const { return {shape.rbegin(), shape.rend()}; }
};

class GgufFile {
 public:
  // mode: where the bytes live (core/mmap_file.h); weight loading passes Auto, readers of
  // metadata keep the mapping.
  static Result<std::shared_ptr<GgufFile>> open(const std::string& path, Residency mode = Residency::Map);

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // start of the tensor data section
  const MappedFile& file() const { return *file_; }

  // Metadata in file order.
  const std::vector<std::pair<std::string, GgufValue>>& kvs() const { return kvs_; }
  const GgufValue* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }

  // Typed getters: an error names the file and the key (missing, or of the wrong type).
  Result<std::string> get_string(std::string_view key) const;
  Result<int64_t> get_int(std::string_view key) const;   // any integer type
  Result<uint32_t> get_u32(std::string_view key) const;  // any integer type within u32 range
  Result<float> get_f32(std::string_view key) const;     // F32 or F64
  Result<bool> get_bool(std::string_view key) const;
  // The same for optional keys: def when absent, an error only for a wrong type.
  Result<std::string> get_string_or(std::string_view key, std::string def) const;
  Result<int64_t> get_int_or(std::string_view key, int64_t def) const;
  Result<float> get_f32_or(std::string_view key, float def) const;
  Result<bool> get_bool_or(std::string_view key, bool def) const;
  // Arrays.
  Result<const GgufValue*> get_array(std::string_view key) const;
  Result<std::vector<std::string>> get_string_array(std::string_view key) const;
  Result<std::vector<int64_t>> get_int_array(std::string_view key) const;
  Result<std::vector<float>> get_f32_array(std::string_view key) const;

  // general.architecture, or "" when absent.
  std::string architecture() const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(std::string_view name) const;
  // A zero-copy view into the mapping; the Tensor's owner keeps the mapping alive. Errors for a
  // missing tensor or a ggml type dsrt cannot decode.
  Result<Tensor> tensor(std::string_view name) const;

 private:
  friend class GgufParser;
  GgufFile() = default;
  std::string path_;
  std::shared_ptr<MappedFile> file_;
  uint32_t version_ = 0;
  uint32_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> kvs_;
  std::map<std::string, size_t, std::less<>> kv_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

// Writes a GGUF v3 file. KVs and tensors keep the order they were added in. The file is
// written to "<path>.tmp.<pid>" and renamed over path only when complete.
class GgufWriter {
 public:
  // Errors on a duplicate key; "general.alignment" must be a U32 power of two and sets the
  // data alignment (default 32).
  Status add_kv(std::string key, GgufValue value);
  // Tensor data is referenced, not copied: data must stay valid until write(). shape is
  // outermost first; nbytes must equal the size the type and shape imply. Names follow
  // ggml's limit (< 64 bytes) so llama.cpp can read the file.
  Status add_tensor(std::string name, DType type, std::vector<int64_t> shape, const void* data,
                    size_t nbytes);
  // Keeps t's storage alive (t.owner) until the writer is destroyed.
  Status add_tensor(const Tensor& t);
  Status add_tensor(std::string name, const Tensor& t);

  Status write(const std::string& path) const;

 private:
  struct PendingTensor {
    std::string name;
    DType type;
    std::vector<int64_t> shape;
    const void* data;
    size_t nbytes;
    std::shared_ptr<void> owner;
  };
  std::vector<std::pair<std::string, GgufValue>> kvs_;
  std::vector<PendingTensor> tensors_;
  uint32_t alignment_ = 32;
};

// ggml's name for a raw type id ("Q4_K", "IQ2_XXS"), or "" for an id ggml does not define.
std::string_view ggml_type_name(uint32_t ggml_type);

}  // namespace dsrt
