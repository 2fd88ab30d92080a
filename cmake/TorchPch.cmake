# The precompiled <torch/torch.h> (FP_PCH), for the translation units that include it,
# and compilation in batches (FP_UNITY, fp_unity_sources), torch and torch-free apart.
#
# Measured on 2 cores (docs/BUILD.md): the PCH saves ~6.5 s on each source that reaches
# <torch/...> but costs ~9 s on each one that does not (loading the 570 MB PCH), so a
# target's torch-free sources skip it. Whether a source reaches torch is read from its
# quoted #includes, followed through the project's own headers, at configure time.

# fp_reaches_torch(<file> <out-var>): TRUE if <file> or a project header it includes
# (resolved against its folder, common/, tests/ and bench/) includes <torch/...> or
# <ATen/...>. Generated headers (Cap'n Proto, test paths) are not followed: they do not.
function(fp_reaches_torch file out)
  string(MAKE_C_IDENTIFIER "${file}" key)
  get_property(known GLOBAL PROPERTY FP_TORCH_${key} SET)
  if(known)
    get_property(result GLOBAL PROPERTY FP_TORCH_${key})
    set(${out} ${result} PARENT_SCOPE)
    return()
  endif()
  set_property(GLOBAL PROPERTY FP_TORCH_${key} FALSE)  # an include cycle ends here
  if(NOT EXISTS "${file}")  # generated at build time (web assets): never includes torch
    set(${out} FALSE PARENT_SCOPE)
    return()
  endif()
  file(STRINGS "${file}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]")
  get_filename_component(dir "${file}" DIRECTORY)
  set(result FALSE)
  foreach(line IN LISTS lines)
    if(line MATCHES "<(torch|ATen)/")
      set(result TRUE)
    elseif(line MATCHES "\"([^\"]+)\"")
      set(header "${CMAKE_MATCH_1}")
      foreach(root "${dir}" "${PROJECT_SOURCE_DIR}/common" "${PROJECT_SOURCE_DIR}/tests"
                   "${PROJECT_SOURCE_DIR}/bench")
        if(EXISTS "${root}/${header}" AND NOT IS_DIRECTORY "${root}/${header}")
          fp_reaches_torch("${root}/${header}" sub)
          set(result ${sub})
          break()
        endif()
      endforeach()
    endif()
    if(result)
      break()
    endif()
  endforeach()
  set_property(GLOBAL PROPERTY FP_TORCH_${key} ${result})
  set(${out} ${result} PARENT_SCOPE)
endfunction()

# fp_target_cpp_sources(<target> <out-var>): the absolute paths of the target's C++
# sources (generator expressions and headers left out).
function(fp_target_cpp_sources target out)
  get_target_property(sources ${target} SOURCES)
  get_target_property(source_dir ${target} SOURCE_DIR)
  set(paths "")
  foreach(src IN LISTS sources)
    if(src MATCHES "\\$<" OR NOT src MATCHES "\\.(cpp|cc|cxx)$")
      continue()
    endif()
    get_filename_component(path "${src}" ABSOLUTE BASE_DIR "${source_dir}")
    list(APPEND paths "${path}")
  endforeach()
  set(${out} ${paths} PARENT_SCOPE)
endfunction()

