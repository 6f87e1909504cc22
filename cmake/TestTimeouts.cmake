# Test time limits under sanitizers. A TSan build runs 5-15x slower than the
# plain one (every memory access is checked against the shadow), so the
# TIMEOUT of every ctest test is multiplied by SLUICE_TEST_TIMEOUT_SCALE:
# default 4 with SLUICE_SANITIZE=thread, else 1. Only the time limit grows;
# what a test asserts is unchanged.
set(SLUICE_TEST_TIMEOUT_SCALE "" CACHE STRING
    "Multiplier of every test's TIMEOUT (empty: 4 under SLUICE_SANITIZE=thread, else 1)")
if(SLUICE_TEST_TIMEOUT_SCALE)
  set(_sluice_timeout_scale ${SLUICE_TEST_TIMEOUT_SCALE})
elseif(SLUICE_SANITIZE STREQUAL "thread")
  set(_sluice_timeout_scale 4)
else()
  set(_sluice_timeout_scale 1)
endif()
if(NOT _sluice_timeout_scale MATCHES "^[1-9][0-9]*$")
  message(FATAL_ERROR "SLUICE_TEST_TIMEOUT_SCALE=${SLUICE_TEST_TIMEOUT_SCALE}: a whole number >= 1")
endif()
if(NOT _sluice_timeout_scale EQUAL 1)
  message(STATUS "sluice: test timeouts x${_sluice_timeout_scale}")
endif()

# sluice_scaled_timeout(<out_var> <seconds>): seconds times the scale.
function(sluice_scaled_timeout out seconds)
  math(EXPR _t "${seconds} * ${_sluice_timeout_scale}")
  set(${out} ${_t} PARENT_SCOPE)
endfunction()

# sluice_test_timeout(<seconds> <test>...): sets TIMEOUT, scaled, on tests
# added by add_test in the calling directory.
function(sluice_test_timeout seconds)
  sluice_scaled_timeout(_t ${seconds})
  set_tests_properties(${ARGN} PROPERTIES TIMEOUT ${_t})
endfunction()
