#version 450
// ut_test.add_u32 (tests/timeline/test_kernels.h): dst[i] = src[i] + k.
layout(local_size_x = 256) in;
layout(push_constant) uniform Push {
  uvec4 grid;  // x, y, z, count (ut::vulkan::add_kernel)
  uint k;
} pc;
layout(std430, set = 0, binding = 0) readonly buffer Src { uint src[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Dst { uint dst[]; };

void main() {
  const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  if (i >= pc.grid.w) return;
  dst[i] = src[i] + pc.k;
}
