# Project-wide compile settings for our own targets (never applied to third-party code).
function(ut_target_defaults target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wno-missing-field-initializers>)
  if(UT_WERROR)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Werror>)
  endif()
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
endfunction()

if(UT_SANITIZE STREQUAL "thread")
  add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-fsanitize=thread> $<$<COMPILE_LANGUAGE:CXX>:-fno-omit-frame-pointer>)
  add_link_options(-fsanitize=thread)
elseif(UT_SANITIZE STREQUAL "address" OR UT_SANITIZE STREQUAL "address,undefined")
  add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-fsanitize=address,undefined> $<$<COMPILE_LANGUAGE:CXX>:-fno-omit-frame-pointer>)
  add_link_options(-fsanitize=address,undefined)
elseif(UT_SANITIZE STREQUAL "fuzzer")
  # libFuzzer (clang only; scripts/fuzz.sh): coverage instrumentation and ASan+UBSan on all our code; the fuzz
  # targets in tests/fuzz add -fsanitize=fuzzer (libFuzzer's main) when they link.
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "UT_SANITIZE=fuzzer needs clang (CXX=clang++), got ${CMAKE_CXX_COMPILER_ID}")
  endif()
  add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-fsanitize=fuzzer-no-link,address,undefined>
                      $<$<COMPILE_LANGUAGE:CXX>:-fno-omit-frame-pointer>)
  add_link_options(-fsanitize=address,undefined)
elseif(NOT UT_SANITIZE STREQUAL "")
  message(FATAL_ERROR "UT_SANITIZE must be '', thread, address (= address,undefined) or fuzzer (got '${UT_SANITIZE}')")
endif()
