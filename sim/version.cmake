# Run at every build (cmake -P): writes the version source from sim/version.cpp.in with the
# current `git describe`. configure_file leaves the output untouched when the text is the same,
# so only this one file recompiles, and only when the description changes.
# Inputs: SRC_DIR (source tree), IN (template), OUT (generated file), PROJECT_VERSION.
execute_process(COMMAND git describe --always --dirty --tags
  WORKING_DIRECTORY ${SRC_DIR} OUTPUT_VARIABLE describe
  OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT describe)
  set(describe "unknown")
endif()
set(MLASIM_VERSION_STRING "${PROJECT_VERSION}+${describe}")
configure_file(${IN} ${OUT} @ONLY)
