/* utf8.c - UTF-8 decoding and validation, character classes, simple case mapping,
 * and what a "character" is for the augmenters: a code point with its extenders
 * (combining marks, variation selectors, emoji modifiers, ZWJ sequences, flags).
 * No locale is used: the tables below are small and fixed. */
#include "text/text.h"
#include "text/unicode.h"
#include "core/error.h"

#include <stdlib.h>
#include <string.h>

int nb__utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    int len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) len = 2, v = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, v = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, v = c & 0x07, min = 0x10000;
    else return 0;
    if ((size_t)len > n) return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

int nb__utf8_encode(uint32_t cp, char *out)
{
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

int64_t nb_utf8_check(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (u[i] < 0x80) { /* ASCII fast path */
            i++;
            continue;
        }
        uint32_t cp;
        int l = nb__utf8_decode(u + i, n - i, &cp);
        if (!l) return (int64_t)i;
        i += (size_t)l;
    }
    return -1;
}

char *nb_utf8_repair(const char *s, size_t n)
{
    /* each bad byte becomes at most 3 bytes (U+FFFD) */
    char *out = malloc(n * 3 + 1);
    if (!out) {
        nb__fail(NB_ERR_MEM, "out of memory repairing UTF-8");
        return NULL;
    }
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, o = 0;
    while (i < n) {
        uint32_t cp;
        int l = nb__utf8_decode(u + i, n - i, &cp);
        if (l) {
            memcpy(out + o, s + i, (size_t)l);
            o += (size_t)l;
            i += (size_t)l;
        } else {
            /* skip the maximal invalid prefix: the lead byte and any continuation bytes */
            i++;
            while (i < n && (u[i] & 0xC0) == 0x80) i++;
            o += (size_t)nb__utf8_encode(0xFFFD, out + o);
        }
    }
    out[o] = 0;
    return out;
}

int nb__cp_is_space(uint32_t cp)
{
    if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
           cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* punctuation and symbols outside ASCII (sorted, for binary search) */
static const nb__uc_range punct_ranges[] = {
    {0x00A1, 0x00A9, 0}, {0x00AB, 0x00B4, 0}, {0x00B6, 0x00B9, 0}, {0x00BB, 0x00BF, 0}, {0x00D7, 0x00D7, 0},
    {0x00F7, 0x00F7, 0}, {0x02C2, 0x02C5, 0}, {0x02D2, 0x02DF, 0}, {0x037E, 0x037E, 0}, {0x0387, 0x0387, 0},
    {0x055A, 0x055F, 0}, {0x0589, 0x058A, 0}, {0x05BE, 0x05BE, 0}, {0x05C0, 0x05C0, 0}, {0x05C3, 0x05C3, 0},
    {0x05F3, 0x05F4, 0}, {0x060C, 0x060D, 0}, {0x061B, 0x061F, 0}, {0x066A, 0x066D, 0}, {0x06D4, 0x06D4, 0},
    {0x0964, 0x0965, 0}, {0x0E3F, 0x0E3F, 0}, {0x0E4F, 0x0E4F, 0}, {0x0E5A, 0x0E5B, 0}, {0x2010, 0x2027, 0},
    {0x2030, 0x205E, 0}, {0x207A, 0x207E, 0}, {0x208A, 0x208E, 0}, {0x20A0, 0x20CF, 0}, {0x2100, 0x2101, 0},
    {0x2103, 0x2106, 0}, {0x2108, 0x2109, 0}, {0x2114, 0x2114, 0}, {0x2116, 0x2118, 0}, {0x211E, 0x2123, 0},
    {0x2125, 0x2125, 0}, {0x2127, 0x2127, 0}, {0x2129, 0x2129, 0}, {0x212E, 0x212E, 0}, {0x213A, 0x213B, 0},
    {0x2140, 0x2144, 0}, {0x214A, 0x214D, 0}, {0x214F, 0x214F, 0}, {0x2190, 0x245F, 0}, {0x2500, 0x2775, 0},
    {0x2794, 0x2BFF, 0}, {0x2E00, 0x2E7F, 0}, {0x3001, 0x3004, 0}, {0x3008, 0x3020, 0}, {0x3030, 0x3030, 0},
    {0x303D, 0x303F, 0}, {0x30FB, 0x30FB, 0}, {0xE000, 0xF8FF, 0}, {0xFD3E, 0xFD3F, 0}, {0xFE10, 0xFE19, 0},
    {0xFE30, 0xFE52, 0}, {0xFE54, 0xFE6B, 0}, {0xFF01, 0xFF0F, 0}, {0xFF1A, 0xFF20, 0}, {0xFF3B, 0xFF40, 0},
    {0xFF5B, 0xFF65, 0}, {0xFFE0, 0xFFEE, 0}, {0xFFF9, 0xFFFD, 0}, {0x1F000, 0x1F1E5, 0}, {0x1F200, 0x1F3FA, 0},
    {0x1F400, 0x1FAFF, 0}, {0x1FB00, 0x1FBFF, 0},
};

/* what attaches to the character before it */
static const nb__uc_range ext_ranges[] = {
    {0x0300, 0x036F, 0}, {0x0483, 0x0489, 0}, {0x0591, 0x05BD, 0}, {0x05BF, 0x05BF, 0}, {0x05C1, 0x05C2, 0},
    {0x05C4, 0x05C5, 0}, {0x05C7, 0x05C7, 0}, {0x0610, 0x061A, 0}, {0x064B, 0x065F, 0}, {0x0670, 0x0670, 0},
    {0x06D6, 0x06DC, 0}, {0x06DF, 0x06E4, 0}, {0x06E7, 0x06E8, 0}, {0x06EA, 0x06ED, 0}, {0x0900, 0x0903, 0},
    {0x093A, 0x094F, 0}, {0x0951, 0x0957, 0}, {0x0962, 0x0963, 0}, {0x0E31, 0x0E31, 0}, {0x0E34, 0x0E3A, 0},
    {0x0E47, 0x0E4E, 0}, {0x1160, 0x11FF, 0}, {0x1AB0, 0x1AFF, 0}, {0x1DC0, 0x1DFF, 0}, {0x200C, 0x200D, 0},
    {0x20D0, 0x20FF, 0}, {0x302A, 0x302F, 0}, {0x3099, 0x309A, 0}, {0xD7B0, 0xD7FF, 0}, {0xFE00, 0xFE0F, 0},
    {0xFE20, 0xFE2F, 0}, {0x1F3FB, 0x1F3FF, 0}, {0xE0020, 0xE007F, 0}, {0xE0100, 0xE01EF, 0},
};

int nb__cp_is_punct(uint32_t cp)
{
    if (cp < 0x80) return (cp > 0x20 && cp < 0x7F) && !((cp >= '0' && cp <= '9') || (cp >= 'A' && cp <= 'Z') ||
                                                         (cp >= 'a' && cp <= 'z') || cp == '_');
    if (cp < 0xA0) return 1; /* C1 controls: not letters */
    return nb__uc_in(punct_ranges, (int)(sizeof punct_ranges / sizeof punct_ranges[0]), cp);
}

int nb__cp_is_extender(uint32_t cp)
{
    if (cp < 0x300) return 0;
    return nb__uc_in(ext_ranges, (int)(sizeof ext_ranges / sizeof ext_ranges[0]), cp);
}

/* Case pairs: ASCII, Latin-1, Latin Extended-A (alternating pairs), Greek, Cyrillic. */
int nb__cp_is_upper(uint32_t cp)
{
    if (cp < 0x80) return cp >= 'A' && cp <= 'Z';
    if (cp >= 0xC0 && cp <= 0xDE) return cp != 0xD7;
    if (cp >= 0x100 && cp <= 0x17F) {
        if (cp == 0x130) return 1;
        if (cp == 0x131 || cp == 0x138 || cp == 0x149 || cp == 0x17F) return 0;
        if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E)) return cp & 1;
        return !(cp & 1);
    }
    if (cp >= 0x391 && cp <= 0x3AB) return cp != 0x3A2;
    if (cp >= 0x400 && cp <= 0x42F) return 1;
    return 0;
}

