/* dashboard.c -- GET /: the dashboard. One HTML page with its styles and script inline
 * (server/dashboard/index.html, compiled in by server/dashboard/embed.sh), so the binary needs
 * no files beside it and the browser fetches nothing from elsewhere. The page is a client
 * of the REST routes like any other.
 *
 * Its Content-Security-Policy allows exactly its own inline script and style, by their
 * SHA-256 (worked out from the page the binary holds, once), requests to this service
 * only, and no framing. */
#include "api.h"

#include "format/format.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

extern const char dashboard_html[];   /* generated into build/dashboard.c by the Makefile */
extern const size_t dashboard_html_len;

static char csp[512];
static pthread_once_t csp_once = PTHREAD_ONCE_INIT;

/* 'sha256-...' of the text between the first open and close tags into out (64 bytes). */
static void inline_hash(const char *open, const char *close, char *out)
{
    const char *s = strstr(dashboard_html, open), *e = s ? strstr(s, close) : NULL;
    unsigned char d[32];
    char b[48];
    if (!e) {   /* the page has none: nothing inline is allowed */
        snprintf(out, 64, "'none'");
        return;
    }
    s += strlen(open);
    sha256(s, (size_t)(e - s), d);
    base64_encode(b, d, sizeof d);
    snprintf(out, 64, "'sha256-%s'", b);
}

static void make_csp(void)
{
    char script[64], style[64];
    inline_hash("<script>", "</script>", script);
    inline_hash("<style>", "</style>", style);
    snprintf(csp, sizeof csp, "default-src 'none'; script-src %s; style-src %s; "
             "img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
             "frame-ancestors 'none'", script, style);
}

int h_dashboard(struct req *r, struct reply *out)
{
    (void)r;
    pthread_once(&csp_once, make_csp);
    if (reply_text(out, 200, "text/html; charset=utf-8", dashboard_html, dashboard_html_len) < 0)
        return -1;
    out->csp = csp;
    return 0;
}
