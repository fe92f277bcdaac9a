// Which GPUs a build's CUDA code runs on (kernels/runtime/device.h): what
// `--device auto` checks before it picks a GPU, and `--device cuda` before it
// uses one. No GPU needed: the rule is a function of the compute capability
// and the architectures the build was compiled for.
#include <gtest/gtest.h>

#include "kernels/runtime/device.h"

namespace acx {
namespace {

TEST(CudaArch, TheDefaultBuildRunsOnAmpereHopperAndLaterButNotOnOlderGpus) {
  const std::string def = "80;90";  // CMake's default here: SASS and PTX of each
  EXPECT_EQ(cuda_arch_mismatch(8, 0, def), "");   // A100: sm_80
  EXPECT_EQ(cuda_arch_mismatch(8, 6, def), "");   // RTX 30xx: sm_80 SASS runs on later minors of 8
  EXPECT_EQ(cuda_arch_mismatch(8, 9, def), "");   // L4, RTX 40xx
  EXPECT_EQ(cuda_arch_mismatch(9, 0, def), "");   // H100, H200
  EXPECT_EQ(cuda_arch_mismatch(10, 0, def), "");  // B200: the driver compiles compute_90 PTX
  EXPECT_EQ(cuda_arch_mismatch(12, 0, def), "");
  const std::string t4 = cuda_arch_mismatch(7, 5, def);  // T4
  EXPECT_NE(t4.find("compute capability is 7.5"), std::string::npos) << t4;
  EXPECT_NE(t4.find("sm_80"), std::string::npos) << t4;
  EXPECT_NE(t4.find("-DCMAKE_CUDA_ARCHITECTURES=75"), std::string::npos) << t4;
  EXPECT_NE(cuda_arch_mismatch(7, 0, def), "");  // V100
}

TEST(CudaArch, RealAndVirtualEntriesAreReadAsSuch) {
  EXPECT_NE(cuda_arch_mismatch(10, 0, "80-real;90-real"), "");  // no PTX: nothing for a newer major
  EXPECT_NE(cuda_arch_mismatch(9, 0, "80-real"), "");            // SASS runs within its major only
  EXPECT_EQ(cuda_arch_mismatch(8, 9, "80-real"), "");
  EXPECT_EQ(cuda_arch_mismatch(9, 0, "80-virtual"), "");          // PTX: any later capability
  EXPECT_NE(cuda_arch_mismatch(7, 5, "80-virtual"), "");
  EXPECT_EQ(cuda_arch_mismatch(7, 5, "75,90"), "");               // a comma-separated list too
  EXPECT_EQ(cuda_arch_mismatch(5, 0, "native"), "");              // not second-guessed
  EXPECT_EQ(cuda_arch_mismatch(5, 0, "all-major"), "");
  EXPECT_EQ(cuda_arch_mismatch(5, 0, ""), "");
}

}  // namespace
}  // namespace acx
