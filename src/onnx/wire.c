/* wire.c - say where a protobuf that protobuf-c refused goes wrong.
 *
 * protobuf-c's unpack returns NULL without a reason. This walks the bytes again
 * with the generated descriptors (ModelProto and the messages it nests) and names
 * the first field that breaks: a truncated varint, a length past the end, a wire
 * type the field cannot have, a field number 0. The loader also runs it on what
 * protobuf-c accepted, which lets a field number 0 through when its key takes 2 bytes. It reads, never allocates, and stops at depth 32. */
#include "onnx/onnx_internal.h"

#include <string.h>

static _Thread_local char g_where[512];

static int varint(const uint8_t *p, size_t n, size_t *pos, uint64_t *v)
{
    *v = 0;
    for (int s = 0; s < 70; s += 7) {
        if (*pos >= n) return -1;
        uint8_t b = p[(*pos)++];
        *v |= (uint64_t)(b & 0x7f) << (s < 64 ? s : 63);
        if (!(b & 0x80)) return 0;
    }
    return -1;
}

static int wire_of(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_SFIXED64: case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_DOUBLE: return 1;
    case PROTOBUF_C_TYPE_SFIXED32: case PROTOBUF_C_TYPE_FIXED32: case PROTOBUF_C_TYPE_FLOAT: return 5;
    case PROTOBUF_C_TYPE_STRING: case PROTOBUF_C_TYPE_BYTES: case PROTOBUF_C_TYPE_MESSAGE: return 2;
    default: return 0;
    }
}

static const char *wire_name(int w)
{
    static const char *names[] = {"varint", "64-bit", "length-delimited", "start-group", "end-group", "32-bit", "6", "7"};
    return names[w & 7];
}

/* 0 when the message parses; else g_where is set */
static int walk(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n, size_t base, const char *path, int depth)
{
    if (depth > 32) {
        snprintf(g_where, sizeof g_where, "messages nested more than 32 deep at %s", path);
        return -1;
    }
    size_t pos = 0;
    while (pos < n) {
        size_t at = pos;
        uint64_t key, v;
        if (varint(p, n, &pos, &key)) {
            snprintf(g_where, sizeof g_where, "a truncated field key in %s at byte %zu", path, base + at);
            return -1;
        }
        int w = (int)(key & 7);
        uint64_t id = key >> 3;
        if (id == 0) { /* protobuf's own parser refuses it; protobuf-c lets a 2-byte key of 0 through */
            snprintf(g_where, sizeof g_where, "field number 0 (invalid in protobuf) in %s at byte %zu", path, base + at);
            return -1;
        }
        const ProtobufCFieldDescriptor *f = id && id < (1u << 29) ? protobuf_c_message_descriptor_get_field(d, (unsigned)id) : NULL;
        char sub[400];
        snprintf(sub, sizeof sub, "%s.%s", path, f ? f->name : "?");
        if (f) {
            int want = wire_of(f->type);
            int packed_ok = f->label == PROTOBUF_C_LABEL_REPEATED && want != 2 && w == 2;
            if (w != want && !packed_ok) {
                snprintf(g_where, sizeof g_where, "field %s (number %llu) has wire type %s where %s is expected, at byte %zu", sub,
                         (unsigned long long)id, wire_name(w), wire_name(want), base + at);
                return -1;
            }
        }
        switch (w) {
        case 0:
            if (varint(p, n, &pos, &v)) {
                snprintf(g_where, sizeof g_where, "field %s: a truncated varint at byte %zu", sub, base + at);
                return -1;
            }
            break;
        case 1: case 5: {
            size_t sz = w == 1 ? 8 : 4;
            if (n - pos < sz) {
                snprintf(g_where, sizeof g_where, "field %s: %zu bytes past the end at byte %zu", sub, sz, base + at);
                return -1;
            }
            pos += sz;
            break;
        }
        case 2:
            if (varint(p, n, &pos, &v)) {
                snprintf(g_where, sizeof g_where, "field %s: a truncated length at byte %zu", sub, base + at);
                return -1;
            }
            if (v > n - pos) {
                snprintf(g_where, sizeof g_where, "field %s: length %llu runs past the end (%zu bytes left) at byte %zu", sub,
                         (unsigned long long)v, n - pos, base + at);
                return -1;
            }
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE && walk(f->descriptor, p + pos, (size_t)v, base + pos, sub, depth + 1))
                return -1;
            pos += (size_t)v;
            break;
        default:
            snprintf(g_where, sizeof g_where, "field number %llu in %s has the invalid wire type %d at byte %zu", (unsigned long long)id,
                     path, w, base + at);
            return -1;
        }
    }
    return 0;
}

const char *nb__onnx_wire_error(const void *data, size_t n)
{
    g_where[0] = 0;
    return n && walk(&onnx__model_proto__descriptor, data, n, 0, "ModelProto", 0) ? g_where : NULL;
}

const char *nb__onnx_wire_check(const void *data, size_t n)
{
    if (!n) return "the file is empty";
    g_where[0] = 0;
    if (!walk(&onnx__model_proto__descriptor, data, n, 0, "ModelProto", 0))
        snprintf(g_where, sizeof g_where, "a field holds a value its type does not allow (e.g. a string that is not UTF-8)");
    return g_where;
}
