/* test_guard.c -- who may ask (server/http/guard.c), the access log (server/http/log.c)
 * and what they stand on: SHA-256 and base64 (server/format/digest.c) against FIPS 180-2's
 * examples, RFC 4648's and Python's hashlib; the token file, line by line; the Host
 * allowlist; the bind rule of config_load; a log line as text and as JSON. Then the real
 * binary: refusing 0.0.0.0 without tokens, tokens on every route but the open ones,
 * requests from other sites and other hosts, CORS, request ids, the access log (never a
 * token in it) and the dashboard's headers. The hostile requests themselves are rows of
 * test_e2e's table of bad requests too. */
#include "config/config.h"
#include "format/format.h"
#include "http/guard.h"
#include "srvutil.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WRITE_TOKEN "w-7Jq2vXc9LmN4pR8sT1uY6zA3bD5e"
#define READ_TOKEN "r+Kd83hFq/Wm2Lp9Zs7Xc4Vb1Nn6=="

/* ---- SHA-256 and base64 ---- */

static void hex(const unsigned char *d, char *out)
{
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

START_TEST(sha256_vectors)
{
    static const struct {
        const char *in, *want;
    } fips[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    unsigned char d[32];
    char h[65];
    for (size_t i = 0; i < sizeof fips / sizeof *fips; i++) {
        sha256(fips[i].in, strlen(fips[i].in), d);
        hex(d, h);
        ck_assert_str_eq(h, fips[i].want);
    }
    /* a million 'a' (FIPS 180-2, C.3) */
    char *a = malloc(1000000);
    ck_assert_ptr_nonnull(a);
    memset(a, 'a', 1000000);
    sha256(a, 1000000, d);
    free(a);
    hex(d, h);
    ck_assert_str_eq(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    /* lengths around the padding's edges: bytes (7i + 3) mod 256, digests from hashlib */
    static const struct {
        int n;
        const char *want;
    } edge[] = {
        {55, "e7313d333c272e639f790978283f9eb392e843d0f29b7016828bb1daa4aac70b"},
        {56, "4324d65f3c103567f5589c710bc08f8523f929a9272e3af36fc968e52abc6c27"},
        {63, "81c80242132f230c3bd41b3e63bbcff16107339549214a99614ff26664625055"},
        {64, "39e3d7b6b5d075d37d053ad89b24b41bef4f3c29760c84447cab3f3be1882241"},
        {65, "aacca6ff74fdbb296d165a45cecfa04e5127bc008770fbbdd48006f2d2fae95e"},
        {119, "9ce7368e4daf32341631b492e80359dc9f594b48453cd0dd5bf0b19279cc177e"},
        {120, "7836b787757e95e58b3ca5aec90b1b004e8deba1e50e9675af9cabf1a13a04b5"},
    };
    unsigned char buf[128];
    for (int i = 0; i < 128; i++)
        buf[i] = (unsigned char)((i * 7 + 3) & 255);
    for (size_t i = 0; i < sizeof edge / sizeof *edge; i++) {
        sha256(buf, (size_t)edge[i].n, d);
        hex(d, h);
        ck_assert_msg(!strcmp(h, edge[i].want), "%d bytes: %s", edge[i].n, h);
    }
}
END_TEST

START_TEST(base64_vectors)
{
    /* RFC 4648, section 10 */
    static const char *const want[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
                                       "Zm9vYmFy"};
    char out[16];
    for (size_t n = 0; n <= 6; n++) {
        size_t len = base64_encode(out, "foobar", n);
        ck_assert_str_eq(out, want[n]);
        ck_assert_uint_eq(len, strlen(want[n]));
    }
    unsigned char all[3] = {0xfb, 0xff, 0xbf};
    base64_encode(out, all, 3);
    ck_assert_str_eq(out, "+/+/");
}
END_TEST

/* ---- the token file ---- */

static int parse(const char *text, struct guard_token **t, int *n, char *err, size_t cap)
{
    size_t len = strlen(text);
    if (!strncmp(text, "nul-", 4))   /* the one with a NUL byte: its length as written */
        len += 1 + strlen(text + len + 1);
    return guard_tokens_parse("tokens", text, len, t, n, err, cap);
}

START_TEST(tokens_parsed)
{
    const char *text = "# who may ask\r\n"
                       "\n"
                       "   " WRITE_TOKEN "\r\n"
                       "\t" READ_TOKEN "  read  viewer\n"
                       "abcdefghijklmnopqrstuvwxyz0123456789 write ci@builds.example\n"
                       "ABCDEFGHIJKLMNOP read";   /* no line ending at the end */
    struct guard_token *t;
    int n;
    char err[256];
    ck_assert_msg(parse(text, &t, &n, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(n, 4);
    ck_assert_str_eq(t[0].name, "line3");
    ck_assert_int_eq(t[0].write, 1);
    ck_assert_str_eq(t[1].name, "viewer");
    ck_assert_int_eq(t[1].write, 0);
    ck_assert_str_eq(t[2].name, "ci@builds.example");
    ck_assert_int_eq(t[2].write, 1);
    ck_assert_str_eq(t[3].name, "line6");
    ck_assert_int_eq(t[3].write, 0);
    /* kept as the digest of the token, never the token */
    unsigned char d[32];
    sha256(WRITE_TOKEN, strlen(WRITE_TOKEN), d);
    ck_assert(!memcmp(t[0].digest, d, 32));
    free(t);
}
END_TEST

START_TEST(tokens_refused)
{
    static const struct {
        const char *text;
        int line;
        const char *why;
    } bad[] = {
        {"tooshorttoken15\n", 1, "16 to 4096"},
        {"# a comment\n" WRITE_TOKEN " admin\n", 2, "read or write"},
        {WRITE_TOKEN " write\n" READ_TOKEN " Read\n", 2, "read or write"},
        {WRITE_TOKEN " write alice bob\n", 1, "more than"},
        {WRITE_TOKEN " write al/ice\n", 1, "a name is"},
        {"\n\n" "has\"a-quote-in-it-0123\n", 3, "16 to 4096"},
        {"padding=in-the-middle-0123\n", 1, "16 to 4096"},
        {WRITE_TOKEN "\n" READ_TOKEN "\n" WRITE_TOKEN " read\n", 3, "same token"},
        {WRITE_TOKEN " write bob\n" READ_TOKEN " read bob\n", 2, "name of an earlier"},
        {WRITE_TOKEN "\n" READ_TOKEN " read line1\n", 2, "name of an earlier"},
        {"nul-in-the-middle-0123\0" "4567\n", 1, "16 to 4096"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct guard_token *t = (void *)1;
        int n = 7;
        char err[256], at[32];
        ck_assert_int_eq(parse(bad[i].text, &t, &n, err, sizeof err), -1);
        ck_assert_ptr_null(t);
        ck_assert_int_eq(n, 0);
        snprintf(at, sizeof at, "line %d:", bad[i].line);
        ck_assert_msg(strstr(err, at) && strstr(err, bad[i].why), "%zu: %s", i, err);
        ck_assert_msg(!strchr(err, '\n'), "one line: %s", err);
        /* the message never quotes the file */
        ck_assert_msg(!strstr(err, "0123") && !strstr(err, WRITE_TOKEN) && !strstr(err, "alice") &&
                      !strstr(err, "admin"), "%s", err);
    }
    struct guard_token *t;
    int n;
    char err[256];
    ck_assert_int_eq(parse("# nothing but comments\n\n", &t, &n, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "holds no tokens"), "%s", err);
}
END_TEST

static struct guard *guard_of(struct config *c)
{
    char err[256];
    struct guard *g = guard_new(c, err, sizeof err);
    ck_assert_msg(g != NULL, "%s", err);
    return g;
}

/* A config with the defaults and a token file of text (in dir). */
static void with_tokens(struct config *c, char *dir, char *file, const char *text)
{
    config_defaults(c);
    su_tmpdir(dir, 256, "guard");
    snprintf(file, 300, "%s/tokens", dir);
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    c->token_file = file;
}

START_TEST(tokens_looked_up)
{
    struct config c;
    char dir[256], file[300];
    with_tokens(&c, dir, file, WRITE_TOKEN "\n" READ_TOKEN " read viewer\n");
    struct guard *g = guard_of(&c);
    su_rmdir(dir);
    const struct guard_token *t = guard_token(g, WRITE_TOKEN, strlen(WRITE_TOKEN));
    ck_assert(t && t->write && !strcmp(t->name, "line1"));
    t = guard_token(g, READ_TOKEN, strlen(READ_TOKEN));
    ck_assert(t && !t->write && !strcmp(t->name, "viewer"));
    /* a prefix, the token and more, one character changed: none */
    ck_assert_ptr_null(guard_token(g, WRITE_TOKEN, strlen(WRITE_TOKEN) - 1));
    ck_assert_ptr_null(guard_token(g, WRITE_TOKEN "x", strlen(WRITE_TOKEN) + 1));
    char near[64];
    snprintf(near, sizeof near, "%s", WRITE_TOKEN);
    near[5] ^= 1;
    ck_assert_ptr_null(guard_token(g, near, strlen(near)));
    ck_assert_ptr_null(guard_token(g, "", 0));
    guard_free(g);
}
END_TEST

/* ---- hosts and origins ---- */

START_TEST(hosts_allowed)
{
    struct config c;
    config_defaults(&c);   /* 127.0.0.1: the bound address, localhost, 127.0.0.1 */
    struct guard *g = guard_of(&c);
    static const char *const yes[] = {"127.0.0.1", "127.0.0.1:8080", "localhost",
                                      "LocalHost:1", "localhost.", NULL};
    static const char *const no[] = {"evil.example", "evil.example:8080", "127.0.0.1.evil.example",
                                     "localhost.evil.example", "127.0.0.2", "[::1]:8080", "",
                                     "localhost:", "localhost:80x", "local host", ":8080",
                                     "localhost:80:80", "[::1", "evil.example/127.0.0.1", "[localhost]",
                                     "[127.0.0.1]:80", NULL};
    ck_assert(guard_host_ok(g, NULL));   /* HTTP/1.0 sends none; a browser always does */
    for (int i = 0; yes[i]; i++)
        ck_assert_msg(guard_host_ok(g, yes[i]), "%s refused", yes[i]);
    for (int i = 0; no[i]; i++)
        ck_assert_msg(!guard_host_ok(g, no[i]), "%s answered", no[i]);
    guard_free(g);

    c.bind = "::1";
    g = guard_of(&c);
    ck_assert(guard_host_ok(g, "[::1]:8080") && guard_host_ok(g, "[::1]"));
    ck_assert(!guard_host_ok(g, "::1"));   /* a Host header brackets IPv6 */
    guard_free(g);

    c.allowed_hosts = " api.example.com, [::1],fe80::1 ";
    g = guard_of(&c);
    ck_assert(guard_host_ok(g, "API.example.com:443") && guard_host_ok(g, "[::1]:1") &&
              guard_host_ok(g, "[FE80::1]"));
    ck_assert(!guard_host_ok(g, "localhost") && !guard_host_ok(g, "127.0.0.1"));
    guard_free(g);

    c.allowed_hosts = "*";
    g = guard_of(&c);
    ck_assert(guard_host_ok(g, "anything.example:1"));
    guard_free(g);
}
END_TEST

START_TEST(lists_refused)
{
    static const struct {
        const char *hosts, *origins, *why;
    } bad[] = {
        {"a b", NULL, "'a b' is not a host"},
        {"ok.example, bad/host", NULL, "'bad/host'"},
        {",,", NULL, "--allowed-hosts is empty"},
        {NULL, "*", "'*' is not an origin"},
        {NULL, "null", "'null' is not an origin"},
        {NULL, "https://app.example/", "is not an origin"},
        {NULL, "app.example", "is not an origin"},
        {NULL, "ftp://app.example", "is not an origin"},
        {NULL, "https://app.example:x", "is not an origin"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct config c;
        config_defaults(&c);
        c.allowed_hosts = bad[i].hosts;
        c.cors_origin = bad[i].origins;
        char err[256] = "";
        ck_assert_ptr_null(guard_new(&c, err, sizeof err));
        ck_assert_msg(strstr(err, bad[i].why), "%zu: %s", i, err);
    }
    struct config c;
    config_defaults(&c);
    c.cors_origin = "https://App.Example, http://localhost:3000";
    struct guard *g = guard_of(&c);
    ck_assert_str_eq(guard_cors(g, "https://app.example"), "https://app.example");
    ck_assert_ptr_nonnull(guard_cors(g, "http://localhost:3000"));
    ck_assert_ptr_null(guard_cors(g, "http://localhost:3001"));
    ck_assert_ptr_null(guard_cors(g, "https://app.example.evil"));
    ck_assert_ptr_null(guard_cors(g, "null"));
    guard_free(g);
}
END_TEST

/* ---- the bind rule and the switches (config.c) ---- */

/* config_load, dropping what it says on stderr (a refusal's one line). */
static int quietly(struct config *c, int argc, char **argv)
{
    fflush(stderr);
    int saved = dup(2), null = open("/dev/null", O_WRONLY);
    dup2(null, 2);
    int rc = config_load(c, argc, argv);
    dup2(saved, 2);
    close(saved);
    close(null);
    return rc;
}

/* config_load on args after "neurond", with no NEUROND_* variables. */
static int load(struct config *c, const char *const *args)
{
    static const char *const vars[] = {"NEUROND_BIND", "NEUROND_TOKEN_FILE",
                                       "NEUROND_INSECURE_NO_AUTH", "NEUROND_METRICS_TOKEN",
                                       "NEUROND_LOG_FORMAT", "NEUROND_PORT", NULL};
    for (int i = 0; vars[i]; i++)
        unsetenv(vars[i]);
    char *argv[16] = {"neurond"};
    int n = 1;
    for (; args[n - 1] && n < 15; n++)
        argv[n] = (char *)args[n - 1];
    return quietly(c, n, argv);
}

START_TEST(bind_rule)
{
    struct config c;
    static const char *const refused[][5] = {{"--bind", "0.0.0.0", NULL}, {"--bind", "::", NULL},
                                             {"--bind", "192.0.2.7", NULL},
                                             {"--bind", "::ffff:127.0.0.1", NULL},
                                             {"--bind=10.0.0.1", "--insecure-no-auth=false", NULL}};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
        ck_assert_msg(load(&c, refused[i]) < 0, "%s %s", refused[i][0], refused[i][1]);
    static const char *const started[][5] = {{NULL}, {"--bind", "127.0.0.1", NULL},
                                             {"--bind", "127.3.2.1", NULL}, {"--bind", "::1", NULL},
                                             {"--bind", "0.0.0.0", "--insecure-no-auth", NULL},
                                             {"--bind", "0.0.0.0", "--token-file", "t", NULL}};
    for (size_t i = 0; i < sizeof started / sizeof *started; i++)
        ck_assert_msg(load(&c, started[i]) == 0, "%s %s", started[i][0], started[i][1]);

    /* the environment counts as the flags do */
    char *argv[] = {"neurond", NULL};
    setenv("NEUROND_BIND", "0.0.0.0", 1);
    setenv("NEUROND_INSECURE_NO_AUTH", "1", 1);
    ck_assert_int_eq(config_load(&c, 1, argv), 0);
    ck_assert_int_eq(c.insecure_no_auth, 1);
    unsetenv("NEUROND_INSECURE_NO_AUTH");
    setenv("NEUROND_TOKEN_FILE", "/run/secrets/tokens", 1);
    ck_assert_int_eq(config_load(&c, 1, argv), 0);
    ck_assert_str_eq(c.token_file, "/run/secrets/tokens");
    setenv("NEUROND_TOKEN_FILE", "", 1);   /* empty: not given */
    ck_assert_int_eq(quietly(&c, 1, argv) < 0 && !c.token_file, 1);
    unsetenv("NEUROND_TOKEN_FILE");
    unsetenv("NEUROND_BIND");
}
END_TEST

START_TEST(switches)
{
    struct config c;
    /* a switch alone takes no value: the flag after it is read as a flag */
    static const char *const a[] = {"--metrics-token", "--port", "9001", "--log-format", "json",
                                    NULL};
    ck_assert_int_eq(load(&c, a), 0);
    ck_assert_int_eq(c.metrics_token, 1);
    ck_assert_int_eq(c.port, 9001);
    ck_assert_int_eq(c.log_json, 1);
    static const char *const b[] = {"--metrics-token=no", "--allowed-hosts", "a.example",
                                    "--cors-origin", "https://b.example", NULL};
    ck_assert_int_eq(load(&c, b), 0);
    ck_assert_int_eq(c.metrics_token, 0);
    ck_assert_str_eq(c.allowed_hosts, "a.example");
    ck_assert_str_eq(c.cors_origin, "https://b.example");
    static const char *const d[] = {NULL};
    ck_assert_int_eq(load(&c, d), 0);   /* the defaults */
    ck_assert(!c.token_file && !c.metrics_token && !c.insecure_no_auth && !c.allowed_hosts &&
              !c.cors_origin && !c.log_json);
    static const char *const e[] = {"--metrics-token=maybe", NULL};
    ck_assert_int_lt(load(&c, e), 0);
    static const char *const f[] = {"--log-format", "xml", NULL};
    ck_assert_int_lt(load(&c, f), 0);
}
END_TEST

/* ---- a log line ---- */

START_TEST(log_lines)
{
    struct who w = {.id = "req_abc", .method = "POST", .at = {1764000000, 123456789},
                    .t0 = clock_s(), .sent = 1};
    struct req r = {.token = "alice", .may_write = 1};
    struct route rt = {"POST", "/v1/jobs/:id/cancel", NULL, NULL, NULL, 0, ROUTE_TOKEN, NULL};
    struct reply rp = {.status = 202, .len = 321};
    char line[512];
    log_line(line, sizeof line, &w, &r, &rt, &rp, 0);
    ck_assert_msg(!strncmp(line, "time=2025-11-24T16:00:00.123Z request_id=req_abc method=POST "
                          "route=/v1/jobs/:id/cancel status=202 bytes=321 us=", 107), "%s", line);
    ck_assert_msg(strstr(line, " token=alice\n") && line[strlen(line) - 1] == '\n', "%s", line);

    log_line(line, sizeof line, &w, &r, &rt, &rp, 1);
    json_error_t e;
    json_t *j = json_loads(line, 0, &e);
    ck_assert_msg(j != NULL, "%s: %s", line, e.text);
    ck_assert_str_eq(su_str(j, "time"), "2025-11-24T16:00:00.123Z");
    ck_assert_str_eq(su_str(j, "request_id"), "req_abc");
    ck_assert_str_eq(su_str(j, "method"), "POST");
    ck_assert_str_eq(su_str(j, "route"), "/v1/jobs/:id/cancel");
    ck_assert_int_eq(su_int(j, "status"), 202);
    ck_assert_int_eq(su_int(j, "bytes"), 321);
    ck_assert_int_ge(su_int(j, "us"), 0);
    ck_assert_str_eq(su_str(j, "token"), "alice");
    ck_assert_int_eq(json_object_size(j), 8);
    json_decref(j);

    /* no token, no route, no answer sent (the client left), a streamed body */
    r.token = NULL;
    w.sent = 0;
    log_line(line, sizeof line, &w, &r, NULL, &rp, 1);
    j = json_loads(line, 0, &e);
    ck_assert_msg(j != NULL, "%s", line);
    ck_assert(json_is_null(json_object_get(j, "token")));
    ck_assert_str_eq(su_str(j, "route"), "unmatched");
    ck_assert_int_eq(su_int(j, "status"), 0);
    ck_assert_int_eq(su_int(j, "bytes"), 0);
    json_decref(j);
    w.sent = 1;
    w.streamed = 4096;
    rp.len = 0;
    log_line(line, sizeof line, &w, &r, &rt, &rp, 0);
    ck_assert_msg(strstr(line, " bytes=4096 ") && strstr(line, " token=-\n"), "%s", line);
}
END_TEST

/* ---- the real binary ---- */

/* Runs the binary with args (and its --db in a new directory) expecting it to exit within
 * 10 s; its exit code, and what it wrote on stderr into err. */
static int run_to_exit(const char *const *args, char *err, size_t cap)
{
    char dir[256], db[300], log[300];
    su_tmpdir(dir, sizeof dir, "exit");
    snprintf(db, sizeof db, "%s/neurond.db", dir);
    snprintf(log, sizeof log, "%s/stderr", dir);
    const char *bin = getenv("NEUROND_BIN") ? getenv("NEUROND_BIN") : "build/neurond";
    const char *argv[32] = {bin, "--db", db, "--port", "1"};
    int n = 5;
    for (int i = 0; args[i] && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0)
            dup2(fd, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    for (int i = 0; i < 200 && waitpid(pid, &status, WNOHANG) == 0; i++) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
        if (i == 199) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            ck_abort_msg("neurond %s did not exit within 10 s", args[0]);
        }
    }
    char *text = tu_slurp(log, NULL);
    snprintf(err, cap, "%s", text);
    free(text);
    su_rmdir(dir);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* A new directory with a token file: the write token (unnamed: line2), the read one
 * (viewer). */
static void token_file(char *dir, char *file)
{
    su_tmpdir(dir, 256, "tokens");
    snprintf(file, 300, "%s/tokens", dir);
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fputs("# neurond's tokens\n" WRITE_TOKEN "\n" READ_TOKEN " read viewer\n", f);
    fclose(f);
}

START_TEST(no_tokens_no_other_address)
{
    char err[1024];
    static const char *const open[] = {"--bind", "0.0.0.0", NULL};
    int code = run_to_exit(open, err, sizeof err);
    ck_assert_msg(code == 2, "exit %d: %s", code, err);
    ck_assert_msg(!strcmp(err, "neurond: refusing to serve 0.0.0.0 without tokens: give "
                               "--token-file FILE, or bind a loopback address (--bind "
                               "127.0.0.1), or pass --insecure-no-auth\n"), "%s", err);

    static const char *const missing[] = {"--bind", "0.0.0.0", "--token-file",
                                          "/nonexistent/tokens", NULL};
    code = run_to_exit(missing, err, sizeof err);
    ck_assert_msg(code != 0 && strstr(err, "cannot read the token file /nonexistent/tokens") &&
                  su_count(err, "\n") == 1, "exit %d: %s", code, err);

    char dir[256], file[300];
    su_tmpdir(dir, sizeof dir, "tokens");
    snprintf(file, sizeof file, "%s/tokens", dir);
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fputs(WRITE_TOKEN "\nsecret-short\n", f);
    fclose(f);
    static const char *malformed[] = {"--token-file", NULL, NULL};
    malformed[1] = file;
    code = run_to_exit(malformed, err, sizeof err);
    su_rmdir(dir);
    ck_assert_msg(code != 0 && strstr(err, ", line 2: a token is 16 to 4096") &&
                  su_count(err, "\n") == 1 && !strstr(err, "secret"), "exit %d: %s", code, err);
}
END_TEST

START_TEST(other_address_with_tokens_or_insecure)
{
    struct server s = {0};
    static const char *const insecure[] = {"--bind", "0.0.0.0", "--insecure-no-auth", NULL};
    su_start(&s, insecure);   /* 0.0.0.0 answers on 127.0.0.1 too */
    struct http_reply h = su_http(&s, "GET", "/v1/jobs", NULL, 0, NULL);
    ck_assert_int_eq(h.status, 200);
    su_http_free(&h);
    su_stop(&s, 0);
    char log[320];
    snprintf(log, sizeof log, "%s/neurond.log", s.dir);
    char *text = tu_slurp(log, NULL);
    ck_assert_msg(strstr(text, "neurond: no tokens (--insecure-no-auth): whoever reaches 0.0.0.0:"),
                  "%s", text);
    free(text);
    su_cleanup(&s);

    char dir[256], file[300];
    token_file(dir, file);
    const char *tokens[] = {"--bind", "0.0.0.0", "--token-file", file, NULL};
    su_start(&s, tokens);
    h = su_http(&s, "GET", "/v1/jobs", NULL, 0, NULL);
    ck_assert_int_eq(h.status, 401);
    su_http_free(&h);
    snprintf(s.token, sizeof s.token, "%s", READ_TOKEN);
    h = su_http(&s, "GET", "/v1/jobs", NULL, 0, NULL);
    ck_assert_int_eq(h.status, 200);
    su_http_free(&h);
    su_stop(&s, 0);
    su_cleanup(&s);
    su_rmdir(dir);
}
END_TEST

/* Expects a problem of that status naming the header; its request_id is the answer's
 * X-Request-Id. */
static void expect_problem(struct http_reply *h, long status, const char *header)
{
    ck_assert_msg(h->status == status, "%ld, not %ld: %s", h->status, status, h->body);
    ck_assert_str_eq(h->ctype, "application/problem+json");
    json_t *p = su_http_json(h);
    ck_assert_int_eq(su_int(p, "status"), status);
    ck_assert_str_eq(su_str(p, "request_id"), h->request_id);
    json_t *e = json_array_get(json_object_get(p, "errors"), 0);
    ck_assert_msg(e && !strcmp(su_str(e, "header"), header), "%s", h->body);
    json_decref(p);
    su_http_free(h);
}

static long status_of(const struct server *s, const char *method, const char *path,
                      const char *body, const char *const *headers)
{
    struct http_reply h = su_http_h(s, method, path, body, body ? strlen(body) : 0,
                                    body ? "application/json" : NULL, headers);
    long st = h.status;
    su_http_free(&h);
    return st;
}

START_TEST(tokens_on_every_route)
{
    char dir[256], file[300], www[200];
    token_file(dir, file);
    struct server s = {0};
    const char *args[] = {"--token-file", file, NULL};
    su_start(&s, args);
    /* open: the probes, the page, /metrics */
    static const char *const open[] = {"/healthz", "/readyz", "/", "/metrics", NULL};
    for (int i = 0; open[i]; i++)
        ck_assert_msg(status_of(&s, "GET", open[i], NULL, NULL) == 200, "%s", open[i]);
    /* everything else: 401 without a token, with a Bearer challenge */
    static const char *const routes[][2] = {
        {"GET", "/v1/datasets"}, {"GET", "/v1/networks"}, {"GET", "/v1/jobs"},
        {"GET", "/v1/models"}, {"GET", "/v1/jobs/job_x"}, {"GET", "/v1/jobs/job_x/events"},
        {"POST", "/v1/jobs"}, {"DELETE", "/v1/models/mdl_x"}, {"POST", "/v1/jobs/job_x/cancel"},
        {"HEAD", "/v1/jobs"}, {NULL, NULL}};
    for (int i = 0; routes[i][0]; i++) {
        struct http_reply h = su_http(&s, routes[i][0], routes[i][1], NULL, 0, NULL);
        ck_assert_msg(h.status == 401, "%s %s: %ld", routes[i][0], routes[i][1], h.status);
        ck_assert_str_eq(su_header(&h, "WWW-Authenticate", www, sizeof www),
                         "Bearer realm=\"neurond\"");
        su_http_free(&h);
    }
    static const char *const wrong[] = {"Authorization: Bearer " WRITE_TOKEN "x", NULL};
    struct http_reply h = su_http_h(&s, "GET", "/v1/jobs", NULL, 0, NULL, wrong);
    ck_assert_str_eq(su_header(&h, "WWW-Authenticate", www, sizeof www),
                     "Bearer realm=\"neurond\", error=\"invalid_token\"");
    expect_problem(&h, 401, "Authorization");

    /* the read token reads, and may not write */
    snprintf(s.token, sizeof s.token, "%s", READ_TOKEN);
    ck_assert_int_eq(status_of(&s, "GET", "/v1/jobs", NULL, NULL), 200);
    ck_assert_int_eq(status_of(&s, "GET", "/v1/jobs/job_x", NULL, NULL), 404);
    h = su_http(&s, "POST", "/v1/networks", "{}", 2, "application/json");
    ck_assert_str_eq(su_header(&h, "WWW-Authenticate", www, sizeof www),
                     "Bearer realm=\"neurond\", error=\"insufficient_scope\"");
    ck_assert_msg(strstr(h.body, "the token viewer may only read"), "%s", h.body);
    expect_problem(&h, 403, "Authorization");
    /* the scheme's name in any case (RFC 9110, 11.1) */
    static const char *const lower[] = {"Authorization: bearer " READ_TOKEN, NULL};
    ck_assert_int_eq(status_of(&s, "GET", "/v1/models", NULL, lower), 200);

    /* the write token writes; the read token predicts (a POST that changes nothing), and
     * may not delete the model */
    snprintf(s.token, sizeof s.token, "%s", WRITE_TOKEN);
    char *ds = su_dataset(&s, 64, 4, 0), *net = su_network(&s, 4, 8), body[256], path[96];
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"epochs\": 1}",
             net, ds);
    char *job = su_post_id(&s, "/v1/jobs", body, 202);
    json_t *done = su_job_wait(&s, job, "succeeded", 60);
    snprintf(path, sizeof path, "/v1/models/%s/predict", su_str(done, "model"));
    snprintf(s.token, sizeof s.token, "%s", READ_TOKEN);
    const char *row = "{\"inputs\": [[0.1, 0.2, 0.3, 0.4]]}";
    h = su_http(&s, "POST", path, row, strlen(row), "application/json");
    ck_assert_msg(h.status == 200, "%ld %s", h.status, h.body);
    su_http_free(&h);
    *strrchr(path, '/') = 0;
    h = su_http(&s, "DELETE", path, NULL, 0, NULL);
    expect_problem(&h, 403, "Authorization");
    json_decref(done);
    free(ds), free(net), free(job);
    su_stop(&s, 0);
    su_cleanup(&s);

    /* --metrics-token: /metrics needs a token too (any) */
    const char *metrics[] = {"--token-file", file, "--metrics-token", NULL};
    memset(&s, 0, sizeof s);
    su_start(&s, metrics);
    ck_assert_int_eq(status_of(&s, "GET", "/metrics", NULL, NULL), 401);
    ck_assert_int_eq(status_of(&s, "GET", "/healthz", NULL, NULL), 200);
    snprintf(s.token, sizeof s.token, "%s", READ_TOKEN);
    ck_assert_int_eq(status_of(&s, "GET", "/metrics", NULL, NULL), 200);
    su_stop(&s, 0);
    su_cleanup(&s);
    su_rmdir(dir);
}
END_TEST

START_TEST(other_sites_may_not_change_things)
{
    struct server s = {0};
    su_start(&s, NULL);
    char own[96], own_s[96], other_port[96];
    snprintf(own, sizeof own, "Origin: http://127.0.0.1:%d", s.port);
    snprintf(own_s, sizeof own_s, "Origin: HTTPS://127.0.0.1:%d", s.port);
    snprintf(other_port, sizeof other_port, "Origin: http://127.0.0.1:%d", s.port + 1);
    const char *body = "{\"inputs\": 4, \"layers\": [{\"type\": \"dense\", \"units\": 2}], "
                       "\"loss\": \"mse\"}";
    /* the page's own requests, and clients that send no Origin */
    const char *mine[] = {own, "Sec-Fetch-Site: same-origin", NULL};
    ck_assert_int_eq(status_of(&s, "POST", "/v1/networks", body, mine), 201);
    const char *mine_tls[] = {own_s, NULL};   /* behind a proxy that speaks TLS */
    ck_assert_int_eq(status_of(&s, "POST", "/v1/networks", body, mine_tls), 201);
    ck_assert_int_eq(status_of(&s, "POST", "/v1/networks", body, NULL), 201);
    static const char *const same_site[] = {"Sec-Fetch-Site: same-site", NULL};
    ck_assert_int_eq(status_of(&s, "POST", "/v1/networks", body, same_site), 201);
    /* another origin changes nothing, however it asks */
    static const char *const evil[] = {"Origin: https://evil.example", NULL};
    static const char *const null_origin[] = {"Origin: null", NULL};
    static const char *const cross[] = {"Sec-Fetch-Site: cross-site", NULL};
    const char *port[] = {other_port, NULL};
    const char *lies[] = {own, "Sec-Fetch-Site: cross-site", NULL};
    const char *const *refused[] = {evil, null_origin, cross, port, lies};
    for (int i = 0; i < 5; i++) {
        struct http_reply h = su_http_h(&s, "POST", "/v1/networks", body, strlen(body),
                                        "application/json", refused[i]);
        expect_problem(&h, 403, i == 2 || i == 4 ? "Sec-Fetch-Site" : "Origin");
        h = su_http_h(&s, "DELETE", "/v1/models/mdl_x", NULL, 0, NULL, refused[i]);
        ck_assert_int_eq(h.status, 403);
        su_http_free(&h);
    }
    /* a form or sendBeacon: refused before its content type is looked at */
    struct http_reply h = su_http_h(&s, "POST", "/v1/jobs/job_x/cancel", "a=1", 3,
                                    "application/x-www-form-urlencoded", evil);
    expect_problem(&h, 403, "Origin");
    /* reading is not changing: other sites' GETs are answered (without CORS, a browser
     * keeps the answer from them) */
    char acao[100];
    h = su_http_h(&s, "GET", "/v1/jobs", NULL, 0, NULL, evil);
    ck_assert_int_eq(h.status, 200);
    ck_assert_str_eq(su_header(&h, "Access-Control-Allow-Origin", acao, sizeof acao), "");
    su_http_free(&h);
    json_t *nets = su_get_json(&s, "/v1/networks");
    ck_assert_int_eq(json_array_size(json_object_get(nets, "items")), 4);
    json_decref(nets);
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

START_TEST(hosts_checked)
{
    struct server s = {0};
    su_start(&s, NULL);
    static const char *const rebound[] = {"Host: evil.example:8080", NULL};
    struct http_reply h = su_http_h(&s, "GET", "/v1/jobs", NULL, 0, NULL, rebound);
    ck_assert_msg(strstr(h.body, "evil.example:8080"), "%s", h.body);
    expect_problem(&h, 421, "Host");
    ck_assert_int_eq(status_of(&s, "GET", "/", NULL, rebound), 421);
    ck_assert_int_eq(status_of(&s, "POST", "/v1/networks", "{}", rebound), 421);
    /* probes answer whatever name they are asked by */
    ck_assert_int_eq(status_of(&s, "GET", "/healthz", NULL, rebound), 200);
    ck_assert_int_eq(status_of(&s, "GET", "/readyz", NULL, rebound), 200);
    static const char *const local[] = {"Host: localhost:1234", NULL};
    ck_assert_int_eq(status_of(&s, "GET", "/v1/jobs", NULL, local), 200);
    su_stop(&s, 0);
    su_cleanup(&s);

    static const char *const list[] = {"--allowed-hosts", "neurond.internal", NULL};
    memset(&s, 0, sizeof s);
    su_start(&s, list);
    static const char *const named[] = {"Host: neurond.internal:8080", NULL};
    ck_assert_int_eq(status_of(&s, "GET", "/v1/jobs", NULL, named), 200);
    ck_assert_int_eq(status_of(&s, "GET", "/v1/jobs", NULL, NULL), 421);   /* 127.0.0.1 */
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

/* Raw bytes to the server; the answer's status line's code. */
static int raw_status(const struct server *s, const char *request)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(write(fd, request, strlen(request)), (ssize_t)strlen(request));
    char buf[64] = "";
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    int code = 0;
    if (n > 12)
        sscanf(buf, "HTTP/1.%*d %d", &code);
    return code;
}

START_TEST(raw_requests)
{
    char dir[256], file[300];
    token_file(dir, file);
    struct server s = {0};
    const char *args[] = {"--token-file", file, NULL};
    su_start(&s, args);
    /* HTTP/1.0 needs no Host; it still needs a token */
    ck_assert_int_eq(raw_status(&s, "GET /v1/jobs HTTP/1.0\r\n\r\n"), 401);
    ck_assert_int_eq(raw_status(&s, "GET /v1/jobs HTTP/1.0\r\nAuthorization: Bearer "
                                    READ_TOKEN "\r\n\r\n"), 200);
    ck_assert_int_eq(raw_status(&s, "GET /v1/jobs HTTP/1.1\r\nHost: evil.example\r\n"
                                    "Authorization: Bearer " READ_TOKEN "\r\n\r\n"), 421);
    /* a POST refused before its body: the answer comes without waiting for it */
    ck_assert_int_eq(raw_status(&s, "POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                    "Content-Type: application/json\r\nContent-Length: 2\r\n"
                                    "Connection: close\r\n\r\n{}"), 401);
    su_stop(&s, 0);
    su_cleanup(&s);
    su_rmdir(dir);
}
END_TEST

START_TEST(cors)
{
    struct server s = {0};
    su_start(&s, NULL);   /* no --cors-origin: no CORS at all */
    static const char *const pre[] = {"Origin: https://app.example",
                                      "Access-Control-Request-Method: POST",
                                      "Access-Control-Request-Headers: authorization, "
                                      "content-type", NULL};
    char v[200];
    struct http_reply h = su_http_h(&s, "OPTIONS", "/v1/jobs", NULL, 0, NULL, pre);
    ck_assert_int_eq(h.status, 405);
    ck_assert_str_eq(su_header(&h, "Access-Control-Allow-Origin", v, sizeof v), "");
    su_http_free(&h);
    su_stop(&s, 0);
    su_cleanup(&s);

    static const char *const args[] = {"--cors-origin", "https://app.example", NULL};
    memset(&s, 0, sizeof s);
    su_start(&s, args);
    h = su_http_h(&s, "OPTIONS", "/v1/jobs", NULL, 0, NULL, pre);
    ck_assert_int_eq(h.status, 204);
    ck_assert_str_eq(su_header(&h, "Access-Control-Allow-Origin", v, sizeof v),
                     "https://app.example");
    ck_assert_str_eq(su_header(&h, "Access-Control-Allow-Methods", v, sizeof v), "POST, GET");
    ck_assert_msg(strstr(su_header(&h, "Access-Control-Allow-Headers", v, sizeof v),
                         "Authorization") && strstr(v, "Content-Type"), "%s", v);
    ck_assert_str_eq(su_header(&h, "Access-Control-Max-Age", v, sizeof v), "600");
    ck_assert_str_eq(su_header(&h, "Vary", v, sizeof v), "Origin");
    su_http_free(&h);
    h = su_http_h(&s, "OPTIONS", "/v1/jobs/job_x/cancel", NULL, 0, NULL, pre);
    ck_assert_int_eq(h.status, 204);
    ck_assert_str_eq(su_header(&h, "Access-Control-Allow-Methods", v, sizeof v), "POST");
    su_http_free(&h);
    /* a preflight from an origin not on the list; one for a path that is no route */
    static const char *const evil[] = {"Origin: https://evil.example",
                                       "Access-Control-Request-Method: POST", NULL};
    h = su_http_h(&s, "OPTIONS", "/v1/jobs", NULL, 0, NULL, evil);
    ck_assert_str_eq(su_header(&h, "Access-Control-Allow-Origin", v, sizeof v), "");
    ck_assert_str_eq(su_header(&h, "Allow", v, sizeof v), "");
    expect_problem(&h, 403, "Origin");
    ck_assert_int_eq(status_of(&s, "OPTIONS", "/v1/nope", NULL, pre), 404);
    /* OPTIONS that is no preflight: as before */
    ck_assert_int_eq(status_of(&s, "OPTIONS", "/v1/jobs", NULL, NULL), 405);
    /* the listed origin may change things, and reads its answers */
    static const char *const app[] = {"Origin: https://app.example",
                                      "Sec-Fetch-Site: cross-site", NULL};
    const char *body = "{\"inputs\": 4, \"layers\": [{\"type\": \"dense\", \"units\": 2}], "
                       "\"loss\": \"mse\"}";
    h = su_http_h(&s, "POST", "/v1/networks", body, strlen(body), "application/json", app);
    ck_assert_int_eq(h.status, 201);
    ck_assert_str_eq(su_header(&h, "Access-Control-Allow-Origin", v, sizeof v),
                     "https://app.example");
    ck_assert_msg(strstr(su_header(&h, "Access-Control-Expose-Headers", v, sizeof v),
                         "Location"), "%s", v);
    su_http_free(&h);
    h = su_http_h(&s, "GET", "/v1/jobs", NULL, 0, NULL, evil);
    ck_assert_int_eq(h.status, 200);
    ck_assert_str_eq(su_header(&h, "Access-Control-Allow-Origin", v, sizeof v), "");
    ck_assert_str_eq(su_header(&h, "Vary", v, sizeof v), "Origin");
    su_http_free(&h);
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

/* The server's log (new). */
static char *server_log(const struct server *s)
{
    char path[320];
    snprintf(path, sizeof path, "%s/neurond.log", s->dir);
    return tu_slurp(path, NULL);
}

/* The request_id of a problem (static storage). */
static const char *problem_id(const struct http_reply *h)
{
    static char id[128];
    json_t *p = su_http_json(h);
    snprintf(id, sizeof id, "%s", su_str(p, "request_id"));
    json_decref(p);
    return id;
}

/* The line of the log that has needle, or fails the test (new). */
static char *log_line_with(const char *log, const char *needle)
{
    const char *at = strstr(log, needle);
    ck_assert_msg(at != NULL, "no line with %s in the log:\n%s", needle, log);
    const char *start = at, *end = strchr(at, '\n');
    while (start > log && start[-1] != '\n')
        start--;
    ck_assert_ptr_nonnull(end);
    ck_assert_msg(su_count(at + 1, needle) == 0, "two lines with %s", needle);
    return strndup(start, (size_t)(end - start));
}

START_TEST(request_ids_and_the_log)
{
    char dir[256], file[300];
    token_file(dir, file);
    struct server s = {0};
    const char *args[] = {"--token-file", file, NULL};
    su_start(&s, args);
    snprintf(s.token, sizeof s.token, "%s", WRITE_TOKEN);

    /* an id that is one is kept, on the answer and in its problem */
    static const char *const mine[] = {"X-Request-Id: 7f3c9a1e-2b4d-4e8f-9a6b-1c2d3e4f5a6b",
                                       NULL};
    struct http_reply h = su_http_h(&s, "GET", "/v1/jobs/job_x", NULL, 0, NULL, mine);
    ck_assert_int_eq(h.status, 404);
    ck_assert_str_eq(h.request_id, "7f3c9a1e-2b4d-4e8f-9a6b-1c2d3e4f5a6b");
    ck_assert_str_eq(problem_id(&h), h.request_id);
    su_http_free(&h);
    /* any other is replaced by one of the service's, as is a missing one */
    static const char *const odd[] = {"X-Request-Id: two words", NULL};
    static const char *const long_id[] = {"X-Request-Id: "
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL};   /* 65 */
    const char *const *made[] = {odd, long_id, NULL};
    char ids[3][128];
    for (int i = 0; i < 3; i++) {
        h = su_http_h(&s, "POST", "/v1/jobs", "[", 1, "application/json", made[i]);
        ck_assert_int_eq(h.status, 400);
        ck_assert_msg(!strncmp(h.request_id, "req_", 4) && strlen(h.request_id) == 16, "%s",
                      h.request_id);
        ck_assert_str_eq(problem_id(&h), h.request_id);
        snprintf(ids[i], sizeof ids[i], "%s", h.request_id);
        su_http_free(&h);
    }
    ck_assert(strcmp(ids[0], ids[1]) && strcmp(ids[1], ids[2]) && strcmp(ids[0], ids[2]));

    /* a refusal, with a token the service does not know */
    static const char *const stranger[] = {"Authorization: Bearer leaked-0123456789abcdef",
                                           "X-Request-Id: stranger", NULL};
    ck_assert_int_eq(status_of(&s, "GET", "/v1/models", NULL, stranger), 401);
    /* a read, with the read token */
    static const char *const viewer[] = {"Authorization: Bearer " READ_TOKEN,
                                         "X-Request-Id: viewer", NULL};
    ck_assert_int_eq(status_of(&s, "GET", "/v1/models", NULL, viewer), 200);

    /* a stream: its bytes are counted as they go */
    char *ds = su_dataset(&s, 30, 2, 0), *net = su_network(&s, 2, 4), body[256], path[96];
    snprintf(body, sizeof body, "{\"network\": \"%s\", \"dataset\": \"%s\", \"epochs\": 2}",
             net, ds);
    char *job = su_post_id(&s, "/v1/jobs", body, 202);
    json_decref(su_job_wait(&s, job, NULL, 60));
    static const char *const follow[] = {"X-Request-Id: follower", NULL};
    snprintf(path, sizeof path, "/v1/jobs/%s/events", job);
    h = su_http_h(&s, "GET", path, NULL, 0, NULL, follow);
    ck_assert_int_eq(h.status, 200);
    size_t streamed = h.len;
    ck_assert_uint_gt(streamed, 100);
    su_http_free(&h);
    free(ds);
    free(net);
    free(job);
    su_stop(&s, 0);

    char *log = server_log(&s), want[160];
    char *l = log_line_with(log, "request_id=7f3c9a1e-2b4d-4e8f-9a6b-1c2d3e4f5a6b ");
    ck_assert_msg(strstr(l, " method=GET route=/v1/jobs/:id status=404 bytes=") &&
                  strstr(l, " token=line2") && !strncmp(l, "time=", 5), "%s", l);
    free(l);
    l = log_line_with(log, "request_id=stranger ");
    ck_assert_msg(strstr(l, " route=/v1/models status=401 ") && strstr(l, " token=-"), "%s", l);
    free(l);
    l = log_line_with(log, "request_id=viewer ");
    ck_assert_msg(strstr(l, " route=/v1/models status=200 bytes=") && strstr(l, " token=viewer"),
                  "%s", l);
    free(l);
    l = log_line_with(log, "request_id=follower ");
    snprintf(want, sizeof want, " route=/v1/jobs/:id/events status=200 bytes=%zu ", streamed);
    ck_assert_msg(strstr(l, want), "%s (%zu bytes streamed)", l, streamed);
    free(l);
    for (int i = 0; i < 3; i++) {
        snprintf(want, sizeof want, "request_id=%.100s ", ids[i]);
        free(log_line_with(log, want));
    }
    /* never a token, known or not */
    ck_assert_msg(!strstr(log, WRITE_TOKEN) && !strstr(log, READ_TOKEN) &&
                  !strstr(log, "leaked-0123456789abcdef"), "%s", log);
    free(log);
    su_cleanup(&s);

    /* --log-format json: every access line is one JSON object */
    const char *json[] = {"--token-file", file, "--log-format", "json", NULL};
    memset(&s, 0, sizeof s);
    su_start(&s, json);
    ck_assert_int_eq(status_of(&s, "GET", "/v1/models", NULL, viewer), 200);
    ck_assert_int_eq(status_of(&s, "GET", "/v1/models", NULL, stranger), 401);
    su_stop(&s, 0);
    log = server_log(&s);
    int objects = 0;
    for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
        if (*line != '{')
            continue;   /* the service's own messages */
        json_error_t e;
        json_t *j = json_loads(line, 0, &e);
        ck_assert_msg(j && json_object_size(j) == 8, "%s", line);
        const char *id = su_str(j, "request_id");
        if (!strcmp(id, "viewer") || !strcmp(id, "stranger")) {
            objects++;
            ck_assert_str_eq(su_str(j, "route"), "/v1/models");
            ck_assert_int_eq(su_int(j, "status"), !strcmp(id, "viewer") ? 200 : 401);
            json_t *t = json_object_get(j, "token");
            ck_assert(!strcmp(id, "viewer") ? !strcmp(json_string_value(t), "viewer")
                                            : json_is_null(t));
        }
        json_decref(j);
    }
    ck_assert_int_eq(objects, 2);
    free(log);
    su_cleanup(&s);

    /* the lines are written in batches: one shows while the service runs, within a
     * second; 3,000 requests' lines (over 256 KB, the buffer's size) all reach the file */
    memset(&s, 0, sizeof s);
    su_start(&s, NULL);
    static const char *const early[] = {"X-Request-Id: early-bird", NULL};
    ck_assert_int_eq(status_of(&s, "GET", "/healthz", NULL, early), 200);
    int shown = 0;
    for (int t = 0; t < 100 && !shown; t++) {
        usleep(10000);
        log = server_log(&s);
        shown = strstr(log, "request_id=early-bird ") != NULL;
        free(log);
    }
    ck_assert_msg(shown, "no line for a request a second after it was answered");
    static const char *const many[] = {"X-Request-Id: one-of-many-with-a-long-id-to-fill-"
                                       "the-buffer-sooner-0123456789", NULL};
    for (int i = 0; i < 3000; i++)
        ck_assert_int_eq(status_of(&s, "GET", "/healthz", NULL, many), 200);
    su_stop(&s, 0);
    log = server_log(&s);
    ck_assert_int_eq(su_count(log, "request_id=one-of-many-with-a-long-id"), 3000);
    free(log);
    su_cleanup(&s);
    su_rmdir(dir);
}
END_TEST

START_TEST(dashboard_headers)
{
    struct server s = {0};
    su_start(&s, NULL);
    char v[600];
    struct http_reply h = su_http(&s, "GET", "/", NULL, 0, NULL);
    ck_assert_int_eq(h.status, 200);
    ck_assert_str_eq(su_header(&h, "X-Content-Type-Options", v, sizeof v), "nosniff");
    ck_assert_str_eq(su_header(&h, "Referrer-Policy", v, sizeof v), "no-referrer");
    su_header(&h, "Content-Security-Policy", v, sizeof v);
    /* the page's own script and style, by their digests; nothing from elsewhere */
    static const char *const tags[][2] = {{"<script>", "</script>"}, {"<style>", "</style>"}};
    for (int i = 0; i < 2; i++) {
        const char *a = strstr(h.body, tags[i][0]), *b = a ? strstr(a, tags[i][1]) : NULL;
        ck_assert_ptr_nonnull(b);
        a += strlen(tags[i][0]);
        unsigned char d[32];
        char b64[48], want[80];
        sha256(a, (size_t)(b - a), d);
        base64_encode(b64, d, 32);
        snprintf(want, sizeof want, "%s-src 'sha256-%s'", i ? "style" : "script", b64);
        ck_assert_msg(strstr(v, want), "%s not in %s", want, v);
    }
    ck_assert_msg(!strncmp(v, "default-src 'none'; ", 20) && strstr(v, "; connect-src 'self'") &&
                  strstr(v, "; frame-ancestors 'none'") && !strstr(v, "unsafe") &&
                  !strstr(v, "http"), "%s", v);
    su_http_free(&h);
    /* everything else: nothing may run or frame it */
    h = su_http(&s, "GET", "/v1/jobs", NULL, 0, NULL);
    ck_assert_str_eq(su_header(&h, "Content-Security-Policy", v, sizeof v),
                     "default-src 'none'; frame-ancestors 'none'");
    ck_assert_str_eq(su_header(&h, "X-Content-Type-Options", v, sizeof v), "nosniff");
    su_http_free(&h);
    su_stop(&s, 0);
    su_cleanup(&s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("guard");
    TCase *unit = tcase_create("unit");
    tcase_add_test(unit, sha256_vectors);
    tcase_add_test(unit, base64_vectors);
    tcase_add_test(unit, tokens_parsed);
    tcase_add_test(unit, tokens_refused);
    tcase_add_test(unit, tokens_looked_up);
    tcase_add_test(unit, hosts_allowed);
    tcase_add_test(unit, lists_refused);
    tcase_add_test(unit, bind_rule);
    tcase_add_test(unit, switches);
    tcase_add_test(unit, log_lines);
    suite_add_tcase(s, unit);
    TCase *e2e = tcase_create("service");
    tcase_set_timeout(e2e, 120);
    tcase_add_test(e2e, no_tokens_no_other_address);
    tcase_add_test(e2e, other_address_with_tokens_or_insecure);
    tcase_add_test(e2e, tokens_on_every_route);
    tcase_add_test(e2e, other_sites_may_not_change_things);
    tcase_add_test(e2e, hosts_checked);
    tcase_add_test(e2e, raw_requests);
    tcase_add_test(e2e, cors);
    tcase_add_test(e2e, request_ids_and_the_log);
    tcase_add_test(e2e, dashboard_headers);
    suite_add_tcase(s, e2e);
    return tu_run(s) != 0;
}
