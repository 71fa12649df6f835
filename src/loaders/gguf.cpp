#include "loaders/gguf.h"

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <limits>

namespace dsrt {
namespace {

static_assert(std::endian::native == std::endian::little, "GGUF is read in place as little-endian");

constexpr uint32_t kMaxDims = 4;       // GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 4;      // nested arrays deeper than this are refused
constexpr size_t kMaxTensorName = 63;  // GGML_MAX_NAME - 1, enforced by the writer only
constexpr uint32_t kDefaultAlignment = 32;

// Every type id ggml defines (ggml.h's ggml_type), with its block geometry, so that sizes of
// tensors of types dsrt cannot decode are still validated (and metadata of such files stays
// readable). Ids 4, 5 and 31-33, 36-38 were removed from ggml and are unknown here.
struct GgmlTypeInfo {
  uint32_t id;
  const char* name;
  uint32_t block_size;
  uint32_t block_bytes;
};
constexpr GgmlTypeInfo kGgmlTypes[] = {
    {0, "F32", 1, 4},         {1, "F16", 1, 2},         {2, "Q4_0", 32, 18},
    {3, "Q4_1", 32, 20},      {6, "Q5_0", 32, 22},      {7, "Q5_1", 32, 24},
    {8, "Q8_0", 32, 34},      {9, "Q8_1", 32, 36},      {10, "Q2_K", 256, 84},
    {11, "Q3_K", 256, 110},   {12, "Q4_K", 256, 144},   {13, "Q5_K", 256, 176},
    {14, "Q6_K", 256, 210},   {15, "Q8_K", 256, 292},   {16, "IQ2_XXS", 256, 66},
    {17, "IQ2_XS", 256, 74},  {18, "IQ3_XXS", 256, 98}, {19, "IQ1_S", 256, 50},
    {20, "IQ4_NL", 32, 18},   {21, "IQ3_S", 256, 110},  {22, "IQ2_S", 256, 82},
    {23, "IQ4_XS", 256, 136}, {24, "I8", 1, 1},         {25, "I16", 1, 2},
    {26, "I32", 1, 4},        {27, "I64", 1, 8},        {28, "F64", 1, 8},
    {29, "IQ1_M", 256, 56},   {30, "BF16", 1, 2},       {34, "TQ1_0", 256, 54},
    {35, "TQ2_0", 256, 66},   {39, "MXFP4", 32, 17},
};

const GgmlTypeInfo* ggml_type_info(uint32_t id) {
  for (const auto& t : kGgmlTypes)
    if (t.id == id) return &t;
  return nullptr;
}

// The DType for a ggml type id when dsrt has it (same numeric ids), else Invalid.
DType dtype_for_ggml(uint32_t id) {
  if (id >= 1000 || !dtype_valid(int32_t(id))) return DType::Invalid;
  return DType(int32_t(id));
}

bool is_pow2(uint64_t v) {
  return v != 0 && (v & (v - 1)) == 0;
}
uint64_t align_up(uint64_t v, uint64_t a) {
  return (v + a - 1) / a * a;
}

std::string quote(std::string_view s) {
  // Keys and names come from the file: cap them and hide control bytes in messages.
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < 120; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += char(c);
    }
  }
  if (s.size() > 120) out += "...";
  return out + "'";
}

