# Sourced by the device scripts on the GPU machine: unpacks llama.cpp (CPU variants, ggml's CUDA backend,
# vocabularies; .device/ml/llama.tar.xz from device-build.sh) to /tmp/ut-llama and points the ML lane at it, and
# puts the CUDA 13 runtime and cuBLAS that libggml-cuda.so links on LD_LIBRARY_PATH (the toolkit's, else the
# pip wheels'). Usage: D=<repo>/.device; source scripts/device-env.sh
if [[ -f $D/ml/llama.tar.xz ]]; then
  mkdir -p /tmp/ut-llama && tar -C /tmp/ut-llama -xJf "$D/ml/llama.tar.xz"
  export LD_LIBRARY_PATH="/tmp/ut-llama/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export UT_LLAMA_LIB_DIR=/tmp/ut-llama/lib UT_LLAMA_CUDA_DIR=/tmp/ut-llama/lib UT_LLAMA_VOCAB_DIR=/tmp/ut-llama/models
  for d in /usr/local/cuda/lib64 $(find /usr/local/lib /usr/lib/python3* /opt -name 'libcublas.so.13' -printf '%h\n' 2>/dev/null | head -n1); do
    [[ -d $d ]] && export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$d"
  done
fi
