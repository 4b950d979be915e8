#version 450
// ut_test.fill (tests/timeline/test_kernels.h): dst[i] = value + i * stride.
layout(local_size_x = 256) in;
layout(push_constant) uniform Push {
  uvec4 grid;  // x, y, z, count (ut::vulkan::add_kernel)
  uint value;
  uint stride;
} pc;
layout(std430, set = 0, binding = 0) writeonly buffer Dst { uint dst[]; };

void main() {
  const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  if (i >= pc.grid.w) return;
  dst[i] = pc.value + i * pc.stride;
}