bool valid_value_type(uint32_t t) {
  return t <= uint32_t(GgufType::F64);
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

std::string_view gguf_type_name(GgufType t) {
  switch (t) {
    case GgufType::U8:
      return "U8";
    case GgufType::I8:
      return "I8";
    case GgufType::U16:
      return "U16";
    case GgufType::I16:
      return "I16";
    case GgufType::U32:
      return "U32";
    case GgufType::I32:
      return "I32";
    case GgufType::F32:
      return "F32";
    case GgufType::BOOL:
      return "BOOL";
    case GgufType::STRING:
      return "STRING";
    case GgufType::ARRAY:
      return "ARRAY";
    case GgufType::U64:
      return "U64";
    case GgufType::I64:
      return "I64";
    case GgufType::F64:
      return "F64";
  }
  return "unknown";
}

size_t gguf_scalar_size(GgufType t) {
  switch (t) {
    case GgufType::U8:
    case GgufType::I8:
    case GgufType::BOOL:
      return 1;
    case GgufType::U16:
    case GgufType::I16:
      return 2;
    case GgufType::U32:
    case GgufType::I32:
    case GgufType::F32:
      return 4;
    case GgufType::U64:
    case GgufType::I64:
    case GgufType::F64:
      return 8;
    default:
      return 0;
  }
}

std::string_view ggml_type_name(uint32_t ggml_type) {
  const GgmlTypeInfo* t = ggml_type_info(ggml_type);
  return t ? t->name : "";
}

// ---------------------------------------------------------------------------------------------
// GgufValue

namespace {

// Decodes one numeric scalar of type t from little-endian bytes into v's scalar fields.
void decode_scalar(GgufType t, const uint8_t* p, GgufValue* v) {
  v->type = t;
  switch (t) {
    case GgufType::U8:
      v->u = p[0];
      break;
    case GgufType::BOOL:
      v->u = p[0];
      break;
    case GgufType::I8:
      v->i = int8_t(p[0]);
      break;
    case GgufType::U16: {
      uint16_t x;
      std::memcpy(&x, p, 2);
      v->u = x;
      break;
    }
    case GgufType::I16: {
      int16_t x;
      std::memcpy(&x, p, 2);
      v->i = x;
      break;
    }
    case GgufType::U32: {
      uint32_t x;
      std::memcpy(&x, p, 4);
      v->u = x;
      break;
    }
    case GgufType::I32: {
      int32_t x;
      std::memcpy(&x, p, 4);
      v->i = x;
      break;
    }
    case GgufType::U64: {
      uint64_t x;
      std::memcpy(&x, p, 8);
      v->u = x;
      break;
    }
    case GgufType::I64: {
      int64_t x;
      std::memcpy(&x, p, 8);
      v->i = x;
      break;
    }
    case GgufType::F32: {
      float x;
      std::memcpy(&x, p, 4);
      v->f = x;
      break;
    }
    case GgufType::F64: {
      double x;
      std::memcpy(&x, p, 8);
      v->f = x;
      break;
    }
    default:
      DSRT_CHECK_MSG(false, "decode_scalar: not a scalar type");
  }
}

// Encodes v's scalar (of type v.type) as little-endian bytes.
void encode_scalar(const GgufValue& v, std::vector<uint8_t>* out) {
  uint8_t b[8];
  size_t n = gguf_scalar_size(v.type);
  switch (v.type) {
    case GgufType::U8:
    case GgufType::BOOL:
      b[0] = uint8_t(v.u);
      break;
    case GgufType::I8:
      b[0] = uint8_t(int8_t(v.i));
      break;
    case GgufType::U16: {
      uint16_t x = uint16_t(v.u);
      std::memcpy(b, &x, 2);
      break;
    }
    case GgufType::I16: {
      int16_t x = int16_t(v.i);
      std::memcpy(b, &x, 2);
      break;
    }
    case GgufType::U32: {
      uint32_t x = uint32_t(v.u);
      std::memcpy(b, &x, 4);
      break;
    }
    case GgufType::I32: {
      int32_t x = int32_t(v.i);
      std::memcpy(b, &x, 4);
      break;
    }
    case GgufType::U64:
      std::memcpy(b, &v.u, 8);
      break;
    case GgufType::I64:
      std::memcpy(b, &v.i, 8);
      break;
    case GgufType::F32: {
      float x = float(v.f);
      std::memcpy(b, &x, 4);
      break;
    }
    case GgufType::F64:
      std::memcpy(b, &v.f, 8);
      break;
    default:
      DSRT_CHECK_MSG(false, "encode_scalar: not a scalar type");
  }
  out->insert(out->end(), b, b + n);
}

bool is_int_type(GgufType t) {
  switch (t) {
    case GgufType::U8:
    case GgufType::I8:
    case GgufType::U16:
    case GgufType::I16:
    case GgufType::U32:
    case GgufType::I32:
    case GgufType::U64:
    case GgufType::I64:
      return true;
    default:
      return false;
  }
}
bool is_unsigned_type(GgufType t) {
  return t == GgufType::U8 || t == GgufType::U16 || t == GgufType::U32 || t == GgufType::U64;
}

Result<int64_t> scalar_as_int(const GgufValue& v) {
  if (!is_int_type(v.type))
    return Status::Error("has type " + std::string(gguf_type_name(v.type)) +
                         ", expected an integer");
  if (is_unsigned_type(v.type)) {
    if (v.u > uint64_t(std::numeric_limits<int64_t>::max()))
      return Status::Error("value " + std::to_string(v.u) + " does not fit in int64");
    return int64_t(v.u);
  }
  return v.i;
}

Result<double> scalar_as_f64(const GgufValue& v) {
  if (v.type == GgufType::F32 || v.type == GgufType::F64) return v.f;
  if (is_int_type(v.type)) return is_unsigned_type(v.type) ? double(v.u) : double(v.i);
  return Status::Error("has type " + std::string(gguf_type_name(v.type)) + ", expected a number");
}

}  // namespace

bool GgufValue::is_int() const {
  return is_int_type(type);
}
bool GgufValue::is_float() const {
  return type == GgufType::F32 || type == GgufType::F64;
}
Result<int64_t> GgufValue::as_int() const {
  return scalar_as_int(*this);
}
Result<double> GgufValue::as_f64() const {
  return scalar_as_f64(*this);
}

Result<int64_t> GgufValue::int_at(uint64_t idx) const {
  if (type != GgufType::ARRAY || gguf_scalar_size(elem_type) == 0 || elem_type == GgufType::BOOL)
    return Status::Error("is not a numeric array");
  if (idx >= count) return Status::Error("index " + std::to_string(idx) + " out of range");
  GgufValue e;
  decode_scalar(elem_type, raw.data() + idx * gguf_scalar_size(elem_type), &e);
  return e.as_int();
}

Result<double> GgufValue::f64_at(uint64_t idx) const {
  if (type != GgufType::ARRAY || gguf_scalar_size(elem_type) == 0 || elem_type == GgufType::BOOL)
    return Status::Error("is not a numeric array");
  if (idx >= count) return Status::Error("index " + std::to_string(idx) + " out of range");
  GgufValue e;
  decode_scalar(elem_type, raw.data() + idx * gguf_scalar_size(elem_type), &e);
  return e.as_f64();
}

std::string GgufValue::to_string(size_t max_elems) const {
  switch (type) {
    case GgufType::BOOL:
      return u ? "true" : "false";
    case GgufType::STRING:
      return quote(str);
    case GgufType::F32:
    case GgufType::F64: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.9g", f);
      return buf;
    }
    case GgufType::ARRAY: {
      std::string s = std::string(gguf_type_name(elem_type)) + "[" + std::to_string(count) + "] {";
      for (uint64_t k = 0; k < count && k < max_elems; ++k) {
        if (k) s += ", ";
        if (elem_type == GgufType::STRING) {
          s += quote(strings[k]);
        } else if (elem_type == GgufType::ARRAY) {
          s += arrays[k].to_string(max_elems);
        } else {
          GgufValue e;
          decode_scalar(elem_type, raw.data() + k * gguf_scalar_size(elem_type), &e);
          s += e.to_string();
        }
      }
      if (count > max_elems) s += ", ...";
      return s + "}";
    }
    default:
      return is_unsigned_type(type) ? std::to_string(u) : std::to_string(i);
  }
}