int nb__cp_is_lower(uint32_t cp)
{
    if (cp < 0x80) return cp >= 'a' && cp <= 'z';
    if (cp >= 0xDF && cp <= 0xFF) return cp != 0xF7;
    if (cp >= 0x100 && cp <= 0x17F) return !nb__cp_is_upper(cp);
    if (cp >= 0x3AC && cp <= 0x3CE) return 1;
    if (cp >= 0x430 && cp <= 0x45F) return 1;
    return 0;
}

uint32_t nb__cp_to_upper(uint32_t cp)
{
    if (cp < 0x80) return (cp >= 'a' && cp <= 'z') ? cp - 32 : cp;
    if (cp >= 0xE0 && cp <= 0xFE && cp != 0xF7) return cp - 32;
    if (cp == 0xFF) return 0x178;
    if (cp >= 0x100 && cp <= 0x17F && nb__cp_is_lower(cp) && cp != 0x131 && cp != 0x138 && cp != 0x149 &&
        cp != 0x17F)
        return cp - 1;
    if (cp >= 0x3B1 && cp <= 0x3CB && cp != 0x3C2) return cp - 32;
    if (cp >= 0x430 && cp <= 0x44F) return cp - 32;
    if (cp >= 0x450 && cp <= 0x45F) return cp - 80;
    return cp;
}

uint32_t nb__cp_to_lower(uint32_t cp)
{
    if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
    if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) return cp + 32;
    if (cp == 0x178) return 0xFF;
    if (cp >= 0x100 && cp <= 0x17F && nb__cp_is_upper(cp) && cp != 0x130) return cp + 1;
    if (cp >= 0x391 && cp <= 0x3AB && cp != 0x3A2) return cp + 32;
    if (cp >= 0x410 && cp <= 0x42F) return cp + 32;
    if (cp >= 0x400 && cp <= 0x40F) return cp + 80;
    return cp;
}

static int is_regional(uint32_t cp) { return cp >= 0x1F1E6 && cp <= 0x1F1FF; }

size_t nb__char_len(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    uint32_t cp;
    int l = nb__utf8_decode(u, n, &cp);
    if (!l) return 1;
    size_t i = (size_t)l;
    if (is_regional(cp) && i < n) { /* a flag is a pair of regional indicators */
        uint32_t c2;
        int l2 = nb__utf8_decode(u + i, n - i, &c2);
        if (l2 && is_regional(c2)) return i + (size_t)l2;
    }
    while (i < n) {
        uint32_t c2;
        int l2 = nb__utf8_decode(u + i, n - i, &c2);
        if (!l2 || !nb__cp_is_extender(c2)) break;
        i += (size_t)l2;
        if (c2 == 0x200D && i < n) { /* ZWJ joins the next character too */
            uint32_t c3;
            int l3 = nb__utf8_decode(u + i, n - i, &c3);
            if (!l3 || nb__cp_is_space(c3)) break;
            i += (size_t)l3;
        }
    }
    return i;
}
