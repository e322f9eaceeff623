# embed_text.cmake - writes OUT, a C file that defines the text of IN as the
# NUL-terminated array NAME (the HTML report's inline script is kept as
# JavaScript in its own file and compiled into the library).
#   cmake -DIN=file -DOUT=file.c -DNAME=symbol -P embed_text.cmake
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" body "${body}")
get_filename_component(src "${IN}" NAME)
file(WRITE "${OUT}" "/* Generated from ${src} by cmake/embed_text.cmake: do not edit. */\n#include \"report/report.h\"\n\nconst char ${NAME}[] = {\n${body}0x00};\n")