GgufValue GgufValue::make_u8(uint8_t v) {
  GgufValue x;
  x.type = GgufType::U8;
  x.u = v;
  return x;
}
GgufValue GgufValue::make_i8(int8_t v) {
  GgufValue x;
  x.type = GgufType::I8;
  x.i = v;
  return x;
}
GgufValue GgufValue::make_u16(uint16_t v) {
  GgufValue x;
  x.type = GgufType::U16;
  x.u = v;
  return x;
}
GgufValue GgufValue::make_i16(int16_t v) {
  GgufValue x;
  x.type = GgufType::I16;
  x.i = v;
  return x;
}
GgufValue GgufValue::make_u32(uint32_t v) {
  GgufValue x;
  x.type = GgufType::U32;
  x.u = v;
  return x;
}
GgufValue GgufValue::make_i32(int32_t v) {
  GgufValue x;
  x.type = GgufType::I32;
  x.i = v;
  return x;
}
GgufValue GgufValue::make_u64(uint64_t v) {
  GgufValue x;
  x.type = GgufType::U64;
  x.u = v;
  return x;
}
GgufValue GgufValue::make_i64(int64_t v) {
  GgufValue x;
  x.type = GgufType::I64;
  x.i = v;
  return x;
}
GgufValue GgufValue::make_f32(float v) {
  GgufValue x;
  x.type = GgufType::F32;
  x.f = v;
  return x;
}
GgufValue GgufValue::make_f64(double v) {
  GgufValue x;
  x.type = GgufType::F64;
  x.f = v;
  return x;
}
GgufValue GgufValue::make_bool(bool v) {
  GgufValue x;
  x.type = GgufType::BOOL;
  x.u = v;
  return x;
}
GgufValue GgufValue::make_string(std::string v) {
  GgufValue x;
  x.type = GgufType::STRING;
  x.str = std::move(v);
  return x;
}
GgufValue GgufValue::make_string_array(std::vector<std::string> v) {
  GgufValue x;
  x.type = GgufType::ARRAY;
  x.elem_type = GgufType::STRING;
  x.count = v.size();
  x.strings = std::move(v);
  return x;
}

namespace {
template <class T>
GgufValue make_pod_array(GgufType elem, const std::vector<T>& v) {
  GgufValue x;
  x.type = GgufType::ARRAY;
  x.elem_type = elem;
  x.count = v.size();
  x.raw.resize(v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(x.raw.data(), v.data(), x.raw.size());
  return x;
}
}  // namespace

GgufValue GgufValue::make_i32_array(const std::vector<int32_t>& v) {
  return make_pod_array(GgufType::I32, v);
}
GgufValue GgufValue::make_u32_array(const std::vector<uint32_t>& v) {
  return make_pod_array(GgufType::U32, v);
}
GgufValue GgufValue::make_i64_array(const std::vector<int64_t>& v) {
  return make_pod_array(GgufType::I64, v);
}
GgufValue GgufValue::make_f32_array(const std::vector<float>& v) {
  return make_pod_array(GgufType::F32, v);
}
GgufValue GgufValue::make_bool_array(const std::vector<bool>& v) {
  std::vector<uint8_t> b(v.begin(), v.end());
  return make_pod_array(GgufType::BOOL, b);
}
Result<GgufValue> GgufValue::make_numeric_array(GgufType elem, uint64_t count,
                                                std::vector<uint8_t> raw) {
  const size_t es = gguf_scalar_size(elem);
  if (es == 0) return Status::Error("make_numeric_array: element type is not numeric");
  if (raw.size() != count * es) return Status::Error("make_numeric_array: size mismatch");
  GgufValue x;
  x.type = GgufType::ARRAY;
  x.elem_type = elem;
  x.count = count;
  x.raw = std::move(raw);
  return x;
}
GgufValue GgufValue::make_array_of_arrays(std::vector<GgufValue> v) {
  GgufValue x;
  x.type = GgufType::ARRAY;
  x.elem_type = GgufType::ARRAY;
  x.count = v.size();
  x.arrays = std::move(v);
  return x;
}

// ---------------------------------------------------------------------------------------------
// Reader

class GgufParser {
 public:
  GgufParser(GgufFile* f, const uint8_t* data, size_t size) : f_(f), p_(data), size_(size) {}

