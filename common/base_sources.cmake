# The LibTorch-free core: status, clock, memory, hashing, progress, the artifact
# container and the model spec. Listed once here for fp_base (common/CMakeLists.txt)
# and for the clang-built fuzzers (fuzz/CMakeLists.txt); paths relative to common/.
set(FP_BASE_SOURCES
  util/status.cpp util/sha256.cpp util/clock.cpp util/memory.cpp util/progress.cpp util/text.cpp
  util/file_io.cpp util/folder_lock.cpp util/process_lock.cpp util/stop_signals.cpp util/descriptor_limit.cpp util/openmp_policy.cpp util/wake_fd.cpp util/random.cpp
  util/thread_name.cpp util/allocator.cpp util/thread_priority.cpp util/json_object.cpp
  util/program_main.cpp util/log_tally.cpp util/scratch_folder.cpp
  models/artifact_format.cpp models/model_spec.cpp)
