// Compute dispatch on Vulkan: SPIR-V kernels registered by name, compute pipelines cached per (SPIR-V, buffer count,
// push-constant size), storage buffers bound with push descriptors (no descriptor pools to manage per batch).
#include <algorithm>
#include <cstring>
#include <vector>

#include "backends/vulkan/internal.h"
#include "timeline/error.h"

namespace ut::vulkan {
namespace detail {

void full_barrier(const Fns& vk, VkCommandBuffer cmd, bool to_host) {
  VkMemoryBarrier b{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  b.srcAccessMask = VK_ACCESS_MEMORY_WRITE_BIT;
  b.dstAccessMask = VK_ACCESS_MEMORY_READ_BIT | VK_ACCESS_MEMORY_WRITE_BIT;
  VkPipelineStageFlags dst = VK_PIPELINE_STAGE_ALL_COMMANDS_BIT;
  if (to_host) {
    b.dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_HOST_WRITE_BIT;
    dst = VK_PIPELINE_STAGE_HOST_BIT;
  }
  vk.vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, dst, 0, 1, &b, 0, nullptr, 0, nullptr);
}

const Pipeline& Context::pipeline(const Spirv& spirv, uint32_t buffers, uint32_t push_bytes) {
  std::lock_guard lock(mutex_);
  const auto key = std::make_tuple(static_cast<const void*>(spirv.words), spirv.bytes, buffers, push_bytes);
  if (auto it = pipelines_.find(key); it != pipelines_.end()) return it->second;
  Pipeline p;
  p.push_bytes = push_bytes;
  try {
    VkShaderModuleCreateInfo smci{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
    smci.codeSize = spirv.bytes;
    smci.pCode = spirv.words;
    UT_VK_CHECK(vk.vkCreateShaderModule(device, &smci, nullptr, &p.module));
    std::vector<VkDescriptorSetLayoutBinding> bindings(buffers);
    for (uint32_t i = 0; i < buffers; ++i) {
      bindings[i].binding = i;
      bindings[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
      bindings[i].descriptorCount = 1;
      bindings[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
    }
    VkDescriptorSetLayoutCreateInfo dci{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
    dci.flags = VK_DESCRIPTOR_SET_LAYOUT_CREATE_PUSH_DESCRIPTOR_BIT_KHR;
    dci.bindingCount = buffers;
    dci.pBindings = bindings.data();
    UT_VK_CHECK(vk.vkCreateDescriptorSetLayout(device, &dci, nullptr, &p.set_layout));
    VkPushConstantRange range{VK_SHADER_STAGE_COMPUTE_BIT, 0, push_bytes};
    VkPipelineLayoutCreateInfo lci{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
    lci.setLayoutCount = 1;
    lci.pSetLayouts = &p.set_layout;
    lci.pushConstantRangeCount = push_bytes > 0 ? 1 : 0;
    lci.pPushConstantRanges = &range;
    UT_VK_CHECK(vk.vkCreatePipelineLayout(device, &lci, nullptr, &p.layout));
    VkComputePipelineCreateInfo cci{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
    cci.stage = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO};
    cci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
    cci.stage.module = p.module;
    cci.stage.pName = "main";
    cci.layout = p.layout;
    UT_VK_CHECK(vk.vkCreateComputePipelines(device, VK_NULL_HANDLE, 1, &cci, nullptr, &p.pipeline));
  } catch (...) {
    if (p.layout) vk.vkDestroyPipelineLayout(device, p.layout, nullptr);
    if (p.set_layout) vk.vkDestroyDescriptorSetLayout(device, p.set_layout, nullptr);
    if (p.module) vk.vkDestroyShaderModule(device, p.module, nullptr);
    throw;
  }
  return pipelines_.emplace(key, p).first->second;
}

}  // namespace detail

void record_dispatch(const DispatchContext& c, Spirv spirv, std::array<uint32_t, 3> groups,
                     std::span<const std::byte> push) {
  auto* r = static_cast<detail::Recorder*>(c.native_queue);
  if (r == nullptr || c.host) throw UsageError("[vulkan::record_dispatch] called outside a Vulkan queue's dispatch");
  detail::Context& ctx = *r->ctx;
  const std::string& kernel = *r->kernel;
  if (!r->slot->compute) {
    throw UsageError("kernel '" + kernel + "': this queue's family (" + std::to_string(r->slot->family) +
                     ", transfer-only) cannot dispatch; use a compute queue");
  }
  if (spirv.words == nullptr || spirv.bytes == 0 || spirv.bytes % 4 != 0) {
    throw UsageError("kernel '" + kernel + "': empty or misaligned SPIR-V");
  }
  const auto& limits = ctx.props.limits;
  if (push.size() > limits.maxPushConstantsSize) {
    throw UsageError("kernel '" + kernel + "': " + std::to_string(push.size()) + " bytes of push constants exceed the " +
                     "device limit of " + std::to_string(limits.maxPushConstantsSize));
  }
  const auto& bufs = c.args->buffers;
  std::vector<VkDescriptorBufferInfo> infos(bufs.size());
  for (std::size_t i = 0; i < bufs.size(); ++i) {
    const Buffer& b = bufs[i];
    detail::HeapRecord* h = detail::find_heap(b.heap());
    if (h == nullptr || h->ctx.get() != &ctx) {
      throw UsageError("buffer " + std::to_string(i) + " ('" + b.label() + "' in heap '" + b.heap().label() +
                       "') is not memory of this Vulkan device; allocate it from this device's heap");
    }
    if (b.offset() % limits.minStorageBufferOffsetAlignment != 0) {
      throw UsageError("buffer " + std::to_string(i) + " ('" + b.label() + "') starts at offset " +
                       std::to_string(b.offset()) + ", not a multiple of the device's storage-buffer alignment " +
                       std::to_string(limits.minStorageBufferOffsetAlignment) + " (allocate with that alignment)");
    }
    if (b.size() > limits.maxStorageBufferRange) {
      throw UsageError("buffer " + std::to_string(i) + " ('" + b.label() + "') has " + std::to_string(b.size()) +
                       " bytes, more than the device binds at once (maxStorageBufferRange " +
                       std::to_string(limits.maxStorageBufferRange) + ")");
    }
    infos[i] = {h->buffer, b.offset(), b.size()};
  }
  for (int d = 0; d < 3; ++d) {
    if (groups[static_cast<std::size_t>(d)] > limits.maxComputeWorkGroupCount[d]) {
      throw UsageError("kernel '" + kernel + "': " + std::to_string(groups[static_cast<std::size_t>(d)]) +
                       " work groups in dimension " + std::to_string(d) + " exceed the device limit " +
                       std::to_string(limits.maxComputeWorkGroupCount[d]));
    }
  }
  const uint32_t push_bytes = static_cast<uint32_t>((push.size() + 3) / 4 * 4);
  const detail::Pipeline& p = ctx.pipeline(spirv, static_cast<uint32_t>(bufs.size()), push_bytes);
  const detail::Fns& vk = ctx.vk;
  vk.vkCmdBindPipeline(r->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p.pipeline);
  std::vector<VkWriteDescriptorSet> writes(bufs.size());
  for (std::size_t i = 0; i < bufs.size(); ++i) {
    writes[i] = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
    writes[i].dstBinding = static_cast<uint32_t>(i);
    writes[i].descriptorCount = 1;
    writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    writes[i].pBufferInfo = &infos[i];
  }
  if (!writes.empty()) {
    vk.vkCmdPushDescriptorSetKHR(r->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p.layout, 0,
                                 static_cast<uint32_t>(writes.size()), writes.data());
  }
  if (push_bytes > 0) {
    std::vector<std::byte> block(push_bytes);
    std::memcpy(block.data(), push.data(), push.size());
    vk.vkCmdPushConstants(r->cmd, p.layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, push_bytes, block.data());
  }
  if (groups[0] > 0 && groups[1] > 0 && groups[2] > 0) vk.vkCmdDispatch(r->cmd, groups[0], groups[1], groups[2]);
}

bool add_kernel(const std::string& name, Spirv spirv, uint32_t local_size_x) {
  if (local_size_x == 0) throw UsageError("[vulkan::add_kernel] '" + name + "': local_size_x must be > 0");
  return kernels().add(name, "vulkan", [name, spirv, local_size_x](const DispatchContext& c) {
    const uint64_t count = c.grid.count();
    if (count > UINT32_MAX) {
      throw UsageError("kernel '" + name + "': " + std::to_string(count) + " work items exceed 2^32 - 1 (one dispatch)");
    }
    auto* r = static_cast<detail::Recorder*>(c.native_queue);
    const uint32_t max_x = r != nullptr ? r->ctx->props.limits.maxComputeWorkGroupCount[0] : 65535u;
    const uint64_t total = (count + local_size_x - 1) / local_size_x;
    const uint64_t gx = std::min<uint64_t>(total, max_x);
    const uint64_t gy = gx == 0 ? 0 : (total + gx - 1) / gx;
    if (gy > UINT32_MAX) throw UsageError("kernel '" + name + "': too many work groups");
    // {grid.x, grid.y, grid.z, count} then the kernel's constants.
    const uint32_t header[4] = {static_cast<uint32_t>(std::min<uint64_t>(c.grid.x, UINT32_MAX)),
                                static_cast<uint32_t>(std::min<uint64_t>(c.grid.y, UINT32_MAX)),
                                static_cast<uint32_t>(std::min<uint64_t>(c.grid.z, UINT32_MAX)),
                                static_cast<uint32_t>(count)};
    std::vector<std::byte> push(sizeof(header) + c.args->constants.size());
    std::memcpy(push.data(), header, sizeof(header));
    if (!c.args->constants.empty()) std::memcpy(push.data() + sizeof(header), c.args->constants.data(), c.args->constants.size());
    record_dispatch(c, spirv, {static_cast<uint32_t>(gx), static_cast<uint32_t>(gy), 1}, push);
  });
}

}  // namespace ut::vulkan