  Status parse();

 private:
  Status error(const std::string& msg) const { return Status::Error(f_->path_ + ": " + msg); }
  uint64_t left() const { return size_ - pos_; }
  Status need(uint64_t n, const std::string& what) const {
    if (n > left())
      return error("truncated: " + what + " needs " + std::to_string(n) + " bytes at offset " +
                   std::to_string(pos_) + ", file has " + std::to_string(left()) + " left");
    return Status::Ok();
  }
  template <class T>
  Status read(T* v, const std::string& what) {
    DSRT_RETURN_IF_ERROR(need(sizeof(T), what));
    std::memcpy(v, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status::Ok();
  }
  Status read_string(std::string* s, const std::string& what) {
    uint64_t len;
    DSRT_RETURN_IF_ERROR(read(&len, what + " length"));
    if (len > left())
      return error(what + ": string length " + std::to_string(len) + " exceeds the " +
                   std::to_string(left()) + " bytes left in the file");
    s->assign(reinterpret_cast<const char*>(p_ + pos_), size_t(len));
    pos_ += len;
    return Status::Ok();
  }
  Status read_value(GgufType t, GgufValue* v, int depth, const std::string& what);

  GgufFile* f_;
  const uint8_t* p_;
  size_t size_;
  uint64_t pos_ = 0;
};

Status GgufParser::read_value(GgufType t, GgufValue* v, int depth, const std::string& what) {
  v->type = t;
  if (t == GgufType::STRING) return read_string(&v->str, what);
  if (t != GgufType::ARRAY) {
    const size_t n = gguf_scalar_size(t);
    DSRT_RETURN_IF_ERROR(need(n, what));
    decode_scalar(t, p_ + pos_, v);
    pos_ += n;
    if (t == GgufType::BOOL && v->u > 1)
      return error(what + ": bool value " + std::to_string(v->u) + " is neither 0 nor 1");
    return Status::Ok();
  }
  if (depth >= kMaxArrayDepth)
    return error(what + ": arrays nested deeper than " + std::to_string(kMaxArrayDepth));
  uint32_t et;
  DSRT_RETURN_IF_ERROR(read(&et, what + " array element type"));
  if (!valid_value_type(et))
    return error(what + ": unknown array element type " + std::to_string(et));
  v->elem_type = GgufType(et);
  DSRT_RETURN_IF_ERROR(read(&v->count, what + " array count"));
  // Every element takes at least this many bytes, which bounds the count by the file size
  // before anything is allocated.
  const uint64_t min_elem = v->elem_type == GgufType::STRING  ? 8
                            : v->elem_type == GgufType::ARRAY ? 12
                                                              : gguf_scalar_size(v->elem_type);
  if (v->count > left() / min_elem)
    return error(what + ": array of " + std::to_string(v->count) + " " +
                 std::string(gguf_type_name(v->elem_type)) + " elements exceeds the " +
                 std::to_string(left()) + " bytes left in the file");
  if (v->elem_type == GgufType::STRING) {
    v->strings.resize(size_t(v->count));
    for (uint64_t k = 0; k < v->count; ++k)
      DSRT_RETURN_IF_ERROR(read_string(&v->strings[k], what + "[" + std::to_string(k) + "]"));
  } else if (v->elem_type == GgufType::ARRAY) {
    v->arrays.resize(size_t(v->count));
    for (uint64_t k = 0; k < v->count; ++k)
      DSRT_RETURN_IF_ERROR(read_value(GgufType::ARRAY, &v->arrays[k], depth + 1,
                                      what + "[" + std::to_string(k) + "]"));
  } else {
    const uint64_t n = v->count * min_elem;
    v->raw.assign(p_ + pos_, p_ + pos_ + n);
    pos_ += n;
    if (v->elem_type == GgufType::BOOL) {
      for (uint64_t k = 0; k < v->count; ++k)
        if (v->raw[k] > 1)
          return error(what + "[" + std::to_string(k) + "]: bool value " +
                       std::to_string(v->raw[k]) + " is neither 0 nor 1");
    }
  }
  return Status::Ok();
}

Status GgufParser::parse() {
  if (size_ < 4) return error("truncated: " + std::to_string(size_) + " bytes, not a GGUF file");
  if (std::memcmp(p_, "GGUF", 4) != 0) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%02x %02x %02x %02x", p_[0], p_[1], p_[2], p_[3]);
    return error(std::string("not a GGUF file (magic bytes ") + buf + ", expected 'GGUF')");
  }
  pos_ = 4;
  uint32_t version;
  DSRT_RETURN_IF_ERROR(read(&version, "version"));
  if (version == 1) return error("GGUF version 1 is not supported (only versions 2 and 3)");
  if (version != 2 && version != 3) {
    if ((version & 0xffff) == 0 && (version >> 16) != 0)
      return error("big-endian GGUF (version field " + std::to_string(version) +
                   ") is not supported");
    return error("unsupported GGUF version " + std::to_string(version) +
                 " (only versions 2 and 3)");
  }
  f_->version_ = version;
  uint64_t n_tensors, n_kv;
  DSRT_RETURN_IF_ERROR(read(&n_tensors, "tensor count"));
  DSRT_RETURN_IF_ERROR(read(&n_kv, "metadata count"));
  // A key/value pair takes at least 8 (key length) + 4 (type) + 1 bytes; a tensor info at
  // least 8 (name length) + 4 (n_dims) + 4 (type) + 8 (offset).
  if (n_kv > left() / 13)
    return error("metadata count " + std::to_string(n_kv) + " is impossible for a file of " +
                 std::to_string(size_) + " bytes");
  if (n_tensors > left() / 24)
    return error("tensor count " + std::to_string(n_tensors) + " is impossible for a file of " +
                 std::to_string(size_) + " bytes");

