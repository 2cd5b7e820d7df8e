# Turns a file into a C header holding it as a NUL-terminated char array:
#   cmake -DIN=status.html -DOUT=status_html.h -DNAME=sl_status_html -P embed.cmake
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" body "${body}")
file(WRITE "${OUT}" "/* Generated from ${IN} by embed.cmake: do not edit. */\n"
     "static const char ${NAME}[] = {\n${body}0x00};\n")
