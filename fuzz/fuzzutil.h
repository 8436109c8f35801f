/* fuzzutil.h -- what the harnesses that call handlers share (fuzz_datasets_json,
 * fuzz_jobs_request, fuzz_query): a temporary database for the whole process, a direct
 * call of a handler as the HTTP glue makes it, and checks of the problem replies and of
 * the JSON pointers they name. Every check aborts through CHECK (fuzz.h). */
#ifndef FUZZUTIL_H
#define FUZZUTIL_H

#include "fuzz.h"

#include "http/http.h"

#include <jansson.h>

/* Opens a new database in a new directory under /tmp, removed at exit, and keeps commits
 * off the disk's fsync (PRAGMA synchronous=OFF on this thread's connection: the
 * harnesses run one input after another on one thread and never look at a crash). */
void fz_db_open(void);
/* Runs one SQL statement with up to two text parameters (NULL binds NULL) on this
 * thread's connection; for setting up and cleaning up what the API cannot. */
void fz_sql(const char *sql, const char *a, const char *b);

/* The app handlers see: the configuration's defaults, no workers (nothing trains). */
extern struct app fz_app;

/* Calls a handler as the glue does after a body: json (borrowed, may be NULL) as the
 * parsed body, one path parameter (may be NULL), query key/value pairs (NULL-terminated,
 * a NULL value being a key without '='; may be NULL). The handler must answer: a
 * return of -1 (which the glue turns into a 500) is a broken property, and so is a
 * reply of 500. Returns the reply; fz_reply_free frees it. */
struct reply fz_call(handler_fn fn, const char *method, const json_t *json, const char *param0,
                     const char *const *kv);
void fz_reply_free(struct reply *rp);

/* The reply's body as JSON (new); checks that it is JSON. */
json_t *fz_json(const struct reply *rp);
/* Checks a problem+json reply of that status: type, title, status, detail, and errors
 * (when present) an array of objects each with a string detail and exactly one of a
 * string pointer or parameter. Returns the parsed problem (new). */
json_t *fz_problem(const struct reply *rp, int status);

/* Where an RFC 6901 pointer leads in doc: FZ_PTR_BAD when it is not a pointer's syntax
 * ("" or "/" tokens, '~' only as ~0 or ~1) or leads nowhere, FZ_PTR_VALUE when it names
 * a value of doc, FZ_PTR_ABSENT when it names a member missing from an object of doc (a
 * missing field). */
enum { FZ_PTR_BAD, FZ_PTR_VALUE, FZ_PTR_ABSENT };
int fz_pointer(const json_t *doc, const char *ptr, const json_t **at);
/* The pointer of member key of the object at base, escaped (into out, cap bytes). */
void fz_pointer_join(char *out, size_t cap, const char *base, const char *key);

/* Replaces, everywhere in v, string values equal to one of the names by the matching
 * value (names[i] -> values[i], n of them): fuzzer inputs say "@ds0" for an id the
 * harness made at start. Returns v. */
json_t *fz_subst(json_t *v, const char *const *names, const char *const *values, int n);

/* A JSON body for a request, parsed as the glue parses one (JSON_REJECT_DUPLICATES);
 * NULL where the glue answers 400 itself. */
json_t *fz_parse(const uint8_t *data, size_t size);

/* A mutation for libFuzzer's LLVMFuzzerCustomMutator that knows JSON: half the time
 * libFuzzer's own (LLVMFuzzerMutate, on bytes), else the body after `skip` leading bytes
 * parsed and changed as a tree -- a value replaced by one of a palette (numbers at the
 * edges of the contract's ranges, the strings given, true, false, null, {}, []), a key
 * of the names given added to an object, a member or element removed, a value copied
 * into another place -- and written back; one time in eight the tree is first replaced by
 * base (a body that is right, so that inputs keep coming near it; may be NULL). A body
 * that does not parse, or a result over max, takes libFuzzer's. keys and strings are
 * NULL-terminated. */
size_t fz_mutate(uint8_t *data, size_t size, size_t max, unsigned seed, size_t skip,
                 const char *base, const char *const *keys, const char *const *strings);
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max);

#endif