  f_->kvs_.reserve(size_t(n_kv));
  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string key;
    DSRT_RETURN_IF_ERROR(read_string(&key, "key of metadata entry " + std::to_string(k)));
    const std::string what = "key " + quote(key);
    uint32_t t;
    DSRT_RETURN_IF_ERROR(read(&t, what + " value type"));
    if (!valid_value_type(t)) return error(what + ": unknown value type " + std::to_string(t));
    GgufValue v;
    DSRT_RETURN_IF_ERROR(read_value(GgufType(t), &v, 0, what));
    if (f_->kv_index_.count(key)) return error("duplicate " + what);
    f_->kv_index_.emplace(key, f_->kvs_.size());
    f_->kvs_.emplace_back(std::move(key), std::move(v));
  }

  if (const GgufValue* a = f_->find("general.alignment")) {
    if (a->type != GgufType::U32)
      return error("key 'general.alignment' has type " + std::string(gguf_type_name(a->type)) +
                   ", expected U32");
    if (!is_pow2(a->u))
      return error("key 'general.alignment' is " + std::to_string(a->u) + ", not a power of two");
    f_->alignment_ = uint32_t(a->u);
  }

  f_->tensors_.reserve(size_t(n_tensors));
  for (uint64_t k = 0; k < n_tensors; ++k) {
    GgufTensorInfo ti;
    DSRT_RETURN_IF_ERROR(read_string(&ti.name, "name of tensor " + std::to_string(k)));
    const std::string what = "tensor " + quote(ti.name);
    uint32_t n_dims;
    DSRT_RETURN_IF_ERROR(read(&n_dims, what + " n_dims"));
    if (n_dims > kMaxDims)
      return error(what + ": " + std::to_string(n_dims) + " dimensions (at most " +
                   std::to_string(kMaxDims) + ")");
    std::vector<int64_t> ne(n_dims);
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t x;
      DSRT_RETURN_IF_ERROR(read(&x, what + " dimension"));
      if (x > uint64_t(std::numeric_limits<int64_t>::max()))
        return error(what + ": dimension " + std::to_string(d) + " is negative");
      ne[d] = int64_t(x);
    }
    DSRT_RETURN_IF_ERROR(read(&ti.ggml_type, what + " type"));
    DSRT_RETURN_IF_ERROR(read(&ti.offset, what + " offset"));
    ti.shape.assign(ne.rbegin(), ne.rend());

