#include "core/quant.h"

namespace dsrt {

bool quant_can_dequantize(DType t) { return false; }

void dequantize_row(DType t, const void* src, float* dst, int64_t n) {
  DSRT_CHECK_MSG(false, "dequantize_row: unsupported type " + std::string(dtype_name(t)));
}

}  // namespace dsrt
