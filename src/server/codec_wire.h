/*
 * codec_wire.h - protobuf wire-format constants shared by the codec's two
 * halves: codec_decode.c (requests) and codec.c (responses, events, stored
 * records). Internal to src/server.
 */
#ifndef SL_CODEC_WIRE_H
#define SL_CODEC_WIRE_H

#include <stdint.h>

#define SAME(a, b) _Static_assert((int)(a) == (int)(b), #a " must equal " #b)

/* Field tags of the hand-written encodings: (field number << 3) | wire type. */
enum {
    WT_VARINT = 0,
    WT_I64 = 1,
    WT_LEN = 2,
    WT_SGROUP = 3,
    WT_EGROUP = 4,
    WT_I32 = 5,
};
#define TAG(field, wt) ((uint8_t)(((field) << 3) | (wt)))

#endif