    const GgmlTypeInfo* gt = ggml_type_info(ti.ggml_type);
    if (!gt) return error(what + ": unknown ggml type " + std::to_string(ti.ggml_type));
    ti.type_name = gt->name;
    ti.dtype = dtype_for_ggml(ti.ggml_type);
    const int64_t ne0 = n_dims ? ne[0] : 1;
    if (ne0 % gt->block_size != 0)
      return error(what + ": row length " + std::to_string(ne0) + " is not a multiple of " +
                   gt->name + "'s block size " + std::to_string(gt->block_size));
    // Size with overflow checks; anything beyond the file is an error anyway.
    uint64_t nbytes = uint64_t(ne0 / gt->block_size) * gt->block_bytes;
    for (uint32_t d = 1; d < n_dims; ++d) {
      if (__builtin_mul_overflow(nbytes, uint64_t(ne[d]), &nbytes))
        return error(what + ": dimensions overflow 64-bit size");
    }
    ti.nbytes = nbytes;
    if (ti.offset % f_->alignment_ != 0)
      return error(what + ": data offset " + std::to_string(ti.offset) +
                   " is not a multiple of the alignment " + std::to_string(f_->alignment_));
    if (f_->tensor_index_.count(ti.name)) return error("duplicate " + what);
    f_->tensor_index_.emplace(ti.name, f_->tensors_.size());
    f_->tensors_.push_back(std::move(ti));
  }

  f_->data_offset_ = align_up(pos_, f_->alignment_);
  const uint64_t data_size = f_->data_offset_ <= size_ ? size_ - f_->data_offset_ : 0;
  for (GgufTensorInfo& ti : f_->tensors_) {
    if (ti.nbytes == 0) {
      // An empty tensor still gets an address inside the mapping.
      ti.file_offset = std::min<uint64_t>(f_->data_offset_ + ti.offset, size_);
      continue;
    }
    if (ti.offset > data_size || ti.nbytes > data_size - ti.offset)
      return error("tensor " + quote(ti.name) + ": data [" + std::to_string(ti.offset) + ", +" +
                   std::to_string(ti.nbytes) + ") " + ti.type_name + " " + shape_string(ti.shape) +
                   " lies beyond the " + std::to_string(data_size) +
                   "-byte data section (truncated file?)");
    ti.file_offset = f_->data_offset_ + ti.offset;
  }
  // Overlap: sort by offset and compare neighbours.
  std::vector<const GgufTensorInfo*> order;
  for (const GgufTensorInfo& ti : f_->tensors_)
    if (ti.nbytes) order.push_back(&ti);
  std::sort(order.begin(), order.end(),
            [](const GgufTensorInfo* a, const GgufTensorInfo* b) { return a->offset < b->offset; });
  for (size_t k = 1; k < order.size(); ++k) {
    if (order[k]->offset < order[k - 1]->offset + order[k - 1]->nbytes)
      return error("tensor " + quote(order[k]->name) + " overlaps tensor " +
                   quote(order[k - 1]->name));
  }
  return Status::Ok();
}

Result<std::shared_ptr<GgufFile>> GgufFile::open(const std::string& path, Residency mode) {
  DSRT_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> m, MappedFile::open(path, mode));
  std::shared_ptr<GgufFile> f(new GgufFile());
  f->path_ = path;
  f->file_ = m;
  GgufParser parser(f.get(), m->data(), m->size());
  DSRT_RETURN_IF_ERROR(parser.parse());
  return f;
}

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kvs_[it->second].second;
}

namespace {
Status missing(const std::string& path, std::string_view key) {
  return Status::Error(path + ": key " + quote(key) + " is missing");
}
Status wrong(const std::string& path, std::string_view key, const Status& s) {
  return Status::Error(path + ": key " + quote(key) + " " + s.message());
}
Status wrong_type(const std::string& path, std::string_view key, const GgufValue& v,
                  const char* expected) {
  return Status::Error(path + ": key " + quote(key) + " has type " +
                       std::string(gguf_type_name(v.type)) + ", expected " + expected);
}
}  // namespace

Result<std::string> GgufFile::get_string(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return missing(path_, key);
  if (v->type != GgufType::STRING) return wrong_type(path_, key, *v, "STRING");
  return v->str;
}

Result<int64_t> GgufFile::get_int(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return missing(path_, key);
  Result<int64_t> r = v->as_int();
  if (!r.ok()) return wrong(path_, key, r.status());
  return r;
}

Result<uint32_t> GgufFile::get_u32(std::string_view key) const {
  DSRT_ASSIGN_OR_RETURN(int64_t x, get_int(key));
  if (x < 0 || x > int64_t(std::numeric_limits<uint32_t>::max()))
    return Status::Error(path_ + ": key " + quote(key) + " is " + std::to_string(x) +
                         ", outside the u32 range");
  return uint32_t(x);
}

Result<float> GgufFile::get_f32(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return missing(path_, key);
  if (!v->is_float()) return wrong_type(path_, key, *v, "F32 or F64");
  return float(v->f);
}

Result<bool> GgufFile::get_bool(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return missing(path_, key);
  if (v->type != GgufType::BOOL) return wrong_type(path_, key, *v, "BOOL");
  return v->u != 0;
}

Result<std::string> GgufFile::get_string_or(std::string_view key, std::string def) const {
  return has(key) ? get_string(key) : Result<std::string>(std::move(def));
}
Result<int64_t> GgufFile::get_int_or(std::string_view key, int64_t def) const {
  return has(key) ? get_int(key) : Result<int64_t>(def);
}
Result<float> GgufFile::get_f32_or(std::string_view key, float def) const {
  return has(key) ? get_f32(key) : Result<float>(def);
}
Result<bool> GgufFile::get_bool_or(std::string_view key, bool def) const {
  return has(key) ? get_bool(key) : Result<bool>(def);
}

Result<const GgufValue*> GgufFile::get_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return missing(path_, key);
  if (v->type != GgufType::ARRAY) return wrong_type(path_, key, *v, "ARRAY");
  return v;
}

Result<std::vector<std::string>> GgufFile::get_string_array(std::string_view key) const {
  DSRT_ASSIGN_OR_RETURN(const GgufValue* v, get_array(key));
  if (v->elem_type != GgufType::STRING)
    return Status::Error(path_ + ": key " + quote(key) + " is an array of " +
                         std::string(gguf_type_name(v->elem_type)) + ", expected STRING");
  return v->strings;
}

