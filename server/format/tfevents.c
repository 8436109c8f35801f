/* tfevents.c -- TensorBoard event files (format.h): Event messages of protocol buffers,
 * each framed as a TFRecord, written to a stdio stream.
 *
 * DESIGN. An event file is a sequence of records; a record is the little-endian uint64
 * length of its data, the masked CRC-32C of those 8 bytes, the data, and the masked
 * CRC-32C of the data (masked: ((crc >> 15) | (crc << 17)) + 0xa282ead8). The data is a
 * tensorboard.Event (tensorboard/compat/proto/event.proto): wall_time = 1 (double),
 * step = 2 (int64), and one of file_version = 3 (string) or summary = 5 (a Summary,
 * summary.proto: repeated Value value = 1; Value: tag = 1 string, simple_value = 2
 * float). The messages are built with protobuf.c's writer. Fields equal to their default
 * are left out, as protobuf's encoders do, but for those of a oneof (simple_value,
 * file_version), whose presence says which it is.
 */
#include "format.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- CRC-32C (Castagnoli, reflected polynomial 0x82f63b78) ---- */

static uint32_t crc_table[256];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t crc32c(const void *data, size_t len)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, crc_init);
    const unsigned char *p = data;
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < len; i++)
        c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

static uint32_t masked_crc(const void *data, size_t len)
{
    uint32_t c = crc32c(data, len);
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

/* ---- records ---- */

/* The message in b as one TFRecord on f. 0, or -1 (out of memory, or a write error). */
static int write_record(FILE *f, const struct pb *b)
{
    if (b->oom)
        return -1;
    unsigned char head[12];
    uint64_t len = b->n;
    for (int i = 0; i < 8; i++)
        head[i] = (unsigned char)(len >> (8 * i));
    uint32_t c = masked_crc(head, 8);
    for (int i = 0; i < 4; i++)
        head[8 + i] = (unsigned char)(c >> (8 * i));
    unsigned char tail[4];
    c = masked_crc(b->p, b->n);
    for (int i = 0; i < 4; i++)
        tail[i] = (unsigned char)(c >> (8 * i));
    if (fwrite(head, 1, sizeof head, f) != sizeof head ||
        (b->n && fwrite(b->p, 1, b->n, f) != b->n) ||
        fwrite(tail, 1, sizeof tail, f) != sizeof tail)
        return -1;
    return 0;
}

/* Event fields 1 and 2: wall_time, then step when it is not 0. */
static void event_head(struct pb *e, double wall_time, int64_t step)
{
    if (wall_time != 0)
        pb_double(e, 1, wall_time);
    if (step != 0)
        pb_int(e, 2, step);
}

int tfevents_version(FILE *f, double wall_time)
{
    static const char version[] = "brain.Event:2";
    struct pb e = {0};
    event_head(&e, wall_time, 0);
    pb_len(&e, 3, version, sizeof version - 1);
    int rc = write_record(f, &e);
    pb_free(&e);
    return rc;
}

int tfevents_scalars(FILE *f, double wall_time, int64_t step, const struct tf_scalar *v, int n)
{
    struct pb e = {0}, s = {0}, val = {0};
    for (int i = 0; i < n; i++) {   /* Summary: one Value (tag, simple_value) per scalar */
        val.n = 0;
        pb_len(&val, 1, v[i].tag, strlen(v[i].tag));
        pb_float(&val, 2, v[i].value);   /* 0 too: simple_value is one of a oneof */
        pb_msg(&s, 1, &val);
    }
    event_head(&e, wall_time, step);
    pb_msg(&e, 5, &s);
    int rc = write_record(f, &e);
    pb_free(&e), pb_free(&s), pb_free(&val);
    return rc;
}

void tfevents_name(char *buf, size_t cap, double wall_time)
{
    char host[256] = "localhost";
    if (gethostname(host, sizeof host - 1) != 0 || !*host)
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = 0;
    for (char *p = host; *p; p++)   /* a file name, and a header's quoted string */
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_", *p))
            *p = '_';
    snprintf(buf, cap, "events.out.tfevents.%lld.%s",
             (long long)(isfinite(wall_time) && wall_time > 0 ? wall_time : 0), host);
}

double time_parse_iso(const char *s)
{
    struct tm tm = {0};
    int ms = 0, n = 0;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                     &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
        return NAN;
    s += n;
    if (*s == '.') {
        int digits = 0;
        for (s++; *s >= '0' && *s <= '9'; s++, digits++)
            if (digits < 3)
                ms = ms * 10 + (*s - '0');
        for (; digits < 3; digits++)
            ms *= 10;
    }
    if (strcmp(s, "Z") != 0)
        return NAN;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (double)timegm(&tm) + ms / 1000.0;
}
