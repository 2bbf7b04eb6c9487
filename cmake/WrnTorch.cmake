# Finds LibTorch 2.x and defines the target `torch` (+ WRN_TORCH_CUDA: ON when wrn links
# LibTorch's CUDA libraries). Used by the build (CMakeLists.txt) and, installed beside
# wrnConfig.cmake, by find_package(wrn), so a program linking wrn gets the same LibTorch.
#
# Where LibTorch comes from, first match wins:
#   -DTorch_DIR=<libtorch>/share/cmake/Torch   a LibTorch of your own (e.g. the zip)
#   -DWRN_PYTHON=<venv>/bin/python             the torch wheel installed in that Python
#                                              (`make deps` makes the venv; the Makefile passes it)
#   CMAKE_PREFIX_PATH                          as find_package(Torch) would
#
# A CUDA LibTorch (PyPI's wheel is one) wants the CUDA toolkit (nvcc) for its CUDA part. Without
# a toolkit, or with -DWRN_TORCH_CUDA=OFF, only libtorch_cpu and libc10 are linked: a CPU-only wrn.
set(WRN_TORCH_SUPPORTED "2.11 to 2.15")
set(WRN_TORCH_MIN 2.11)
set(WRN_TORCH_MAX_EXCLUSIVE 2.16)
function(wrn_require_supported_torch version root)
  if(version VERSION_LESS WRN_TORCH_MIN OR NOT version VERSION_LESS WRN_TORCH_MAX_EXCLUSIVE)
    message(FATAL_ERROR "LibTorch ${version} at ${root} is not supported: "
                        "wrn builds with LibTorch ${WRN_TORCH_SUPPORTED} (`make deps` installs the pinned one)")
  endif()
endfunction()

if(NOT Torch_DIR AND WRN_PYTHON)
  execute_process(
    COMMAND ${WRN_PYTHON} -c "import sys, torch.utils; sys.stdout.write(torch.utils.cmake_prefix_path)"
    OUTPUT_VARIABLE _wrn_torch_prefix RESULT_VARIABLE _wrn_rc ERROR_VARIABLE _wrn_err)
  if(NOT _wrn_rc EQUAL 0)
    message(FATAL_ERROR "WRN_PYTHON=${WRN_PYTHON}: cannot import torch (run `make deps`, or pass "
                        "-DTorch_DIR=<libtorch>/share/cmake/Torch): ${_wrn_err}")
  endif()
  set(Torch_DIR "${_wrn_torch_prefix}/Torch" CACHE PATH "LibTorch's CMake package" FORCE)
endif()

# The version first, from the package's version file, so that an unsupported LibTorch is one
# line rather than its own configure errors.
if(Torch_DIR)
  if(NOT EXISTS "${Torch_DIR}/TorchConfigVersion.cmake")
    message(FATAL_ERROR "Torch_DIR=${Torch_DIR}: no TorchConfigVersion.cmake there "
                        "(expected <libtorch>/share/cmake/Torch)")
  endif()
  set(PACKAGE_FIND_VERSION 0)
  include("${Torch_DIR}/TorchConfigVersion.cmake")
  set(_wrn_torch_version ${PACKAGE_VERSION})
  get_filename_component(_wrn_torch_root "${Torch_DIR}/../../.." ABSOLUTE)
  wrn_require_supported_torch(${_wrn_torch_version} ${_wrn_torch_root})
endif()

if(NOT DEFINED WRN_TORCH_CUDA AND _wrn_torch_root AND EXISTS "${_wrn_torch_root}/lib/libtorch_cuda.so")
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(WRN_TORCH_CUDA ON)
  else()
    set(WRN_TORCH_CUDA OFF)
    message(STATUS "LibTorch ${_wrn_torch_version} is a CUDA build, but no CUDA toolkit (nvcc) was "
                   "found: linking its CPU libraries only (a CPU-only wrn; --device cuda is refused)")
  endif()
endif()