Result<std::vector<int64_t>> GgufFile::get_int_array(std::string_view key) const {
  DSRT_ASSIGN_OR_RETURN(const GgufValue* v, get_array(key));
  if (!is_int_type(v->elem_type))
    return Status::Error(path_ + ": key " + quote(key) + " is an array of " +
                         std::string(gguf_type_name(v->elem_type)) + ", expected integers");
  std::vector<int64_t> out(size_t(v->count));
  for (uint64_t k = 0; k < v->count; ++k) {
    Result<int64_t> x = v->int_at(k);
    if (!x.ok()) return wrong(path_, key, x.status());
    out[k] = x.value();
  }
  return out;
}

Result<std::vector<float>> GgufFile::get_f32_array(std::string_view key) const {
  DSRT_ASSIGN_OR_RETURN(const GgufValue* v, get_array(key));
  if (v->elem_type != GgufType::F32 && v->elem_type != GgufType::F64)
    return Status::Error(path_ + ": key " + quote(key) + " is an array of " +
                         std::string(gguf_type_name(v->elem_type)) + ", expected F32");
  std::vector<float> out(size_t(v->count));
  if (v->elem_type == GgufType::F32) {
    if (!out.empty()) std::memcpy(out.data(), v->raw.data(), out.size() * 4);
  } else {
    for (uint64_t k = 0; k < v->count; ++k) {
      double d;
      std::memcpy(&d, v->raw.data() + 8 * k, 8);
      out[k] = float(d);
    }
  }
  return out;
}

