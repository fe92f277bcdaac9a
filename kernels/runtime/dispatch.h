// dispatch.h: how an op picks its shell. Every op's public function takes a
// Device and calls either its CPU loop or its CUDA launcher; in a build
// without a CUDA backend the CUDA branch is a clear error instead.
#pragma once

#include "kernels/runtime/error.h"

#if ACX_HAS_CUDA_BACKEND
#define ACX_ON_CUDA(...) __VA_ARGS__
#else
#define ACX_ON_CUDA(...) ::acx::throw_error(__FILE__, __LINE__, "this acx was built without a CUDA backend")
#endif