if(DEFINED WRN_TORCH_CUDA AND NOT WRN_TORCH_CUDA)
  # The CPU half of the package by hand: libtorch.so itself needs libtorch_cuda.
  if(NOT _wrn_torch_root)
    message(FATAL_ERROR "WRN_TORCH_CUDA=OFF needs -DTorch_DIR=<libtorch>/share/cmake/Torch or -DWRN_PYTHON=<python>")
  endif()
  set(_wrn_torch_lib "${_wrn_torch_root}/lib")
  if(NOT TARGET torch)
    add_library(torch SHARED IMPORTED)
    set_target_properties(torch PROPERTIES
      IMPORTED_LOCATION "${_wrn_torch_lib}/libtorch_cpu.so"
      INTERFACE_INCLUDE_DIRECTORIES "${_wrn_torch_root}/include;${_wrn_torch_root}/include/torch/csrc/api/include"
      INTERFACE_LINK_LIBRARIES "${_wrn_torch_lib}/libc10.so"
      # As the package's torch_cpu target: c10d's Gloo headers are compiled only with these.
      INTERFACE_COMPILE_DEFINITIONS "_GLIBCXX_USE_CXX11_ABI=1;USE_DISTRIBUTED;USE_C10D_GLOO;USE_RPC;USE_TENSORPIPE")
  endif()
  set(Torch_VERSION ${_wrn_torch_version})
  set(TORCH_INSTALL_PREFIX ${_wrn_torch_root})
else()
  # LibTorch's CMake names the CUDA architectures it would compile kernels for; wrn compiles
  # none, so spare the GPU probe and its warning.
  if(NOT TORCH_CUDA_ARCH_LIST AND NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST})
    set(TORCH_CUDA_ARCH_LIST "8.0")
  endif()
  find_package(Torch CONFIG REQUIRED)
  wrn_require_supported_torch(${Torch_VERSION} ${TORCH_INSTALL_PREFIX})  # found without Torch_DIR
  if(NOT DEFINED WRN_TORCH_CUDA)
    set(WRN_TORCH_CUDA OFF)
    if(TARGET torch_cuda OR EXISTS "${TORCH_INSTALL_PREFIX}/lib/libtorch_cuda.so")
      set(WRN_TORCH_CUDA ON)
    endif()
  endif()
endif()

# The wheel's libtorch.so and libtorch_cpu.so export their own copies of libstdc++'s
# std::filesystem (GCC 13's, linked in statically by the manylinux toolchain), and a program finds
# them before Debian's libstdc++ (GCC 12): their remove_all calls a GCC 13 function that
# libstdc++ 12 lacks, a call through a null pointer (a SEGV in every test's temp-dir cleanup).
# libstdc++ first in the program's library list makes std:: resolve to the one its headers match.
set_property(TARGET torch APPEND PROPERTY INTERFACE_LINK_OPTIONS
  "SHELL:-Wl,--push-state,--no-as-needed -lstdc++ -Wl,--pop-state")

# The OpenMP runtime LibTorch runs on: the wheel bundles its own libgomp.so.1 (same soname as
# the compiler's, so one process loads one), a LibTorch zip a renamed one. wrn's data loader
# sets that runtime's thread count (omp_set_num_threads), so it links the very same file.
file(GLOB _wrn_torch_gomp "${TORCH_INSTALL_PREFIX}/lib/libgomp*.so*")
if(_wrn_torch_gomp)
  list(GET _wrn_torch_gomp 0 WRN_TORCH_OPENMP_LIBRARY)
else()
  find_package(OpenMP REQUIRED COMPONENTS CXX)
  set(WRN_TORCH_OPENMP_LIBRARY OpenMP::OpenMP_CXX)
endif()
message(STATUS "wrn: LibTorch ${Torch_VERSION} at ${TORCH_INSTALL_PREFIX} (CUDA: ${WRN_TORCH_CUDA}; "
               "OpenMP: ${WRN_TORCH_OPENMP_LIBRARY})")
