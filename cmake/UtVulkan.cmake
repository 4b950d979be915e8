# Decides whether the Vulkan backend is built: wherever the Vulkan headers and glslangValidator exist (Debian's
# libvulkan-dev and glslang-tools, installed by scripts/setup.sh). The backend opens libvulkan.so.1 at run time, so
# binaries also start where no loader is installed and report that Vulkan is not available.
#
#   ut_vulkan_shaders(my_target shaders/fill.comp shaders/scale.comp)
#   // then, in a source of my_target:  #include "fill.comp.h"   ->   const uint32_t ut_spv_fill[] = {...};
#   ut::vulkan::add_kernel("fill", {ut_spv_fill, sizeof(ut_spv_fill)}, 256);
set(UT_VULKAN "auto" CACHE STRING "Build the Vulkan backend: auto (if headers and glslangValidator are found), ON, OFF")
set(UT_HAVE_VULKAN OFF)
if(NOT UT_VULKAN STREQUAL "OFF")
  find_package(Vulkan QUIET COMPONENTS glslangValidator)
  if(NOT Vulkan_GLSLANG_VALIDATOR_EXECUTABLE)
    find_program(Vulkan_GLSLANG_VALIDATOR_EXECUTABLE glslangValidator)
  endif()
  if(TARGET Vulkan::Headers AND Vulkan_GLSLANG_VALIDATOR_EXECUTABLE)
    set(UT_HAVE_VULKAN ON)
  elseif(UT_VULKAN STREQUAL "ON")
    message(FATAL_ERROR "UT_VULKAN=ON but the Vulkan headers or glslangValidator were not found "
                        "(apt-get install libvulkan-dev glslang-tools)")
  endif()
endif()
message(STATUS "Unified Timeline: Vulkan backend ${UT_HAVE_VULKAN}")

# Compiles GLSL compute shaders to SPIR-V at build time, each into a header <name>.h (in the target's binary dir,
# on its include path) that defines `const uint32_t ut_spv_<stem>[]`, stem = the file name up to the first dot.
function(ut_vulkan_shaders target)
  set(out_dir "${CMAKE_CURRENT_BINARY_DIR}/${target}_spirv")
  file(MAKE_DIRECTORY "${out_dir}")
  set(headers)
  foreach(src IN LISTS ARGN)
    get_filename_component(abs "${src}" ABSOLUTE)
    get_filename_component(name "${src}" NAME)
    get_filename_component(stem "${src}" NAME_WE)
    string(MAKE_C_IDENTIFIER "ut_spv_${stem}" var)
    set(header "${out_dir}/${name}.h")
    add_custom_command(
      OUTPUT "${header}"
      COMMAND "${Vulkan_GLSLANG_VALIDATOR_EXECUTABLE}" -V --target-env vulkan1.2 --quiet --vn "${var}" -o "${header}" "${abs}"
      DEPENDS "${abs}"
      COMMENT "SPIR-V ${name}"
      VERBATIM)
    list(APPEND headers "${header}")
  endforeach()
  target_sources(${target} PRIVATE ${headers})
  target_include_directories(${target} PRIVATE "${out_dir}")
endfunction()
