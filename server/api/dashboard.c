/* dashboard.c -- GET /: the dashboard. One HTML page with its styles and script inline
 * (server/dashboard/index.html, compiled in by server/dashboard/embed.sh), so the binary needs
 * no files beside it and the browser fetches nothing from elsewhere. The page is a client
 * of the REST routes like any other. */
#include "api.h"

extern const char dashboard_html[];   /* generated into build/dashboard.c by the Makefile */
extern const size_t dashboard_html_len;

int h_dashboard(struct req *r, struct reply *out)
{
    (void)r;
    return reply_text(out, 200, "text/html; charset=utf-8", dashboard_html,
                      dashboard_html_len);
}
