# Turns a file into a C++ source that returns its bytes (cmake -P script):
#
#   cmake -DINPUT=page.html -DOUTPUT=page.cc -DNAMESPACE=sluice::broker
#         -DFUNCTION=DashboardPage -P embed_file.cmake
#
# OUTPUT defines `std::string_view NAMESPACE::FUNCTION()` (declare it in a
# header of your own) over a byte array: any byte may occur in INPUT, no
# string-literal escaping or length limit applies. Used at build time (an
# add_custom_command that depends on INPUT and this script), so the file stays
# a real file in the repository and no one pastes it into C++.
foreach(var INPUT OUTPUT NAMESPACE FUNCTION)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "embed_file.cmake: -D${var}=... is required")
  endif()
endforeach()

file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_length)
math(EXPR size "${hex_length} / 2")
# "3c21" -> "0x3c,0x21," then a line break every 16 bytes.
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n" bytes "${bytes}")

get_filename_component(input_name "${INPUT}" NAME)
file(WRITE "${OUTPUT}.tmp"
  "// Generated from ${input_name} by cmake/embed_file.cmake: do not edit.\n"
  "#include <string_view>\n\n"
  "namespace ${NAMESPACE} {\n"
  "namespace {\n"
  "constexpr unsigned char kBytes[${size} + 1] = {\n${bytes}0};\n"
  "}  // namespace\n\n"
  "std::string_view ${FUNCTION}() {\n"
  "  return {reinterpret_cast<const char*>(kBytes), ${size}};\n"
  "}\n\n"
  "}  // namespace ${NAMESPACE}\n")
# Only a changed file is rewritten: an unchanged page recompiles nothing.
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