std::string GgufFile::architecture() const {
  const GgufValue* v = find("general.architecture");
  return v && v->type == GgufType::STRING ? v->str : std::string();
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

Result<Tensor> GgufFile::tensor(std::string_view name) const {
  const GgufTensorInfo* ti = find_tensor(name);
  if (!ti) return Status::Error(path_ + ": no tensor " + quote(name));
  if (ti->dtype == DType::Invalid)
    return Status::Error(path_ + ": tensor " + quote(name) + " has ggml type " + ti->type_name +
                         " (id " + std::to_string(ti->ggml_type) + "), which dsrt cannot decode");
  Tensor t;
  t.dtype = ti->dtype;
  t.shape = ti->shape;
  t.name = ti->name;
  // The file is mapped read-only; Tensor's data pointer is non-const by design, and callers
  // must not write through a view of a mapped file.
  t.data = const_cast<uint8_t*>(file_->data() + ti->file_offset);
  // Aliasing constructor: the view shares ownership of the mapping.
  t.owner = std::shared_ptr<void>(file_, const_cast<uint8_t*>(file_->data()));
  return t;
}

// ---------------------------------------------------------------------------------------------
// Writer

namespace {

void put_u32(std::vector<uint8_t>* b, uint32_t v) {
  const uint8_t* p = reinterpret_cast<const uint8_t*>(&v);
  b->insert(b->end(), p, p + 4);
}
void put_u64(std::vector<uint8_t>* b, uint64_t v) {
  const uint8_t* p = reinterpret_cast<const uint8_t*>(&v);
  b->insert(b->end(), p, p + 8);
}
void put_string(std::vector<uint8_t>* b, const std::string& s) {
  put_u64(b, s.size());
  b->insert(b->end(), s.begin(), s.end());
}

Status check_value(const GgufValue& v, int depth) {
  if (!valid_value_type(uint32_t(v.type))) return Status::Error("invalid value type");
  if (v.type == GgufType::BOOL && v.u > 1) return Status::Error("bool value is not 0 or 1");
  if (v.type != GgufType::ARRAY) return Status::Ok();
  if (depth >= kMaxArrayDepth) return Status::Error("arrays nested too deep");
  if (!valid_value_type(uint32_t(v.elem_type))) return Status::Error("invalid element type");
  if (v.elem_type == GgufType::STRING) {
    if (v.strings.size() != v.count) return Status::Error("string array count mismatch");
  } else if (v.elem_type == GgufType::ARRAY) {
    if (v.arrays.size() != v.count) return Status::Error("array count mismatch");
    for (const GgufValue& e : v.arrays) DSRT_RETURN_IF_ERROR(check_value(e, depth + 1));
  } else if (v.raw.size() != v.count * gguf_scalar_size(v.elem_type)) {
    return Status::Error("numeric array size mismatch");
  }
  return Status::Ok();
}

void put_value(std::vector<uint8_t>* b, const GgufValue& v) {
  if (v.type == GgufType::STRING) {
    put_string(b, v.str);
  } else if (v.type == GgufType::ARRAY) {
    put_u32(b, uint32_t(v.elem_type));
    put_u64(b, v.count);
    if (v.elem_type == GgufType::STRING) {
      for (const std::string& s : v.strings) put_string(b, s);
    } else if (v.elem_type == GgufType::ARRAY) {
      for (const GgufValue& e : v.arrays) put_value(b, e);
    } else {
      b->insert(b->end(), v.raw.begin(), v.raw.end());
    }
  } else {
    encode_scalar(v, b);
  }
}

}  // namespace

Status GgufWriter::add_kv(std::string key, GgufValue value) {
  for (const auto& kv : kvs_)
    if (kv.first == key) return Status::Error("GgufWriter: duplicate key " + quote(key));
  Status st = check_value(value, 0);
  if (!st.ok()) return Status::Error("GgufWriter: key " + quote(key) + ": " + st.message());
  if (key == "general.alignment") {
    if (value.type != GgufType::U32 || !is_pow2(value.u))
      return Status::Error("GgufWriter: general.alignment must be a U32 power of two");
    alignment_ = uint32_t(value.u);
  }
  kvs_.emplace_back(std::move(key), std::move(value));
  return Status::Ok();
}

Status GgufWriter::add_tensor(std::string name, DType type, std::vector<int64_t> shape,
                              const void* data, size_t nbytes) {
  const std::string what = "GgufWriter: tensor " + quote(name);
  if (name.empty() || name.size() > kMaxTensorName)
    return Status::Error(what + ": name must be 1 to " + std::to_string(kMaxTensorName) + " bytes");
  for (const auto& t : tensors_)
    if (t.name == name) return Status::Error("GgufWriter: duplicate tensor " + quote(name));
  if (int32_t(type) < 0 || int32_t(type) >= 1000 || !dtype_valid(int32_t(type)))
    return Status::Error(what + ": " + std::string(dtype_name(type)) + " is not a ggml type");
  if (shape.size() > kMaxDims) return Status::Error(what + ": more than 4 dimensions");
  for (int64_t d : shape)
    if (d < 0) return Status::Error(what + ": negative dimension");
  auto row = dtype_row_bytes(type, shape.empty() ? 1 : shape.back());
  if (!row.ok()) return Status::Error(what + ": " + row.status().message());
  uint64_t expect = row.value();
  for (size_t d = 0; d + 1 < shape.size(); ++d)
    if (__builtin_mul_overflow(expect, uint64_t(shape[d]), &expect))
      return Status::Error(what + ": size overflows");
  if (expect != nbytes)
    return Status::Error(what + ": " + std::to_string(nbytes) + " bytes given, " +
                         std::string(dtype_name(type)) + " " + shape_string(shape) + " needs " +
                         std::to_string(expect));
  if (nbytes && !data) return Status::Error(what + ": no data");
  tensors_.push_back({std::move(name), type, std::move(shape), data, nbytes, nullptr});
  return Status::Ok();
}

Status GgufWriter::add_tensor(std::string name, const Tensor& t) {
  DSRT_RETURN_IF_ERROR(add_tensor(std::move(name), t.dtype, t.shape, t.data, t.nbytes()));
  tensors_.back().owner = t.owner;
  return Status::Ok();
}

Status GgufWriter::add_tensor(const Tensor& t) {
  return add_tensor(t.name, t);
}

Status GgufWriter::write(const std::string& path) const {
  std::vector<uint8_t> head;
  head.insert(head.end(), {'G', 'G', 'U', 'F'});
  put_u32(&head, 3);
  put_u64(&head, tensors_.size());
  put_u64(&head, kvs_.size());
  for (const auto& [key, value] : kvs_) {
    put_string(&head, key);
    put_u32(&head, uint32_t(value.type));
    put_value(&head, value);
  }
  uint64_t offset = 0;
  for (const PendingTensor& t : tensors_) {
    put_string(&head, t.name);
    put_u32(&head, uint32_t(t.shape.size()));
    for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it) put_u64(&head, uint64_t(*it));
    put_u32(&head, uint32_t(t.type));
    put_u64(&head, offset);
    offset = align_up(offset + t.nbytes, alignment_);
  }
  head.resize(align_up(head.size(), alignment_), 0);

  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  std::FILE* fp = std::fopen(tmp.c_str(), "wb");
  if (!fp) return Status::Error("cannot create " + tmp + ": " + std::strerror(errno));
  bool ok = std::fwrite(head.data(), 1, head.size(), fp) == head.size();
  static const uint8_t kZeros[256] = {};
  for (const PendingTensor& t : tensors_) {
    if (!ok) break;
    ok = t.nbytes == 0 || std::fwrite(t.data, 1, t.nbytes, fp) == t.nbytes;
    size_t pad = size_t(align_up(t.nbytes, alignment_) - t.nbytes);
    while (ok && pad > 0) {
      const size_t n = std::min(pad, sizeof kZeros);
      ok = std::fwrite(kZeros, 1, n, fp) == n;
      pad -= n;
    }
  }
  const int saved_errno = errno;
  if (std::fclose(fp) != 0) ok = false;
  if (!ok) {
    std::remove(tmp.c_str());
    return Status::Error("cannot write " + tmp + ": " + std::strerror(saved_errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string msg = std::strerror(errno);
    std::remove(tmp.c_str());
    return Status::Error("cannot rename " + tmp + " to " + path + ": " + msg);
  }
  return Status::Ok();
}

}  // namespace dsrt
