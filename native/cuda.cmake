# The CUDA part of the engine, shared by the main build (CMakeLists.txt) and the standalone GPU
# check (native/gpu-check/CMakeLists.txt). ringmaster_find_cuda() sets RINGMASTER_HAS_CUDA when
# nvcc and the cuBLASLt/NCCL headers are there: the toolkit's, else the ones
# scripts/cuda-headers.mjs takes from NVIDIA's wheels into .cuda-headers/include.
# ringmaster_add_cuda(target) compiles native/src/cuda/ and native/src/kernels/cuda/ into it:
# sm_80 (A100) and sm_90 (H100/H200) machine code plus sm_90 PTX for newer GPUs, warnings as
# errors, cudart linked statically; cuBLASLt and NCCL are loaded with dlopen on first use
# (native/src/cuda/libraries.h).
set(RINGMASTER_ROOT ${CMAKE_CURRENT_LIST_DIR}/..)

macro(ringmaster_find_cuda headers)
  set(RINGMASTER_HAS_CUDA OFF)
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    find_path(RINGMASTER_CUBLASLT_INCLUDE cublasLt.h PATHS ${CUDAToolkit_INCLUDE_DIRS} ${headers} NO_DEFAULT_PATH)
    find_path(RINGMASTER_NCCL_INCLUDE nccl.h PATHS ${CUDAToolkit_INCLUDE_DIRS} ${headers} NO_DEFAULT_PATH)
    if(RINGMASTER_CUBLASLT_INCLUDE AND RINGMASTER_NCCL_INCLUDE)
      set(RINGMASTER_HAS_CUDA ON)
      set(CMAKE_CUDA_STANDARD 17)
    endif()
  endif()
endmacro()

function(ringmaster_add_cuda target)
  file(GLOB sources CONFIGURE_DEPENDS
    ${RINGMASTER_ROOT}/native/src/cuda/*.cu ${RINGMASTER_ROOT}/native/src/cuda/*.cc
    ${RINGMASTER_ROOT}/native/src/kernels/cuda/*.cu)
  target_sources(${target} PRIVATE ${sources})
  set_target_properties(${target} PROPERTIES CUDA_ARCHITECTURES "80-real;90")
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CUDA>:-O3 --Werror all-warnings -Xcompiler=-Wall,-Wextra,-Wno-unused-parameter,-Werror>)
  target_include_directories(${target} PUBLIC ${CUDAToolkit_INCLUDE_DIRS} ${RINGMASTER_CUBLASLT_INCLUDE} ${RINGMASTER_NCCL_INCLUDE})
  target_compile_definitions(${target} PUBLIC RINGMASTER_WITH_CUDA)
  target_link_libraries(${target} PUBLIC CUDA::cudart_static ${CMAKE_DL_LIBS})
endfunction()