# Marks the target's C++ sources that do not reach torch SKIP_PRECOMPILE_HEADERS.
function(fp_skip_pch_where_torch_free target)
  fp_target_cpp_sources(${target} paths)
  foreach(path IN LISTS paths)
    fp_reaches_torch("${path}" torch)
    if(NOT torch)
      set_source_files_properties("${path}" TARGET_DIRECTORY ${target}
                                  PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
    endif()
  endforeach()
endfunction()

# fp_use_torch_pch(target): reuse fineprune_core's PCH in the target's torch sources.
function(fp_use_torch_pch target)
  if(FP_PCH)
    target_precompile_headers(${target} REUSE_FROM fineprune_core)
    fp_skip_pch_where_torch_free(${target})
  endif()
endfunction()

# fp_torch_first(target): the target's torch sources include <torch/torch.h> before anything
# else, as the precompiled header makes them do, in a target built without it (the test
# programs in optimized builds, tests/CMakeLists.txt): LibTorch includes glog, whose CHECK
# macro must come before Catch2's. Call before fp_unity_sources.
function(fp_torch_first target)
  set_property(TARGET ${target} PROPERTY FP_TORCH_FIRST ON)
endfunction()

# fp_unity_sources(target): with FP_UNITY, the target's C++ sources compile in batches of
# at most FP_UNITY_BATCH, one compiler run each (CMake's unity build, GROUP mode): headers
# are parsed and templates instantiated and code-generated once a batch instead of once a
# file, which is most of a source's time (LibTorch's, but also CLI11's, nlohmann::json's,
# fmt's). Torch sources and torch-free ones go to separate batches, so a torch-free batch
# does not load the precompiled torch header (~9 s a compiler run). A source whose
# file-local names clash with another's in its batch is listed in FP_UNITY_ALONE.
function(fp_unity_sources target)
  get_target_property(torch_first ${target} FP_TORCH_FIRST)
  set(torch_first_option "-include;torch/torch.h")
  if(NOT FP_UNITY)
    if(torch_first)
      fp_target_cpp_sources(${target} paths)
      foreach(path IN LISTS paths)
        fp_reaches_torch("${path}" torch)
        if(torch)
          set_source_files_properties("${path}" TARGET_DIRECTORY ${target}
                                      PROPERTIES COMPILE_OPTIONS "${torch_first_option}")
        endif()
      endforeach()
    endif()
    return()
  endif()
  set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_MODE GROUP)
  fp_target_cpp_sources(${target} paths)
  set(torch_paths "")
  set(free_paths "")
  foreach(path IN LISTS paths)
    get_filename_component(name "${path}" NAME)
    get_source_file_property(generated "${path}" TARGET_DIRECTORY ${target} GENERATED)
    if(name IN_LIST FP_UNITY_ALONE OR generated OR NOT EXISTS "${path}")
      continue()  # compiled alone
    endif()
    fp_reaches_torch("${path}" torch)
    if(torch)
      list(APPEND torch_paths "${path}")
    else()
      list(APPEND free_paths "${path}")
    endif()
  endforeach()
  get_target_property(binary_dir ${target} BINARY_DIR)
  foreach(kind torch free)
    # Batches of even size: n sources in ceil(n / FP_UNITY_BATCH) batches, dealt in turn.
    list(LENGTH ${kind}_paths count)
    if(count EQUAL 0)
      continue()
    endif()
    math(EXPR batches "(${count} + ${FP_UNITY_BATCH} - 1) / ${FP_UNITY_BATCH}")
    set(i 0)
    foreach(path IN LISTS ${kind}_paths)
      math(EXPR batch "${i} % ${batches}")
      math(EXPR i "${i} + 1")
      set_source_files_properties("${path}" TARGET_DIRECTORY ${target}
                                  PROPERTIES UNITY_GROUP ${kind}${batch})
    endforeach()
    if(kind STREQUAL "torch" AND torch_first)
      math(EXPR last "${batches} - 1")
      foreach(batch RANGE ${last})
        set_source_files_properties(
          "${binary_dir}/CMakeFiles/${target}.dir/Unity/unity_torch${batch}_cxx.cxx"
          TARGET_DIRECTORY ${target} PROPERTIES COMPILE_OPTIONS "${torch_first_option}")
      endforeach()
    endif()
    if(kind STREQUAL "free")
      math(EXPR last "${batches} - 1")
      foreach(batch RANGE ${last})
        set_source_files_properties(
          "${binary_dir}/CMakeFiles/${target}.dir/Unity/unity_free${batch}_cxx.cxx"
          TARGET_DIRECTORY ${target} PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
      endforeach()
    endif()
  endforeach()
endfunction()
