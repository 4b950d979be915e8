#version 450
// ut_test.saxpy (tests/timeline/test_kernels.h): y[i] = a * x[i] + y[i].
layout(local_size_x = 256) in;
layout(push_constant) uniform Push {
  uvec4 grid;  // x, y, z, count (ut::vulkan::add_kernel)
  float a;
} pc;
layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) buffer Y { float y[]; };

void main() {
  const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  if (i >= pc.grid.w) return;
  y[i] = pc.a * x[i] + y[i];
}
