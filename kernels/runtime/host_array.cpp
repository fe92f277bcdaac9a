#include "kernels/runtime/host_array.h"

#include "kernels/runtime/error.h"

namespace acx {

void host_array_to_device(const Device& dev, const std::vector<HostArray>& arrays, const std::string& name,
                          const char* dtype, size_t n, void* data) {
  for (const HostArray& a : arrays) {
    if (a.name != name) continue;
    if (a.dtype != dtype) throw Error("checkpoint array '" + name + "' is " + a.dtype + ", expected " + dtype);
    size_t elements = 1;
    for (int64_t d : a.shape) elements *= static_cast<size_t>(d);
    const size_t want = n * (a.bytes.size() / (elements ? elements : 1));
    if (elements != n || a.bytes.size() != want) {
      throw Error("checkpoint array '" + name + "' holds " + std::to_string(elements) + " elements, expected " +
                  std::to_string(n));
    }
    memory::copy_host_to_device(dev, data, a.bytes.data(), a.bytes.size());
    return;
  }
  throw Error("checkpoint lacks the array '" + name + "'");
}

}  // namespace acx
